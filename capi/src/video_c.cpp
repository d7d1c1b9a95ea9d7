// The C shims of video segmentation: sources, the video segmenter, sessions, propagations and
// their streams.
#include <cmath>
#include <cstring>
#include <optional>

#include "c_shim.hpp"
#include "inpaint/video.hpp"

using namespace inpaint::capi;

struct inpaint_video_source {
  std::shared_ptr<inpaint::VideoSource> source;
};

struct inpaint_video_segmenter {
  std::shared_ptr<const inpaint::VideoSegmenter> segmenter;
  // Kept so that the getters can hand out stable pointers.
  std::string spec, model_id;
  inpaint::ModelLoadInfo load_info;
};

namespace {

// What a session handle and the streams started on it share: the segmenter is declared first so
// that it outlives the session (a session must not outlive its segmenter).
struct SessionCore {
  std::shared_ptr<const inpaint::VideoSegmenter> segmenter;
  std::unique_ptr<inpaint::VideoSession> session;
};

}  // namespace

struct inpaint_video_session {
  std::shared_ptr<SessionCore> core;
};

struct inpaint_frame_masks {
  inpaint::FrameMasks owned;  // a stream's frame; unused for a callback's borrowed one
  const inpaint::FrameMasks* masks = &owned;
};

struct inpaint_propagation {
  std::shared_ptr<SessionCore> core;             // keeps the session (and its segmenter) alive ...
  std::unique_ptr<inpaint::PropagationStream> stream;  // ... until the stream has stopped (declared after)
};

