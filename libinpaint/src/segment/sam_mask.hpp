#pragma once
// SAM's mask postprocessing (logits on the decoder's 256x256 grid back to the original image),
// without LibTorch so that tests and benchmarks can time it alone. Defined in sam_mask.cpp.
#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"

namespace inpaint::detail {

constexpr int kSamLowRes = 256;  // the decoder's logits grid

// The sizes of one image through SAM's preprocessing.
struct SamGeometry {
  int size = 1024;                   // S: the square model input
  int orig_width = 0, orig_height = 0;
  int input_width = 0, input_height = 0;  // the resized image inside S x S, before padding
};

// SAM's postprocess_masks, then a threshold: the 256x256 logits upsampled bilinearly (half-pixel
// centres, align_corners=False, no antialias) to S x S, cropped to input_height x input_width,
// upsampled again to the original size; a pixel is 255 where the logit > threshold. Both steps
// are separable and computed in float with PyTorch's coefficients; only the rows and columns of
// the crop are computed in the first step, and the second writes bytes directly (no full-size
// float image), in parallel over rows. box: the mask's tight bounding box (all zero when empty).
INPAINT_CXX_API Image sam_logits_to_mask(const float* logits, const SamGeometry& geometry, float threshold,
                                         MaskBox* box = nullptr);

}  // namespace inpaint::detail
