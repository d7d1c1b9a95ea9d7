// Finds and loads the torch backend on first use, and forwards the core's torch entry points
// (the torchscript and sam factories, the tensor mask path) to it. Nothing here includes LibTorch.
#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backends/torch_api.hpp"
#include "core/text.hpp"
#include "core/timer.hpp"
#include "inpaint/backend.hpp"
#include "inpaint/error.hpp"
#include "effects/effects_internal.hpp"
#include "mask/mask_ops.hpp"
#include "matte/builtin.hpp"
#include "models/builtin.hpp"
#include "segment/builtin.hpp"

#ifndef INPAINT_WITH_TORCH_BACKEND
#define INPAINT_WITH_TORCH_BACKEND 0
#endif

namespace inpaint {
namespace detail {
namespace {

constexpr const char kBackendFile[] = "libinpaint_torch.so";

struct TorchState {
  std::mutex mutex;
  const TorchBackendApi* api = nullptr;
  BackendStatus status;
};

TorchState& torch_state() {
  static TorchState* state = [] {
    auto* s = new TorchState;  // never destroyed, like the backend it describes
    s->status.name = "torch";
    s->status.built = INPAINT_WITH_TORCH_BACKEND != 0;
    return s;
  }();
  return *state;
}

// The folder holding this library (libinpaint.so): the backend is installed beside it.
std::string library_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_directory), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Error unusable(const std::string& path, const std::string& why) {
  return Error(ErrorCode::Unavailable, "cannot load the torch backend " + detail::quoted(path, 400) + ": " + why);
}

const TorchBackendApi* open_backend(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw unusable(path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw unusable(path, std::string("it is a directory; name the file (") + kBackendFile + ")");
  if (!S_ISREG(st.st_mode)) throw unusable(path, "it is not a regular file");
  // RTLD_LOCAL keeps LibTorch's symbols away from everything else in the process. The handle is
  // never closed: LibTorch's static destructors must not run while its objects may still live,
  // so a file that turns out not to be a usable backend also stays mapped.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    throw unusable(path, why ? why : "dlopen failed");
  }
  auto entry = reinterpret_cast<TorchBackendEntry>(::dlsym(handle, kTorchBackendEntry));
  if (!entry) throw unusable(path, std::string("it has no ") + kTorchBackendEntry + " entry point, so it is not a libinpaint backend");
  const TorchBackendApi* api = entry();
  if (!api) throw unusable(path, "its entry point returned nothing");
  if (api->api_version != kTorchBackendApiVersion)
    throw unusable(path, "it speaks backend API version " + std::to_string(api->api_version) + ", this library version " +
                             std::to_string(kTorchBackendApiVersion) + "; build both from one source tree");
  if (api->cxx11_abi != kCxx11Abi)
    throw unusable(path, "it was built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(api->cxx11_abi) +
                             ", this library with " + std::to_string(kCxx11Abi) + "; build both against one LibTorch ABI");
  return api;
}

}  // namespace

const TorchBackendApi& torch_backend(double* load_ms) {
  TorchState& s = torch_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (load_ms) *load_ms = 0;
  if (s.api) return *s.api;
  Stopwatch watch;
  // An explicit path is the only one tried; otherwise the install layout (lib/inpaint/) and the
  // Python package's (the backend beside _core and libinpaint).
  const char* env = std::getenv("INPAINT_BACKEND_PATH");
  std::vector<std::string> paths;
  if (env && *env) {
    paths = {env};
  } else {
    std::string dir = library_directory();
    paths = {dir + "/inpaint/" + kBackendFile, dir + "/" + kBackendFile};
  }
  std::string looked;
  for (const auto& path : paths) {
    struct stat st {};
    if (!(env && *env) && ::stat(path.c_str(), &st) != 0) {
      looked += (looked.empty() ? "" : ", ") + detail::quoted(path, 400);
      continue;
    }
    s.status.path = path;
    try {
      s.api = open_backend(path);
    } catch (const Error& e) {
      s.status.error = e.what();
      throw;
    }
    s.status.loaded = true;
    s.status.error.clear();
    s.status.torch_version = s.api->torch_version ? s.api->torch_version : "";
    s.status.load_ms = watch.lap();
    if (load_ms) *load_ms = s.status.load_ms;
    return *s.api;
  }
  std::string why = s.status.built
                        ? "the torch backend is not installed beside the library (looked for " + looked +
                              "); set INPAINT_BACKEND_PATH to its file"
                        : std::string("this build has no torch backend (configured with INPAINT_WITH_TORCH=OFF); set "
                                      "INPAINT_BACKEND_PATH to a ") + kBackendFile + " built from the same source tree";
  s.status.error = why;
  throw Error(ErrorCode::Unavailable, why);
}

namespace {
// The backend's own failure, prefixed with what needed it.
template <typename F>
auto with_backend(const std::string& who, F&& call) {
  double load_ms = 0;
  const TorchBackendApi* api = nullptr;
  try {
    api = &torch_backend(&load_ms);
  } catch (const Error& e) {
    throw Error(e.code(), who + " needs the torch backend: " + e.what());
  }
  return call(*api, load_ms);
}
}  // namespace

std::unique_ptr<InpaintModel> make_torchscript(const ModelSpec& spec) {
  return with_backend("model 'torchscript'",
                      [&](const TorchBackendApi& api, double load_ms) { return api.make_torchscript(spec, load_ms); });
}

std::unique_ptr<InpaintModel> make_flux(const ModelSpec& spec) {
  return with_backend("model 'flux'", [&](const TorchBackendApi& api, double load_ms) { return api.make_flux(spec, load_ms); });
}

std::unique_ptr<Segmenter> make_sam_segmenter(const ModelSpec& spec) {
  return with_backend("segmenter 'sam'", [&](const TorchBackendApi& api, double load_ms) { return api.make_sam(spec, load_ms); });
}

std::unique_ptr<VideoSegmenter> make_sam2video_segmenter(const ModelSpec& spec) {
  return with_backend("video segmenter 'sam2video'",
                      [&](const TorchBackendApi& api, double load_ms) { return api.make_sam2video(spec, load_ms); });
}

cv::Mat clean_binary_tensor(const cv::Mat& binary, const MaskCleanOptions& options, const std::string& device) {
  return with_backend("the tensor mask backend",
                      [&](const TorchBackendApi& api, double) { return api.clean_binary_mask(binary, options, device); });
}

std::unique_ptr<Matter> make_salient_matter(const ModelSpec& spec) {
  return with_backend("matter 'salient'", [&](const TorchBackendApi& api, double load_ms) { return api.make_salient(spec, load_ms); });
}

EffectsResult render_effects_tensor(const ImageView& rgb, const ImageView& alpha, const std::vector<Effect>& effects,
                                    const CallParams& params, const std::string& device, const RunControl* control) {
  return with_backend("the tensor effects path", [&](const TorchBackendApi& api, double) {
    return api.render_effects(rgb, alpha, effects, params, device, control);
  });
}

}  // namespace detail

std::vector<BackendStatus> backends() {
  detail::TorchState& s = detail::torch_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return {s.status};
}

BackendStatus load_backend(const std::string& name) {
  if (name != "torch")
    throw Error(ErrorCode::InvalidArgument, "unknown backend " + detail::quoted(name) + " (known: torch)");
  detail::torch_backend();
  return backends().front();
}

}  // namespace inpaint