namespace {

inpaint::VideoSourceOptions source_options(const inpaint_video_source_params* user) {
  inpaint_video_source_params p =
      defaults_for(user, inpaint_video_source_params_init, "inpaint_video_source_params");
  if (user) {
    INPAINT_TAKE(p, user, max_pixels);
    INPAINT_TAKE(p, user, max_frames);
    INPAINT_TAKE(p, user, allow_variable_frame_rate);
    INPAINT_TAKE(p, user, cache_bytes);
    INPAINT_TAKE(p, user, fps);
    INPAINT_TAKE(p, user, decode_threads);
  }
  inpaint::VideoSourceOptions o;
  o.limits.max_pixels = p.max_pixels;
  o.limits.max_frames = p.max_frames;
  o.limits.allow_variable_frame_rate = p.allow_variable_frame_rate != 0;
  o.cache_bytes = p.cache_bytes;
  o.fps = p.fps;
  o.decode_threads = p.decode_threads;
  return o;
}

void give_info(const inpaint::VideoInfo& info, inpaint_video_info* out_info, const char* function) {
  require(out_info, function, "out_info");
  require_struct_size(out_info, function, "out_info", "inpaint_video_info_init");
  inpaint_video_info all;
  all.struct_size = out_info->struct_size;
  all.path = info.path.c_str();
  all.format = info.format.c_str();
  all.codec = info.codec.c_str();
  all.width = info.width;
  all.height = info.height;
  all.frame_count = info.frame_count;
  all.fps = info.fps;
  all.variable_frame_rate = info.variable_frame_rate ? 1 : 0;
  all.timestamps_ms = info.timestamps_ms.empty() ? nullptr : info.timestamps_ms.data();
  all.content_id = info.content_id.c_str();
  const inpaint_video_info* from = &all;
  INPAINT_TAKE(*out_info, from, path);
  INPAINT_TAKE(*out_info, from, format);
  INPAINT_TAKE(*out_info, from, codec);
  INPAINT_TAKE(*out_info, from, width);
  INPAINT_TAKE(*out_info, from, height);
  INPAINT_TAKE(*out_info, from, frame_count);
  INPAINT_TAKE(*out_info, from, fps);
  INPAINT_TAKE(*out_info, from, variable_frame_rate);
  INPAINT_TAKE(*out_info, from, timestamps_ms);
  INPAINT_TAKE(*out_info, from, content_id);
}

inpaint::VideoSessionOptions session_options(const inpaint_video_session_params* user) {
  inpaint_video_session_params p =
      defaults_for(user, inpaint_video_session_params_init, "inpaint_video_session_params");
  if (user) {
    INPAINT_TAKE(p, user, memory_frames);
    INPAINT_TAKE(p, user, max_prompted_frames);
    INPAINT_TAKE(p, user, max_objects);
    INPAINT_TAKE(p, user, memory_cap_bytes);
    INPAINT_TAKE(p, user, encoding_cache_bytes);
    INPAINT_TAKE(p, user, store);
  }
  inpaint::VideoSessionOptions o;
  o.memory_frames = p.memory_frames;
  o.max_prompted_frames = p.max_prompted_frames;
  o.max_objects = p.max_objects;
  o.memory_cap_bytes = p.memory_cap_bytes;
  o.encoding_cache_bytes = p.encoding_cache_bytes;
  if (p.store) o.store = p.store->store;  // a share: the caller may free its handle first
  return o;
}

inpaint_video_session* new_session(const inpaint_video_segmenter* segmenter,
                                   std::unique_ptr<inpaint::VideoSession> session) {
  auto core = std::make_shared<SessionCore>();
  core->segmenter = segmenter->segmenter;
  core->session = std::move(session);
  auto handle = std::make_unique<inpaint_video_session>();
  handle->core = std::move(core);
  return handle.release();
}

inpaint::VideoSession& session_of(const inpaint_video_session* session, const char* function) {
  require(session, function, "session");
  return *session->core->session;
}

inpaint::PropagateOptions propagate_options(const inpaint_propagate_params* user) {
  inpaint_propagate_params p = defaults_for(user, inpaint_propagate_params_init, "inpaint_propagate_params");
  if (user) {
    INPAINT_TAKE(p, user, start_frame);
    INPAINT_TAKE(p, user, direction);
    INPAINT_TAKE(p, user, max_frames);
    INPAINT_TAKE(p, user, control);
  }
  inpaint::PropagateOptions o;
  o.start_frame = p.start_frame;
  o.max_frames = p.max_frames;
  switch (c_enum(p.direction)) {
    case INPAINT_PROPAGATE_FORWARD: o.direction = inpaint::PropagateDirection::Forward; break;
    case INPAINT_PROPAGATE_BACKWARD: o.direction = inpaint::PropagateDirection::Backward; break;
    case INPAINT_PROPAGATE_BOTH: o.direction = inpaint::PropagateDirection::Both; break;
    default:
      invalid("inpaint_propagate_params.direction is " + std::to_string(c_enum(p.direction)) +
              ", expected INPAINT_PROPAGATE_FORWARD (0), _BACKWARD (1) or _BOTH (2)");
  }
  o.control = control_of(p.control);
  return o;
}

void give_summary(const inpaint::PropagateSummary& s, inpaint_propagate_summary* out_summary) {
  inpaint_propagate_summary all;
  all.struct_size = out_summary->struct_size;
  all.generation = s.generation;
  all.superseded = s.superseded ? 1 : 0;
  all.stopped = s.stopped ? 1 : 0;
  all.frames = s.frames;
  all.dropped = s.dropped;
  all.wait_ms = s.wait_ms;
  all.total_ms = s.total_ms;
  const inpaint_propagate_summary* from = &all;
  INPAINT_TAKE(*out_summary, from, generation);
  INPAINT_TAKE(*out_summary, from, superseded);
  INPAINT_TAKE(*out_summary, from, stopped);
  INPAINT_TAKE(*out_summary, from, frames);
  INPAINT_TAKE(*out_summary, from, dropped);
  INPAINT_TAKE(*out_summary, from, wait_ms);
  INPAINT_TAKE(*out_summary, from, total_ms);
}

bool holds_mask_field(const inpaint_object_mask* out) {
  return offsetof(inpaint_object_mask, mask) + sizeof(out->mask) <= out->struct_size;
}

// Writes one object's mask into the caller's struct. copy: the pixels are a malloc'ed copy the
// caller frees (add_prompt); otherwise a read-only view of `m` (frame masks).
void give_object_mask(const inpaint::ObjectMask& m, bool copy, inpaint_object_mask* out_mask) {
  std::optional<OwnedImage> owned;  // allocated before any output is written
  if (copy && holds_mask_field(out_mask)) owned.emplace(m.mask);
  inpaint_object_mask all;
  all.struct_size = out_mask->struct_size;
  all.object_id = m.object_id;
  if (copy)
    all.mask = owned ? owned->image : inpaint_image{};
  else  // the library never writes through it: the mask stays the frame's
    all.mask = m.mask.empty() ? inpaint_image{}
                              : inpaint_image{const_cast<uint8_t*>(m.mask.data()), m.mask.width(), m.mask.height(),
                                              m.mask.channels(), m.mask.stride()};
  all.box[0] = m.box.x, all.box[1] = m.box.y, all.box[2] = m.box.width, all.box[3] = m.box.height;
  if (m.box.empty()) all.box[0] = all.box[1] = all.box[2] = all.box[3] = 0;
  all.score = m.score;
  all.object_score = m.object_score;
  all.present = m.present ? 1 : 0;
  all.prompted = m.prompted ? 1 : 0;
  const inpaint_object_mask* from = &all;
  INPAINT_TAKE(*out_mask, from, object_id);
  INPAINT_TAKE(*out_mask, from, mask);
  INPAINT_TAKE(*out_mask, from, box);
  INPAINT_TAKE(*out_mask, from, score);
  INPAINT_TAKE(*out_mask, from, object_score);
  INPAINT_TAKE(*out_mask, from, present);
  INPAINT_TAKE(*out_mask, from, prompted);
  if (owned) owned->release();  // the caller's now
}

const inpaint::FrameMasks& frame_of(const inpaint_frame_masks* masks, const char* function) {
  require(masks, function, "masks");
  return *masks->masks;
}

}  // namespace

