// The torch backend's one exported symbol: the table the core library checks and calls
// (backends/torch_api.hpp). Returning a static table means loading does no work of its own;
// process-wide LibTorch settings wait for the first model (runtime.cpp).
#include <torch/version.h>

#include "backends/torch/backend.hpp"
#include "backends/torch_api.hpp"

extern "C" __attribute__((visibility("default"))) const inpaint::detail::TorchBackendApi* inpaint_torch_backend() {
  static const inpaint::detail::TorchBackendApi api = {
      inpaint::detail::kTorchBackendApiVersion,
      inpaint::detail::kCxx11Abi,
      TORCH_VERSION,
      &inpaint::torch_backend::make_torchscript,
      &inpaint::torch_backend::make_sam,
      &inpaint::torch_backend::clean_binary_mask,
      &inpaint::torch_backend::make_salient,
      &inpaint::torch_backend::render_effects,
      &inpaint::torch_backend::make_flux,
      &inpaint::torch_backend::make_sam2video,
  };
  return &api;
}
