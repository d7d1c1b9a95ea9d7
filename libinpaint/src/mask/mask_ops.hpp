#pragma once
// Internal mask pieces shared by the public functions, the tensor path and the pipeline.
// They work on a region (the hole's box plus what the operations reach) so that a small hole
// in a 12 MP photo costs what its box costs, not what the frame costs.
#include <opencv2/core.hpp>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/mask.hpp"

namespace inpaint::detail {

// A binary (0/255) or weight mask known inside rect; everything outside rect is 0.
struct MaskRegion {
  cv::Rect rect;
  cv::Mat mask;  // CV_8UC1 of rect's size
  bool empty() const { return rect.empty(); }
  // The mask over another rectangle of the frame: zeros where this region does not reach.
  cv::Mat crop(const cv::Rect& other) const;
};

void validate(const MaskCleanOptions& options);

// Bounding box of the non-zero pixels of a CV_8UC1 mask (empty when there are none). Use it
// instead of cv::boundingRect(mask): OpenCV 4.6 gets some masks wrong (a 3x2 mask
// {255,0; 255,255; 255,0} comes back 1x3, losing the right column), found by fuzz/fuzz_mask.
cv::Rect nonzero_box(const cv::Mat& mask);

// Elliptical structuring element of diameter 2r+1 (the one OpenCV's MORPH_ELLIPSE gives).
// Exported for the torch backend (its tensor path uses the same kernel).
INPAINT_CXX_API cv::Mat ellipse_kernel(int radius);

// Threshold -> open -> close -> islands -> holes -> dilate, on the hole's region only.
MaskRegion clean_region(const ImageView& mask, const MaskCleanOptions& options, MaskBackend backend,
                        const std::string& device);
// Only the threshold, on the hole's bounding box.
MaskRegion threshold_region(const ImageView& mask, int threshold);
// The region shrunk to the bounding box of its non-zero pixels (empty when there are none).
MaskRegion tight(const MaskRegion& region);
// Compositing weights of a tight binary region: 255 in the hole, Gaussian fall-off outside.
MaskRegion feather_region(const MaskRegion& hole, int feather_px, const cv::Size& frame);

// One box per 8-connected region of `hole` (whose top-left lies at `offset` in the frame),
// grown by margin and clipped to the frame; overlapping boxes are merged, so every box holds
// whole regions and no hole pixel falls in two boxes.
// Exported for the torch backend (the migan contract crops per region).
INPAINT_CXX_API std::vector<cv::Rect> region_boxes(const cv::Mat& hole, cv::Point offset, int margin,
                                                  const cv::Size& frame);

// The tensor path on a binary (0/255) crop: the torch backend's (backends/torch/mask_tensor.cpp),
// reached through backends/loader.cpp; Error(Unavailable) when the backend cannot be loaded.
cv::Mat clean_binary_tensor(const cv::Mat& binary, const MaskCleanOptions& options, const std::string& device);

}  // namespace inpaint::detail
