// decode -> orient -> mask -> clean -> strategy -> model -> feathered composite -> encode.
#include "inpaint/pipeline.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <future>
#include <iterator>
#include <system_error>
#include <type_traits>
#include <opencv2/imgproc.hpp>

#include "core/cv_bridge.hpp"
#include "core/text.hpp"
#include "core/timer.hpp"
#include "pipeline/out_of_memory.hpp"
#include "mask/mask_ops.hpp"
#include "inpaint/error.hpp"

namespace inpaint {

const char* strategy_name(Strategy strategy) noexcept {
  switch (strategy) {
    case Strategy::Auto: return "auto";
    case Strategy::Original: return "original";
    case Strategy::Crop: return "crop";
    case Strategy::Resize: return "resize";
  }
  return "unknown";
}

Strategy parse_strategy(const std::string& name) {
  for (Strategy s : {Strategy::Auto, Strategy::Original, Strategy::Crop, Strategy::Resize})
    if (name == strategy_name(s)) return s;
  throw Error(ErrorCode::InvalidArgument, "strategy '" + name + "' is not one of auto, original, crop, resize");
}

// ---------------------------------------------------------------- per-call parameters
// (Here rather than in a file of their own only because the source list is being reworked on
// another branch; they belong to the request the pipeline builds.)

const char* param_type_name(ParamType type) noexcept {
  switch (type) {
    case ParamType::Bool: return "bool";
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::String: return "string";
  }
  return "unknown";
}

std::string param_value_text(const ParamValue& value) {
  switch (param_type(value)) {
    case ParamType::Bool: return std::get<bool>(value) ? "true" : "false";
    case ParamType::Int: return std::to_string(std::get<std::int64_t>(value));
    case ParamType::Float: {
      char text[64];
      // The shortest form that reads back to the same double ("0.5", not "0.500000").
      auto end = std::to_chars(text, text + sizeof text, std::get<double>(value)).ptr;
      return std::string(text, end);
    }
    case ParamType::String: return std::get<std::string>(value);
  }
  return {};
}

namespace {

[[noreturn]] void bad_param(const std::string& message) { throw Error(ErrorCode::InvalidArgument, message); }

// An `a` or `an` phrase for messages: "an int", "a float".
std::string a_type(ParamType type) {
  return std::string(type == ParamType::Int ? "an " : "a ") + param_type_name(type);
}

}  // namespace

ParamValue parse_param_value(ParamType type, const std::string& text, const std::string& name) {
  auto fail = [&]() -> ParamValue {
    bad_param(name + " must be " + a_type(type) + ", got " + detail::quoted(text));
  };
  const char* begin = text.data();
  const char* end = begin + text.size();
  switch (type) {
    case ParamType::Bool:
      if (text == "true" || text == "1") return true;
      if (text == "false" || text == "0") return false;
      return fail();
    case ParamType::Int: {
      std::int64_t value = 0;
      // from_chars refuses a leading '+'; accept it, as strtol would.
      if (begin != end && *begin == '+') ++begin;
      auto [ptr, ec] = std::from_chars(begin, end, value);
      if (text.empty() || ec != std::errc() || ptr != end) return fail();
      return value;
    }
    case ParamType::Float: {
      double value = 0;
      if (begin != end && *begin == '+') ++begin;
      // from_chars does not depend on the C locale (strtod reads "0,5" under de_DE).
      auto [ptr, ec] = std::from_chars(begin, end, value);
      if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) return fail();
      return value;
    }
    case ParamType::String: return text;
  }
  return fail();
}

namespace {

template <typename T>
const T* typed_param(const std::map<std::string, ParamValue>& values, const std::string& name, ParamType wanted) {
  auto it = values.find(name);
  if (it == values.end()) return nullptr;
  if (const T* value = std::get_if<T>(&it->second)) return value;
  bad_param("parameter '" + name + "' is " + a_type(param_type(it->second)) + ", expected " + a_type(wanted));
}

}  // namespace

bool CallParams::get_bool(const std::string& name, bool fallback) const {
  const bool* value = typed_param<bool>(values_, name, ParamType::Bool);
  return value ? *value : fallback;
}

