#pragma once
// Background removal: a matter turns a photo into a soft alpha matte (255 = object, 0 =
// background) at the photo's resolution. Built in: `saliency` (no model file: a colour-contrast
// saliency map refined by GrabCut) and `salient` (a TorchScript salient-object / matting
// network: ISNet, U2-Net, BiRefNet, InSPyReNet and the like, under the contract of README
// "Background removal"). Matters live in their own registry, like fill models and segmenters.
#include <memory>
#include <string>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/model.hpp"
#include "inpaint/registry.hpp"
#include "inpaint/tensor.hpp"

namespace inpaint {

// A matter's raw answer at its working size, before it is scaled back to the photo.
struct MattePrediction {
  HostTensor map;          // F32 [h, w], in [0, 1] after the model's activation and normalisation
  double preprocess_ms = 0;  // resize and normalisation into the model's input
  double model_ms = 0;       // the network's forward (or the built-in's saliency and GrabCut)
};

struct MatteResult {
  Image alpha;  // one channel, the photo's size
  double preprocess_ms = 0, model_ms = 0;
  double postprocess_ms = 0;  // scaling the map back and quantising it to 8 bits
};

// Thread-safety: a loaded matter is immutable and may be shared by any number of threads.
class INPAINT_CXX_API Matter {
 public:
  virtual ~Matter();
  virtual std::string spec() const = 0;      // canonical spec
  // Identifies the model, its weights and its contract: cached mattes are keyed by it.
  virtual std::string model_id() const = 0;
  virtual ModelLoadInfo load_info() const;
  // The model's output at its working size. rgb: 3 channels, not empty.
  virtual MattePrediction predict(const ImageView& rgb, const RunControl* control = nullptr) const = 0;
  // A prediction's map scaled to width x height (bilinear, as the model's contract says) and
  // quantised (round(255 * value)). By default half-pixel-centred bilinear (OpenCV's INTER_LINEAR,
  // torch's align_corners=False). Mattes kept in a store are maps, finished by this on reuse.
  virtual Image alpha_from_map(const HostTensor& map, int width, int height) const;
  // predict() then alpha_from_map() to rgb's size; a matter may do both on its device.
  virtual MatteResult matte(const ImageView& rgb, const RunControl* control = nullptr) const;
};

// The registry of matters (see BasicRegistry in registry.hpp for add, contains, list, create).
class INPAINT_CXX_API MatterRegistry : public BasicRegistry<Matter> {
 public:
  MatterRegistry();
};

// Adds the library's matters: saliency, salient.
INPAINT_CXX_API void register_builtin_matters(MatterRegistry& registry);
// The process-wide registry holding the built-in matters (filled on first use).
INPAINT_CXX_API MatterRegistry& default_matter_registry();
INPAINT_CXX_API std::unique_ptr<Matter> create_matter(const std::string& spec);  // default_matter_registry().create
INPAINT_CXX_API std::vector<ModelInfo> list_matters();
INPAINT_CXX_API const char* default_matter_spec() noexcept;  // "saliency"

// ---- post-processing of a matte

// Edge-aware refinement: a guided filter of the alpha with the photo's luminance as guide, so the
// matte's edges snap to the photo's edges. radius in pixels of the photo (1..256), eps the
// regularisation on [0,1] intensities (> 0; larger = smoother). Returns a new alpha.
INPAINT_CXX_API Image refine_alpha(const ImageView& rgb, const ImageView& alpha, int radius = 8, double eps = 1e-4);

// Foreground colour estimation: replaces the colour of semi-transparent pixels (0 < alpha < 255)
// by an estimate of the object's own colour, removing the background that bled into them, so
// that an RGBA cut-out composited on any colour shows no halo. Pixels with alpha 0 or 255 keep
// their colour. Two passes of blur-fusion (large then small box blurs of alpha-weighted colour).
INPAINT_CXX_API Image estimate_foreground(const ImageView& rgb, const ImageView& alpha);

}  // namespace inpaint