extern "C" {

// ---- sources

void inpaint_video_source_params_init(inpaint_video_source_params* params) {
  if (!params) return;
  *params = inpaint_video_source_params{};
  params->struct_size = sizeof(inpaint_video_source_params);
  inpaint::VideoSourceOptions defaults;
  params->max_pixels = defaults.limits.max_pixels;
  params->max_frames = defaults.limits.max_frames;
  params->allow_variable_frame_rate = defaults.limits.allow_variable_frame_rate ? 1 : 0;
  params->cache_bytes = defaults.cache_bytes;
  params->fps = defaults.fps;
  params->decode_threads = defaults.decode_threads;
}

inpaint_status inpaint_video_source_open(const char* path, const inpaint_video_source_params* params,
                                         inpaint_video_source** out_source) {
  return guarded([&] {
    require(path, "inpaint_video_source_open", "path");
    require(out_source, "inpaint_video_source_open", "out_source");
    inpaint::VideoSourceOptions options = source_options(params);
    auto handle = std::make_unique<inpaint_video_source>();
    handle->source = inpaint::VideoSource::open(path, options);
    *out_source = handle.release();
  });
}

void inpaint_video_source_free(inpaint_video_source* source) { delete source; }

void inpaint_video_info_init(inpaint_video_info* info) {
  if (!info) return;
  *info = inpaint_video_info{};
  info->struct_size = sizeof(inpaint_video_info);
}

inpaint_status inpaint_video_source_get_info(const inpaint_video_source* source, inpaint_video_info* out_info) {
  return guarded([&] {
    require(source, "inpaint_video_source_get_info", "source");
    give_info(source->source->info(), out_info, "inpaint_video_source_get_info");
  });
}

inpaint_status inpaint_video_source_frame(inpaint_video_source* source, int64_t index, int width, int height,
                                          inpaint_image* out_frame) {
  return guarded([&] {
    const char* fn = "inpaint_video_source_frame";
    require(source, fn, "source");
    require(out_frame, fn, "out_frame");
    if (width < 0 || height < 0 || (width == 0) != (height == 0))
      invalid(std::string(fn) + ": width and height must both be 0 (the frame's size) or both positive, got " +
              std::to_string(width) + "x" + std::to_string(height));
    std::shared_ptr<const inpaint::Image> frame = source->source->frame(index, width, height);
    OwnedImage copy(*frame);
    *out_frame = copy.release();
  });
}

inpaint_status inpaint_video_source_cache(const inpaint_video_source* source, uint64_t* out_cached_bytes,
                                          uint64_t* out_capacity_bytes) {
  return guarded([&] {
    require(source, "inpaint_video_source_cache", "source");
    uint64_t cached = source->source->cached_bytes(), capacity = source->source->cache_capacity();
    if (out_cached_bytes) *out_cached_bytes = cached;
    if (out_capacity_bytes) *out_capacity_bytes = capacity;
  });
}

inpaint_status inpaint_video_source_set_cache_capacity(inpaint_video_source* source, uint64_t bytes) {
  return guarded([&] {
    require(source, "inpaint_video_source_set_cache_capacity", "source");
    source->source->set_cache_capacity(bytes);
  });
}

// ---- the video segmenter

inpaint_status inpaint_video_segmenter_create(const char* spec, inpaint_video_segmenter** out_segmenter) {
  return guarded([&] {
    const char* fn = "inpaint_video_segmenter_create";
    require(out_segmenter, fn, "out_segmenter");
    if (!spec || !*spec)
      invalid(std::string(fn) + ": spec is " + (spec ? "empty" : "NULL") +
              "; video segmenters have no default (e.g. sam2video:encoder=FILE,memory_encoder=FILE,decoder=FILE)");
    auto handle = std::make_unique<inpaint_video_segmenter>();
    handle->segmenter = inpaint::create_video_segmenter(spec);
    handle->spec = handle->segmenter->spec();
    handle->model_id = handle->segmenter->model_id();
    handle->load_info = handle->segmenter->load_info();
    *out_segmenter = handle.release();
  });
}

void inpaint_video_segmenter_free(inpaint_video_segmenter* segmenter) { delete segmenter; }

const char* inpaint_video_segmenter_spec(const inpaint_video_segmenter* segmenter) {
  return segmenter ? segmenter->spec.c_str() : nullptr;
}

const char* inpaint_video_segmenter_model_id(const inpaint_video_segmenter* segmenter) {
  return segmenter ? segmenter->model_id.c_str() : nullptr;
}

inpaint_status inpaint_video_segmenter_get_load_info(const inpaint_video_segmenter* segmenter,
                                                     inpaint_model_load_info* out_info) {
  return guarded([&] {
    require(segmenter, "inpaint_video_segmenter_get_load_info", "segmenter");
    give_load_info(segmenter->load_info, true, "inpaint_video_segmenter_get_load_info", out_info);
  });
}

inpaint_status inpaint_video_segmenter_list_size(size_t* out_count) {
  return guarded([&] {
    require(out_count, "inpaint_video_segmenter_list_size", "out_count");
    *out_count = inpaint::list_video_segmenters().size();
  });
}

inpaint_status inpaint_video_segmenter_list_get(size_t index, char** out_name, char** out_description) {
  return guarded([&] {
    const std::vector<inpaint::ModelInfo> list = inpaint::list_video_segmenters();  // info refers into it
    const inpaint::ModelInfo& info = list_entry(list, index, "inpaint_video_segmenter_list_get", "video segmenter");
    give_strings(info.name, out_name, info.description, out_description);
  });
}

// ---- sessions

void inpaint_video_session_params_init(inpaint_video_session_params* params) {
  if (!params) return;
  *params = inpaint_video_session_params{};
  params->struct_size = sizeof(inpaint_video_session_params);
  inpaint::VideoSessionOptions defaults;
  params->memory_frames = defaults.memory_frames;
  params->max_prompted_frames = defaults.max_prompted_frames;
  params->max_objects = defaults.max_objects;
  params->memory_cap_bytes = defaults.memory_cap_bytes;
  params->encoding_cache_bytes = defaults.encoding_cache_bytes;
  params->store = nullptr;
}

inpaint_status inpaint_video_session_open(const inpaint_video_segmenter* segmenter, inpaint_video_source* source,
                                          const inpaint_video_session_params* params,
                                          inpaint_video_session** out_session) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_open";
    require(segmenter, fn, "segmenter");
    require(source, fn, "source");
    require(out_session, fn, "out_session");
    inpaint::VideoSessionOptions options = session_options(params);
    auto session = segmenter->segmenter->open_session(source->source, options);
    *out_session = new_session(segmenter, std::move(session));
  });
}

