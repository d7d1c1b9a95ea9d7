// The one place where encodings meet LibTorch.
#include "backends/torch/torch_bridge.hpp"

#include <optional>

#include "inpaint/error.hpp"

namespace inpaint::detail {

namespace {

// DTypes this LibTorch (1.13) has no scalar type for (unsigned 16..64 bits, the F8 family)
// have no mapping; converting them is an error naming the dtype.
std::optional<at::ScalarType> scalar_type(DType dtype) {
  switch (dtype) {
    case DType::Bool: return at::kBool;
    case DType::U8: return at::kByte;
    case DType::I8: return at::kChar;
    case DType::I16: return at::kShort;
    case DType::I32: return at::kInt;
    case DType::I64: return at::kLong;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
    default: return std::nullopt;
  }
}

DType dtype_of(at::ScalarType type) {
  for (DType d : {DType::Bool, DType::U8, DType::I8, DType::I16, DType::I32, DType::I64, DType::F16, DType::BF16,
                  DType::F32, DType::F64})
    if (scalar_type(d) == type) return d;
  throw Error(ErrorCode::InvalidArgument, std::string("tensor dtype ") + c10::toString(type) + " has no safetensors dtype");
}

}  // namespace

at::Tensor to_torch(const HostTensor& tensor) {
  std::optional<at::ScalarType> type = scalar_type(tensor.dtype());
  if (!type)
    throw Error(ErrorCode::InvalidArgument, std::string("dtype ") + dtype_name(tensor.dtype()) + " has no LibTorch type in this build");
  std::shared_ptr<const void> owner = tensor.owner();
  return at::from_blob(const_cast<std::uint8_t*>(tensor.data()), tensor.shape(), [owner](void*) {},
                       at::TensorOptions().dtype(*type).device(at::kCPU));
}

HostTensor from_torch(const at::Tensor& tensor) {
  DType dtype = dtype_of(tensor.scalar_type());
  at::Tensor host = tensor.device().is_cpu() && tensor.is_contiguous() ? tensor : tensor.to(at::kCPU).contiguous();
  auto keep = std::make_shared<at::Tensor>(host);
  std::vector<std::int64_t> shape(host.sizes().begin(), host.sizes().end());
  return HostTensor::wrap(dtype, shape, host.data_ptr(), keep);
}

}  // namespace inpaint::detail
