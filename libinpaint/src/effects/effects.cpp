// PLACEHOLDER until the effects branch lands: replaced wholesale.
#include "inpaint/effects.hpp"
#include "inpaint/error.hpp"

namespace inpaint {
EffectsResult render_effects(const ImageView&, const ImageView&, const std::vector<Effect>&, const EffectsOptions&) {
  throw Error(ErrorCode::Internal, "effects: not built yet");
}
}  // namespace inpaint
