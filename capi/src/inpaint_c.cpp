// The C shims: C structs and handles <-> C++ objects. No exception leaves this file; each
// becomes an inpaint_status plus a per-thread message. Segmentation is in segment_c.cpp.
#include "inpaint.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <iterator>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "c_shim.hpp"
#include "inpaint/inpaint.hpp"

using inpaint::Error;
using inpaint::ErrorCode;
using namespace inpaint::capi;

namespace {

inpaint::DecodeOptions decode_options(const inpaint_decode_params* user) {
  inpaint_decode_params p = defaults_for(user, inpaint_decode_params_init, "inpaint_decode_params");
  if (user) {
    INPAINT_TAKE(p, user, max_pixels);
    INPAINT_TAKE(p, user, apply_exif_orientation);
  }
  inpaint::DecodeOptions options;
  options.max_pixels = p.max_pixels;
  options.apply_exif_orientation = p.apply_exif_orientation != 0;
  return options;
}

inpaint::ImageFormat image_format(int format, const char* field) {  // an int: see c_enum
  switch (format) {
    case INPAINT_FORMAT_PNG: return inpaint::ImageFormat::Png;
    case INPAINT_FORMAT_JPEG: return inpaint::ImageFormat::Jpeg;
  }
  invalid(std::string(field) + " must be INPAINT_FORMAT_PNG or INPAINT_FORMAT_JPEG, got " +
          std::to_string(format));
}

inpaint::EncodeOptions encode_options(const inpaint_encode_params* user) {
  inpaint_encode_params p = defaults_for(user, inpaint_encode_params_init, "inpaint_encode_params");
  if (user) {
    INPAINT_TAKE(p, user, format);
    INPAINT_TAKE(p, user, quality);
    INPAINT_TAKE(p, user, png_compression);
  }
  inpaint::EncodeOptions options;
  options.format = image_format(c_enum(p.format), "inpaint_encode_params.format");
  options.quality = p.quality;
  options.png_compression = p.png_compression;
  return options;
}

struct MaskSettings {
  inpaint::MaskCleanOptions clean;
  inpaint::MaskBackend backend = inpaint::MaskBackend::OpenCV;
  std::string device = "cpu";
};

MaskSettings mask_settings(const inpaint_mask_params* user) {
  inpaint_mask_params p = defaults_for(user, inpaint_mask_params_init, "inpaint_mask_params");
  if (user) {
    INPAINT_TAKE(p, user, threshold);
    INPAINT_TAKE(p, user, open_radius);
    INPAINT_TAKE(p, user, close_radius);
    INPAINT_TAKE(p, user, min_island_area);
    INPAINT_TAKE(p, user, min_hole_area);
    INPAINT_TAKE(p, user, dilate_px);
    INPAINT_TAKE(p, user, backend);
    INPAINT_TAKE(p, user, device);
  }
  MaskSettings settings;
  settings.clean.threshold = p.threshold;
  settings.clean.open_radius = p.open_radius;
  settings.clean.close_radius = p.close_radius;
  settings.clean.min_island_area = p.min_island_area;
  settings.clean.min_hole_area = p.min_hole_area;
  settings.clean.dilate_px = p.dilate_px;
  switch (c_enum(p.backend)) {
    case INPAINT_MASK_BACKEND_OPENCV: settings.backend = inpaint::MaskBackend::OpenCV; break;
    case INPAINT_MASK_BACKEND_TENSOR: settings.backend = inpaint::MaskBackend::Tensor; break;
    default:
      invalid("inpaint_mask_params.backend must be INPAINT_MASK_BACKEND_OPENCV or _TENSOR, got " +
              std::to_string(c_enum(p.backend)));
  }
  if (p.device) settings.device = p.device;
  return settings;
}

// Where each row of inpaint::kPipelineOptions lives in the C structs (the struct itself is ABI and
// cannot be generated). The static_asserts below fail the build when a row is added to the table
// without a C field here, so the C API cannot silently fall behind Python and the CLI.
struct CField {
  const char* option;
  const char* c_field;
};
constexpr CField kCFields[] = {
    {"clean", "inpaint_pipeline_params.clean"},
    {"threshold", "inpaint_mask_params.threshold"},
    {"open_radius", "inpaint_mask_params.open_radius"},
    {"close_radius", "inpaint_mask_params.close_radius"},
    {"min_island_area", "inpaint_mask_params.min_island_area"},
    {"min_hole_area", "inpaint_mask_params.min_hole_area"},
    {"dilate_px", "inpaint_mask_params.dilate_px"},
    {"mask_backend", "inpaint_mask_params.backend"},
    {"mask_device", "inpaint_mask_params.device"},
    {"resize_mask", "inpaint_pipeline_params.resize_mask"},
    {"strategy", "inpaint_pipeline_params.strategy"},
    {"crop_trigger", "inpaint_pipeline_params.crop_trigger"},
    {"crop_margin", "inpaint_pipeline_params.crop_margin"},
    {"resize_long_side", "inpaint_pipeline_params.resize_long_side"},
    {"feather_px", "inpaint_pipeline_params.feather_px"},
    {"prompt", "inpaint_pipeline_params.prompt"},
    {"max_pixels", "inpaint_pipeline_params.max_pixels"},
    {"apply_exif_orientation", "inpaint_pipeline_params.apply_exif_orientation"},
    {"format", "inpaint_pipeline_params.output_format"},
    {"quality", "inpaint_pipeline_params.quality"},
    {"preview_long_side", "inpaint_pipeline_params.preview_long_side"},
    {"preview_quality", "inpaint_pipeline_params.preview_quality"},
};

constexpr bool same_text(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

constexpr bool c_fields_follow_the_table() {
  if (std::size(kCFields) != std::size(inpaint::kPipelineOptions)) return false;
  for (std::size_t i = 0; i < std::size(kCFields); ++i)
    if (!same_text(kCFields[i].option, inpaint::kPipelineOptions[i].name)) return false;
  return true;
}
static_assert(c_fields_follow_the_table(),
              "inpaint::kPipelineOptions changed: give the option a C field (appended to its struct), "
              "convert it in pipeline_options() and list it in kCFields, in the table's order");

inpaint::PipelineOptions pipeline_options(const inpaint_pipeline_params* user) {
  inpaint_pipeline_params p = defaults_for(user, inpaint_pipeline_params_init, "inpaint_pipeline_params");
  if (user) {
    INPAINT_TAKE(p, user, clean);
    INPAINT_TAKE(p, user, mask);
    INPAINT_TAKE(p, user, resize_mask);
    INPAINT_TAKE(p, user, strategy);
    INPAINT_TAKE(p, user, crop_trigger);
    INPAINT_TAKE(p, user, crop_margin);
    INPAINT_TAKE(p, user, resize_long_side);
    INPAINT_TAKE(p, user, feather_px);
    INPAINT_TAKE(p, user, output_format);
    INPAINT_TAKE(p, user, quality);
    INPAINT_TAKE(p, user, preview_long_side);
    INPAINT_TAKE(p, user, preview_quality);
    INPAINT_TAKE(p, user, max_pixels);
    INPAINT_TAKE(p, user, apply_exif_orientation);
    INPAINT_TAKE(p, user, prompt);
    INPAINT_TAKE(p, user, control);
    INPAINT_TAKE(p, user, params);
    INPAINT_TAKE(p, user, param_count);
  }
  inpaint::PipelineOptions options;
  options.decode.max_pixels = p.max_pixels;
  options.decode.apply_exif_orientation = p.apply_exif_orientation != 0;
  options.clean = p.clean != 0;
  MaskSettings mask = mask_settings(p.mask);
  options.mask = mask.clean;
  options.mask_backend = mask.backend;
  options.mask_device = mask.device;
  options.resize_mask = p.resize_mask != 0;
  switch (c_enum(p.strategy)) {
    case INPAINT_STRATEGY_AUTO: options.strategy = inpaint::Strategy::Auto; break;
    case INPAINT_STRATEGY_ORIGINAL: options.strategy = inpaint::Strategy::Original; break;
    case INPAINT_STRATEGY_CROP: options.strategy = inpaint::Strategy::Crop; break;
    case INPAINT_STRATEGY_RESIZE: options.strategy = inpaint::Strategy::Resize; break;
    default:
      invalid("inpaint_pipeline_params.strategy must be one of INPAINT_STRATEGY_*, got " +
              std::to_string(c_enum(p.strategy)));
  }
  options.crop_trigger = p.crop_trigger;
  options.crop_margin = p.crop_margin;
  options.resize_long_side = p.resize_long_side;
  options.feather_px = p.feather_px;
  options.output.format = image_format(c_enum(p.output_format), "inpaint_pipeline_params.output_format");
  options.output.quality = p.quality;
  options.preview_long_side = p.preview_long_side;
  options.preview.format = inpaint::ImageFormat::Jpeg;
  options.preview.quality = p.preview_quality;
  if (p.prompt) options.prompt = p.prompt;
  if (p.control) options.control = &p.control->control;
  options.params = call_params(p.params, p.param_count, "inpaint_pipeline_params");
  return options;
}

inpaint::LabelWaitPolicy label_wait_policy(const inpaint_label_wait_params* user) {
  inpaint_label_wait_params p = defaults_for(user, inpaint_label_wait_params_init, "inpaint_label_wait_params");
  if (user) {
    INPAINT_TAKE(p, user, max_wait_attempt);
    INPAINT_TAKE(p, user, max_wait_age_s);
    INPAINT_TAKE(p, user, give_up_attempt);
  }
  inpaint::LabelWaitPolicy policy;
  policy.max_wait_attempt = p.max_wait_attempt;
  policy.max_wait_age_s = p.max_wait_age_s;
  policy.give_up_attempt = p.give_up_attempt;
  return policy;
}

void check_timings_size(const inpaint_timings* timings, const char* function) {
  if (timings) require_struct_size(timings, function, "out_timings", "inpaint_timings_init");
}

// The C struct's field for each entry of inpaint::kStageFields, in the same order (checked at
// compile time, so a new stage cannot be left out of the C API unnoticed).
struct CTiming {
  const char* stage;
  std::size_t offset;
};
constexpr CTiming kCTimings[] = {
    {"decode", offsetof(inpaint_timings, decode)},   {"orient", offsetof(inpaint_timings, orient)},
    {"mask", offsetof(inpaint_timings, mask)},       {"clean", offsetof(inpaint_timings, clean)},
    {"model", offsetof(inpaint_timings, model)},     {"composite", offsetof(inpaint_timings, composite)},
    {"encode", offsetof(inpaint_timings, encode)},   {"preview", offsetof(inpaint_timings, preview)},
    {"total", offsetof(inpaint_timings, total)},
};

constexpr bool c_timings_follow_the_stages() {
  if (std::size(kCTimings) != std::size(inpaint::kStageFields)) return false;
  for (std::size_t i = 0; i < std::size(kCTimings); ++i)
    if (!same_text(kCTimings[i].stage, inpaint::kStageFields[i].name)) return false;
  return sizeof(inpaint_timings) == offsetof(inpaint_timings, decode) + std::size(kCTimings) * sizeof(double);
}
static_assert(c_timings_follow_the_stages(),
              "inpaint::kStageFields changed: append a field to inpaint_timings and list it in kCTimings");

// Writes only the fields the caller's (possibly older, shorter) struct holds.
void store_timings(const inpaint::StageTimes& times, inpaint_timings* out) {
  for (std::size_t i = 0; i < std::size(kCTimings); ++i) {
    if (kCTimings[i].offset + sizeof(double) > out->struct_size) continue;
    double ms = times.*inpaint::kStageFields[i].ms;
    std::memcpy(reinterpret_cast<unsigned char*>(out) + kCTimings[i].offset, &ms, sizeof ms);
  }
}

}  // namespace

// ---------------------------------------------------------------- status and errors

extern "C" {

const char* inpaint_version(void) { return inpaint::version(); }

const char* inpaint_last_error(void) { return t_last_error.c_str(); }

const char* inpaint_status_name(inpaint_status status_arg) {
  const int status = c_enum(status_arg);
  if (status == INPAINT_OK) return "ok";
  if (status == INPAINT_ERR_OUT_OF_MEMORY) return "out_of_memory";
  if ((status >= INPAINT_ERR_INVALID_ARGUMENT && status <= INPAINT_ERR_INTERNAL) || status == INPAINT_ERR_UNAVAILABLE ||
      status == INPAINT_ERR_TIMEOUT)
    return inpaint::error_code_name(static_cast<ErrorCode>(status));
  return "unknown";
}

// ---------------------------------------------------------------- memory

void inpaint_image_free(inpaint_image* image) {
  if (!image) return;
  std::free(image->data);
  *image = inpaint_image{};
}

void inpaint_buffer_free(inpaint_buffer* buffer) {
  if (!buffer) return;
  std::free(buffer->data);
  *buffer = inpaint_buffer{};
}

void inpaint_string_free(char* string) { std::free(string); }

// ---------------------------------------------------------------- decode and encode

void inpaint_decode_params_init(inpaint_decode_params* params) {
  if (!params) return;
  inpaint::DecodeOptions defaults;
  *params = inpaint_decode_params{};
  params->struct_size = sizeof *params;
  params->max_pixels = defaults.max_pixels;
  params->apply_exif_orientation = defaults.apply_exif_orientation;
}

inpaint_status inpaint_decode(const uint8_t* bytes, size_t size, const inpaint_decode_params* params,
                              inpaint_image* out_rgb, inpaint_image* out_alpha) {
  return guarded([&] {
    if (size) require(bytes, "inpaint_decode", "bytes");
    require(out_rgb, "inpaint_decode", "out_rgb");
    inpaint::DecodedImage decoded = inpaint::decode_image(bytes, size, decode_options(params));
    inpaint::Image none;
    OwnedImage rgb(decoded.rgb);
    OwnedImage alpha(out_alpha ? decoded.alpha : none);
    *out_rgb = rgb.release();
    if (out_alpha) *out_alpha = alpha.release();
  });
}

inpaint_status inpaint_decode_mask(const uint8_t* bytes, size_t size, const inpaint_decode_params* params,
                                   inpaint_image* out_mask) {
  return guarded([&] {
    if (size) require(bytes, "inpaint_decode_mask", "bytes");
    require(out_mask, "inpaint_decode_mask", "out_mask");
    OwnedImage mask(inpaint::decode_mask(bytes, size, decode_options(params)));
    *out_mask = mask.release();
  });
}

void inpaint_encode_params_init(inpaint_encode_params* params) {
  if (!params) return;
  inpaint::EncodeOptions defaults;
  *params = inpaint_encode_params{};
  params->struct_size = sizeof *params;
  params->format = defaults.format == inpaint::ImageFormat::Png ? INPAINT_FORMAT_PNG : INPAINT_FORMAT_JPEG;
  params->quality = defaults.quality;
  params->png_compression = defaults.png_compression;
}

inpaint_status inpaint_encode(const inpaint_image* image, const inpaint_image* alpha,
                              const inpaint_encode_params* params, inpaint_buffer* out) {
  return guarded([&] {
    inpaint::ImageView view = image_view(image, "inpaint_encode", "image", 1, 3);
    inpaint::ImageView alpha_view;
    if (alpha && alpha->data) alpha_view = image_view(alpha, "inpaint_encode", "alpha", 1, 1);
    require(out, "inpaint_encode", "out");
    std::vector<std::uint8_t> bytes = inpaint::encode_image(view, encode_options(params), alpha_view);
    uint8_t* data = allocate(bytes.size());
    std::memcpy(data, bytes.data(), bytes.size());
    out->data = data;
    out->size = bytes.size();
  });
}

inpaint_status inpaint_write_file_atomic(const char* path, const uint8_t* data, size_t size) {
  return guarded([&] {
    require(path, "inpaint_write_file_atomic", "path");
    if (size) require(data, "inpaint_write_file_atomic", "data");
    inpaint::write_file_atomic(path, data, size);
  });
}

// ---------------------------------------------------------------- masks

void inpaint_mask_params_init(inpaint_mask_params* params) {
  if (!params) return;
  inpaint::MaskCleanOptions defaults;
  *params = inpaint_mask_params{};
  params->struct_size = sizeof *params;
  params->threshold = defaults.threshold;
  params->open_radius = defaults.open_radius;
  params->close_radius = defaults.close_radius;
  params->min_island_area = defaults.min_island_area;
  params->min_hole_area = defaults.min_hole_area;
  params->dilate_px = defaults.dilate_px;
  params->backend = INPAINT_MASK_BACKEND_OPENCV;
  params->device = "cpu";
}

inpaint_status inpaint_clean_mask(const inpaint_image* mask, const inpaint_mask_params* params,
                                  inpaint_image* out_mask) {
  return guarded([&] {
    inpaint::ImageView view = image_view(mask, "inpaint_clean_mask", "mask", 1, 1);
    require(out_mask, "inpaint_clean_mask", "out_mask");
    MaskSettings settings = mask_settings(params);
    OwnedImage clean(inpaint::clean_mask(view, settings.clean, settings.backend, settings.device));
    *out_mask = clean.release();
  });
}

inpaint_status inpaint_feather_mask(const inpaint_image* clean_mask, int feather_px, inpaint_image* out_weights) {
  return guarded([&] {
    inpaint::ImageView view = image_view(clean_mask, "inpaint_feather_mask", "clean_mask", 1, 1);
    require(out_weights, "inpaint_feather_mask", "out_weights");
    OwnedImage weights(inpaint::feather_mask(view, feather_px));
    *out_weights = weights.release();
  });
}

// ---------------------------------------------------------------- prompts and label wait

void inpaint_prompt_params_init(inpaint_prompt_params* params) {
  if (!params) return;
  *params = inpaint_prompt_params{};
  params->struct_size = sizeof *params;
  params->prompt_table_path = nullptr;
  params->min_confidence = inpaint::PromptOptions{}.min_confidence;
}

inpaint_status inpaint_build_prompt(const char* labels_json, const inpaint_prompt_params* params,
                                    char** out_prompt, int* out_from_labels) {
  return guarded([&] {
    require(out_prompt, "inpaint_build_prompt", "out_prompt");
    inpaint_prompt_params p = defaults_for(params, inpaint_prompt_params_init, "inpaint_prompt_params");
    if (params) {
      INPAINT_TAKE(p, params, prompt_table_path);
      INPAINT_TAKE(p, params, min_confidence);
    }
    inpaint::SceneLabels labels = labels_json ? inpaint::parse_scene_labels(labels_json) : inpaint::SceneLabels{};
    inpaint::PromptTable table = p.prompt_table_path ? inpaint::PromptTable::from_json_file(p.prompt_table_path)
                                                     : inpaint::PromptTable::builtin();
    inpaint::PromptOptions options;
    options.min_confidence = p.min_confidence;
    inpaint::Prompt prompt = inpaint::build_prompt(labels, table, options);
    *out_prompt = copy_string(prompt.text);
    if (out_from_labels) *out_from_labels = prompt.from_labels ? 1 : 0;
  });
}

void inpaint_label_wait_params_init(inpaint_label_wait_params* params) {
  if (!params) return;
  inpaint::LabelWaitPolicy defaults;
  *params = inpaint_label_wait_params{};
  params->struct_size = sizeof *params;
  params->max_wait_attempt = defaults.max_wait_attempt;
  params->max_wait_age_s = defaults.max_wait_age_s;
  params->give_up_attempt = defaults.give_up_attempt;
}

inpaint_status inpaint_decide_label_wait(int attempt, double age_s, int labels_present,
                                         const inpaint_label_wait_params* params,
                                         inpaint_label_wait_decision* out_decision) {
  return guarded([&] {
    require(out_decision, "inpaint_decide_label_wait", "out_decision");
    inpaint::LabelWaitDecision decision =
        inpaint::decide_label_wait(attempt, age_s, labels_present != 0, label_wait_policy(params));
    *out_decision = static_cast<inpaint_label_wait_decision>(decision);  // same values by design
  });
}

const char* inpaint_label_wait_decision_name(inpaint_label_wait_decision decision_arg) {
  const int decision = c_enum(decision_arg);
  if (decision < INPAINT_LABEL_WAIT || decision > INPAINT_LABEL_GIVE_UP) return "unknown";
  return inpaint::label_wait_decision_name(static_cast<inpaint::LabelWaitDecision>(decision));
}

// ---------------------------------------------------------------- models

inpaint_status inpaint_model_create(const char* spec, inpaint_model** out_model) {
  return guarded([&] {
    require(out_model, "inpaint_model_create", "out_model");
    std::string text = spec && *spec ? spec : inpaint::default_model_spec();
    auto handle = std::make_unique<inpaint_model>();
    handle->model = inpaint::default_registry().create(text);
    handle->spec = handle->model->spec();
    handle->load_info = handle->model->load_info();
    handle->parameters = handle->model->parameters();
    for (const inpaint::ParamSpec& spec : handle->parameters)
      handle->default_texts.push_back(inpaint::param_value_text(spec.default_value));
    *out_model = handle.release();
  });
}

void inpaint_model_load_info_init(inpaint_model_load_info* info) {
  if (!info) return;
  *info = inpaint_model_load_info{};
  info->struct_size = sizeof *info;
}

inpaint_status inpaint_model_get_load_info(const inpaint_model* model, inpaint_model_load_info* out_info) {
  return guarded([&] {
    require(model, "inpaint_model_get_load_info", "model");
    give_load_info(model->load_info, model->model->ready(), "inpaint_model_get_load_info", out_info);
  });
}

inpaint_status inpaint_backend_load(const char* name) {
  return guarded([&] {
    require(name, "inpaint_backend_load", "name");
    inpaint::load_backend(name);
  });
}

int inpaint_backend_loaded(const char* name) {
  if (!name) return 0;
  for (const auto& backend : inpaint::backends())
    if (backend.name == name) return backend.loaded ? 1 : 0;
  return 0;
}

int inpaint_model_ready(const inpaint_model* model) { return model && model->model->ready() ? 1 : 0; }

void inpaint_model_free(inpaint_model* model) { delete model; }

const char* inpaint_model_spec(const inpaint_model* model) { return model ? model->spec.c_str() : nullptr; }

const char* inpaint_param_type_name(inpaint_param_type type) {
  int value = c_enum(type);
  if (value < INPAINT_PARAM_BOOL || value > INPAINT_PARAM_STRING) return "unknown";
  return inpaint::param_type_name(static_cast<inpaint::ParamType>(value));
}

void inpaint_param_info_init(inpaint_param_info* info) {
  if (!info) return;
  *info = inpaint_param_info{};
  info->struct_size = sizeof *info;
}

inpaint_status inpaint_model_param_count(const inpaint_model* model, size_t* out_count) {
  return guarded([&] {
    require(model, "inpaint_model_param_count", "model");
    require(out_count, "inpaint_model_param_count", "out_count");
    *out_count = model->parameters.size();
  });
}

inpaint_status inpaint_model_param_get(const inpaint_model* model, size_t index, inpaint_param_info* out_info) {
  return guarded([&] {
    const char* fn = "inpaint_model_param_get";
    require(model, fn, "model");
    require(out_info, fn, "out_info");
    require_struct_size(out_info, fn, "out_info", "inpaint_param_info_init");
    if (index >= model->parameters.size())
      invalid(std::string(fn) + ": index " + std::to_string(index) + " is out of range (model '" + model->spec +
              "' declares " + std::to_string(model->parameters.size()) + ")");
    give_param_info(model->parameters[index], model->default_texts[index], out_info);
  });
}

inpaint_status inpaint_model_list_size(size_t* out_count) {
  return guarded([&] {
    require(out_count, "inpaint_model_list_size", "out_count");
    *out_count = inpaint::default_registry().list().size();
  });
}

inpaint_status inpaint_model_list_get(size_t index, char** out_name, char** out_description) {
  return guarded([&] {
    const std::vector<inpaint::ModelInfo> list = inpaint::default_registry().list();  // info refers into it
    const inpaint::ModelInfo& info = list_entry(list, index, "inpaint_model_list_get", "model");
    give_strings(info.name, out_name, info.description, out_description);
  });
}

inpaint_status inpaint_model_list_key_count(size_t index, size_t* out_count) {
  return guarded([&] {
    list_key_count(inpaint::default_registry().list(), index, out_count, "inpaint_model_list_key_count", "model");
  });
}

inpaint_status inpaint_model_list_key_get(size_t index, size_t key_index, char** out_key, char** out_doc) {
  return guarded([&] {
    list_key_get(inpaint::default_registry().list(), index, key_index, out_key, out_doc, "inpaint_model_list_key_get",
                 "model");
  });
}

// ---------------------------------------------------------------- pipeline

void inpaint_pipeline_params_init(inpaint_pipeline_params* params) {
  if (!params) return;
  inpaint::PipelineOptions defaults;
  *params = inpaint_pipeline_params{};
  params->struct_size = sizeof *params;
  params->clean = defaults.clean;
  params->mask = nullptr;
  params->resize_mask = defaults.resize_mask;
  params->strategy = INPAINT_STRATEGY_AUTO;
  params->crop_trigger = defaults.crop_trigger;
  params->crop_margin = defaults.crop_margin;
  params->resize_long_side = defaults.resize_long_side;
  params->feather_px = defaults.feather_px;
  params->output_format = defaults.output.format == inpaint::ImageFormat::Png ? INPAINT_FORMAT_PNG : INPAINT_FORMAT_JPEG;
  params->quality = defaults.output.quality;
  params->preview_long_side = defaults.preview_long_side;
  params->preview_quality = defaults.preview.quality;
  params->max_pixels = defaults.decode.max_pixels;
  params->apply_exif_orientation = defaults.decode.apply_exif_orientation;
  params->prompt = nullptr;
  params->control = nullptr;
  params->params = nullptr;
  params->param_count = 0;
}

inpaint_status inpaint_run_control_new(inpaint_run_control** out_control) {
  return guarded([&] {
    require(out_control, "inpaint_run_control_new", "out_control");
    *out_control = new inpaint_run_control;
  });
}

void inpaint_run_control_free(inpaint_run_control* control) { delete control; }

void inpaint_run_control_cancel(inpaint_run_control* control) {
  if (control) control->control.cancel();
}

int inpaint_run_control_cancelled(const inpaint_run_control* control) {
  return control && control->control.cancelled() ? 1 : 0;
}

inpaint_status inpaint_run_control_set_timeout_ms(inpaint_run_control* control, uint64_t timeout_ms) {
  return guarded([&] {
    require(control, "inpaint_run_control_set_timeout_ms", "control");
    // Longer than a year is no deadline a caller can mean; it would also overflow the clock.
    if (timeout_ms > 366ull * 24 * 3600 * 1000)
      throw Error(ErrorCode::InvalidArgument, "inpaint_run_control_set_timeout_ms: timeout_ms must be at most a year");
    control->control.set_timeout(std::chrono::milliseconds(timeout_ms));
  });
}

inpaint_status inpaint_run_control_set_progress(inpaint_run_control* control, inpaint_progress_fn progress,
                                                void* user_data) {
  return guarded([&] {
    require(control, "inpaint_run_control_set_progress", "control");
    if (!progress) {
      control->control.progress = nullptr;
      return;
    }
    control->control.progress = [progress, user_data](double fraction) { return progress(fraction, user_data) != 0; };
  });
}

void inpaint_timings_init(inpaint_timings* timings) {
  if (!timings) return;
  *timings = inpaint_timings{};
  timings->struct_size = sizeof *timings;
}

inpaint_status inpaint_run(const inpaint_model* model, const uint8_t* image_bytes, size_t image_size,
                           const uint8_t* mask_bytes, size_t mask_size, const inpaint_pipeline_params* params,
                           inpaint_result** out_result) {
  return guarded([&] {
    require(model, "inpaint_run", "model");
    if (image_size) require(image_bytes, "inpaint_run", "image_bytes");
    if (mask_size) require(mask_bytes, "inpaint_run", "mask_bytes");
    require(out_result, "inpaint_run", "out_result");
    inpaint::PipelineOptions options = pipeline_options(params);
    auto result = std::make_unique<inpaint_result>();
    result->pipeline = inpaint::run_pipeline(*model->model, image_bytes, image_size, mask_bytes, mask_size, options);
    *out_result = result.release();
  });
}

inpaint_status inpaint_run_files(const inpaint_model* model, const char* image_path, const char* mask_path,
                                 const char* out_path, const char* preview_path,
                                 const inpaint_pipeline_params* params, inpaint_timings* out_timings) {
  return guarded([&] {
    const char* fn = "inpaint_run_files";
    require(model, fn, "model");
    require(image_path, fn, "image_path");
    require(mask_path, fn, "mask_path");
    require(out_path, fn, "out_path");
    check_timings_size(out_timings, fn);
    inpaint::PipelineOptions options = pipeline_options(params);
    options.output.format = inpaint::format_from_path(out_path);
    if (preview_path) {
      if (options.preview_long_side <= 0)
        invalid("inpaint_run_files: a preview_path needs preview_long_side > 0 in the params");
      options.preview.format = inpaint::format_from_path(preview_path);
    } else {
      options.preview_long_side = 0;  // nobody would read it
    }
    std::vector<inpaint::NamedPath> outputs = {{"out_path", out_path}};
    if (preview_path) outputs.push_back({"preview_path", preview_path});
    inpaint::check_output_paths({{"image_path", image_path}, {"mask_path", mask_path}}, outputs);
    std::vector<std::uint8_t> image = inpaint::read_file(image_path);
    std::vector<std::uint8_t> mask = inpaint::read_file(mask_path);
    inpaint::PipelineResult result =
        inpaint::run_pipeline(*model->model, image.data(), image.size(), mask.data(), mask.size(), options);
    std::vector<inpaint::FileOutput> files = {{out_path, result.encoded.data(), result.encoded.size()}};
    if (preview_path) files.push_back({preview_path, result.preview.data(), result.preview.size()});
    inpaint::write_files_atomic(files);  // the promise is all or nothing
    if (out_timings) store_timings(result.times, out_timings);
  });
}

void inpaint_result_free(inpaint_result* result) { delete result; }

const uint8_t* inpaint_result_output(const inpaint_result* result, size_t* out_size) {
  if (out_size) *out_size = result ? result->pipeline.encoded.size() : 0;
  return result ? result->pipeline.encoded.data() : nullptr;
}

const uint8_t* inpaint_result_preview(const inpaint_result* result, size_t* out_size) {
  bool has_preview = result && !result->pipeline.preview.empty();
  if (out_size) *out_size = has_preview ? result->pipeline.preview.size() : 0;
  return has_preview ? result->pipeline.preview.data() : nullptr;
}

int inpaint_result_width(const inpaint_result* result) { return result ? result->pipeline.image.width() : 0; }

int inpaint_result_height(const inpaint_result* result) { return result ? result->pipeline.image.height() : 0; }

inpaint_strategy inpaint_result_strategy(const inpaint_result* result) {
  if (!result) return INPAINT_STRATEGY_AUTO;
  switch (result->pipeline.strategy) {
    case inpaint::Strategy::Auto: return INPAINT_STRATEGY_AUTO;
    case inpaint::Strategy::Original: return INPAINT_STRATEGY_ORIGINAL;
    case inpaint::Strategy::Crop: return INPAINT_STRATEGY_CROP;
    case inpaint::Strategy::Resize: return INPAINT_STRATEGY_RESIZE;
  }
  return INPAINT_STRATEGY_AUTO;
}

int inpaint_result_mask_empty(const inpaint_result* result) { return result && result->pipeline.mask_empty ? 1 : 0; }

const char* inpaint_result_model_prompt(const inpaint_result* result) {
  return result ? result->pipeline.model_prompt.c_str() : "";
}

const char* inpaint_result_model_prompt_reason(const inpaint_result* result) {
  return result ? result->pipeline.model_prompt_reason.c_str() : "";
}

inpaint_status inpaint_result_timings(const inpaint_result* result, inpaint_timings* out_timings) {
  return guarded([&] {
    require(result, "inpaint_result_timings", "result");
    require(out_timings, "inpaint_result_timings", "out_timings");
    check_timings_size(out_timings, "inpaint_result_timings");
    store_timings(result->pipeline.times, out_timings);
  });
}

// ---------------------------------------------------------------- encodings

const char* inpaint_dtype_name(inpaint_dtype dtype_arg) {
  const int dtype = c_enum(dtype_arg);
  if (dtype < INPAINT_DTYPE_BOOL || dtype > INPAINT_DTYPE_F8_E8M0) return "unknown";
  return inpaint::dtype_name(static_cast<inpaint::DType>(dtype));  // same order by design
}

size_t inpaint_dtype_size(inpaint_dtype dtype_arg) {
  const int dtype = c_enum(dtype_arg);
  if (dtype < INPAINT_DTYPE_BOOL || dtype > INPAINT_DTYPE_F8_E8M0) return 0;
  return inpaint::dtype_size(static_cast<inpaint::DType>(dtype));
}

void inpaint_encoding_metadata_init(inpaint_encoding_metadata* metadata) {
  if (!metadata) return;
  *metadata = inpaint_encoding_metadata{};
  metadata->struct_size = sizeof *metadata;
  metadata->format_version = inpaint::kEncodingFormatVersion;
}

inpaint_status inpaint_encoding_create(const inpaint_encoding_metadata* metadata, inpaint_encoding** out_encoding) {
  return guarded([&] {
    require(out_encoding, "inpaint_encoding_create", "out_encoding");
    inpaint_encoding_metadata m = defaults_for(metadata, inpaint_encoding_metadata_init, "inpaint_encoding_metadata");
    if (metadata) {
      INPAINT_TAKE(m, metadata, model_id);
      INPAINT_TAKE(m, metadata, model_checksum);
      INPAINT_TAKE(m, metadata, preprocessing);
      INPAINT_TAKE(m, metadata, dtype);
      INPAINT_TAKE(m, metadata, image_sha256);
      INPAINT_TAKE(m, metadata, original_width);
      INPAINT_TAKE(m, metadata, original_height);
      INPAINT_TAKE(m, metadata, created_at);
      INPAINT_TAKE(m, metadata, format_version);
    }
    auto handle = std::make_unique<inpaint_encoding>();
    inpaint::EncodingMetadata& out = handle->encoding.metadata;
    auto text = [](const char* s) { return std::string(s ? s : ""); };
    out.model_id = text(m.model_id);
    out.model_checksum = text(m.model_checksum);
    out.preprocessing = text(m.preprocessing);
    out.dtype = text(m.dtype);
    out.image_sha256 = text(m.image_sha256);
    out.original_width = m.original_width;
    out.original_height = m.original_height;
    out.created_at = m.created_at;
    out.format_version = m.format_version;
    *out_encoding = handle.release();
  });
}

void inpaint_encoding_free(inpaint_encoding* encoding) { delete encoding; }

inpaint_status inpaint_encoding_add_tensor(inpaint_encoding* encoding, const char* name, inpaint_dtype dtype,
                                           const int64_t* shape, size_t ndim, const void* data, size_t size) {
  return guarded([&] {
    const char* fn = "inpaint_encoding_add_tensor";
    require(encoding, fn, "encoding");
    require(name, fn, "name");
    if (ndim) require(shape, fn, "shape");
    if (size) require(data, fn, "data");
    const int dtype_value = c_enum(dtype);
    if (dtype_value < INPAINT_DTYPE_BOOL || dtype_value > INPAINT_DTYPE_F8_E8M0)
      invalid(std::string(fn) + ": dtype " + std::to_string(dtype_value) + " is not an inpaint_dtype");
    if (!*name || std::string(name) == "__metadata__")
      invalid(std::string(fn) + ": name must be non-empty and not '__metadata__'");
    inpaint::DType type = static_cast<inpaint::DType>(dtype_value);
    inpaint::Shape dims(shape, shape + ndim);
    std::size_t expected = inpaint::HostTensor::byte_size(type, dims);
    if (size != expected)
      invalid(std::string(fn) + ": tensor '" + name + "' of shape " + inpaint::shape_text(dims) + " and dtype " +
              inpaint::dtype_name(type) + " needs " + std::to_string(expected) + " bytes, got " + std::to_string(size));
    encoding->encoding.tensors[name] = inpaint::HostTensor::copy_of(type, dims, data);
  });
}

inpaint_status inpaint_encoding_get_metadata(const inpaint_encoding* encoding, inpaint_encoding_metadata* out_metadata) {
  return guarded([&] {
    require(encoding, "inpaint_encoding_get_metadata", "encoding");
    require(out_metadata, "inpaint_encoding_get_metadata", "out_metadata");
    defaults_for<inpaint_encoding_metadata>(out_metadata, inpaint_encoding_metadata_init, "inpaint_encoding_metadata");
    const inpaint::EncodingMetadata& m = encoding->encoding.metadata;
    inpaint_encoding_metadata all;
    inpaint_encoding_metadata_init(&all);
    all.model_id = m.model_id.c_str();
    all.model_checksum = m.model_checksum.c_str();
    all.preprocessing = m.preprocessing.c_str();
    all.dtype = m.dtype.c_str();
    all.image_sha256 = m.image_sha256.c_str();
    all.original_width = m.original_width;
    all.original_height = m.original_height;
    all.created_at = m.created_at;
    all.format_version = m.format_version;
    all.struct_size = out_metadata->struct_size;
    const inpaint_encoding_metadata* from = &all;
    INPAINT_TAKE(*out_metadata, from, model_id);
    INPAINT_TAKE(*out_metadata, from, model_checksum);
    INPAINT_TAKE(*out_metadata, from, preprocessing);
    INPAINT_TAKE(*out_metadata, from, dtype);
    INPAINT_TAKE(*out_metadata, from, image_sha256);
    INPAINT_TAKE(*out_metadata, from, original_width);
    INPAINT_TAKE(*out_metadata, from, original_height);
    INPAINT_TAKE(*out_metadata, from, created_at);
    INPAINT_TAKE(*out_metadata, from, format_version);
  });
}

size_t inpaint_encoding_tensor_count(const inpaint_encoding* encoding) {
  return encoding ? encoding->encoding.tensors.size() : 0;
}

void inpaint_tensor_info_init(inpaint_tensor_info* info) {
  if (!info) return;
  *info = inpaint_tensor_info{};
  info->struct_size = sizeof *info;
}

}  // extern "C"

namespace {

void fill_tensor_info(const std::string& name, const inpaint::HostTensor& tensor, inpaint_tensor_info* out,
                      const char* function) {
  require_struct_size(out, function, "out_info", "inpaint_tensor_info_init");
  inpaint_tensor_info all;
  all.struct_size = out->struct_size;
  all.name = name.c_str();
  all.dtype = static_cast<inpaint_dtype>(tensor.dtype());
  all.ndim = tensor.shape().size();
  all.shape = tensor.shape().data();
  all.data = tensor.data();
  all.size = tensor.nbytes();
  const inpaint_tensor_info* from = &all;
  INPAINT_TAKE(*out, from, name);
  INPAINT_TAKE(*out, from, dtype);
  INPAINT_TAKE(*out, from, ndim);
  INPAINT_TAKE(*out, from, shape);
  INPAINT_TAKE(*out, from, data);
  INPAINT_TAKE(*out, from, size);
}

inpaint_store_stats c_stats(const inpaint::StoreStats& s) {
  inpaint_store_stats out;
  inpaint_store_stats_init(&out);
  out.hits = s.hits;
  out.misses = s.misses;
  out.puts = s.puts;
  out.removes = s.removes;
  out.evictions = s.evictions;
  out.corrupt = s.corrupt;
  out.errors = s.errors;
  std::snprintf(out.last_error, sizeof out.last_error, "%s", s.last_error.c_str());
  return out;
}

}  // namespace

extern "C" {

inpaint_status inpaint_encoding_tensor(const inpaint_encoding* encoding, size_t index, inpaint_tensor_info* out_info) {
  return guarded([&] {
    require(encoding, "inpaint_encoding_tensor", "encoding");
    require(out_info, "inpaint_encoding_tensor", "out_info");
    const auto& tensors = encoding->encoding.tensors;
    if (index >= tensors.size())
      invalid("inpaint_encoding_tensor: index " + std::to_string(index) + " is out of range (" +
              std::to_string(tensors.size()) + " tensors)");
    auto it = std::next(tensors.begin(), std::ptrdiff_t(index));
    fill_tensor_info(it->first, it->second, out_info, "inpaint_encoding_tensor");
  });
}

inpaint_status inpaint_encoding_find_tensor(const inpaint_encoding* encoding, const char* name,
                                            inpaint_tensor_info* out_info) {
  return guarded([&] {
    require(encoding, "inpaint_encoding_find_tensor", "encoding");
    require(name, "inpaint_encoding_find_tensor", "name");
    require(out_info, "inpaint_encoding_find_tensor", "out_info");
    const inpaint::HostTensor& tensor = encoding->encoding.tensor(name);
    fill_tensor_info(encoding->encoding.tensors.find(name)->first, tensor, out_info, "inpaint_encoding_find_tensor");
  });
}

inpaint_status inpaint_encoding_read_file(const char* path, inpaint_encoding** out_encoding) {
  return guarded([&] {
    require(path, "inpaint_encoding_read_file", "path");
    require(out_encoding, "inpaint_encoding_read_file", "out_encoding");
    *out_encoding = new_encoding(inpaint::read_safetensors(path));
  });
}

inpaint_status inpaint_encoding_write_file(const inpaint_encoding* encoding, const char* path) {
  return guarded([&] {
    require(encoding, "inpaint_encoding_write_file", "encoding");
    require(path, "inpaint_encoding_write_file", "path");
    inpaint::write_safetensors(path, encoding->encoding);
  });
}

inpaint_status inpaint_encoding_to_bytes(const inpaint_encoding* encoding, inpaint_buffer* out) {
  return guarded([&] {
    require(encoding, "inpaint_encoding_to_bytes", "encoding");
    require(out, "inpaint_encoding_to_bytes", "out");
    std::vector<std::uint8_t> bytes = inpaint::to_safetensors(encoding->encoding);
    uint8_t* data = allocate(bytes.size());
    std::memcpy(data, bytes.data(), bytes.size());
    out->data = data;
    out->size = bytes.size();
  });
}

inpaint_status inpaint_encoding_from_bytes(const uint8_t* bytes, size_t size, inpaint_encoding** out_encoding) {
  return guarded([&] {
    if (size) require(bytes, "inpaint_encoding_from_bytes", "bytes");
    require(out_encoding, "inpaint_encoding_from_bytes", "out_encoding");
    auto copy = std::make_shared<std::vector<std::uint8_t>>(bytes, bytes + size);
    *out_encoding = new_encoding(inpaint::parse_safetensors(copy->data(), copy->size(), copy));
  });
}

inpaint_status inpaint_pixel_sha256(const inpaint_image* pixels, char** out_sha256) {
  return guarded([&] {
    inpaint::ImageView view = image_view(pixels, "inpaint_pixel_sha256", "pixels", 1, 3);
    require(out_sha256, "inpaint_pixel_sha256", "out_sha256");
    *out_sha256 = copy_string(inpaint::pixel_sha256(view));
  });
}

inpaint_status inpaint_encoding_id(const inpaint_image* pixels, const char* model_id, char** out_id) {
  return guarded([&] {
    inpaint::ImageView view = image_view(pixels, "inpaint_encoding_id", "pixels", 1, 3);
    require(model_id, "inpaint_encoding_id", "model_id");
    require(out_id, "inpaint_encoding_id", "out_id");
    *out_id = copy_string(inpaint::encoding_id(view, model_id));
  });
}

inpaint_status inpaint_validate_encoding_id(const char* id) {
  return guarded([&] {
    require(id, "inpaint_validate_encoding_id", "id");
    inpaint::validate_encoding_id(id);
  });
}

// ---------------------------------------------------------------- encoding stores

inpaint_status inpaint_store_open(const char* spec, inpaint_store** out_store) {
  return guarded([&] {
    require(spec, "inpaint_store_open", "spec");
    require(out_store, "inpaint_store_open", "out_store");
    auto handle = std::make_unique<inpaint_store>();
    handle->store = inpaint::open_store(spec);
    handle->spec = handle->store->spec();
    *out_store = handle.release();
  });
}

void inpaint_store_free(inpaint_store* store) { delete store; }

const char* inpaint_store_spec(const inpaint_store* store) { return store ? store->spec.c_str() : nullptr; }

inpaint_status inpaint_store_exists(inpaint_store* store, const char* id, int* out_exists) {
  return guarded([&] {
    require(store, "inpaint_store_exists", "store");
    require(id, "inpaint_store_exists", "id");
    require(out_exists, "inpaint_store_exists", "out_exists");
    *out_exists = store->store->exists(id) ? 1 : 0;
  });
}

inpaint_status inpaint_store_get(inpaint_store* store, const char* id, inpaint_encoding** out_encoding) {
  return guarded([&] {
    require(store, "inpaint_store_get", "store");
    require(id, "inpaint_store_get", "id");
    require(out_encoding, "inpaint_store_get", "out_encoding");
    std::optional<inpaint::Encoding> found = store->store->get(id);
    *out_encoding = found ? new_encoding(std::move(*found)) : nullptr;
  });
}

inpaint_status inpaint_store_put(inpaint_store* store, const char* id, const inpaint_encoding* encoding) {
  return guarded([&] {
    require(store, "inpaint_store_put", "store");
    require(id, "inpaint_store_put", "id");
    require(encoding, "inpaint_store_put", "encoding");
    store->store->put(id, encoding->encoding);
  });
}

inpaint_status inpaint_store_remove(inpaint_store* store, const char* id, int* out_removed) {
  return guarded([&] {
    require(store, "inpaint_store_remove", "store");
    require(id, "inpaint_store_remove", "id");
    bool removed = store->store->remove(id);
    if (out_removed) *out_removed = removed ? 1 : 0;
  });
}

inpaint_status inpaint_store_usage(inpaint_store* store, uint64_t* out_entries, uint64_t* out_bytes) {
  return guarded([&] {
    require(store, "inpaint_store_usage", "store");
    inpaint::StoreUsage usage = store->store->usage();
    if (out_entries) *out_entries = usage.entries;
    if (out_bytes) *out_bytes = usage.bytes;
  });
}

uint64_t inpaint_store_capacity(const inpaint_store* store) { return store ? store->store->capacity() : 0; }

inpaint_status inpaint_store_ids(inpaint_store* store, char*** out_ids, size_t* out_count) {
  return guarded([&] {
    require(store, "inpaint_store_ids", "store");
    require(out_ids, "inpaint_store_ids", "out_ids");
    require(out_count, "inpaint_store_ids", "out_count");
    std::vector<std::string> ids = store->store->ids();
    char** list = reinterpret_cast<char**>(allocate(sizeof(char*) * (ids.size() ? ids.size() : 1)));
    std::size_t made = 0;
    try {
      for (; made < ids.size(); ++made) list[made] = copy_string(ids[made]);
    } catch (...) {
      inpaint_string_list_free(list, made);
      throw;
    }
    *out_ids = list;
    *out_count = ids.size();
  });
}

void inpaint_string_list_free(char** strings, size_t count) {
  if (!strings) return;
  for (size_t i = 0; i < count; ++i) std::free(strings[i]);
  std::free(strings);
}

void inpaint_store_stats_init(inpaint_store_stats* stats) {
  if (!stats) return;
  *stats = inpaint_store_stats{};
  stats->struct_size = sizeof *stats;
}

size_t inpaint_store_tier_count(const inpaint_store* store) { return store ? store->store->stats().tiers.size() : 0; }

inpaint_status inpaint_store_stats_get(const inpaint_store* store, size_t tier, inpaint_store_stats* out_stats) {
  return guarded([&] {
    require(store, "inpaint_store_stats_get", "store");
    require(out_stats, "inpaint_store_stats_get", "out_stats");
    require_struct_size(out_stats, "inpaint_store_stats_get", "out_stats", "inpaint_store_stats_init");
    inpaint::StoreStats stats = store->store->stats();
    if (tier > stats.tiers.size())
      invalid("inpaint_store_stats_get: tier " + std::to_string(tier) + " is out of range (0 = the store, 1.." +
              std::to_string(stats.tiers.size()) + " its tiers)");
    inpaint_store_stats all = c_stats(tier == 0 ? stats : stats.tiers[tier - 1]);
    all.struct_size = out_stats->struct_size;
    const inpaint_store_stats* from = &all;
    INPAINT_TAKE(*out_stats, from, hits);
    INPAINT_TAKE(*out_stats, from, misses);
    INPAINT_TAKE(*out_stats, from, puts);
    INPAINT_TAKE(*out_stats, from, removes);
    INPAINT_TAKE(*out_stats, from, evictions);
    INPAINT_TAKE(*out_stats, from, corrupt);
    INPAINT_TAKE(*out_stats, from, errors);
    if (offsetof(inpaint_store_stats, last_error) + sizeof all.last_error <= out_stats->struct_size)
      std::memcpy(out_stats->last_error, all.last_error, sizeof all.last_error);
  });
}

}  // extern "C"
