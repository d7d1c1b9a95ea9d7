#pragma once
// What the C shims share: the handles behind the C API's opaque types and the helpers that turn
// C arguments into C++ ones and exceptions into statuses. Internal; included by capi/src only.
#include "inpaint.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "inpaint/inpaint.hpp"

struct inpaint_model {
  std::unique_ptr<const inpaint::InpaintModel> model;
  std::string spec;  // kept so that inpaint_model_spec can hand out a stable pointer
  inpaint::ModelLoadInfo load_info;  // fixed once loaded; its device string is handed out
  // Declarations are fixed once loaded too; kept with their defaults as text, which
  // inpaint_model_param_get hands out.
  std::vector<inpaint::ParamSpec> parameters;
  std::vector<std::string> default_texts;
};

struct inpaint_run_control {
  inpaint::RunControl control;
};

struct inpaint_result {
  inpaint::PipelineResult pipeline;
};

struct inpaint_encoding {
  inpaint::Encoding encoding;
};

struct inpaint_store {
  // Shared: a video session keeps a share (VideoSessionOptions::store), so that the caller may
  // free the handle while sessions still use the store.
  std::shared_ptr<inpaint::EncodingStore> store;
  std::string spec;  // kept so that inpaint_store_spec can hand out a stable pointer
};

namespace inpaint::capi {

using inpaint::Error;
using inpaint::ErrorCode;

// The message of the calling thread's last failed call (inpaint_last_error).
inline thread_local std::string t_last_error;

inline inpaint_status fail(inpaint_status status, const char* message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error = "out of memory";  // fits the small-string buffer: cannot throw
  }
  return status;
}

inline inpaint_status status_of(ErrorCode code) {
  int value = static_cast<int>(code);
  bool mirrored = (value >= INPAINT_ERR_INVALID_ARGUMENT && value <= INPAINT_ERR_INTERNAL) || value == INPAINT_ERR_UNAVAILABLE ||
                  value == INPAINT_ERR_TIMEOUT;
  return mirrored ? static_cast<inpaint_status>(value) : INPAINT_ERR_INTERNAL;
}