std::int64_t CallParams::get_int(const std::string& name, std::int64_t fallback) const {
  const std::int64_t* value = typed_param<std::int64_t>(values_, name, ParamType::Int);
  return value ? *value : fallback;
}

double CallParams::get_float(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it != values_.end())
    if (const std::int64_t* whole = std::get_if<std::int64_t>(&it->second)) return double(*whole);
  const double* value = typed_param<double>(values_, name, ParamType::Float);
  return value ? *value : fallback;
}

std::string CallParams::get_string(const std::string& name, const std::string& fallback) const {
  const std::string* value = typed_param<std::string>(values_, name, ParamType::String);
  return value ? *value : fallback;
}

namespace {

// A value of the declared type, in range; `what` names it in messages.
ParamValue checked_value(const ParamSpec& spec, const ParamValue& given, const std::string& what) {
  ParamValue value = given;
  ParamType type = param_type(value);
  if (type == ParamType::String && spec.type != ParamType::String)
    value = parse_param_value(spec.type, std::get<std::string>(value), what);  // text from the CLI or C
  else if (type == ParamType::Int && spec.type == ParamType::Float)
    value = double(std::get<std::int64_t>(value));
  else if (type != spec.type)
    bad_param(what + " must be " + a_type(spec.type) + ", got " + a_type(type) + " (" +
              detail::quoted(param_value_text(value)) + ")");
  double number = 0;
  if (spec.type == ParamType::Int) number = double(std::get<std::int64_t>(value));
  if (spec.type == ParamType::Float) {
    number = std::get<double>(value);
    if (!std::isfinite(number)) bad_param(what + " must be a finite number, got " + param_value_text(value));
  }
  if (spec.type == ParamType::Int || spec.type == ParamType::Float) {
    // Bounds print as the declared type ("0..50", "0.5..20"); an open end prints as such.
    auto bound = [&](double b) {
      if (!std::isfinite(b)) return std::string(b < 0 ? "-inf" : "inf");
      return spec.type == ParamType::Int ? std::to_string(std::int64_t(b)) : param_value_text(b);
    };
    if (number < spec.min_value || number > spec.max_value)
      bad_param(what + " must be " + bound(spec.min_value) + ".." + bound(spec.max_value) + ", got " +
                param_value_text(value));
  }
  return value;
}

bool valid_param_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

CallParams resolve_params(const std::vector<ParamSpec>& declared, const CallParams& given, const std::string& owner) {
  std::string names;
  for (const ParamSpec& spec : declared) {
    // A model's own mistakes are caught here too, so that a listing never shows a broken default.
    if (!valid_param_name(spec.name))
      throw Error(ErrorCode::Internal, owner + " declares a parameter named " + detail::quoted(spec.name) +
                                           "; names must be [a-z0-9_]+");
    names += (names.empty() ? "" : ", ") + spec.name;
  }
  CallParams resolved;
  for (const ParamSpec& spec : declared) {
    if (resolved.contains(spec.name))
      throw Error(ErrorCode::Internal, owner + " declares the parameter '" + spec.name + "' twice");
    try {
      resolved.set(spec.name, checked_value(spec, spec.default_value, "default of " + spec.name));
    } catch (const Error& e) {
      throw Error(ErrorCode::Internal, owner + " declares a bad default: " + e.what());
    }
  }
  for (const auto& entry : given.values()) {
    const std::string& name = entry.first;  // not a structured binding: C++17 lambdas cannot capture one
    const ParamValue& value = entry.second;
    auto spec = std::find_if(declared.begin(), declared.end(), [&](const ParamSpec& s) { return s.name == name; });
    if (spec == declared.end())
      bad_param(owner + " takes no parameter " + detail::quoted(name) + " (it takes " +
                (names.empty() ? std::string("none") : names) + ")");
    resolved.set(name, checked_value(*spec, value, owner + ": parameter '" + name + "'"));
  }
  return resolved;
}

void validate_geometry(const ModelGeometry& g, const std::string& owner) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, owner + " declares a bad working geometry: " + what);
  };
  if (g.multiple_of < 1 || g.multiple_of > 4096) fail("multiple_of must be 1..4096, got " + std::to_string(g.multiple_of));
  for (const auto& [value, name] : {std::pair{g.min_long_side, "min_long_side"}, {g.max_long_side, "max_long_side"}}) {
    if (value < 0 || value > (1 << 16)) fail(std::string(name) + " must be 0..65536, got " + std::to_string(value));
    if (value % g.multiple_of != 0)
      fail(std::string(name) + " " + std::to_string(value) + " is not a multiple of multiple_of " +
           std::to_string(g.multiple_of));
  }
  if (g.max_long_side > 0 && g.min_long_side > g.max_long_side)
    fail("min_long_side " + std::to_string(g.min_long_side) + " is above max_long_side " + std::to_string(g.max_long_side));
}

