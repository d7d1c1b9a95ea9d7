#pragma once
#include <string>

#include "inpaint/export.hpp"
#include "inpaint/image.hpp"

namespace inpaint {

// The seed worker's "clean mask artifacts" step. Order: threshold -> open -> close ->
// remove islands -> fill holes -> dilate. All sizes are in pixels; 0 disables a step.
struct MaskCleanOptions {
  int threshold = 127;      // value > threshold is hole
  int open_radius = 2;      // elliptical kernel of diameter 2r+1: removes specks and thin spurs
  int close_radius = 2;     // closes small gaps and notches
  int min_island_area = 64; // hole components (8-connected) smaller than this are dropped
  int min_hole_area = 64;   // enclosed keep regions (4-connected) smaller than this are filled
  int dilate_px = 15;       // grows the hole so the fill covers the object's fringe
};

enum class MaskBackend {
  OpenCV,  // CPU, the default
  Tensor,  // LibTorch tensor ops on `device` (cpu, cuda, cuda:N); same result as OpenCV
};

struct MaskBox {
  int x = 0, y = 0, width = 0, height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
};

// Cleans a single-channel mask. Only the hole's bounding box plus the reach of the
// operations is processed; the rest of the result is 0.
INPAINT_CXX_API Image clean_mask(const ImageView& mask, const MaskCleanOptions& options = {},
                                 MaskBackend backend = MaskBackend::OpenCV,
                                 const std::string& device = "cpu");

// Bounding box of pixels > threshold (empty box when there are none).
INPAINT_CXX_API MaskBox mask_bounds(const ImageView& mask, int threshold = 127);

// Compositing weights: 255 inside the hole, falling off smoothly (Gaussian) over feather_px
// outside it, 0 beyond. Pixels where the result is 0 keep the original byte for byte.
INPAINT_CXX_API Image feather_mask(const ImageView& clean_mask, int feather_px);

// Blends fill into the region of base whose top-left corner is (x, y): base keeps its bytes
// where alpha is 0, takes fill where alpha is 255, and a rounded mix between. fill is RGB and
// alpha one channel, both of the region's size.
INPAINT_CXX_API void composite(Image& base, const ImageView& fill, const ImageView& alpha,
                               int x = 0, int y = 0);

}  // namespace inpaint
