// The background-removal job: decode -> orient -> matte (store) -> refine -> effects -> encode,
// with the rendered outputs of a repeated request served from an in-process LRU.
#include "inpaint/cutout.hpp"

#include <opencv2/core.hpp>

#include <algorithm>
#include <ctime>
#include <future>
#include <cstdlib>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/cv_bridge.hpp"
#include "core/timer.hpp"
#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"
#include "pipeline/out_of_memory.hpp"
#include "store/sha256.hpp"

namespace inpaint {

std::size_t CutoutOutputs::bytes() const {
  std::size_t total = 0;
  for (const CutoutOutput& o : outputs) total += o.encoded.size();
  return total;
}

// ---- the output cache

struct ResultCache::Impl {
  using Entry = std::pair<std::string, std::shared_ptr<const CutoutOutputs>>;
  mutable std::mutex mutex;
  std::list<Entry> lru;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  ResultCacheStats stats;

  void evict_to(std::size_t limit) {
    while (stats.bytes > limit && !lru.empty()) {
      stats.bytes -= lru.back().second->bytes();
      index.erase(lru.back().first);
      lru.pop_back();
      ++stats.evictions;
    }
  }
};

ResultCache::ResultCache(std::size_t capacity_bytes) : impl_(std::make_unique<Impl>()) {
  impl_->stats.capacity = capacity_bytes;
}

ResultCache::~ResultCache() = default;

std::shared_ptr<const CutoutOutputs> ResultCache::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto found = impl_->index.find(key);
  if (found == impl_->index.end()) {
    ++impl_->stats.misses;
    return nullptr;
  }
  impl_->lru.splice(impl_->lru.begin(), impl_->lru, found->second);
  ++impl_->stats.hits;
  return found->second->second;
}

void ResultCache::put(const std::string& key, std::shared_ptr<const CutoutOutputs> outputs) {
  if (!outputs) throw Error(ErrorCode::InvalidArgument, "ResultCache::put: no outputs");
  std::size_t size = outputs->bytes();
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Impl& s = *impl_;
  auto found = s.index.find(key);
  if (found != s.index.end()) {
    s.stats.bytes -= found->second->second->bytes();
    s.lru.erase(found->second);
    s.index.erase(found);
  }
  if (size > s.stats.capacity) {  // would evict everything and still not fit
    s.stats.entries = s.lru.size();
    return;
  }
  s.evict_to(s.stats.capacity - size);
  s.lru.emplace_front(key, std::move(outputs));
  s.index[key] = s.lru.begin();
  s.stats.bytes += size;
  ++s.stats.insertions;
  s.stats.entries = s.lru.size();
}

void ResultCache::clear() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->lru.clear();
  impl_->index.clear();
  impl_->stats.bytes = 0;
  impl_->stats.entries = 0;
}

ResultCacheStats ResultCache::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ResultCacheStats s = impl_->stats;
  s.entries = impl_->lru.size();
  return s;
}

// ---- the job