inpaint_status inpaint_video_session_resume(const inpaint_video_segmenter* segmenter, inpaint_video_source* source,
                                            inpaint_store* store, const char* checkpoint_id,
                                            const inpaint_video_session_params* params,
                                            inpaint_video_session** out_session) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_resume";
    require(segmenter, fn, "segmenter");
    require(source, fn, "source");
    require(store, fn, "store");
    require(checkpoint_id, fn, "checkpoint_id");
    require(out_session, fn, "out_session");
    inpaint::VideoSessionOptions options = session_options(params);
    auto session = segmenter->segmenter->resume_session(source->source, *store->store, checkpoint_id, options);
    *out_session = new_session(segmenter, std::move(session));
  });
}

void inpaint_video_session_free(inpaint_video_session* session) { delete session; }

inpaint_status inpaint_video_session_get_info(const inpaint_video_session* session, inpaint_video_info* out_info) {
  return guarded([&] {
    give_info(session_of(session, "inpaint_video_session_get_info").video(), out_info,
              "inpaint_video_session_get_info");
  });
}

uint64_t inpaint_video_session_generation(const inpaint_video_session* session) {
  return session ? session->core->session->generation() : 0;
}

inpaint_status inpaint_video_session_objects(const inpaint_video_session* session, int* out_ids, size_t capacity,
                                             size_t* out_count) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_objects";
    const inpaint::VideoSession& s = session_of(session, fn);
    require(out_count, fn, "out_count");
    if (capacity && !out_ids) invalid(std::string(fn) + ": out_ids is NULL but capacity is " + std::to_string(capacity));
    std::vector<int> ids = s.objects();
    for (std::size_t i = 0; i < ids.size() && i < capacity; ++i) out_ids[i] = ids[i];
    *out_count = ids.size();
  });
}

