// PLACEHOLDER until the salient branch lands: replaced wholesale.
#include "backends/torch/backend.hpp"
#include "inpaint/error.hpp"

namespace inpaint::torch_backend {
std::unique_ptr<Matter> make_salient(const ModelSpec&, double) {
  throw Error(ErrorCode::Internal, "salient: not built yet");
}
}  // namespace inpaint::torch_backend