// Runs body, turning whatever it throws into a status and the thread's message.
template <class Body>
inpaint_status guarded(Body&& body) noexcept {
  try {
    body();
    t_last_error.clear();
    return INPAINT_OK;
  } catch (const Error& e) {
    return fail(status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(INPAINT_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    try {
      return fail(INPAINT_ERR_INTERNAL, (std::string("internal error: ") + e.what()).c_str());
    } catch (...) {
      return fail(INPAINT_ERR_INTERNAL, "internal error");
    }
  } catch (...) {
    return fail(INPAINT_ERR_INTERNAL, "internal error: unknown exception");
  }
}

[[noreturn]] inline void invalid(const std::string& message) { throw Error(ErrorCode::InvalidArgument, message); }

inline void require(const void* pointer, const char* function, const char* argument) {
  if (!pointer) invalid(std::string(function) + ": " + argument + " is NULL");
}

// ---- extensible parameter structs

// The integer a C caller put in an enum-typed argument or field. C allows any int there, but
// in C++ loading an enum outside its enumerators' range is undefined (UBSan's enum check stopped
// the C API test at inpaint_status_name((inpaint_status)99)): read the bytes as the integer.
template <class E>
int c_enum(const E& value) {
  std::underlying_type_t<E> raw;
  std::memcpy(&raw, &value, sizeof raw);
  return static_cast<int>(raw);
}

// Takes `field` from the caller's struct when that struct (possibly from an older, shorter
// header) holds all of it; otherwise the default already in `out` stays.
#define INPAINT_TAKE(out, user, field)                                                      \
  do {                                                                                      \
    using Struct = std::remove_cv_t<std::remove_pointer_t<decltype(user)>>;                 \
    if (offsetof(Struct, field) + sizeof((user)->field) <= (user)->struct_size)             \
      std::memcpy(&(out).field, &(user)->field, sizeof((user)->field)); /* arrays too */   \
  } while (0)

// Error(InvalidArgument) unless the caller's struct (argument `argument` of `function`) has a
// struct_size the library can read: 1 up to the library's own size. `init` names its _init.
template <class Struct>
void require_struct_size(const Struct* user, const char* function, const char* argument, const char* init) {
  if (user->struct_size == 0 || user->struct_size > sizeof(Struct))
    invalid(std::string(function) + ": " + argument + "->struct_size is " + std::to_string(user->struct_size) +
            ", expected 1.." + std::to_string(sizeof(Struct)) + " (fill it with " + init + ")");
}

// The defaults, after checking that a caller's struct_size is one the library can read.
template <class Params>
Params defaults_for(const Params* user, void (*init)(Params*), const char* name) {
  Params params;
  init(&params);
  if (user && (user->struct_size == 0 || user->struct_size > sizeof(Params)))
    invalid(std::string(name) + ".struct_size is " + std::to_string(user->struct_size) + ", expected 1.." +
            std::to_string(sizeof(Params)) + " (fill it with " + name + "_init)");
  return params;
}

// The text pairs a C caller gives (the `params` and `param_count` fields of the struct named
// `owner`); the library reads each as the declared type.
inline inpaint::CallParams call_params(const inpaint_param* params, std::size_t count, const char* owner) {
  inpaint::CallParams out;
  if (count == 0) return out;
  if (!params) invalid(std::string(owner) + ".params is NULL but param_count is " + std::to_string(count));
  for (std::size_t i = 0; i < count; ++i) {
    std::string at = std::string(owner) + ".params[" + std::to_string(i) + "]";
    if (!params[i].key) invalid(at + ".key is NULL");
    if (!params[i].value) invalid(at + ".value is NULL");
    // A second value for a key would silently win: refuse it like a duplicate spec key.
    if (out.contains(params[i].key)) invalid(at + ": the key '" + std::string(params[i].key) + "' is given twice");
    out.set(params[i].key, std::string(params[i].value));
  }
  return out;
}

inline const inpaint::RunControl* control_of(inpaint_run_control* control) {
  return control ? &control->control : nullptr;
}

// ---- images, buffers and strings crossing the boundary

inline inpaint::ImageView image_view(const inpaint_image* image, const char* function, const char* argument,
                              int channels_a, int channels_b) {
  require(image, function, argument);
  std::string name = std::string(function) + ": " + argument;
  if (!image->data) invalid(name + "->data is NULL");
  if (image->width <= 0 || image->height <= 0)
    invalid(name + " must have a positive width and height, got " + std::to_string(image->width) + "x" +
            std::to_string(image->height));
  if (image->channels != channels_a && image->channels != channels_b)
    invalid(name + " must have " + std::to_string(channels_a) +
            (channels_a == channels_b ? "" : " or " + std::to_string(channels_b)) + " channel(s), got " +
            std::to_string(image->channels));
  std::size_t packed = std::size_t(image->width) * std::size_t(image->channels);
  if (image->stride != 0 && image->stride < packed)
    invalid(name + "->stride " + std::to_string(image->stride) + " is below width * channels = " +
            std::to_string(packed));
  return {image->data, image->width, image->height, image->channels, image->stride};
}

inline uint8_t* allocate(std::size_t size) {
  void* memory = std::malloc(size ? size : 1);
  if (!memory) throw std::bad_alloc();
  return static_cast<uint8_t*>(memory);
}

// A malloc'ed copy that frees itself unless released, so that no output is written before
// every allocation of a call has succeeded.
struct OwnedImage {
  inpaint_image image{};
  OwnedImage() = default;
  explicit OwnedImage(const inpaint::Image& source) {
    if (source.empty()) return;
    image.data = allocate(source.size_bytes());
    std::memcpy(image.data, source.data(), source.size_bytes());
    image.width = source.width();
    image.height = source.height();
    image.channels = source.channels();
    image.stride = source.stride();
  }
  OwnedImage(const OwnedImage&) = delete;
  OwnedImage& operator=(const OwnedImage&) = delete;
  ~OwnedImage() { std::free(image.data); }
  inpaint_image release() {
    inpaint_image out = image;
    image = inpaint_image{};
    return out;
  }
};

inline char* copy_string(const std::string& text) {
  char* out = reinterpret_cast<char*>(allocate(text.size() + 1));
  std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

// The registry listings (models, segmenters) share these so that their C functions behave alike.
// Entry `index` of `list`; INVALID_ARGUMENT naming `function` when out of range.
inline const ModelInfo& list_entry(const std::vector<ModelInfo>& list, size_t index, const char* function,
                                   const char* what) {
  if (index >= list.size())
    invalid(std::string(function) + ": index " + std::to_string(index) + " is out of range (there are " +
            std::to_string(list.size()) + " " + what + "s)");
  return list[index];
}

// Stores copies of a and b in the outputs that are not NULL; both copies are made before either
// output is written, so a failed allocation leaves both untouched.
inline void give_strings(const std::string& a, char** out_a, const std::string& b, char** out_b) {
  std::unique_ptr<char, decltype(&std::free)> first(out_a ? copy_string(a) : nullptr, &std::free);
  std::unique_ptr<char, decltype(&std::free)> second(out_b ? copy_string(b) : nullptr, &std::free);
  if (out_a) *out_a = first.release();
  if (out_b) *out_b = second.release();
}

// inpaint_*_list_key_count and _key_get for the listing `list`.
inline void list_key_count(const std::vector<ModelInfo>& list, size_t index, size_t* out_count, const char* function,
                           const char* what) {
  if (!out_count) invalid(std::string(function) + ": out_count is NULL");
  *out_count = list_entry(list, index, function, what).keys.size();
}

inline void list_key_get(const std::vector<ModelInfo>& list, size_t index, size_t key_index, char** out_key,
                         char** out_doc, const char* function, const char* what) {
  const ModelInfo& info = list_entry(list, index, function, what);
  if (key_index >= info.keys.size())
    invalid(std::string(function) + ": key_index " + std::to_string(key_index) + " is out of range (" + info.name +
            " takes " + std::to_string(info.keys.size()) + " keys)");
  give_strings(info.keys[key_index].name, out_key, info.keys[key_index].doc, out_doc);
}

// Writes one per-call parameter's description into the caller's struct (only the fields its
// struct_size holds); default_text must outlive the caller's use of it.
inline void give_param_info(const inpaint::ParamSpec& spec, const std::string& default_text,
                            inpaint_param_info* out_info) {
  static_assert(int(inpaint::ParamType::Bool) == INPAINT_PARAM_BOOL && int(inpaint::ParamType::Int) == INPAINT_PARAM_INT &&
                    int(inpaint::ParamType::Float) == INPAINT_PARAM_FLOAT &&
                    int(inpaint::ParamType::String) == INPAINT_PARAM_STRING,
                "inpaint_param_type mirrors inpaint::ParamType");
  inpaint_param_info all;
  all.struct_size = out_info->struct_size;
  all.name = spec.name.c_str();
  all.type = static_cast<inpaint_param_type>(spec.type);
  all.default_value = default_text.c_str();
  all.min_value = spec.min_value;
  all.max_value = spec.max_value;
  all.doc = spec.doc.c_str();
  const inpaint_param_info* from = &all;
  INPAINT_TAKE(*out_info, from, name);
  INPAINT_TAKE(*out_info, from, type);
  INPAINT_TAKE(*out_info, from, default_value);
  INPAINT_TAKE(*out_info, from, min_value);
  INPAINT_TAKE(*out_info, from, max_value);
  INPAINT_TAKE(*out_info, from, doc);
}

// Writes a model's or matter's load info into the caller's struct, only the fields its
// (possibly older, shorter) struct_size holds.
inline void give_load_info(const inpaint::ModelLoadInfo& info, bool ready, const char* function,
                           inpaint_model_load_info* out_info) {
  require(out_info, function, "out_info");
  require_struct_size(out_info, function, "out_info", "inpaint_model_load_info_init");
  inpaint_model_load_info all;
  all.struct_size = out_info->struct_size;
  all.device = info.device.c_str();
  all.load_ms = info.load_ms;
  all.warmup_ms = info.warmup_ms;
  all.ready = ready ? 1 : 0;
  all.backend_ms = info.backend_ms;
  all.weight_bytes = info.weight_bytes;
  const inpaint_model_load_info* from = &all;
  INPAINT_TAKE(*out_info, from, device);
  INPAINT_TAKE(*out_info, from, load_ms);
  INPAINT_TAKE(*out_info, from, warmup_ms);
  INPAINT_TAKE(*out_info, from, ready);
  INPAINT_TAKE(*out_info, from, backend_ms);
  INPAINT_TAKE(*out_info, from, weight_bytes);
}

inline inpaint_encoding* new_encoding(inpaint::Encoding&& encoding) {
  auto handle = std::make_unique<inpaint_encoding>();
  handle->encoding = std::move(encoding);
  return handle.release();
}

}  // namespace inpaint::capi