namespace {

constexpr const char* kMapTensor = "map";

Error invalid(const std::string& message) { return Error(ErrorCode::InvalidArgument, "cutout: " + message); }

// Everything about a request that is known before decoding: checked options and the texts
// that key the matte and the outputs.
struct Plan {
  CallParams params;        // resolved effect parameters
  Background background;
  std::string matte_key;    // what, beside the input bytes, decides the matte
  std::string output_key;   // what, beside the matte, decides the outputs
};

Plan plan(const Matter& matter, const CutoutOptions& o) {
  Plan p;
  for (std::size_t i = 0; i < o.effects.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (o.effects[i] == o.effects[j]) throw invalid(std::string("effect '") + effect_name(o.effects[i]) + "' asked for twice");
  p.params = resolve_params(effect_parameters(), o.params, "effects");
  p.background = parse_background(p.params.get_string("background", "transparent"));
  if (o.threads < 1 || o.threads > 64) throw invalid("threads must be 1..64, got " + std::to_string(o.threads));
  if (o.refine_radius < 0 || o.refine_radius > 256)
    throw invalid("refine_radius must be 0..256, got " + std::to_string(o.refine_radius));
  if (o.refine_radius > 0 && (!(o.refine_eps > 0) || o.refine_eps > 1))
    throw invalid("refine_eps must be in (0, 1], got " + std::to_string(o.refine_eps));
  if (o.output.format == ImageFormat::Jpeg && p.background.kind == Background::Kind::Transparent && !o.effects.empty())
    throw invalid("JPEG outputs have no transparency: choose a background colour or blur, or PNG");
  if (o.output.format == ImageFormat::Jpeg && (o.output.quality < 1 || o.output.quality > 100))
    throw invalid("JPEG quality must be 1..100, got " + std::to_string(o.output.quality));
  if (o.output.format == ImageFormat::Png && (o.output.png_compression < 0 || o.output.png_compression > 9))
    throw invalid("PNG compression must be 0..9, got " + std::to_string(o.output.png_compression));
  p.matte_key = matter.model_id() + "\nexif=" + (o.decode.apply_exif_orientation ? "1" : "0");
  std::string key = "effects=";
  for (Effect e : o.effects) key += std::string(effect_name(e)) + ",";
  for (const auto& [name, value] : p.params.values()) key += "\n" + name + "=" + param_value_text(value);
  key += "\nrefine=" + std::to_string(o.refine_radius) + ":" + param_value_text(o.refine_eps);
  key += "\nforeground=" + std::string(o.foreground ? "1" : "0");
  key += "\nformat=" + std::string(o.output.format == ImageFormat::Png ? "png:" + std::to_string(o.output.png_compression)
                                                                        : "jpeg:" + std::to_string(o.output.quality));
  p.output_key = key;
  return p;
}

std::string hash_text(const std::string& text) { return detail::sha256_hex(text.data(), text.size()); }

// A stored matte this matter can use for this photo: the same model and an F32 [h, w] map.
bool usable(const Encoding& e, const Matter& matter, const std::string& input_sha, int width, int height) {
  if (e.metadata.model_id != matter.model_id() || e.metadata.image_sha256 != input_sha) return false;
  if (e.metadata.original_width != width || e.metadata.original_height != height) return false;
  auto found = e.tensors.find(kMapTensor);
  return found != e.tensors.end() && found->second.dtype() == DType::F32 && found->second.shape().size() == 2 &&
         found->second.numel() > 0;
}

// The matte of the decoded photo: from the store when it holds one, else from the matter
// (then put there). Store failures are noted, never thrown.
Image matte_of(const Matter& matter, const ImageView& rgb, const std::string& input_sha, const CutoutOptions& o,
               CutoutResult& result) {
  auto note = [&](const std::string& what, const std::exception& e) {
    if (result.store_error.empty()) result.store_error = what + ": " + e.what();
  };
  detail::Stopwatch clock;
  if (o.store) {
    std::optional<Encoding> found;
    try {
      found = o.store->get(result.matte_id);
    } catch (const std::exception& e) {
      note("store get", e);
    }
    if (found && usable(*found, matter, input_sha, rgb.width, rgb.height)) {
      result.matte_from_store = true;
      auto saved = found->metadata.extra.find("model_ms");
      if (saved != found->metadata.extra.end()) result.model_ms_saved = std::atof(saved->second.c_str());
      Image alpha = matter.alpha_from_map(found->tensors.at(kMapTensor), rgb.width, rgb.height);
      result.times.store = clock.lap();
      return alpha;
    }
    result.times.store = clock.lap();
  }
  MattePrediction prediction = matter.predict(rgb, o.control);
  result.times.preprocess = prediction.preprocess_ms;
  result.times.model = prediction.model_ms;
  clock.lap();
  Image alpha = matter.alpha_from_map(prediction.map, rgb.width, rgb.height);
  result.times.postprocess = clock.lap();
  if (o.store) {
    Encoding e;
    e.metadata.model_id = matter.model_id();
    e.metadata.preprocessing = matter.spec();
    e.metadata.dtype = "F32";
    e.metadata.image_sha256 = input_sha;  // of the encoded bytes: the key needs no decoding
    e.metadata.original_width = rgb.width;
    e.metadata.original_height = rgb.height;
    e.metadata.created_at = std::int64_t(std::time(nullptr));
    e.metadata.extra["model_ms"] = param_value_text(prediction.model_ms);
    e.tensors[kMapTensor] = prediction.map;
    try {
      o.store->put(result.matte_id, e);
      result.matte_stored = true;
    } catch (const std::exception& ex) {
      note("store put", ex);
    }
    result.times.store += clock.lap();
  }
  return alpha;
}

// The output alpha keeps what the input already made transparent.
void apply_input_alpha(Image& alpha, const ImageView& input_alpha) {
  if (input_alpha.empty()) return;
  cv::Mat a = detail::as_mat(alpha);
  cv::multiply(a, detail::as_mat(input_alpha), a, 1.0 / 255);
}

std::shared_ptr<CutoutOutputs> encode_outputs(const EffectsResult& rendered, const CutoutOptions& o, int threads) {
  auto outputs = std::make_shared<CutoutOutputs>();
  outputs->outputs.resize(rendered.images.size());
  std::vector<std::future<void>> pending;
  auto encode_one = [&](std::size_t i) {
    outputs->outputs[i].effect = rendered.images[i].effect;
    outputs->outputs[i].encoded = encode_image(rendered.images[i].image, o.output);
  };
  // Outputs are encoded in parallel: all but the first on helper threads, up to `threads` at once.
  std::size_t n = rendered.images.size(), step = std::size_t(std::max(1, threads));
  for (std::size_t start = 0; start < n; start += step) {
    for (std::size_t i = start + 1; i < std::min(n, start + step); ++i)
      pending.push_back(std::async(std::launch::async, encode_one, i));
    try {
      encode_one(start);
    } catch (...) {
      for (auto& f : pending) f.wait();
      throw;
    }
    for (auto& f : pending) f.get();
    pending.clear();
  }
  return outputs;
}

}  // namespace

CutoutResult remove_background(const Matter& matter, const std::uint8_t* image, std::size_t image_size,
                               const CutoutOptions& options) {
  if (!image && image_size) throw invalid("image bytes are null");
  Plan p = plan(matter, options);  // bad options fail before any work
  detail::Stopwatch total, clock;
  // The header is checked even for a cached result, so that max_pixels and a corrupt header
  // answer the same with and without the cache (empty bytes are a Decode error here).
  ImageInfo info = probe_image(image, image_size, options.decode);
  CutoutResult result;
  result.input_sha256 = detail::sha256_hex(image, image_size);
  result.matte_id = encoding_id(result.input_sha256, hash_text(p.matte_key));
  result.cache_key = hash_text(result.matte_id + "\n" + p.output_key);
  result.times.key = clock.lap();
  if (options.cache) {
    if (auto cached = options.cache->get(result.cache_key)) {
      result.effects_device = cached->device;
      result.outputs = std::move(cached);
      result.outputs_from_cache = true;
      result.times.total = total.lap();
      return result;
    }
  }
  return detail::translating_out_of_memory("cutting out", info.width, info.height, [&] {
    DecodedImage decoded = decode_image(image, image_size, options.decode);
    clock.lap();
    result.times.decode = decoded.decode_ms;
    result.times.orient = decoded.orient_ms;
    check_run(options.control, "after decoding");
    Image alpha = matte_of(matter, decoded.rgb, result.input_sha256, options, result);
    check_run(options.control, "after the matte");
    clock.lap();
    ImageView rgb = decoded.rgb;
    Image foreground;
    if (options.refine_radius > 0) alpha = refine_alpha(rgb, alpha, options.refine_radius, options.refine_eps);
    apply_input_alpha(alpha, decoded.alpha);
    if (options.foreground) {
      foreground = estimate_foreground(rgb, alpha);
      rgb = foreground;
    }
    result.times.refine = clock.lap();
    auto outputs = std::make_shared<CutoutOutputs>();
    if (!options.effects.empty()) {
      EffectsOptions effects;
      effects.params = p.params;
      effects.backend = options.effects_backend;
      effects.device = options.effects_device;
      effects.threads = options.threads;
      effects.control = options.control;
      EffectsResult rendered = render_effects(rgb, alpha, options.effects, effects);
      result.effects_device = rendered.device;
      result.times.effects = clock.lap();
      check_run(options.control, "before encoding");
      outputs = encode_outputs(rendered, options, options.threads);
      result.times.encode = clock.lap();
    }
    outputs->device = result.effects_device;
    outputs->width = decoded.rgb.width();
    outputs->height = decoded.rgb.height();
    if (options.cache && !options.effects.empty()) options.cache->put(result.cache_key, outputs);
    result.outputs = std::move(outputs);
    result.alpha = std::move(alpha);
    result.times.total = total.lap();
    return result;
  });
}

}  // namespace inpaint