std::vector<ParamSpec> InpaintModel::parameters() const { return {}; }
ModelGeometry InpaintModel::geometry() const { return {}; }

// ---------------------------------------------------------------- the pipeline

namespace {

// Typed access to one option's field. Each row of kPipelineOptions has one accessor here; a test
// walks the table through them, so a row without one (or a type mismatch) fails it.
struct OptionAccess {
  const char* name;
  ParamValue (*get)(const PipelineOptions&);
  void (*set)(PipelineOptions&, const ParamValue&);  // the value has the row's type
};

template <typename T>
T as(const ParamValue& v) {
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>) return std::get<T>(v);
  else return static_cast<T>(std::get<std::int64_t>(v));
}

const char* mask_backend_text(MaskBackend b) { return b == MaskBackend::Tensor ? "tensor" : "opencv"; }

#define INPAINT_FIELD(name, field, type)                                                    \
  OptionAccess {                                                                           \
    name, [](const PipelineOptions& o) { return ParamValue(type(o.field)); },              \
        [](PipelineOptions& o, const ParamValue& v) { o.field = as<decltype(o.field)>(v); } \
  }

const OptionAccess kAccess[] = {
    INPAINT_FIELD("clean", clean, bool),
    INPAINT_FIELD("threshold", mask.threshold, std::int64_t),
    INPAINT_FIELD("open_radius", mask.open_radius, std::int64_t),
    INPAINT_FIELD("close_radius", mask.close_radius, std::int64_t),
    INPAINT_FIELD("min_island_area", mask.min_island_area, std::int64_t),
    INPAINT_FIELD("min_hole_area", mask.min_hole_area, std::int64_t),
    INPAINT_FIELD("dilate_px", mask.dilate_px, std::int64_t),
    {"mask_backend", [](const PipelineOptions& o) { return ParamValue(std::string(mask_backend_text(o.mask_backend))); },
     [](PipelineOptions& o, const ParamValue& v) {
       const std::string& name = std::get<std::string>(v);
       if (name != "opencv" && name != "tensor")
         throw Error(ErrorCode::InvalidArgument, "mask backend " + detail::quoted(name) + " is not one of opencv, tensor");
       o.mask_backend = name == "tensor" ? MaskBackend::Tensor : MaskBackend::OpenCV;
     }},
    INPAINT_FIELD("mask_device", mask_device, std::string),
    INPAINT_FIELD("resize_mask", resize_mask, bool),
    {"strategy", [](const PipelineOptions& o) { return ParamValue(std::string(strategy_name(o.strategy))); },
     [](PipelineOptions& o, const ParamValue& v) { o.strategy = parse_strategy(std::get<std::string>(v)); }},
    INPAINT_FIELD("crop_trigger", crop_trigger, std::int64_t),
    INPAINT_FIELD("crop_margin", crop_margin, std::int64_t),
    INPAINT_FIELD("resize_long_side", resize_long_side, std::int64_t),
    INPAINT_FIELD("feather_px", feather_px, std::int64_t),
    INPAINT_FIELD("prompt", prompt, std::string),
    {"max_pixels",
     [](const PipelineOptions& o) {  // saturated: a C caller may store any uint64_t; the range check refuses it
       return ParamValue(std::int64_t(std::min<std::uint64_t>(o.decode.max_pixels, INT64_MAX)));
     },
     [](PipelineOptions& o, const ParamValue& v) {
       std::int64_t pixels = std::get<std::int64_t>(v);
       // Checked here: stored unsigned, a negative value would wrap past the range check.
       if (pixels < 0) throw Error(ErrorCode::InvalidArgument, "max_pixels must be >= 0, got " + std::to_string(pixels));
       o.decode.max_pixels = std::uint64_t(pixels);
     }},
    INPAINT_FIELD("apply_exif_orientation", decode.apply_exif_orientation, bool),
    {"format", [](const PipelineOptions& o) { return ParamValue(std::string(o.output.format == ImageFormat::Png ? "png" : "jpeg")); },
     [](PipelineOptions& o, const ParamValue& v) {
       const std::string& name = std::get<std::string>(v);
       if (name == "png") o.output.format = ImageFormat::Png;
       else if (name == "jpeg" || name == "jpg") o.output.format = ImageFormat::Jpeg;
       else throw Error(ErrorCode::InvalidArgument, "format " + detail::quoted(name) + " is not one of png, jpeg");
     }},
    INPAINT_FIELD("quality", output.quality, std::int64_t),
    INPAINT_FIELD("preview_long_side", preview_long_side, std::int64_t),
    INPAINT_FIELD("preview_quality", preview.quality, std::int64_t),
};
#undef INPAINT_FIELD

