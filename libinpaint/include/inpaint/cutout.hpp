#pragma once
// The background-removal job end to end: encoded photo -> decode -> orient -> matte (from the
// encoding store when it holds it) -> optional edge refinement and foreground colours -> effects
// -> encoded outputs, with the outputs of a repeated request served from an in-process cache.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inpaint/effects.hpp"
#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/matte.hpp"
#include "inpaint/model.hpp"
#include "inpaint/store.hpp"

namespace inpaint {

struct CutoutOutput {
  Effect effect = Effect::Color;
  std::vector<std::uint8_t> encoded;  // in CutoutOptions::output's format
};

// The rendered outputs of one request, shared by the cache and every result it serves.
struct CutoutOutputs {
  std::vector<CutoutOutput> outputs;
  int width = 0, height = 0;  // of the outputs (the upright photo)
  std::string device = "cpu";  // where the effects were rendered
  std::size_t bytes() const;  // encoded bytes held
};

struct ResultCacheStats {
  std::uint64_t hits = 0, misses = 0, insertions = 0, evictions = 0;
  std::size_t entries = 0, bytes = 0, capacity = 0;
};

// An in-process LRU of rendered outputs, bounded in encoded bytes. A set larger than the whole
// capacity is not kept. Thread-safe: any threads may get and put at once; what get returns stays
// valid after it is evicted.
class INPAINT_CXX_API ResultCache {
 public:
  explicit ResultCache(std::size_t capacity_bytes);
  ~ResultCache();
  ResultCache(const ResultCache&) = delete;
  ResultCache& operator=(const ResultCache&) = delete;

  std::shared_ptr<const CutoutOutputs> get(const std::string& key);
  void put(const std::string& key, std::shared_ptr<const CutoutOutputs> outputs);
  void clear();
  ResultCacheStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct CutoutOptions {
  DecodeOptions decode;
  // The outputs, in this order; each one encoded. Empty: only the matte is computed (alpha).
  std::vector<Effect> effects{Effect::Color};
  // Effect parameters and the background (effect_parameters()); where the effects run.
  CallParams params;
  EffectsBackend effects_backend = EffectsBackend::OpenCV;
  std::string effects_device = "cpu";
  int threads = 2;  // effects rendered at once
  // Edge refinement of the matte (refine_alpha): 0 = off, else the guided filter's radius in px.
  int refine_radius = 0;
  double refine_eps = 1e-4;
  // Foreground colour estimation (estimate_foreground) for clean semi-transparent edges.
  bool foreground = false;
  EncodeOptions output{ImageFormat::Png, 90, 1};  // PNG keeps transparency; JPEG needs an opaque background
  // Where mattes are kept and looked up (any store spec: memory, directory, Redis, tiers);
  // nullptr: always run the matter. A failing store never fails the request (see store_error).
  EncodingStore* store = nullptr;
  // Where rendered outputs are kept and looked up; nullptr: always render.
  ResultCache* cache = nullptr;
  const RunControl* control = nullptr;
};

// Milliseconds per stage; stages served from a cache cost 0.
struct CutoutTimes {
  double key = 0;      // hashing the input bytes
  double decode = 0;   // photo bytes to pixels
  double orient = 0;   // EXIF orientation
  double store = 0;    // looking the matte up in the store and putting a fresh one there
  double preprocess = 0, model = 0, postprocess = 0;  // the matter (MatteResult's)
  double refine = 0;   // refinement and foreground estimation
  double effects = 0;  // render_effects, including the shared part
  double encode = 0;   // the outputs, wall time (they encode in parallel)
  double total = 0;
};

// The stages of CutoutTimes in order, by name: Python's timings dict and the CLI's JSON are built
// from this list (the C struct mirrors it, checked at compile time).
struct CutoutStageField {
  const char* name;
  double CutoutTimes::*ms;
};
inline constexpr CutoutStageField kCutoutStageFields[] = {
    {"key", &CutoutTimes::key},         {"decode", &CutoutTimes::decode},
    {"orient", &CutoutTimes::orient},   {"store", &CutoutTimes::store},
    {"preprocess", &CutoutTimes::preprocess}, {"model", &CutoutTimes::model},
    {"postprocess", &CutoutTimes::postprocess}, {"refine", &CutoutTimes::refine},
    {"effects", &CutoutTimes::effects}, {"encode", &CutoutTimes::encode},
    {"total", &CutoutTimes::total},
};
static_assert(sizeof(CutoutTimes) == sizeof(kCutoutStageFields) / sizeof(kCutoutStageFields[0]) * sizeof(double),
              "CutoutTimes changed: list the new stage in kCutoutStageFields");

struct CutoutResult {
  Image alpha;  // the matte used (after refinement, times the input's own alpha); empty when served from the cache
  std::shared_ptr<const CutoutOutputs> outputs;  // never null
  std::string input_sha256;  // of the encoded bytes
  std::string matte_id;      // the store id of the matte
  std::string cache_key;     // the output cache's key
  bool outputs_from_cache = false;  // nothing was decoded or rendered
  bool matte_from_store = false;    // the matter did not run
  bool matte_stored = false;        // a fresh matte was put into the store
  double model_ms_saved = 0;        // from the store: what the matter took when it made the matte
  std::string store_error;          // a store failure that was ignored, "" when none
  std::string effects_device = "cpu";
  CutoutTimes times;
};

// Runs the job on encoded PNG or JPEG bytes. Keys: the matte's store id is a hash of the input
// bytes' SHA-256, the matter's model_id and the decode options that change the pixels (EXIF
// orientation); the outputs' cache key adds the effects, their resolved parameters, refinement,
// foreground and the output format. An input with an alpha channel keeps it: the output alpha is
// the matte times the input's alpha (transparent stays transparent). A JPEG output needs an opaque
// background (a colour or blur): Error(InvalidArgument) before any work otherwise. Bad options,
// effect names and parameters fail before decoding.
INPAINT_CXX_API CutoutResult remove_background(const Matter& matter, const std::uint8_t* image, std::size_t image_size,
                                               const CutoutOptions& options = {});

}  // namespace inpaint