void inpaint_video_prompt_init(inpaint_video_prompt* prompt) {
  if (!prompt) return;
  *prompt = inpaint_video_prompt{};
  prompt->struct_size = sizeof(inpaint_video_prompt);
  prompt->replace = inpaint::VideoPrompt{}.replace ? 1 : 0;
}

void inpaint_object_mask_init(inpaint_object_mask* mask) {
  if (!mask) return;
  *mask = inpaint_object_mask{};
  mask->struct_size = sizeof(inpaint_object_mask);
}

inpaint_status inpaint_video_session_add_prompt(inpaint_video_session* session, int64_t frame, int object_id,
                                                const inpaint_video_prompt* prompt, inpaint_object_mask* out_mask) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_add_prompt";
    inpaint::VideoSession& s = session_of(session, fn);
    require(prompt, fn, "prompt");
    if (out_mask) require_struct_size(out_mask, fn, "out_mask", "inpaint_object_mask_init");
    inpaint_video_prompt p = defaults_for(prompt, inpaint_video_prompt_init, "inpaint_video_prompt");
    INPAINT_TAKE(p, prompt, points);
    INPAINT_TAKE(p, prompt, point_count);
    INPAINT_TAKE(p, prompt, has_box);
    INPAINT_TAKE(p, prompt, box);
    INPAINT_TAKE(p, prompt, mask);
    INPAINT_TAKE(p, prompt, replace);
    INPAINT_TAKE(p, prompt, control);
    inpaint::VideoPrompt vp;
    if (p.point_count && !p.points)
      invalid(std::string(fn) + ": prompt->points is NULL but point_count is " + std::to_string(p.point_count));
    for (std::size_t i = 0; i < p.point_count; ++i)
      vp.points.push_back({p.points[i].x, p.points[i].y, p.points[i].positive != 0});
    if (p.has_box) vp.box = inpaint::BoxPrompt{p.box[0], p.box[1], p.box[2], p.box[3]};
    if (p.mask) vp.mask = inpaint::Image::copy_of(image_view(p.mask, fn, "prompt->mask", 1, 1));
    vp.replace = p.replace != 0;
    inpaint::ObjectMask result = s.add_prompt(frame, object_id, vp, control_of(p.control));
    if (out_mask) give_object_mask(result, true, out_mask);
  });
}