static_assert(std::size(kAccess) == std::size(kPipelineOptions), "one accessor per row of kPipelineOptions");

// The row and the accessor of `name`, in step (the test checks the names agree row by row).
std::size_t option_index(const std::string& name) {
  for (std::size_t i = 0; i < std::size(kPipelineOptions); ++i)
    if (name == kPipelineOptions[i].name) return i;
  std::string known;
  for (const auto& row : kPipelineOptions) known += (known.empty() ? "" : ", ") + std::string(row.name);
  throw Error(ErrorCode::InvalidArgument, "no pipeline option " + detail::quoted(name) + " (there are " + known + ")");
}

}  // namespace

ParamValue pipeline_option(const PipelineOptions& o, const std::string& name) {
  std::size_t i = option_index(name);
  if (std::string(kAccess[i].name) != kPipelineOptions[i].name)
    throw Error(ErrorCode::Internal, "pipeline option accessors are out of step at " + name);
  return kAccess[i].get(o);
}

void set_pipeline_option(PipelineOptions& o, const std::string& name, const ParamValue& value) {
  std::size_t i = option_index(name);
  if (std::string(kAccess[i].name) != kPipelineOptions[i].name)
    throw Error(ErrorCode::Internal, "pipeline option accessors are out of step at " + name);
  ParamType type = kPipelineOptions[i].type;
  if (param_type(value) != type)
    throw Error(ErrorCode::InvalidArgument, name + " must be " + (type == ParamType::Int ? "an " : "a ") +
                                                param_type_name(type) + ", got " + param_type_name(param_type(value)));
  kAccess[i].set(o, value);
}

