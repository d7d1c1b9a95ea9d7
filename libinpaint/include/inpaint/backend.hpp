#pragma once
// Optional parts of the library that live in their own files and are loaded on first use.
// Today there is one: "torch", the LibTorch backend (TorchScript fill models, the sam segmenter,
// the tensor mask path). A process that never asks for it never maps LibTorch.
#include <string>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint {

struct BackendStatus {
  std::string name;           // "torch"
  bool built = false;         // this build made the backend file (INPAINT_WITH_TORCH)
  bool loaded = false;        // mapped into this process (it is never unloaded)
  std::string path;           // the file loaded, or the last one tried
  std::string error;          // why the last attempt to load it failed; empty otherwise
  std::string torch_version;  // the LibTorch it was built against, once loaded
  double load_ms = 0;         // what loading it cost (dlopen + LibTorch's start-up), once loaded
};

// Every backend this library knows, with its state. Loads nothing.
INPAINT_CXX_API std::vector<BackendStatus> backends();

// Loads a backend now instead of at the first model that needs it (a service warming up).
// Returns its status; throws Error(Unavailable) saying which file was tried and why it failed,
// Error(InvalidArgument) for an unknown name.
INPAINT_CXX_API BackendStatus load_backend(const std::string& name);

}  // namespace inpaint