inpaint_status inpaint_video_session_remove_object(inpaint_video_session* session, int object_id) {
  return guarded([&] { session_of(session, "inpaint_video_session_remove_object").remove_object(object_id); });
}

inpaint_status inpaint_video_session_reset(inpaint_video_session* session) {
  return guarded([&] { session_of(session, "inpaint_video_session_reset").reset(); });
}

void inpaint_video_memory_init(inpaint_video_memory* memory) {
  if (!memory) return;
  *memory = inpaint_video_memory{};
  memory->struct_size = sizeof(inpaint_video_memory);
}

inpaint_status inpaint_video_session_memory(const inpaint_video_session* session, inpaint_video_memory* out_memory) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_memory";
    const inpaint::VideoSession& s = session_of(session, fn);
    require(out_memory, fn, "out_memory");
    require_struct_size(out_memory, fn, "out_memory", "inpaint_video_memory_init");
    inpaint::SessionMemory m = s.memory();
    inpaint_video_memory all;
    all.struct_size = out_memory->struct_size;
    all.frame_cache = m.frame_cache;
    all.encodings = m.encodings;
    all.memory_bank = m.memory_bank;
    all.total = m.total;
    all.cap = m.cap;
    const inpaint_video_memory* from = &all;
    INPAINT_TAKE(*out_memory, from, frame_cache);
    INPAINT_TAKE(*out_memory, from, encodings);
    INPAINT_TAKE(*out_memory, from, memory_bank);
    INPAINT_TAKE(*out_memory, from, total);
    INPAINT_TAKE(*out_memory, from, cap);
  });
}

inpaint_status inpaint_video_session_checkpoint(inpaint_video_session* session, inpaint_store* store, const char* id,
                                                char** out_id) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_checkpoint";
    inpaint::VideoSession& s = session_of(session, fn);
    require(store, fn, "store");
    require(out_id, fn, "out_id");
    std::string saved = s.checkpoint(*store->store, id ? id : "");
    *out_id = copy_string(saved);
  });
}

// ---- propagation

void inpaint_propagate_params_init(inpaint_propagate_params* params) {
  if (!params) return;
  *params = inpaint_propagate_params{};
  params->struct_size = sizeof(inpaint_propagate_params);
  inpaint::PropagateOptions defaults;
  params->start_frame = defaults.start_frame;
  params->direction = INPAINT_PROPAGATE_FORWARD;
  params->max_frames = defaults.max_frames;
  params->control = nullptr;
}

void inpaint_propagate_summary_init(inpaint_propagate_summary* summary) {
  if (!summary) return;
  *summary = inpaint_propagate_summary{};
  summary->struct_size = sizeof(inpaint_propagate_summary);
}

