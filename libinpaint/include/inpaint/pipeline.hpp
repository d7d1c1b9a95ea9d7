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

// The PipelineOptions settings that callers set by name, in one table: the Python keywords of
// fill() and run(), the CLI's flags and help, the C struct's conversion and the README are taken
// from it or checked against it (tests and static_asserts), so a new option is one row here plus
// its accessor in pipeline.cpp. Defaults are not repeated: they are PipelineOptions{}'s, read
// through pipeline_option(). The pipeline checks every int against its range.
struct PipelineOptionInfo {
  const char* name;   // the Python keyword and, where it has one, the C field
  ParamType type;     // Bool, Int or String
  double min_value;   // inclusive range of an Int
  double max_value;
  const char* doc;    // one line; a String that takes names lists them
  bool encoded_only;  // decoding and encoding: run_pipeline only, not fill_image
};

inline constexpr PipelineOptionInfo kPipelineOptions[] = {
    {"clean", ParamType::Bool, 0, 0, "clean the mask (see clean_mask); false only thresholds it", false},
    {"threshold", ParamType::Int, 0, 254, "a mask value above this is hole", false},
    {"open_radius", ParamType::Int, 0, 256, "opening removes specks and thin spurs", false},
    {"close_radius", ParamType::Int, 0, 256, "closing fills small gaps and notches", false},
    {"min_island_area", ParamType::Int, 0, 2147483647, "hole islands smaller than this are dropped", false},
    {"min_hole_area", ParamType::Int, 0, 2147483647, "enclosed keep regions smaller than this are filled", false},
    {"dilate_px", ParamType::Int, 0, 1024, "grow the hole by this many pixels", false},
    {"mask_backend", ParamType::String, 0, 0, "where the clean-up runs: opencv | tensor", false},
    {"mask_device", ParamType::String, 0, 0, "the tensor backend's device: cpu, cuda, cuda:N", false},
    {"resize_mask", ParamType::Bool, 0, 0, "scale a mask of another size instead of refusing it", false},
    {"strategy", ParamType::String, 0, 0, "how the model sees the photo: auto | original | crop | resize", false},
    {"crop_trigger", ParamType::Int, 1, 1 << 20, "auto crops when the long side exceeds this", false},
    {"crop_margin", ParamType::Int, 0, 1 << 16, "context around each hole region for crop", false},
    {"resize_long_side", ParamType::Int, 16, 1 << 16, "the long side resize runs the model at", false},
    {"feather_px", ParamType::Int, 0, 1024, "blend width outside the hole (0 = hard edge)", false},
    {"prompt", ParamType::String, 0, 0, "handed to prompt-conditioned models", false},
    {"max_pixels", ParamType::Int, 0, double(kMaxPixelsCeiling), "refuse larger images before decoding them", true},
    {"apply_exif_orientation", ParamType::Bool, 0, 0, "turn JPEG inputs upright by their EXIF tag", true},
    {"format", ParamType::String, 0, 0, "the result's format: jpeg | png (PNG keeps the alpha)", true},
    {"quality", ParamType::Int, 1, 100, "JPEG quality of the result", true},
    {"preview_long_side", ParamType::Int, 0, 1 << 16, "> 0: also encode a preview this long", true},
    {"preview_quality", ParamType::Int, 1, 100, "JPEG quality of the preview", true},
};

// The value of option `name` in o (the defaults: pipeline_option(PipelineOptions{}, name)):
// names as text ("auto", "jpeg", "opencv"), numbers as int. Throws Error(InvalidArgument) for a
// name not in kPipelineOptions.
INPAINT_CXX_API ParamValue pipeline_option(const PipelineOptions& o, const std::string& name);
// Sets option `name`; the value must have the option's type (a String option that takes names
// also refuses other names). Ranges are checked by the pipeline. Throws Error(InvalidArgument).
INPAINT_CXX_API void set_pipeline_option(PipelineOptions& o, const std::string& name, const ParamValue& value);

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

// The stages of StageTimes in order, by name: Python's timings dict, the CLI's JSON and the C
// struct's conversion (checked at compile time) are built from this list.
struct StageField {
  const char* name;
  double StageTimes::*ms;
};
inline constexpr StageField kStageFields[] = {
    {"decode", &StageTimes::decode},   {"orient", &StageTimes::orient}, {"mask", &StageTimes::mask},
    {"clean", &StageTimes::clean},     {"model", &StageTimes::model},   {"composite", &StageTimes::composite},
    {"encode", &StageTimes::encode},   {"preview", &StageTimes::preview}, {"total", &StageTimes::total},
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
  // The prompt the model was handed (InpaintModel::resolve_prompt of options.prompt) and, when
  // the model substituted another, why (e.g. flux's missing_prompt=fallback).
  std::string model_prompt;
  std::string model_prompt_reason;
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
