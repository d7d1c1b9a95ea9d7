#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/model.hpp"

namespace inpaint {

// How the model sees a large photo (as IOPaint does it).
enum class Strategy {
  Auto,      // Crop when the long side exceeds crop_trigger, else Original
  Original,  // the whole image at native resolution
  Crop,      // one box per hole region grown by crop_margin, native resolution, pasted back
  Resize,    // long side scaled to resize_long_side, run, scaled back, only hole pixels pasted
};

INPAINT_CXX_API const char* strategy_name(Strategy strategy) noexcept;
INPAINT_CXX_API Strategy parse_strategy(const std::string& name);  // auto|original|crop|resize

struct PipelineOptions {
  DecodeOptions decode;
  bool clean = true;  // false: only threshold the mask
  MaskCleanOptions mask;
  MaskBackend mask_backend = MaskBackend::OpenCV;
  std::string mask_device = "cpu";
  bool resize_mask = false;  // a mask of another size is an error unless this is set
  Strategy strategy = Strategy::Auto;
  int crop_trigger = 800;
  int crop_margin = 128;
  int resize_long_side = 1280;
  int feather_px = 8;        // blend width outside the hole; 0 = hard edge
  std::string prompt;        // handed to the model
  // Per-call model parameters (seed, steps, ...): checked against model.parameters() before any
  // decoding (an undeclared name, a wrong type or a value out of range is InvalidArgument), the
  // defaults filled in, and handed to the model. Text values are read as the declared type.
  CallParams params;
  // Cancel flag, deadline and progress (see RunControl): checked between stages and handed to
  // the model. nullptr: the run goes to the end.
  const RunControl* control = nullptr;
  EncodeOptions output;      // format and quality of the result
  int preview_long_side = 0; // > 0: also encode a preview with this long side
  EncodeOptions preview{ImageFormat::Jpeg, 85};
};

// Milliseconds spent in each stage of one run. In run_pipeline the mask is decoded, checked and
// cleaned on a second thread while the photo decodes, so mask and clean overlap decode; total
// is the wall time of the whole call.
struct StageTimes {
  double decode = 0;     // photo bytes to pixels
  double orient = 0;     // EXIF orientation
  double mask = 0;       // mask bytes to pixels (run_pipeline), size check, resize
  double clean = 0;      // morphology, islands, holes, dilation, feathering
  double model = 0;      // the fill model, including strategy crops and resizes
  double composite = 0;  // feathered paste into the original
  double encode = 0;     // the result, wall time (the preview encodes beside it on another thread)
  double preview = 0;    // downscale and encode of the preview
  double total = 0;
};

struct PipelineResult {
  Image image;                     // RGB result (the input when the mask is empty)
  Image alpha;                     // the input's alpha channel, if it had one
  std::vector<std::uint8_t> encoded;  // the result in options.output.format (byte API only)
  std::vector<std::uint8_t> preview;  // when preview_long_side > 0 (byte API only)
  Strategy strategy = Strategy::Original;  // the strategy that ran (Auto resolved)
  int regions = 0;       // model invocations (boxes for Crop)
  bool mask_empty = false;
  MaskBox hole;          // bounding box of the cleaned hole
  StageTimes times;
};

// Fills the hole of decoded pixels: mask check -> clean -> strategy -> model -> composite.
// Outside the feathered hole the result equals the input byte for byte.
INPAINT_CXX_API PipelineResult fill_image(const InpaintModel& model, const ImageView& rgb,
                                          const ImageView& mask, const PipelineOptions& options = {});

// The whole path from encoded bytes to encoded bytes: decode -> orient -> fill_image ->
// encode (+ preview).
INPAINT_CXX_API PipelineResult run_pipeline(const InpaintModel& model, const std::uint8_t* image,
                                            std::size_t image_size, const std::uint8_t* mask,
                                            std::size_t mask_size, const PipelineOptions& options = {});

}  // namespace inpaint