int64_t inpaint_frame_masks_frame(const inpaint_frame_masks* masks) { return masks ? masks->masks->frame : -1; }

size_t inpaint_frame_masks_count(const inpaint_frame_masks* masks) {
  return masks ? masks->masks->objects.size() : 0;
}

inpaint_status inpaint_frame_masks_object(const inpaint_frame_masks* masks, size_t index,
                                          inpaint_object_mask* out_mask) {
  return guarded([&] {
    const char* fn = "inpaint_frame_masks_object";
    const inpaint::FrameMasks& f = frame_of(masks, fn);
    require(out_mask, fn, "out_mask");
    require_struct_size(out_mask, fn, "out_mask", "inpaint_object_mask_init");
    if (index >= f.objects.size())
      invalid(std::string(fn) + ": index " + std::to_string(index) + " is out of range (there are " +
              std::to_string(f.objects.size()) + " objects)");
    give_object_mask(f.objects[index], false, out_mask);
  });
}

inpaint_status inpaint_frame_masks_find(const inpaint_frame_masks* masks, int object_id,
                                        inpaint_object_mask* out_mask) {
  return guarded([&] {
    const char* fn = "inpaint_frame_masks_find";
    const inpaint::FrameMasks& f = frame_of(masks, fn);
    require(out_mask, fn, "out_mask");
    require_struct_size(out_mask, fn, "out_mask", "inpaint_object_mask_init");
    std::string ids;
    for (const inpaint::ObjectMask& m : f.objects) {
      if (m.object_id == object_id) return give_object_mask(m, false, out_mask);
      ids += (ids.empty() ? "" : ", ") + std::to_string(m.object_id);
    }
    invalid(std::string(fn) + ": frame " + std::to_string(f.frame) + " has no object " + std::to_string(object_id) +
            " (its objects: " + (ids.empty() ? "none" : ids) + ")");
  });
}

int inpaint_frame_masks_encoding_from_store(const inpaint_frame_masks* masks) {
  return masks && masks->masks->encoding_from_store ? 1 : 0;
}

void inpaint_frame_timings_init(inpaint_frame_timings* timings) {
  if (!timings) return;
  *timings = inpaint_frame_timings{};
  timings->struct_size = sizeof(inpaint_frame_timings);
}

inpaint_status inpaint_frame_masks_timings(const inpaint_frame_masks* masks, inpaint_frame_timings* out_timings) {
  return guarded([&] {
    const char* fn = "inpaint_frame_masks_timings";
    const inpaint::FrameMasks& f = frame_of(masks, fn);
    require(out_timings, fn, "out_timings");
    require_struct_size(out_timings, fn, "out_timings", "inpaint_frame_timings_init");
    inpaint_frame_timings all;
    all.struct_size = out_timings->struct_size;
    all.read = f.read_ms;
    all.encode = f.encode_ms;
    all.decode = f.decode_ms;
    all.memory = f.memory_ms;
    all.postprocess = f.postprocess_ms;
    all.total = f.total_ms;
    all.model = f.model_ms;
    const inpaint_frame_timings* from = &all;
    INPAINT_TAKE(*out_timings, from, read);
    INPAINT_TAKE(*out_timings, from, encode);
    INPAINT_TAKE(*out_timings, from, decode);
    INPAINT_TAKE(*out_timings, from, memory);
    INPAINT_TAKE(*out_timings, from, postprocess);
    INPAINT_TAKE(*out_timings, from, total);
    INPAINT_TAKE(*out_timings, from, model);
  });
}

void inpaint_frame_masks_free(inpaint_frame_masks* masks) { delete masks; }

