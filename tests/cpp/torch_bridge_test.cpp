// The internal HostTensor <-> at::Tensor bridge: no copies either way, buffers kept alive.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "inpaint/inpaint.hpp"
#include "backends/torch/torch_bridge.hpp"

using namespace inpaint;

TEST(TorchBridge, HostToTorchSharesTheBytes) {
  HostTensor t = HostTensor::allocate(DType::F32, {2, 3});
  auto* v = reinterpret_cast<float*>(t.mutable_data());
  for (int i = 0; i < 6; ++i) v[i] = float(i);
  at::Tensor a = inpaint::detail::to_torch(t);
  EXPECT_EQ(a.data_ptr(), static_cast<const void*>(t.data()));
  EXPECT_EQ(a.sizes(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.sum().item<float>(), 15.0f);
  t = HostTensor();  // the at::Tensor keeps the buffer alive
  EXPECT_EQ(a[1][2].item<float>(), 5.0f);
  EXPECT_THROW(inpaint::detail::to_torch(HostTensor::allocate(DType::F8_E4M3, {1})), Error);
}

TEST(TorchBridge, TorchToHostSharesTheBytesAndMapsDtypes) {
  at::Tensor a = torch::arange(12, torch::kFloat32).reshape({3, 4}).to(torch::kBFloat16);
  HostTensor h = inpaint::detail::from_torch(a);
  EXPECT_EQ(h.dtype(), DType::BF16);
  EXPECT_EQ(h.shape(), (Shape{3, 4}));
  EXPECT_EQ(static_cast<const void*>(h.data()), a.data_ptr());
  at::Tensor strided = torch::arange(12, torch::kInt64).reshape({3, 4}).t();  // copied: not contiguous
  HostTensor s = inpaint::detail::from_torch(strided);
  EXPECT_EQ(s.dtype(), DType::I64);
  EXPECT_EQ(reinterpret_cast<const std::int64_t*>(s.data())[1], 4);
  EXPECT_THROW(inpaint::detail::from_torch(torch::zeros({2}, torch::kComplexFloat)), Error);
}

TEST(TorchBridge, AMappedFileBecomesATensorWithoutACopy) {
  std::string path = std::filesystem::temp_directory_path() / "inpaint_bridge_test.safetensors";
  Encoding e;
  e.tensors["x"] = inpaint::detail::from_torch(torch::linspace(0, 1, 1000).to(torch::kFloat16));
  write_safetensors(path, e);
  Encoding back = read_safetensors(path);
  std::filesystem::remove(path);
  at::Tensor x = inpaint::detail::to_torch(back.tensor("x"));
  EXPECT_EQ(x.data_ptr(), static_cast<const void*>(back.tensor("x").data()));
  EXPECT_TRUE(torch::equal(x, inpaint::detail::to_torch(e.tensor("x"))));
  back = Encoding();  // the map lives on inside x
  EXPECT_NEAR(x.to(torch::kFloat32).sum().item<float>(), 500.0f, 1.0f);
}
