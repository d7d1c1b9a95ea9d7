// The mask clean-up with LibTorch tensor ops, so it can run on the GPU next to a model.
// It gives the same mask as the OpenCV path (tests/cpp/mask_test.cpp proves it on CPU).
// Part of the torch backend (backends/torch/).
#include <torch/torch.h>

#include <cstring>

#include "backends/torch/backend.hpp"
#include "backends/torch/runtime.hpp"
#include "inpaint/error.hpp"
#include "mask/mask_ops.hpp"

namespace inpaint::detail {

namespace {

using torch::indexing::Slice;

// Binary dilation with an elliptical kernel; pixels outside the image do not contribute
// (OpenCV's default border for morphology).
torch::Tensor dilate(const torch::Tensor& binary, int radius) {
  if (radius == 0) return binary;
  cv::Mat k = ellipse_kernel(radius);
  auto kernel = torch::from_blob(k.data, {1, 1, k.rows, k.cols}, torch::kUInt8)
                    .to(binary.device(), torch::kFloat32);
  auto x = binary.to(torch::kFloat32).unsqueeze(0).unsqueeze(0);
  return torch::conv2d(x, kernel, {}, 1, radius).squeeze(0).squeeze(0) > 0.5;
}

// Erosion is dilation of the complement; outside the image then counts as hole, so it never erodes.
torch::Tensor erode(const torch::Tensor& binary, int radius) {
  if (radius == 0) return binary;
  return dilate(binary.logical_not(), radius).logical_not();
}

// Largest label among the pixel and its neighbours (8 or 4), for label propagation.
torch::Tensor neighbour_max(const torch::Tensor& labels, int connectivity) {
  auto padded = torch::constant_pad_nd(labels, {1, 1, 1, 1}, 0);
  int64_t h = labels.size(0), w = labels.size(1);
  auto shifted = [&](int dy, int dx) { return padded.index({Slice(1 + dy, 1 + dy + h), Slice(1 + dx, 1 + dx + w)}); };
  auto best = torch::maximum(labels, torch::maximum(torch::maximum(shifted(-1, 0), shifted(1, 0)),
                                                    torch::maximum(shifted(0, -1), shifted(0, 1))));
  if (connectivity == 8)
    best = torch::maximum(best, torch::maximum(torch::maximum(shifted(-1, -1), shifted(-1, 1)),
                                               torch::maximum(shifted(1, -1), shifted(1, 1))));
  return best;
}

// Connected-component labels (0 = background): every foreground pixel ends up with the largest
// pixel index of its component.
torch::Tensor label_components(const torch::Tensor& foreground, int connectivity) {
  auto index = torch::arange(1, foreground.numel() + 1, foreground.options().dtype(torch::kInt64)).view(foreground.sizes());
  auto labels = torch::where(foreground, index, torch::zeros_like(index));
  while (true) {
    auto before = labels;
    for (int i = 0; i < 8; ++i) labels = neighbour_max(labels, connectivity) * foreground;
    if (torch::equal(before, labels)) return labels;
  }
}

// Clears (sets to false) components smaller than min_area; with keep_border, components touching
// the region's border stay.
torch::Tensor drop_small(const torch::Tensor& foreground, int min_area, int connectivity, bool keep_border) {
  auto labels = label_components(foreground, connectivity);
  auto flat = labels.flatten();
  auto area = torch::bincount(flat, {}, labels.numel() + 1);
  auto small = area < min_area;
  small.index_put_({0}, false);
  if (keep_border) {
    auto border = torch::cat({labels.index({0}), labels.index({-1}), labels.index({Slice(), 0}), labels.index({Slice(), -1})});
    small.index_put_({border}, false);
  }
  return foreground.logical_and(small.index({flat}).view(labels.sizes()).logical_not());
}

}  // namespace

}  // namespace inpaint::detail

namespace inpaint::torch_backend {

using detail::dilate;
using detail::drop_small;
using detail::erode;

cv::Mat clean_binary_mask(const cv::Mat& binary, const MaskCleanOptions& o, const std::string& device_name) {
  torch::Device device = detail::resolve_device(device_name, "mask");
  torch::NoGradGuard no_grad;
  cv::Mat contiguous = binary.isContinuous() ? binary : binary.clone();
  auto m = torch::from_blob(contiguous.data, {contiguous.rows, contiguous.cols}, torch::kUInt8).to(device) > 127;
  if (o.open_radius > 0) m = dilate(erode(m, o.open_radius), o.open_radius);
  if (o.close_radius > 0) m = erode(dilate(m, o.close_radius), o.close_radius);
  if (o.min_island_area > 1) m = drop_small(m, o.min_island_area, 8, false);
  if (o.min_hole_area > 1) m = drop_small(m.logical_not(), o.min_hole_area, 4, true).logical_not();
  if (o.dilate_px > 0) m = dilate(m, o.dilate_px);
  auto bytes = (m.to(torch::kUInt8) * 255).to(torch::kCPU).contiguous();
  cv::Mat out(binary.rows, binary.cols, CV_8UC1);
  std::memcpy(out.data, bytes.data_ptr<std::uint8_t>(), out.total());
  return out;
}

}  // namespace inpaint::torch_backend
