// Libraries that look like a torch backend to the loader but must be refused by it
// (backend_test.cpp): FAKE_WRONG_VERSION speaks another backend API version, FAKE_WRONG_ABI was
// built for the other libstdc++ string ABI, FAKE_NO_ENTRY lacks the entry point.
#include "backends/torch_api.hpp"

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

#if defined(FAKE_NO_ENTRY)
FAKE_EXPORT int inpaint_some_other_symbol() { return 0; }
#else
FAKE_EXPORT const inpaint::detail::TorchBackendApi* inpaint_torch_backend() {
  static const inpaint::detail::TorchBackendApi api = {
#if defined(FAKE_WRONG_VERSION)
      inpaint::detail::kTorchBackendApiVersion + 1000, inpaint::detail::kCxx11Abi,
#else
      inpaint::detail::kTorchBackendApiVersion, 1 - inpaint::detail::kCxx11Abi,
#endif
      "0.0", nullptr, nullptr, nullptr};
  return &api;
}
#endif
