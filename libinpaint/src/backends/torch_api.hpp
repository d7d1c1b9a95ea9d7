#pragma once
// The seam between the core library and the torch backend (libinpaint_torch.so). The backend is
// an internal plugin built from the same source tree: C++ types cross this table, so it must come
// from the same version, compiler and libstdc++ string ABI as the core, which the loader checks
// (api_version, cxx11_abi) before it touches anything else. Not a public header.
#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "inpaint/effects.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/matte.hpp"
#include "inpaint/model.hpp"
#include "inpaint/segment.hpp"
#include "inpaint/video.hpp"

namespace inpaint::detail {

// Bump whenever TorchBackendApi, or a library type that crosses it, changes layout or meaning.
constexpr std::uint32_t kTorchBackendApiVersion = 4;

#ifdef _GLIBCXX_USE_CXX11_ABI
constexpr int kCxx11Abi = _GLIBCXX_USE_CXX11_ABI;
#else
constexpr int kCxx11Abi = -1;
#endif

struct TorchBackendApi {
  // These two come first and never move, so that a backend of any version can be checked.
  std::uint32_t api_version;
  int cxx11_abi;
  const char* torch_version;  // e.g. "1.13.1"
  // backend_ms: what loading the backend cost this call, reported in the model's load_info().
  std::unique_ptr<InpaintModel> (*make_torchscript)(const ModelSpec& spec, double backend_ms);
  std::unique_ptr<Segmenter> (*make_sam)(const ModelSpec& spec, double backend_ms);
  // The tensor mask path on a binary (0/255) crop; see clean_binary_tensor in mask/mask_ops.hpp.
  cv::Mat (*clean_binary_mask)(const cv::Mat& binary, const MaskCleanOptions& options, const std::string& device);
  std::unique_ptr<Matter> (*make_salient)(const ModelSpec& spec, double backend_ms);
  // The tensor path of render_effects; params already resolved against effect_parameters().
  EffectsResult (*render_effects)(const ImageView& rgb, const ImageView& alpha, const std::vector<Effect>& effects,
                                  const CallParams& params, const std::string& device, const RunControl* control);
  std::unique_ptr<InpaintModel> (*make_flux)(const ModelSpec& spec, double backend_ms);
  std::unique_ptr<VideoSegmenter> (*make_sam2video)(const ModelSpec& spec, double backend_ms);
};

// The backend's one exported symbol: extern "C" const TorchBackendApi* inpaint_torch_backend(void).
inline constexpr const char kTorchBackendEntry[] = "inpaint_torch_backend";
using TorchBackendEntry = const TorchBackendApi* (*)();

// The loaded backend; loads it on the first call (thread-safe). Throws Error(Unavailable) naming
// the file tried and why it could not be used. `load_ms`, when given, receives what this call
// spent loading it (0 when it was loaded before).
const TorchBackendApi& torch_backend(double* load_ms = nullptr);

}  // namespace inpaint::detail