inpaint_status inpaint_video_session_propagate(inpaint_video_session* session, const inpaint_propagate_params* params,
                                               inpaint_frame_fn on_frame, void* user_data,
                                               inpaint_propagate_summary* out_summary) {
  return guarded([&] {
    const char* fn = "inpaint_video_session_propagate";
    inpaint::VideoSession& s = session_of(session, fn);
    if (out_summary) require_struct_size(out_summary, fn, "out_summary", "inpaint_propagate_summary_init");
    inpaint::PropagateOptions options = propagate_options(params);
    inpaint::VideoSession::FrameCallback callback = [&](const inpaint::FrameMasks& frame) {
      if (!on_frame) return true;
      inpaint_frame_masks borrowed;
      borrowed.masks = &frame;
      return on_frame(&borrowed, user_data) != 0;
    };
    inpaint::PropagateSummary summary = s.propagate(options, callback);
    if (out_summary) give_summary(summary, out_summary);
  });
}

inpaint_status inpaint_propagation_start(inpaint_video_session* session, const inpaint_propagate_params* params,
                                         size_t max_pending, inpaint_backpressure policy,
                                         inpaint_propagation** out_stream) {
  return guarded([&] {
    const char* fn = "inpaint_propagation_start";
    require(session, fn, "session");
    require(out_stream, fn, "out_stream");
    if (max_pending < 1) invalid(std::string(fn) + ": max_pending must be at least 1, got 0");
    inpaint::PropagationStream::Options options;
    options.max_pending = max_pending;
    switch (c_enum(policy)) {
      case INPAINT_BACKPRESSURE_WAIT: options.policy = inpaint::BackpressurePolicy::Wait; break;
      case INPAINT_BACKPRESSURE_DROP_OLDEST: options.policy = inpaint::BackpressurePolicy::DropOldest; break;
      default:
        invalid(std::string(fn) + ": policy is " + std::to_string(c_enum(policy)) +
                ", expected INPAINT_BACKPRESSURE_WAIT (0) or INPAINT_BACKPRESSURE_DROP_OLDEST (1)");
    }
    inpaint::PropagateOptions propagate = propagate_options(params);
    auto handle = std::make_unique<inpaint_propagation>();
    handle->core = session->core;
    handle->stream = std::make_unique<inpaint::PropagationStream>(*handle->core->session, propagate, options);
    *out_stream = handle.release();
  });
}

inpaint_status inpaint_propagation_next(inpaint_propagation* stream, inpaint_frame_masks** out_masks) {
  return guarded([&] {
    const char* fn = "inpaint_propagation_next";
    require(stream, fn, "stream");
    require(out_masks, fn, "out_masks");
    std::optional<inpaint::FrameMasks> next = stream->stream->next();
    if (!next) {
      *out_masks = nullptr;
      return;
    }
    auto handle = std::make_unique<inpaint_frame_masks>();
    handle->owned = std::move(*next);
    *out_masks = handle.release();
  });
}

void inpaint_propagation_cancel(inpaint_propagation* stream) {
  if (stream) stream->stream->cancel();
}

inpaint_status inpaint_propagation_summary(const inpaint_propagation* stream, inpaint_propagate_summary* out_summary) {
  return guarded([&] {
    const char* fn = "inpaint_propagation_summary";
    require(stream, fn, "stream");
    require(out_summary, fn, "out_summary");
    require_struct_size(out_summary, fn, "out_summary", "inpaint_propagate_summary_init");
    give_summary(stream->stream->summary(), out_summary);
  });
}

size_t inpaint_propagation_pending(const inpaint_propagation* stream) {
  return stream ? stream->stream->pending() : 0;
}

void inpaint_propagation_free(inpaint_propagation* stream) {
  delete stream;  // ~PropagationStream stops the propagation and joins its thread
}

inpaint_status inpaint_set_max_concurrent_propagations(int n) {
  return guarded([&] { inpaint::set_max_concurrent_propagations(n); });
}

int inpaint_max_concurrent_propagations(void) { return inpaint::max_concurrent_propagations(); }

int inpaint_running_propagations(void) { return inpaint::running_propagations(); }

}  // extern "C"
