#pragma once
// The tensor path's Floyd-Steinberg, for its tests. Not a public header: it includes LibTorch.
#include <ATen/ATen.h>

#include "inpaint/model.hpp"

namespace inpaint::detail {

// Floyd-Steinberg on a [h, w] integer tensor of samples 0..255 (any device) as a wavefront:
// sample (x, y) needs the errors of (x-1, y) and (x-1..x+1, y-1) only, so every sample with
// the same x + 2y is computed at once (w + 2h - 2 steps), each gathering its four incoming
// integer shares. Gives the bits of detail::floyd_steinberg (effects_internal.hpp) exactly:
// a [h, w] uint8 tensor of 0 (black) and 255 (white) on the samples' device.
at::Tensor floyd_steinberg_wavefront(const at::Tensor& samples, const RunControl* control = nullptr);

}  // namespace inpaint::detail
