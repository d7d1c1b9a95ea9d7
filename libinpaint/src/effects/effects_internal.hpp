#pragma once
// What the effects' CPU path shares with the loader (not a public header).
#include <string>
#include <vector>

#include "inpaint/effects.hpp"

namespace inpaint::detail {
// Loads the torch backend on first use and runs the tensor path there (backends/loader.cpp).
// params: already resolved against effect_parameters().
EffectsResult render_effects_tensor(const ImageView& rgb, const ImageView& alpha, const std::vector<Effect>& effects,
                                    const CallParams& params, const std::string& device, const RunControl* control);
}  // namespace inpaint::detail
