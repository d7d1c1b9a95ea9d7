// The C shims of background removal: matters, effects, the output cache and the cut-out job.
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "c_shim.hpp"

using namespace inpaint::capi;

struct inpaint_matter {
  std::unique_ptr<const inpaint::Matter> matter;
  // Kept so that the getters can hand out stable pointers.
  std::string spec, model_id;
  inpaint::ModelLoadInfo load_info;
};

struct inpaint_effects_result {
  inpaint::EffectsResult result;
};

struct inpaint_result_cache {
  std::unique_ptr<inpaint::ResultCache> cache;
};

struct inpaint_cutout_result {
  inpaint::CutoutResult result;
};

namespace {

inpaint::EffectsBackend effects_backend(int backend, const char* field) {  // an int: see c_enum
  switch (backend) {
    case INPAINT_EFFECTS_BACKEND_OPENCV: return inpaint::EffectsBackend::OpenCV;
    case INPAINT_EFFECTS_BACKEND_TENSOR: return inpaint::EffectsBackend::Tensor;
  }
  invalid(std::string(field) + " must be INPAINT_EFFECTS_BACKEND_OPENCV or _TENSOR, got " + std::to_string(backend));
}

// NULL: the colour cut-out; "": no effect at all (only where the caller may ask for none).
std::vector<inpaint::Effect> effect_list(const char* names, bool none_allowed) {
  if (!names) return {inpaint::Effect::Color};
  if (!*names && none_allowed) return {};
  return inpaint::parse_effect_list(names);
}

// The effects' parameter table with each default as text, built once: inpaint_effect_param_get
// hands out pointers into it.
struct EffectParamTexts {
  std::vector<std::string> defaults;
  EffectParamTexts() {
    for (const inpaint::ParamSpec& spec : inpaint::effect_parameters())
      defaults.push_back(inpaint::param_value_text(spec.default_value));
  }
};

const EffectParamTexts& effect_param_texts() {
  static const EffectParamTexts* texts = new EffectParamTexts;  // never destroyed: handed-out pointers stay valid
  return *texts;
}

// The C struct's field for each CutoutTimes member, in order; the static_assert below fails the
// build when CutoutTimes gains a stage the C struct does not have.
struct CTiming {
  double inpaint::CutoutTimes::*ms;
  std::size_t offset;
};
const CTiming kCTimings[] = {
    {&inpaint::CutoutTimes::key, offsetof(inpaint_cutout_timings, key)},
    {&inpaint::CutoutTimes::decode, offsetof(inpaint_cutout_timings, decode)},
    {&inpaint::CutoutTimes::orient, offsetof(inpaint_cutout_timings, orient)},
    {&inpaint::CutoutTimes::store, offsetof(inpaint_cutout_timings, store)},
    {&inpaint::CutoutTimes::preprocess, offsetof(inpaint_cutout_timings, preprocess)},
    {&inpaint::CutoutTimes::model, offsetof(inpaint_cutout_timings, model)},
    {&inpaint::CutoutTimes::postprocess, offsetof(inpaint_cutout_timings, postprocess)},
    {&inpaint::CutoutTimes::refine, offsetof(inpaint_cutout_timings, refine)},
    {&inpaint::CutoutTimes::effects, offsetof(inpaint_cutout_timings, effects)},
    {&inpaint::CutoutTimes::encode, offsetof(inpaint_cutout_timings, encode)},
    {&inpaint::CutoutTimes::total, offsetof(inpaint_cutout_timings, total)},
};
static_assert(sizeof(inpaint::CutoutTimes) == std::size(kCTimings) * sizeof(double),
              "inpaint::CutoutTimes changed: append a field to inpaint_cutout_timings and list it in kCTimings");
static_assert(sizeof(inpaint_cutout_timings) == offsetof(inpaint_cutout_timings, key) + std::size(kCTimings) * sizeof(double),
              "inpaint_cutout_timings and kCTimings disagree");

inpaint::CutoutOptions cutout_options(const inpaint_cutout_params* user) {
  inpaint_cutout_params p = defaults_for(user, inpaint_cutout_params_init, "inpaint_cutout_params");
  if (user) {
    INPAINT_TAKE(p, user, effects);
    INPAINT_TAKE(p, user, params);
    INPAINT_TAKE(p, user, param_count);
    INPAINT_TAKE(p, user, refine_radius);
    INPAINT_TAKE(p, user, refine_eps);
    INPAINT_TAKE(p, user, foreground);
    INPAINT_TAKE(p, user, output_format);
    INPAINT_TAKE(p, user, quality);
    INPAINT_TAKE(p, user, png_compression);
    INPAINT_TAKE(p, user, max_pixels);
    INPAINT_TAKE(p, user, apply_exif_orientation);
    INPAINT_TAKE(p, user, threads);
    INPAINT_TAKE(p, user, effects_backend);
    INPAINT_TAKE(p, user, effects_device);
    INPAINT_TAKE(p, user, store);
    INPAINT_TAKE(p, user, cache);
    INPAINT_TAKE(p, user, control);
  }
  inpaint::CutoutOptions o;
  o.effects = effect_list(p.effects, true);
  o.params = call_params(p.params, p.param_count, "inpaint_cutout_params");
  o.refine_radius = p.refine_radius;
  o.refine_eps = p.refine_eps;
  o.foreground = p.foreground != 0;
  switch (c_enum(p.output_format)) {
    case INPAINT_FORMAT_PNG: o.output.format = inpaint::ImageFormat::Png; break;
    case INPAINT_FORMAT_JPEG: o.output.format = inpaint::ImageFormat::Jpeg; break;
    default:
      invalid("inpaint_cutout_params.output_format must be INPAINT_FORMAT_PNG or INPAINT_FORMAT_JPEG, got " +
              std::to_string(c_enum(p.output_format)));
  }
  o.output.quality = p.quality;
  o.output.png_compression = p.png_compression;
  o.decode.max_pixels = p.max_pixels;
  o.decode.apply_exif_orientation = p.apply_exif_orientation != 0;
  o.threads = p.threads;
  o.effects_backend = effects_backend(c_enum(p.effects_backend), "inpaint_cutout_params.effects_backend");
  if (p.effects_device) o.effects_device = p.effects_device;
  o.store = p.store ? p.store->store.get() : nullptr;
  o.cache = p.cache ? p.cache->cache.get() : nullptr;
  o.control = control_of(p.control);
  return o;
}

}  // namespace

