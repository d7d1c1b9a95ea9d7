// PLACEHOLDER until the effects branch lands: replaced wholesale.
#include "backends/torch/backend.hpp"
#include "inpaint/error.hpp"

namespace inpaint::torch_backend {
EffectsResult render_effects(const ImageView&, const ImageView&, const std::vector<Effect>&, const CallParams&,
                             const std::string&, const RunControl*) {
  throw Error(ErrorCode::Internal, "tensor effects: not built yet");
}
}  // namespace inpaint::torch_backend
