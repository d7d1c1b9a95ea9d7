#pragma once
// What the effects' CPU path shares with the loader (not a public header).
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "inpaint/effects.hpp"

namespace inpaint::detail {
// Loads the torch backend on first use and runs the tensor path there (backends/loader.cpp).
// params: already resolved against effect_parameters().
EffectsResult render_effects_tensor(const ImageView& rgb, const ImageView& alpha, const std::vector<Effect>& effects,
                                    const CallParams& params, const std::string& device, const RunControl* control);

// Floyd-Steinberg on 8-bit samples (CV_8UC1) in integers, left to right, top to bottom: each
// sample takes its value plus the errors it received, clamped to 0..255; >= 128 is white (255),
// else black (0); its error e (value - output) goes out as four independent shares
// fx::fs_share(w, e) = floor((w e + 8) / 16) for w = 7 right, 3 down-left, 5 down, 1 down-right
// (shares leaving the grid are dropped). Returns the 0/255 bits. The tensor path's wavefront
// gathers the same integers and so gives the same bits.
INPAINT_CXX_API cv::Mat floyd_steinberg(const cv::Mat& samples);
}  // namespace inpaint::detail