extern "C" {

// ---------------------------------------------------------------- matters

inpaint_status inpaint_matter_create(const char* spec, inpaint_matter** out_matter) {
  return guarded([&] {
    require(out_matter, "inpaint_matter_create", "out_matter");
    auto handle = std::make_unique<inpaint_matter>();
    handle->matter = inpaint::create_matter(spec && *spec ? spec : inpaint::default_matter_spec());
    handle->spec = handle->matter->spec();
    handle->model_id = handle->matter->model_id();
    handle->load_info = handle->matter->load_info();
    *out_matter = handle.release();
  });
}

void inpaint_matter_free(inpaint_matter* matter) { delete matter; }

const char* inpaint_matter_spec(const inpaint_matter* matter) { return matter ? matter->spec.c_str() : nullptr; }

const char* inpaint_matter_model_id(const inpaint_matter* matter) {
  return matter ? matter->model_id.c_str() : nullptr;
}

inpaint_status inpaint_matter_get_load_info(const inpaint_matter* matter, inpaint_model_load_info* out_info) {
  return guarded([&] {
    const char* fn = "inpaint_matter_get_load_info";
    require(matter, fn, "matter");
    require(out_info, fn, "out_info");
    give_load_info(matter->load_info, true, fn, out_info);  // a matter exists only once loaded
  });
}

inpaint_status inpaint_matter_list_size(size_t* out_count) {
  return guarded([&] {
    require(out_count, "inpaint_matter_list_size", "out_count");
    *out_count = inpaint::list_matters().size();
  });
}

inpaint_status inpaint_matter_list_get(size_t index, char** out_name, char** out_description) {
  return guarded([&] {
    const std::vector<inpaint::ModelInfo> list = inpaint::list_matters();  // info refers into it
    const inpaint::ModelInfo& info = list_entry(list, index, "inpaint_matter_list_get", "matter");
    give_strings(info.name, out_name, info.description, out_description);
  });
}

inpaint_status inpaint_matter_list_key_count(size_t index, size_t* out_count) {
  return guarded(
      [&] { list_key_count(inpaint::list_matters(), index, out_count, "inpaint_matter_list_key_count", "matter"); });
}

inpaint_status inpaint_matter_list_key_get(size_t index, size_t key_index, char** out_key, char** out_doc) {
  return guarded([&] {
    list_key_get(inpaint::list_matters(), index, key_index, out_key, out_doc, "inpaint_matter_list_key_get", "matter");
  });
}

inpaint_status inpaint_matte(const inpaint_matter* matter, const inpaint_image* rgb, inpaint_run_control* control,
                             inpaint_image* out_alpha) {
  return guarded([&] {
    require(matter, "inpaint_matte", "matter");
    require(out_alpha, "inpaint_matte", "out_alpha");
    inpaint::ImageView view = image_view(rgb, "inpaint_matte", "rgb", 3, 3);
    OwnedImage alpha(matter->matter->matte(view, control_of(control)).alpha);
    *out_alpha = alpha.release();
  });
}

inpaint_status inpaint_refine_alpha(const inpaint_image* rgb, const inpaint_image* alpha, int radius, double eps,
                                    inpaint_image* out_alpha) {
  return guarded([&] {
    require(out_alpha, "inpaint_refine_alpha", "out_alpha");
    inpaint::ImageView photo = image_view(rgb, "inpaint_refine_alpha", "rgb", 3, 3);
    inpaint::ImageView matte = image_view(alpha, "inpaint_refine_alpha", "alpha", 1, 1);
    OwnedImage refined(inpaint::refine_alpha(photo, matte, radius, eps));
    *out_alpha = refined.release();
  });
}

inpaint_status inpaint_estimate_foreground(const inpaint_image* rgb, const inpaint_image* alpha,
                                           inpaint_image* out_rgb) {
  return guarded([&] {
    require(out_rgb, "inpaint_estimate_foreground", "out_rgb");
    inpaint::ImageView photo = image_view(rgb, "inpaint_estimate_foreground", "rgb", 3, 3);
    inpaint::ImageView matte = image_view(alpha, "inpaint_estimate_foreground", "alpha", 1, 1);
    OwnedImage foreground(inpaint::estimate_foreground(photo, matte));
    *out_rgb = foreground.release();
  });
}

// ---------------------------------------------------------------- effects

size_t inpaint_effect_count(void) { return inpaint::effect_names().size(); }

const char* inpaint_effect_name(size_t index) {
  const auto& names = inpaint::effect_names();  // static: the pointers stay valid
  return index < names.size() ? names[index].c_str() : nullptr;
}

inpaint_status inpaint_effect_param_count(size_t* out_count) {
  return guarded([&] {
    require(out_count, "inpaint_effect_param_count", "out_count");
    *out_count = inpaint::effect_parameters().size();
  });
}

inpaint_status inpaint_effect_param_get(size_t index, inpaint_param_info* out_info) {
  return guarded([&] {
    const char* fn = "inpaint_effect_param_get";
    require(out_info, fn, "out_info");
    require_struct_size(out_info, fn, "out_info", "inpaint_param_info_init");
    const auto& specs = inpaint::effect_parameters();
    if (index >= specs.size())
      invalid(std::string(fn) + ": index " + std::to_string(index) + " is out of range (there are " +
              std::to_string(specs.size()) + " effect parameters)");
    give_param_info(specs[index], effect_param_texts().defaults[index], out_info);
  });
}

void inpaint_effects_params_init(inpaint_effects_params* params) {
  if (!params) return;
  *params = inpaint_effects_params{};
  params->struct_size = sizeof *params;
  params->backend = INPAINT_EFFECTS_BACKEND_OPENCV;
  params->threads = inpaint::EffectsOptions{}.threads;
}

inpaint_status inpaint_render_effects(const inpaint_image* rgb, const inpaint_image* alpha,
                                      const inpaint_effects_params* params, inpaint_effects_result** out_result) {
  return guarded([&] {
    const char* fn = "inpaint_render_effects";
    require(out_result, fn, "out_result");
    inpaint::ImageView photo = image_view(rgb, fn, "rgb", 3, 3);
    inpaint::ImageView matte = image_view(alpha, fn, "alpha", 1, 1);
    inpaint_effects_params p = defaults_for(params, inpaint_effects_params_init, "inpaint_effects_params");
    if (params) {
      INPAINT_TAKE(p, params, effects);
      INPAINT_TAKE(p, params, params);
      INPAINT_TAKE(p, params, param_count);
      INPAINT_TAKE(p, params, backend);
      INPAINT_TAKE(p, params, device);
      INPAINT_TAKE(p, params, threads);
      INPAINT_TAKE(p, params, control);
    }
    std::vector<inpaint::Effect> effects = effect_list(p.effects, false);
    inpaint::EffectsOptions options;
    options.params = call_params(p.params, p.param_count, "inpaint_effects_params");
    options.backend = effects_backend(c_enum(p.backend), "inpaint_effects_params.backend");
    if (p.device) options.device = p.device;
    options.threads = p.threads;
    options.control = control_of(p.control);
    auto handle = std::make_unique<inpaint_effects_result>();
    handle->result = inpaint::render_effects(photo, matte, effects, options);
    *out_result = handle.release();
  });
}

void inpaint_effects_result_free(inpaint_effects_result* result) { delete result; }

size_t inpaint_effects_result_count(const inpaint_effects_result* result) {
  return result ? result->result.images.size() : 0;
}

inpaint_status inpaint_effects_result_get(const inpaint_effects_result* result, size_t index, const char** out_name,
                                          inpaint_image* out_image) {
  return guarded([&] {
    const char* fn = "inpaint_effects_result_get";
    require(result, fn, "result");
    const auto& images = result->result.images;
    if (index >= images.size())
      invalid(std::string(fn) + ": index " + std::to_string(index) + " is out of range (there are " +
              std::to_string(images.size()) + " images)");
    const inpaint::EffectImage& e = images[index];
    if (out_name) *out_name = inpaint::effect_name(e.effect);
    // The library never writes through it: the image stays the result's.
    if (out_image)
      *out_image = inpaint_image{const_cast<uint8_t*>(e.image.data()), e.image.width(), e.image.height(),
                                 e.image.channels(), e.image.stride()};
  });
}

const char* inpaint_effects_result_device(const inpaint_effects_result* result) {
  return result ? result->result.device.c_str() : nullptr;
}

// ---------------------------------------------------------------- the output cache

inpaint_status inpaint_result_cache_create(uint64_t capacity_bytes, inpaint_result_cache** out_cache) {
  return guarded([&] {
    require(out_cache, "inpaint_result_cache_create", "out_cache");
    if (capacity_bytes > SIZE_MAX) invalid("inpaint_result_cache_create: capacity_bytes does not fit in size_t");
    auto handle = std::make_unique<inpaint_result_cache>();
    handle->cache = std::make_unique<inpaint::ResultCache>(std::size_t(capacity_bytes));
    *out_cache = handle.release();
  });
}

void inpaint_result_cache_free(inpaint_result_cache* cache) { delete cache; }

void inpaint_result_cache_clear(inpaint_result_cache* cache) {
  if (cache) cache->cache->clear();
}

void inpaint_result_cache_stats_init(inpaint_result_cache_stats* stats) {
  if (!stats) return;
  *stats = inpaint_result_cache_stats{};
  stats->struct_size = sizeof *stats;
}

inpaint_status inpaint_result_cache_get_stats(const inpaint_result_cache* cache, inpaint_result_cache_stats* out_stats) {
  return guarded([&] {
    const char* fn = "inpaint_result_cache_get_stats";
    require(cache, fn, "cache");
    require(out_stats, fn, "out_stats");
    require_struct_size(out_stats, fn, "out_stats", "inpaint_result_cache_stats_init");
    inpaint::ResultCacheStats s = cache->cache->stats();
    inpaint_result_cache_stats all;
    all.struct_size = out_stats->struct_size;
    all.hits = s.hits;
    all.misses = s.misses;
    all.insertions = s.insertions;
    all.evictions = s.evictions;
    all.entries = s.entries;
    all.bytes = s.bytes;
    all.capacity = s.capacity;
    const inpaint_result_cache_stats* from = &all;
    INPAINT_TAKE(*out_stats, from, hits);
    INPAINT_TAKE(*out_stats, from, misses);
    INPAINT_TAKE(*out_stats, from, insertions);
    INPAINT_TAKE(*out_stats, from, evictions);
    INPAINT_TAKE(*out_stats, from, entries);
    INPAINT_TAKE(*out_stats, from, bytes);
    INPAINT_TAKE(*out_stats, from, capacity);
  });
}

// ---------------------------------------------------------------- the cut-out job

void inpaint_cutout_params_init(inpaint_cutout_params* params) {
  if (!params) return;
  *params = inpaint_cutout_params{};
  params->struct_size = sizeof *params;
  const inpaint::CutoutOptions defaults;
  params->refine_radius = defaults.refine_radius;
  params->refine_eps = defaults.refine_eps;
  params->foreground = defaults.foreground;
  params->output_format = INPAINT_FORMAT_PNG;
  params->quality = defaults.output.quality;
  params->png_compression = defaults.output.png_compression;
  params->max_pixels = defaults.decode.max_pixels;
  params->apply_exif_orientation = defaults.decode.apply_exif_orientation;
  params->threads = defaults.threads;
  params->effects_backend = INPAINT_EFFECTS_BACKEND_OPENCV;
}

inpaint_status inpaint_cutout(const inpaint_matter* matter, const uint8_t* image_bytes, size_t image_size,
                              const inpaint_cutout_params* params, inpaint_cutout_result** out_result) {
  return guarded([&] {
    require(matter, "inpaint_cutout", "matter");
    if (image_size) require(image_bytes, "inpaint_cutout", "image_bytes");
    require(out_result, "inpaint_cutout", "out_result");
    inpaint::CutoutOptions options = cutout_options(params);
    auto handle = std::make_unique<inpaint_cutout_result>();
    handle->result = inpaint::remove_background(*matter->matter, image_bytes, image_size, options);
    *out_result = handle.release();
  });
}

void inpaint_cutout_result_free(inpaint_cutout_result* result) { delete result; }

size_t inpaint_cutout_result_count(const inpaint_cutout_result* result) {
  return result ? result->result.outputs->outputs.size() : 0;
}

const char* inpaint_cutout_result_effect(const inpaint_cutout_result* result, size_t index) {
  if (!result || index >= result->result.outputs->outputs.size()) return nullptr;
  return inpaint::effect_name(result->result.outputs->outputs[index].effect);
}

const uint8_t* inpaint_cutout_result_output(const inpaint_cutout_result* result, size_t index, size_t* out_size) {
  bool present = result && index < result->result.outputs->outputs.size();
  if (out_size) *out_size = present ? result->result.outputs->outputs[index].encoded.size() : 0;
  return present ? result->result.outputs->outputs[index].encoded.data() : nullptr;
}

int inpaint_cutout_result_width(const inpaint_cutout_result* result) {
  return result ? result->result.outputs->width : 0;
}

int inpaint_cutout_result_height(const inpaint_cutout_result* result) {
  return result ? result->result.outputs->height : 0;
}

inpaint_status inpaint_cutout_result_alpha(const inpaint_cutout_result* result, inpaint_image* out_alpha) {
  return guarded([&] {
    require(result, "inpaint_cutout_result_alpha", "result");
    require(out_alpha, "inpaint_cutout_result_alpha", "out_alpha");
    OwnedImage alpha(result->result.alpha);  // zeroed when empty (served from the cache)
    *out_alpha = alpha.release();
  });
}

void inpaint_cutout_info_init(inpaint_cutout_info* info) {
  if (!info) return;
  *info = inpaint_cutout_info{};
  info->struct_size = sizeof *info;
}

inpaint_status inpaint_cutout_result_get_info(const inpaint_cutout_result* result, inpaint_cutout_info* out_info) {
  return guarded([&] {
    const char* fn = "inpaint_cutout_result_get_info";
    require(result, fn, "result");
    require(out_info, fn, "out_info");
    require_struct_size(out_info, fn, "out_info", "inpaint_cutout_info_init");
    const inpaint::CutoutResult& r = result->result;
    inpaint_cutout_info all;
    all.struct_size = out_info->struct_size;
    all.outputs_from_cache = r.outputs_from_cache;
    all.matte_from_store = r.matte_from_store;
    all.matte_stored = r.matte_stored;
    all.model_ms_saved = r.model_ms_saved;
    all.store_error = r.store_error.c_str();
    all.effects_device = r.effects_device.c_str();
    all.input_sha256 = r.input_sha256.c_str();
    all.matte_id = r.matte_id.c_str();
    all.cache_key = r.cache_key.c_str();
    const inpaint_cutout_info* from = &all;
    INPAINT_TAKE(*out_info, from, outputs_from_cache);
    INPAINT_TAKE(*out_info, from, matte_from_store);
    INPAINT_TAKE(*out_info, from, matte_stored);
    INPAINT_TAKE(*out_info, from, model_ms_saved);
    INPAINT_TAKE(*out_info, from, store_error);
    INPAINT_TAKE(*out_info, from, effects_device);
    INPAINT_TAKE(*out_info, from, input_sha256);
    INPAINT_TAKE(*out_info, from, matte_id);
    INPAINT_TAKE(*out_info, from, cache_key);
  });
}

void inpaint_cutout_timings_init(inpaint_cutout_timings* timings) {
  if (!timings) return;
  *timings = inpaint_cutout_timings{};
  timings->struct_size = sizeof *timings;
}

inpaint_status inpaint_cutout_result_timings(const inpaint_cutout_result* result, inpaint_cutout_timings* out_timings) {
  return guarded([&] {
    const char* fn = "inpaint_cutout_result_timings";
    require(result, fn, "result");
    require(out_timings, fn, "out_timings");
    require_struct_size(out_timings, fn, "out_timings", "inpaint_cutout_timings_init");
    // Only the fields the caller's (possibly older, shorter) struct holds are written.
    for (const CTiming& t : kCTimings) {
      if (t.offset + sizeof(double) > out_timings->struct_size) continue;
      double ms = result->result.times.*t.ms;
      std::memcpy(reinterpret_cast<unsigned char*>(out_timings) + t.offset, &ms, sizeof ms);
    }
  });
}

}  // extern "C"
