#pragma once
// Shared by the OpenCV and tensor paths of the mask clean-up, so both work on the same region.
#include <opencv2/core.hpp>

#include "inpaint/mask.hpp"

namespace inpaint::detail {

void validate(const MaskCleanOptions& options);

// The region the clean-up may touch: the hole's bounding box grown by how far the
// operations reach, clipped to the image. Empty when the mask has no hole pixel.
cv::Rect clean_region(const ImageView& mask, const MaskCleanOptions& options);

// Elliptical structuring element of diameter 2r+1 (the one OpenCV's MORPH_ELLIPSE gives).
cv::Mat ellipse_kernel(int radius);

// The tensor path on a binary (0/255) crop; implemented in mask_tensor.cpp.
cv::Mat clean_binary_tensor(const cv::Mat& binary, const MaskCleanOptions& options, const std::string& device);

}  // namespace inpaint::detail