namespace {

void validate(const PipelineOptions& o) {
  // Every int option against its row's range (clean-up settings are checked again, with the
  // same ranges, by the mask code for direct clean_mask calls).
  for (const PipelineOptionInfo& row : kPipelineOptions) {
    if (row.type != ParamType::Int) continue;
    std::int64_t value = std::get<std::int64_t>(pipeline_option(o, row.name));
    if (value < row.min_value || value > row.max_value)
      throw Error(ErrorCode::InvalidArgument, std::string(row.name) + " must be " + std::to_string(std::int64_t(row.min_value)) +
                                                  ".." + std::to_string(std::int64_t(row.max_value)) + ", got " +
                                                  std::to_string(value));
  }
  detail::validate(o.mask);  // also when clean is off: the threshold still applies
  // Encoder settings are checked now, not after a long model run (JPEG quality is a table row).
  for (const auto& [encode, name] : {std::pair{&o.output, "output"}, {&o.preview, "preview"}}) {
    if (encode->format == ImageFormat::Png && (encode->png_compression < 0 || encode->png_compression > 9))
      throw Error(ErrorCode::InvalidArgument, std::string(name) + " PNG compression must be 0..9");
  }
}

// What every model call of one run shares, settled before any pixel work: a bad parameter or
// geometry fails before decoding.
struct ModelCall {
  const InpaintModel& model;
  CallParams params;       // every declared parameter, typed (resolve_params)
  ModelGeometry geometry;  // checked
  const PipelineOptions& options;
  ModelPrompt prompt;      // what the model conditions on (resolve_prompt)
};

ModelCall prepare_call(const InpaintModel& model, const PipelineOptions& options) {
  std::string spec = model.spec();
  std::string owner = "model '" + spec.substr(0, spec.find(':')) + "'";
  ModelGeometry geometry = model.geometry();
  validate_geometry(geometry, owner);
  CallParams params = resolve_params(model.parameters(), options.params, owner);
  return ModelCall{model, std::move(params), geometry, options, model.resolve_prompt(options.prompt)};
}

Image run_model(const ModelCall& call, const ImageView& image, const ImageView& mask) {
  const InpaintModel& model = call.model;
  InpaintRequest request{image, mask, call.prompt.text, call.options.control, call.params};
  check_run(call.options.control, "before the model");
  Image fill;
  try {
    fill = model.inpaint(request);
  } catch (const Error&) {
    throw;
  } catch (const ForeignError&) {
    throw;  // a user model's own error (a Python exception): its binding raises it again
  } catch (const std::bad_alloc&) {
    throw;  // named with the photo's size by the caller
  } catch (const std::exception& e) {  // a dependency's exception must not escape untyped
    throw Error(ErrorCode::Internal, "model '" + model.spec() + "' failed: " + e.what());
  }
  if (fill.width() != image.width || fill.height() != image.height || fill.channels() != 3)
    throw Error(ErrorCode::Internal, "model '" + model.spec() + "' returned a " + std::to_string(fill.width()) + "x" +
                                         std::to_string(fill.height()) + "x" + std::to_string(fill.channels()) +
                                         " image for a " + std::to_string(image.width) + "x" +
                                         std::to_string(image.height) + " input");
  return fill;
}

// The long side a model with geometry g works at for an input whose long side is `side`.
int working_long_side(int side, const ModelGeometry& g) {
  if (g.max_long_side > 0) side = std::min(side, g.max_long_side);
  if (g.min_long_side > 0) side = std::max(side, g.min_long_side);
  return side;
}

ImageView view_of(const cv::Mat& m) { return {m.data, m.cols, m.rows, m.channels(), m.step[0]}; }

// Runs the model at the geometry it declares and returns a fill of the input's size: scale the
// long side into range, pad by mirroring to multiples of multiple_of (as LaMa expects), run,
// cut the padding off and scale back. Models that declare nothing run on the input as it is.
Image run_fitted(const ModelCall& call, const ImageView& image, const ImageView& mask) {
  const ModelGeometry& g = call.geometry;
  const cv::Size size(image.width, image.height);
  const int long_side = std::max(size.width, size.height);
  const int target = working_long_side(long_side, g);
  if (target == long_side && size.width % g.multiple_of == 0 && size.height % g.multiple_of == 0)
    return run_model(call, image, mask);

  cv::Mat rgb = detail::as_mat(image), hole = detail::as_mat(mask);
  cv::Size scaled = size;
  if (target != long_side) {
    double s = double(target) / long_side;  // the long side becomes exactly target
    scaled = {std::max(1, int(std::lround(size.width * s))), std::max(1, int(std::lround(size.height * s)))};
    cv::Mat small_rgb, small_hole;
    cv::resize(rgb, small_rgb, scaled, 0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
    cv::resize(hole, small_hole, scaled, 0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    cv::threshold(small_hole, small_hole, 0, 255, cv::THRESH_BINARY);  // partly covered pixels are hole too
    rgb = small_rgb;
    hole = small_hole;
  }
  auto pad = [&](int side) { return (side + g.multiple_of - 1) / g.multiple_of * g.multiple_of - side; };
  const int pad_x = pad(scaled.width), pad_y = pad(scaled.height);
  if (pad_x || pad_y) {
    // Mirrored, the mask included: a hole touching the border stays a hole in the padding, so the
    // model never sees the removed object reflected there as known pixels.
    cv::Mat padded_rgb, padded_hole;
    cv::copyMakeBorder(rgb, padded_rgb, 0, pad_y, 0, pad_x, cv::BORDER_REFLECT_101);
    cv::copyMakeBorder(hole, padded_hole, 0, pad_y, 0, pad_x, cv::BORDER_REFLECT_101);
    rgb = padded_rgb;
    hole = padded_hole;
  }
  Image fill = run_model(call, view_of(rgb), view_of(hole));
  cv::Mat working = detail::as_mat(fill)(cv::Rect(cv::Point(0, 0), scaled));
  if (scaled == size) return detail::image_from_mat(working);
  Image out = Image::uninitialized(size.width, size.height, 3);
  cv::Mat out_mat = detail::as_mat(out);
  cv::resize(working, out_mat, size, 0, 0, scaled.width > size.width ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

ImageView sub_view(const ImageView& v, const cv::Rect& r) {
  return {v.row(r.y) + std::size_t(r.x) * v.channels, r.width, r.height, v.channels, v.row_bytes()};
}

// Blends a fill that covers `box` of the frame into image, where the feathered alpha reaches.
void paste(Image& image, const ImageView& fill, const cv::Rect& box, const detail::MaskRegion& alpha) {
  cv::Rect overlap = box & alpha.rect;
  if (overlap.empty()) return;
  composite(image, sub_view(fill, overlap - box.tl()), view_of(alpha.mask(overlap - alpha.rect.tl())), overlap.x,
            overlap.y);
}

// The hole and the compositing weights, ready before the photo is decoded.
struct PreparedMask {
  detail::MaskRegion hole;   // tight box of the cleaned hole; empty when there is nothing to fill
  detail::MaskRegion alpha;  // feathered weights
  double mask_ms = 0, clean_ms = 0;
};

void check_rgb(const ImageView& image) {
  if (image.empty() || image.channels != 3)
    throw Error(ErrorCode::InvalidArgument, "image must be a non-empty RGB image (3 channels), got " +
                                                std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                                                std::to_string(image.channels));
}

PreparedMask prepare_mask(const ImageView& mask_in, const cv::Size& frame, const PipelineOptions& options) {
  detail::Stopwatch clock;
  if (mask_in.empty() || mask_in.channels != 1)
    throw Error(ErrorCode::InvalidArgument, "mask must be a non-empty single-channel image, got " +
                                                std::to_string(mask_in.width) + "x" + std::to_string(mask_in.height) +
                                                "x" + std::to_string(mask_in.channels));
  ImageView mask = mask_in;
  Image resized_mask;
  if (mask.width != frame.width || mask.height != frame.height) {
    if (!options.resize_mask)
      throw Error(ErrorCode::InvalidArgument, "mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                                                  " but the image is " + std::to_string(frame.width) + "x" +
                                                  std::to_string(frame.height) + " (ask for resize_mask to scale it)");
    resized_mask = Image::uninitialized(frame.width, frame.height, 1);
    cv::Mat dst = detail::as_mat(resized_mask);
    cv::resize(detail::as_mat(mask), dst, dst.size(), 0, 0, cv::INTER_LINEAR);
    mask = resized_mask;
  }
  PreparedMask prepared;
  prepared.mask_ms = clock.lap();
  check_run(options.control, "before the mask clean-up");
  prepared.hole = detail::tight(options.clean ? detail::clean_region(mask, options.mask, options.mask_backend, options.mask_device)
                                              : detail::threshold_region(mask, options.mask.threshold));
  prepared.alpha = detail::feather_region(prepared.hole, options.feather_px, frame);
  prepared.clean_ms = clock.lap();
  return prepared;
}

// Runs the strategy and composites into image in place. The model reads image before anything
// is pasted into the part it sees (Crop boxes are disjoint).
// Every model call goes through run_fitted, so each strategy honours the model's geometry.
void fill_prepared(const ModelCall& call, Image& image, const PreparedMask& prepared, PipelineResult& result) {
  const PipelineOptions& options = call.options;
  detail::Stopwatch clock;
  result.times.mask += prepared.mask_ms;
  result.times.clean += prepared.clean_ms;
  result.model_prompt = call.prompt.text;
  result.model_prompt_reason = call.prompt.reason;
  const detail::MaskRegion& hole = prepared.hole;
  const detail::MaskRegion& alpha = prepared.alpha;
  const cv::Size frame(image.width(), image.height());
  if (hole.empty()) {
    result.mask_empty = true;
    result.strategy = Strategy::Original;
    return;
  }
  result.hole = {hole.rect.x, hole.rect.y, hole.rect.width, hole.rect.height};

  Strategy strategy = options.strategy;
  int long_side = std::max(frame.width, frame.height);
  if (strategy == Strategy::Auto) strategy = long_side > options.crop_trigger ? Strategy::Crop : Strategy::Original;
  // The Resize working size, moved into the model's range so the photo is resampled only once.
  const int resize_side = working_long_side(options.resize_long_side, call.geometry);
  if (strategy == Strategy::Resize && (long_side <= options.resize_long_side || long_side <= resize_side))
    strategy = Strategy::Original;
  result.strategy = strategy;

  if (strategy == Strategy::Crop) {
    // The feathered blend must stay inside the box the model filled.
    int margin = std::max(options.crop_margin, options.feather_px + 1);
    for (const cv::Rect& box : detail::region_boxes(hole.mask, hole.rect.tl(), margin, frame)) {
      cv::Mat box_mask = hole.crop(box);
      Image fill = run_fitted(call, sub_view(image, box), view_of(box_mask));
      result.times.model += clock.lap();
      paste(image, fill, box, alpha);
      result.times.composite += clock.lap();
      ++result.regions;
    }
    return;
  }
  const cv::Rect whole(cv::Point(0, 0), frame);
  cv::Mat full_mask = hole.crop(whole);
  result.regions = 1;
  if (strategy == Strategy::Original) {
    Image fill = run_fitted(call, image, view_of(full_mask));
    result.times.model = clock.lap();
    paste(image, fill, whole, alpha);
    result.times.composite = clock.lap();
    return;
  }
  // Resize: run at the working size, then scale back only the part the alpha covers.
  Image small_rgb = resize_long_side(image, resize_side);
  cv::Mat small_mask;
  cv::resize(full_mask, small_mask, cv::Size(small_rgb.width(), small_rgb.height()), 0, 0, cv::INTER_AREA);
  cv::threshold(small_mask, small_mask, 0, 255, cv::THRESH_BINARY);  // partly covered pixels are hole too
  Image small_fill = run_fitted(call, small_rgb, view_of(small_mask));
  double sx = double(small_rgb.width()) / frame.width, sy = double(small_rgb.height()) / frame.height;
  // Destination pixel centre (x + 0.5) maps to source (x + 0.5) * s - 0.5, as cv::resize does.
  cv::Matx23d to_small(sx, 0, (alpha.rect.x + 0.5) * sx - 0.5, 0, sy, (alpha.rect.y + 0.5) * sy - 0.5);
  Image fill = Image::uninitialized(alpha.rect.width, alpha.rect.height, 3);
  cv::Mat fill_mat = detail::as_mat(fill);
  cv::warpAffine(detail::as_mat(small_fill), fill_mat, to_small, fill_mat.size(), cv::INTER_CUBIC | cv::WARP_INVERSE_MAP,
                 cv::BORDER_REPLICATE);
  result.times.model = clock.lap();
  paste(image, fill, alpha.rect, alpha);
  result.times.composite = clock.lap();
}

}  // namespace

PipelineResult fill_image(const InpaintModel& model, const ImageView& rgb, const ImageView& mask,
                          const PipelineOptions& options) {
  validate(options);
  ModelCall call = prepare_call(model, options);
  check_rgb(rgb);
  check_run(options.control, "before the fill");
  return detail::translating_out_of_memory("filling", rgb.width, rgb.height, [&] {
    detail::Stopwatch clock;
    PipelineResult result;
    result.image = Image::copy_of(rgb);
    double copy_ms = clock.lap();
    fill_prepared(call, result.image, prepare_mask(mask, {rgb.width, rgb.height}, options), result);
    result.times.mask += copy_ms;
    result.times.total = copy_ms + clock.lap();
    return result;
  });
}

namespace {

PipelineResult decode_fill_encode(const ModelCall& call, const std::uint8_t* image, std::size_t image_size,
                                  const std::uint8_t* mask, std::size_t mask_size, const PipelineOptions& options,
                                  const ImageInfo& info, detail::Stopwatch& total) {
  detail::Stopwatch clock;
  const cv::Size frame(info.width, info.height);
  // The mask is decoded, checked and cleaned on the second core while the photo decodes here.
  auto mask_future = std::async(std::launch::async, [&] {
    detail::Stopwatch mask_clock;
    Image pixels;
    try {
      pixels = decode_mask(mask, mask_size, options.decode);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("mask: ") + e.what());
    }
    double decode_ms = mask_clock.lap();
    PreparedMask prepared = prepare_mask(pixels, frame, options);
    prepared.mask_ms += decode_ms;
    return prepared;
  });
  DecodedImage decoded;
  try {
    decoded = decode_image(image, image_size, options.decode);
  } catch (...) {
    mask_future.wait();
    throw;
  }
  PreparedMask prepared = mask_future.get();
  clock.lap();
  check_run(options.control, "after decoding");

  PipelineResult result;
  result.image = std::move(decoded.rgb);
  result.alpha = std::move(decoded.alpha);
  result.times.decode = decoded.decode_ms;
  result.times.orient = decoded.orient_ms;
  fill_prepared(call, result.image, prepared, result);
  clock.lap();
  check_run(options.control, "before encoding");

  // PNG keeps the alpha channel; JPEG cannot hold one and drops it.
  ImageView alpha = options.output.format == ImageFormat::Png ? result.alpha.view() : ImageView{};
  std::future<std::vector<std::uint8_t>> preview;
  if (options.preview_long_side > 0)
    preview = std::async(std::launch::async, [&] {
      detail::Stopwatch preview_clock;
      const Image& full = result.image;
      int long_side = std::max(full.width(), full.height());
      Image small = long_side > options.preview_long_side ? resize_long_side(full, options.preview_long_side) : full;
      auto bytes = encode_image(small, options.preview);
      result.times.preview = preview_clock.lap();
      return bytes;
    });
  bool same_format = (options.output.format == ImageFormat::Jpeg) == (image_size >= 2 && image[0] == 0xFF);
  try {
    if (result.mask_empty && same_format && decoded.exif_orientation == 1)
      result.encoded.assign(image, image + image_size);  // nothing to fill: the input, unchanged
    else
      result.encoded = encode_image(result.image, options.output, alpha);
  } catch (...) {
    if (preview.valid()) preview.wait();
    throw;
  }
  if (preview.valid()) result.preview = preview.get();
  result.times.encode = clock.lap();
  result.times.total = total.lap();
  return result;
}

}  // namespace

PipelineResult run_pipeline(const InpaintModel& model, const std::uint8_t* image, std::size_t image_size,
                            const std::uint8_t* mask, std::size_t mask_size, const PipelineOptions& options) {
  validate(options);
  ModelCall call = prepare_call(model, options);  // a bad parameter fails before any decoding
  detail::Stopwatch total;
  ImageInfo info = probe_image(image, image_size, options.decode);  // a bad header fails before any work
  return detail::translating_out_of_memory("filling", info.width, info.height, [&] {
    return decode_fill_encode(call, image, image_size, mask, mask_size, options, info, total);
  });
}

}  // namespace inpaint
