// The `sam2video` video segmenter and its sessions (README, "Video model contract"). Part of the
// torch backend.
//
// Spec: sam2video:encoder=FILE,memory_encoder=FILE,decoder=FILE[,size=1024][,device=auto][,id=NAME]
//                 [,mask_threshold=0]
//
// A frame is read from the VideoSource already scaled to S x S RGB (the source scales while it
// converts from the decoder's pixels), then scaled to [0,1] and normalised with ImageNet's mean
// and std. Encoder: forward(image f32 [1,3,S,S]) -> Tensor ("image_embeddings") or
// Dict[str, Tensor]. Memory encoder: forward(features, mask_logits f32 [1,1,256,256],
// object_score f32 [1]) -> Dict[str, Tensor] (leading dim 1). Decoder: forward(features, memory
// Dict[str, Tensor] (entries concatenated on dim 0; empty when there are none), memory_offsets
// f32 [M] (entry frame - this frame), memory_prompted f32 [M], point_coords f32 [1,N,2] (model-input
// pixels), point_labels f32 [1,N], mask_input f32 [1,1,256,256], has_mask_input f32 [1]) ->
// (logits [1,1,256,256], score [1], object_score [1]).
//
// Session state per object: its prompted frames (prompt, result logits, memory entry) and the
// memory entries of the last propagated frames. A frame's memory for the decoder: every prompted
// frame of the object, nearest first, then the propagated frames t - d, t - 2d, ... t - N d (d the
// direction's step) that the bank holds. A prompt change for an object drops its propagated
// entries (they were made under the old prompt).
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "inpaint/video.hpp"
#include "backends/torch/runtime.hpp"
#include "backends/torch/sam_prompt.hpp"
#include "backends/torch/torch_bridge.hpp"
#include "segment/sam_mask.hpp"
#include "store/sha256.hpp"
#include "video/propagation.hpp"

namespace inpaint::detail {

namespace {

constexpr int64_t kLowRes = kSamLowRes;
constexpr const char* kCheckpointKind = "sam2video-session";
constexpr int kCheckpointVersion = 1;

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, "sam2video: " + message);
}

using TensorMap = std::map<std::string, torch::Tensor>;

std::uint64_t bytes_of(const TensorMap& tensors) {
  std::uint64_t n = 0;
  for (const auto& entry : tensors) n += std::uint64_t(entry.second.numel()) * entry.second.element_size();
  return n;
}

// One object's prompt on one frame and what it gave.
struct PromptedFrame {
  std::vector<PointPrompt> points;
  std::optional<BoxPrompt> box;
  Image mask;             // a mask prompt as given (then it is the frame's result); empty otherwise
  torch::Tensor logits;   // [1,1,256,256] f32 on the CPU
  double score = 0, object_score = 0;
  TensorMap memory;       // on the device
  std::uint64_t bytes() const { return mask.size_bytes() + std::uint64_t(logits.numel()) * 4 + bytes_of(memory); }
};

struct ObjectState {
  std::map<std::int64_t, PromptedFrame> prompted;
  std::map<std::int64_t, TensorMap> recent;  // propagated frames' memory entries
  std::uint64_t bytes() const {
    std::uint64_t n = 0;
    for (const auto& entry : prompted) n += entry.second.bytes();
    for (const auto& entry : recent) n += bytes_of(entry.second);
    return n;
  }
};

class Sam2VideoSegmenter;

class Sam2VideoSession final : public VideoSession {
 public:
  Sam2VideoSession(const Sam2VideoSegmenter& model, std::shared_ptr<VideoSource> frames, VideoSessionOptions options);

  const VideoInfo& video() const override { return frames_->info(); }
  std::uint64_t generation() const override { return generation_.load(); }
  std::vector<int> objects() const override {
    std::lock_guard lock(data_mutex_);
    std::vector<int> ids;
    for (const auto& entry : objects_) ids.push_back(entry.first);
    return ids;
  }

  ObjectMask add_prompt(std::int64_t frame, int object_id, const VideoPrompt& prompt,
                        const RunControl* control) override;
  void remove_object(int object_id) override;
  void reset() override;
  PropagateSummary propagate(const PropagateOptions& options, const FrameCallback& on_frame) override;
  SessionMemory memory() const override;
  std::string checkpoint(EncodingStore& store, const std::string& id) override;

  // Loads a checkpoint's state (resume_session).
  void restore(const Encoding& checkpoint);

 private:
  // The session's turn: one propagation or prompt change at a time.
  class Turn {
   public:
    // Waits for the session; polls control and, when given, whether the generation moved on.
    Turn(const Sam2VideoSession& session, const RunControl* control, const std::uint64_t* generation);
    ~Turn();
    bool held() const { return held_; }

   private:
    const Sam2VideoSession& session_;
    bool held_ = false;
  };

  // Error(InvalidArgument) on the thread that holds the turn (inside a propagate callback), where
  // waiting for the turn would wait for itself. Called before anything changes.
  void refuse_reentry() const {
    std::lock_guard lock(turn_mutex_);
    if (turn_taken_ && turn_owner_ == std::this_thread::get_id())
      invalid("the session is busy on this very thread (a call from inside its propagate callback): return false "
              "from the callback, or consume a PropagationStream, and call it afterwards");
  }
  TensorMap frame_features(std::int64_t frame, FrameMasks* timing, const RunControl* control);
  void check_frame(std::int64_t frame) const;
  void check_cap(std::uint64_t extra_bank_bytes, const char* what) const;
  std::uint64_t bank_bytes_locked() const;
  ObjectMask make_object_mask(int id, const torch::Tensor& logits, double score, double object_score,
                              bool prompted, const Image* given_mask) const;

  const Sam2VideoSegmenter& model_;
  std::shared_ptr<VideoSource> frames_;
  VideoSessionOptions options_;
  std::unique_ptr<EncodingStore> cache_;  // the session's frame encodings; null when encoding_cache_bytes is 0
  std::atomic<std::uint64_t> generation_{0};

  mutable std::mutex turn_mutex_;
  mutable std::condition_variable turn_freed_;
  mutable bool turn_taken_ = false;
  mutable std::thread::id turn_owner_;

  mutable std::mutex data_mutex_;  // objects_ for readers while a turn writes it
  std::map<int, ObjectState> objects_;
};

class Sam2VideoSegmenter final : public VideoSegmenter {
 public:
  struct Options {
    std::string encoder, memory_encoder, decoder;
    int size = 1024;
    std::string device_name = "auto";
    std::string id;
    double mask_threshold = 0;
    double backend_ms = 0;
  };

  explicit Sam2VideoSegmenter(Options o) : o_(std::move(o)), device_(resolve_device(o_.device_name, "sam2video")) {
    configure_executor();
    Stopwatch watch;
    encoder_ = load_module(o_.encoder, device_, "sam2video");
    memory_encoder_ = load_module(o_.memory_encoder, device_, "sam2video");
    decoder_ = load_module(o_.decoder, device_, "sam2video");
    checksum_ = sha256_of_files({o_.encoder, o_.memory_encoder, o_.decoder});
    model_id_ = o_.id.empty() ? "sam2video-" + checksum_.substr(0, 16) : o_.id;
    preprocessing_ = "sam2video:size=" + std::to_string(o_.size) + ",square,norm=imagenet01";
    info_.device = device_.str();
    info_.load_ms = watch.lap();
    info_.backend_ms = o_.backend_ms;
  }

  std::string spec() const override {
    ModelSpec s{"sam2video", {{"encoder", o_.encoder},
                              {"memory_encoder", o_.memory_encoder},
                              {"decoder", o_.decoder},
                              {"size", std::to_string(o_.size)},
                              {"device", device_.str()}}};
    if (!o_.id.empty()) s.params["id"] = o_.id;
    if (o_.mask_threshold != 0) s.params["mask_threshold"] = number_text(o_.mask_threshold);
    return s.str();
  }
  std::string model_id() const override { return model_id_; }
  ModelLoadInfo load_info() const override { return info_; }

  std::unique_ptr<VideoSession> open_session(std::shared_ptr<VideoSource> frames,
                                             const VideoSessionOptions& options) const override {
    return std::make_unique<Sam2VideoSession>(*this, std::move(frames), options);
  }

  std::unique_ptr<VideoSession> resume_session(std::shared_ptr<VideoSource> frames, EncodingStore& store,
                                               const std::string& checkpoint_id,
                                               const VideoSessionOptions& options) const override {
    validate_encoding_id(checkpoint_id);
    std::optional<Encoding> saved = store.get(checkpoint_id);
    if (!saved) invalid("no checkpoint '" + checkpoint_id + "' in the store " + store.spec());
    auto session = std::make_unique<Sam2VideoSession>(*this, std::move(frames), options);
    session->restore(*saved);
    return session;
  }

  // ---- what sessions call

  const torch::Device& device() const { return device_; }
  const std::string& checksum() const { return checksum_; }
  const std::string& preprocessing() const { return preprocessing_; }
  int size() const { return o_.size; }

  SamGeometry geometry(const VideoInfo& video) const {
    SamGeometry g;
    g.size = o_.size;
    g.orig_width = video.width;
    g.orig_height = video.height;
    g.input_width = g.input_height = o_.size;
    return g;
  }

  // The S x S frame, normalised, on the device.
  torch::Tensor preprocess(const Image& frame) const {
    auto rgb = torch::from_blob(const_cast<std::uint8_t*>(frame.data()), {frame.height(), frame.width(), 3},
                                torch::kUInt8);
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
    // (x / 255 - mean) / std as one multiply-add per channel.
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    float scale[3], shift[3];
    for (int c = 0; c < 3; ++c) {
      scale[c] = 1.0f / (255.0f * std[c]);
      shift[c] = -mean[c] / std[c];
    }
    auto x = rgb.to(device_).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
    x = torch::addcmul(torch::tensor({shift[0], shift[1], shift[2]}, opts).view({1, 3, 1, 1}), x,
                       torch::tensor({scale[0], scale[1], scale[2]}, opts).view({1, 3, 1, 1}));
    return x.contiguous();
  }

  // Each model call adds its time to model_ms.
  TensorMap encode(const torch::Tensor& image, double& model_ms) const {
    Stopwatch watch;
    torch::jit::IValue out = call_forward(encoder_, {image}, o_.encoder, "sam2video");
    synchronize(device_);
    model_ms += watch.lap();
    return encoder_features(out, o_.encoder, "sam2video");
  }

  TensorMap encode_memory(const TensorMap& features, const torch::Tensor& logits, double object_score,
                          double& model_ms) const {
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
    auto mask = logits.to(device_);
    auto presence = torch::full({1}, object_score, opts);
    Stopwatch watch;
    torch::jit::IValue out = call_forward(memory_encoder_, {as_dict(features), mask, presence}, o_.memory_encoder, "sam2video");
    synchronize(device_);
    model_ms += watch.lap();
    if (!out.isGenericDict()) invalid("memory encoder '" + o_.memory_encoder + "' returned a " + out.tagKind() + ", expected Dict[str, Tensor]");
    TensorMap memory;
    for (const auto& item : out.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor())
        invalid("memory encoder '" + o_.memory_encoder + "' returned a dict that is not Dict[str, Tensor]");
      torch::Tensor t = item.value().toTensor();
      if (t.dim() < 1 || t.size(0) != 1)
        invalid("memory encoder '" + o_.memory_encoder + "' returned '" + item.key().toStringRef() + "' of shape " +
                shape_str(t) + ": every memory tensor needs a leading dimension of 1");
      if (!all_finite(t))
        throw Error(ErrorCode::Internal, "sam2video: memory encoder '" + o_.memory_encoder +
                                             "' returned NaN or infinite values in '" + item.key().toStringRef() + "'");
      // A copy of its own: the module may return views of its inputs.
      memory[item.key().toStringRef()] = t.contiguous().clone();
    }
    if (memory.empty()) invalid("memory encoder '" + o_.memory_encoder + "' returned an empty dict");
    return memory;
  }

  struct Decoded {
    torch::Tensor logits;  // [1,1,256,256] f32 on the CPU
    double score = 0, object_score = 0;
  };

  // entries: (frame offset, prompted, memory), in the contract's order.
  Decoded decode(const TensorMap& features, const std::vector<std::tuple<double, bool, const TensorMap*>>& entries,
                 const std::vector<float>& coords, const std::vector<float>& labels,
                 const torch::Tensor& mask_input, double& model_ms) const {
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    c10::Dict<std::string, at::Tensor> memory;
    std::vector<float> offsets, prompted;
    if (!entries.empty()) {
      const TensorMap& first = *std::get<2>(entries.front());
      for (const auto& [name, tensor] : first) {
        std::vector<torch::Tensor> parts;
        for (const auto& entry : entries) {
          const TensorMap& m = *std::get<2>(entry);
          auto it = m.find(name);
          if (it == m.end() || m.size() != first.size())
            invalid("memory entries differ in their tensors: the memory encoder must return the same names every time");
          parts.push_back(it->second);
        }
        memory.insert(name, torch::cat(parts, 0));
      }
      for (const auto& entry : entries) {
        offsets.push_back(float(std::get<0>(entry)));
        prompted.push_back(std::get<1>(entry) ? 1.0f : 0.0f);
      }
    }
    const int64_t m = int64_t(offsets.size()), n = int64_t(labels.size());
    auto offsets_t = torch::from_blob(offsets.data(), {m}, opts).to(device_).clone();
    auto prompted_t = torch::from_blob(prompted.data(), {m}, opts).to(device_).clone();
    auto coords_t = torch::from_blob(const_cast<float*>(coords.data()), {1, n, 2}, opts).to(device_).clone();
    auto labels_t = torch::from_blob(const_cast<float*>(labels.data()), {1, n}, opts).to(device_).clone();
    torch::Tensor has_mask = torch::full({1}, mask_input.defined() ? 1.0f : 0.0f, opts.device(device_));
    torch::Tensor mask = mask_input.defined() ? mask_input.to(device_) : torch::zeros({1, 1, kLowRes, kLowRes}, opts.device(device_));
    Stopwatch watch;
    torch::jit::IValue out = call_forward(
        decoder_, {as_dict(features), memory, offsets_t, prompted_t, coords_t, labels_t, mask, has_mask}, o_.decoder,
        "sam2video");
    synchronize(device_);
    model_ms += watch.lap();
    const char* expected = "Tuple[Tensor, Tensor, Tensor] (logits [1,1,256,256], score [1], object_score [1])";
    if (!out.isTuple()) invalid("decoder '" + o_.decoder + "' returned a " + out.tagKind() + ", expected " + expected);
    const auto& items = out.toTuple()->elements();
    if (items.size() != 3 || !items[0].isTensor() || !items[1].isTensor() || !items[2].isTensor())
      invalid("decoder '" + o_.decoder + "' returned a tuple of " + std::to_string(items.size()) + " that is not " + expected);
    torch::Tensor logits = items[0].toTensor(), score = items[1].toTensor(), presence = items[2].toTensor();
    if (logits.numel() != kLowRes * kLowRes || logits.dim() != 4 || score.numel() != 1 || presence.numel() != 1)
      invalid("decoder '" + o_.decoder + "' returned logits " + shape_str(logits) + ", score " + shape_str(score) +
              " and object_score " + shape_str(presence) + ", expected " + expected);
    Decoded d;
    d.logits = logits.to(torch::kCPU, torch::kFloat32).contiguous().view({1, 1, kLowRes, kLowRes});
    d.score = score.to(torch::kCPU, torch::kFloat64).item<double>();
    d.object_score = presence.to(torch::kCPU, torch::kFloat64).item<double>();
    if (!all_finite(d.logits) || !std::isfinite(d.score) || !std::isfinite(d.object_score))
      throw Error(ErrorCode::Internal, "sam2video: decoder '" + o_.decoder + "' returned NaN or infinite values");
    return d;
  }

  Image logits_to_mask(const torch::Tensor& logits, const VideoInfo& video, MaskBox* box) const {
    return sam_logits_to_mask(logits.data_ptr<float>(), geometry(video), float(o_.mask_threshold), box);
  }

 private:
  static c10::Dict<std::string, at::Tensor> as_dict(const TensorMap& tensors) {
    c10::Dict<std::string, at::Tensor> d;
    for (const auto& [name, t] : tensors) d.insert(name, t);
    return d;
  }

  Options o_;
  torch::Device device_;
  // forward() is safe for concurrent callers: the modules are not changed after load.
  mutable torch::jit::Module encoder_, memory_encoder_, decoder_;
  std::string checksum_, model_id_, preprocessing_;
  ModelLoadInfo info_;
};

// ---- the session

Sam2VideoSession::Sam2VideoSession(const Sam2VideoSegmenter& model, std::shared_ptr<VideoSource> frames,
                                   VideoSessionOptions options)
    : model_(model), frames_(std::move(frames)), options_(std::move(options)) {
  if (!frames_) invalid("the session needs a video source");
  auto range = [](const char* name, long long value, long long lo, long long hi) {
    if (value < lo || value > hi)
      invalid(std::string(name) + " must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
              std::to_string(value));
  };
  range("memory_frames", options_.memory_frames, 1, 64);
  range("max_prompted_frames", options_.max_prompted_frames, 1, 256);
  range("max_objects", options_.max_objects, 1, 1024);
  if (options_.memory_cap_bytes != 0) {
    std::uint64_t caches = frames_->cache_capacity() + options_.encoding_cache_bytes;
    if (caches >= options_.memory_cap_bytes)
      throw Error(ErrorCode::InvalidArgument,
                  "sam2video: the frame cache (" + std::to_string(frames_->cache_capacity()) + " bytes) and the encoding cache (" +
                      std::to_string(options_.encoding_cache_bytes) + " bytes) leave no room for the memory bank under memory_cap_bytes " +
                      std::to_string(options_.memory_cap_bytes));
  }
  if (options_.encoding_cache_bytes > 0) cache_ = make_memory_store(options_.encoding_cache_bytes);
}

Sam2VideoSession::Turn::Turn(const Sam2VideoSession& session, const RunControl* control,
                             const std::uint64_t* generation)
    : session_(session) {
  session.refuse_reentry();
  std::unique_lock lock(session.turn_mutex_);
  while (session.turn_taken_) {
    session.turn_freed_.wait_for(lock, std::chrono::milliseconds(5));
    if (generation && session.generation_.load() != *generation) return;
    if (control) {
      lock.unlock();
      control->check("waiting for the session");
      lock.lock();
    }
  }
  session.turn_taken_ = true;
  session.turn_owner_ = std::this_thread::get_id();
  held_ = true;
}

Sam2VideoSession::Turn::~Turn() {
  if (!held_) return;
  {
    std::lock_guard lock(session_.turn_mutex_);
    session_.turn_taken_ = false;
  }
  session_.turn_freed_.notify_all();
}

void Sam2VideoSession::check_frame(std::int64_t frame) const {
  const VideoInfo& v = frames_->info();
  if (frame < 0 || frame >= v.frame_count)
    invalid("frame " + std::to_string(frame) + " is outside the clip (frames 0.." + std::to_string(v.frame_count - 1) + ")");
}

std::uint64_t Sam2VideoSession::bank_bytes_locked() const {
  std::uint64_t n = 0;
  for (const auto& entry : objects_) n += entry.second.bytes();
  return n;
}

void Sam2VideoSession::check_cap(std::uint64_t extra_bank_bytes, const char* what) const {
  if (options_.memory_cap_bytes == 0) return;
  std::uint64_t bank;
  {
    std::lock_guard lock(data_mutex_);
    bank = bank_bytes_locked();
  }
  std::uint64_t caches = frames_->cache_capacity() + options_.encoding_cache_bytes;
  if (caches + bank + extra_bank_bytes > options_.memory_cap_bytes)
    throw Error(ErrorCode::TooLarge,
                std::string("sam2video: ") + what + " would take the session over its memory cap of " +
                    std::to_string(options_.memory_cap_bytes) + " bytes (frame cache " +
                    std::to_string(frames_->cache_capacity()) + ", encoding cache " +
                    std::to_string(options_.encoding_cache_bytes) + ", memory bank " + std::to_string(bank) + " + " +
                    std::to_string(extra_bank_bytes) + ")");
}

TensorMap Sam2VideoSession::frame_features(std::int64_t frame, FrameMasks* timing, const RunControl* control) {
  const VideoInfo& v = frames_->info();
  const std::string id = encoding_id(v.content_id + "#" + std::to_string(frame), model_.model_id());
  auto usable = [&](const Encoding& e) {
    const EncodingMetadata& m = e.metadata;
    return m.model_id == model_.model_id() && m.model_checksum == model_.checksum() &&
           m.preprocessing == model_.preprocessing() && m.image_sha256 == v.content_id &&
           m.extra.count("frame") && m.extra.at("frame") == std::to_string(frame) && !e.tensors.empty();
  };
  auto on_device = [&](const Encoding& e) {
    TensorMap features;
    for (const auto& [name, t] : e.tensors) features[name] = to_torch(t).to(model_.device());
    return features;
  };
  Stopwatch watch;
  std::optional<Encoding> found;
  if (cache_) found = cache_->get(id);
  auto keep = [&](EncodingStore& store, const Encoding& encoding) {
    try {
      store.put(id, encoding);
    } catch (const std::exception&) {
      // Larger than the whole cache, or a store failure: the frame goes on without it.
    }
  };
  if (!found && options_.store) {
    try {
      found = options_.store->get(id);
    } catch (const std::exception&) {
      found.reset();  // a store failure never fails a frame: encode instead
    }
    if (found && !usable(*found)) found.reset();
    if (found && cache_) keep(*cache_, *found);
  }
  if (found) {
    timing->encoding_from_store = true;
    timing->encode_ms += watch.lap();
    return on_device(*found);
  }
  std::shared_ptr<const Image> pixels = frames_->frame(frame, model_.size(), model_.size(), control);
  torch::Tensor x = model_.preprocess(*pixels);
  timing->read_ms += watch.lap();
  TensorMap features = model_.encode(x, timing->model_ms);
  Encoding encoding;
  for (const auto& [name, t] : features) encoding.tensors[name] = from_torch(t);
  EncodingMetadata& m = encoding.metadata;
  m.model_id = model_.model_id();
  m.model_checksum = model_.checksum();
  m.preprocessing = model_.preprocessing();
  m.dtype = dtype_name(encoding.tensors.begin()->second.dtype());
  m.image_sha256 = v.content_id;
  m.original_width = v.width;
  m.original_height = v.height;
  m.created_at = std::int64_t(std::time(nullptr));
  m.extra["frame"] = std::to_string(frame);
  if (cache_) keep(*cache_, encoding);
  if (options_.store) keep(*options_.store, encoding);
  timing->encode_ms += watch.lap();
  return features;
}

ObjectMask Sam2VideoSession::make_object_mask(int id, const torch::Tensor& logits, double score, double object_score,
                                              bool prompted, const Image* given_mask) const {
  ObjectMask out;
  out.object_id = id;
  out.score = std::clamp(score, 0.0, 1.0);
  out.object_score = object_score;
  out.present = object_score > 0;
  out.prompted = prompted;
  const VideoInfo& v = frames_->info();
  if (given_mask && !given_mask->empty()) {
    out.mask = Image::copy_of(given_mask->view());
    out.box = mask_bounds(out.mask.view());
  } else if (out.present) {
    out.mask = model_.logits_to_mask(logits, v, &out.box);
  } else {
    out.mask = Image(v.width, v.height, 1);  // an absent object has no pixels
  }
  return out;
}

ObjectMask Sam2VideoSession::add_prompt(std::int64_t frame, int object_id, const VideoPrompt& prompt,
                                        const RunControl* control) {
  check_frame(frame);
  const VideoInfo& v = frames_->info();
  if (object_id < 0) invalid("object ids are >= 0, got " + std::to_string(object_id));
  const bool has_mask = !prompt.mask.empty();
  if (!has_mask && prompt.points.empty() && !prompt.box) invalid("the prompt is empty: give points, a box or a mask");
  if (has_mask && (!prompt.points.empty() || prompt.box)) invalid("a mask prompt cannot be combined with points or a box");
  if (has_mask && (prompt.mask.width() != v.width || prompt.mask.height() != v.height || prompt.mask.channels() != 1))
    invalid("the mask prompt is " + std::to_string(prompt.mask.width()) + "x" + std::to_string(prompt.mask.height()) + "x" +
            std::to_string(prompt.mask.channels()) + ", the frames are " + std::to_string(v.width) + "x" +
            std::to_string(v.height) + "x1");
  check_sam_prompt(prompt.points, prompt.box, v.width, v.height, "frame", "sam2video: ");
  {
    std::lock_guard lock(data_mutex_);
    auto it = objects_.find(object_id);
    if (it == objects_.end() && int(objects_.size()) >= options_.max_objects)
      invalid("the session already holds max_objects = " + std::to_string(options_.max_objects) + " objects");
    if (it != objects_.end() && !it->second.prompted.count(frame) &&
        int(it->second.prompted.size()) >= options_.max_prompted_frames)
      invalid("object " + std::to_string(object_id) + " already has prompts on max_prompted_frames = " +
              std::to_string(options_.max_prompted_frames) + " frames");
  }
  // The generation moves first, so a running propagation stops within a frame and frees the turn.
  refuse_reentry();
  generation_.fetch_add(1);
  Turn turn(*this, control, nullptr);
  check_run(control, "before the sam2video prompt");
  use_intra_op_threads(default_intra_op_threads());
  torch::NoGradGuard no_grad;
  c10::InferenceMode inference;
  FrameMasks timing;
  TensorMap features = frame_features(frame, &timing, control);

  PromptedFrame entry;
  const PromptedFrame* earlier = nullptr;
  {
    std::lock_guard lock(data_mutex_);
    auto obj = objects_.find(object_id);
    if (obj != objects_.end()) {
      auto p = obj->second.prompted.find(frame);
      if (p != obj->second.prompted.end()) earlier = &p->second;
    }
  }
  if (has_mask) {
    // The mask is the frame's result; its logits (for memory) are +-10 on the decoder's grid.
    cv::Mat full(v.height, v.width, CV_8UC1, const_cast<std::uint8_t*>(prompt.mask.data()));
    cv::Mat binary, low;
    cv::threshold(full, binary, 127, 1.0, cv::THRESH_BINARY);
    binary.convertTo(binary, CV_32F);
    cv::resize(binary, low, cv::Size(kLowRes, kLowRes), 0, 0, cv::INTER_AREA);
    entry.logits = torch::from_blob(low.data, {1, 1, kLowRes, kLowRes}, torch::kFloat32).clone() * 20.0f - 10.0f;
    entry.mask = Image::copy_of(prompt.mask.view());
    bool any = cv::countNonZero(binary) > 0;
    entry.score = 1;
    entry.object_score = any ? 10 : -10;
  } else {
    entry.points = prompt.points;
    entry.box = prompt.box;
    torch::Tensor mask_input;
    if (!prompt.replace && earlier && earlier->mask.empty()) {
      entry.points.insert(entry.points.begin(), earlier->points.begin(), earlier->points.end());
      if (!entry.box) entry.box = earlier->box;
      mask_input = earlier->logits;
    }
    if (entry.points.size() > std::size_t(kSamMaxPoints)) invalid("too many points with the earlier ones on this frame");
    const double sx = double(model_.size()) / v.width, sy = double(model_.size()) / v.height;
    std::vector<float> coords, labels;
    sam_point_inputs(entry.points, entry.box, v.width, v.height, sx, sy, coords, labels);
    auto decoded = model_.decode(features, {}, coords, labels, mask_input, timing.model_ms);
    entry.logits = decoded.logits;
    entry.score = decoded.score;
    entry.object_score = decoded.object_score;
  }
  entry.memory = model_.encode_memory(features, entry.logits, entry.object_score, timing.model_ms);
  {
    // The cap counts the new entry; the one it replaces and this object's propagated entries go.
    std::uint64_t freed = 0;
    {
      std::lock_guard lock(data_mutex_);
      auto obj = objects_.find(object_id);
      if (obj != objects_.end()) {
        for (const auto& r : obj->second.recent) freed += bytes_of(r.second);
        auto p = obj->second.prompted.find(frame);
        if (p != obj->second.prompted.end()) freed += p->second.bytes();
      }
    }
    std::uint64_t added = entry.bytes();
    if (added > freed) check_cap(added - freed, "this prompt");
  }
  ObjectMask result = make_object_mask(object_id, entry.logits, entry.score, entry.object_score, true, &entry.mask);
  {
    std::lock_guard lock(data_mutex_);
    ObjectState& obj = objects_[object_id];
    obj.recent.clear();  // made under the earlier prompts
    obj.prompted[frame] = std::move(entry);
  }
  return result;
}

void Sam2VideoSession::remove_object(int object_id) {
  {
    std::lock_guard lock(data_mutex_);
    if (!objects_.count(object_id)) {
      std::string known;
      for (const auto& entry : objects_) known += (known.empty() ? "" : ", ") + std::to_string(entry.first);
      invalid("unknown object id " + std::to_string(object_id) + " (known: " + (known.empty() ? "none" : known) + ")");
    }
  }
  refuse_reentry();
  generation_.fetch_add(1);
  Turn turn(*this, nullptr, nullptr);
  std::lock_guard lock(data_mutex_);
  objects_.erase(object_id);
}

void Sam2VideoSession::reset() {
  refuse_reentry();
  generation_.fetch_add(1);
  Turn turn(*this, nullptr, nullptr);
  std::lock_guard lock(data_mutex_);
  objects_.clear();
}

PropagateSummary Sam2VideoSession::propagate(const PropagateOptions& options, const FrameCallback& on_frame) {
  Stopwatch total;
  PropagateSummary summary;
  const std::uint64_t generation = generation_.load();
  summary.generation = generation;
  const VideoInfo& v = frames_->info();
  if (options.max_frames < 0) invalid("max_frames must be >= 0, got " + std::to_string(options.max_frames));
  if (options.start_frame < -1) invalid("start_frame must be a frame or -1, got " + std::to_string(options.start_frame));
  if (options.start_frame >= 0) check_frame(options.start_frame);
  const RunControl* control = options.control;
  auto superseded = [&] { return generation_.load() != generation; };

  Turn turn(*this, control, &generation);
  if (!turn.held()) {
    summary.superseded = true;
    summary.total_ms = total.lap();
    return summary;
  }
  PropagationSlot slot(control, superseded);
  summary.wait_ms = total.lap();
  if (!slot.acquired()) {
    summary.superseded = true;
    summary.total_ms = summary.wait_ms;
    return summary;
  }
  // Nothing but this turn writes objects_ now; readers take data_mutex_.
  if (objects_.empty()) invalid("the session has no objects: add a prompt first");
  std::int64_t start = options.start_frame;
  if (start < 0) {
    std::int64_t first = v.frame_count, last = -1;
    for (const auto& [id, obj] : objects_)
      for (const auto& p : obj.prompted) {
        first = std::min(first, p.first);
        last = std::max(last, p.first);
      }
    start = options.direction == PropagateDirection::Backward ? last : first;
  }
  // max_frames counts the start in each direction: Both's backward part starts before it.
  std::vector<std::int64_t> order;
  auto walk = [&](std::int64_t from, int step, std::int64_t limit) {
    for (std::int64_t t = from; t >= 0 && t < v.frame_count && limit != 0; t += step, --limit) order.push_back(t);
  };
  const std::int64_t limit = options.max_frames ? options.max_frames : -1;
  if (options.direction == PropagateDirection::Backward) walk(start, -1, limit);
  else walk(start, +1, limit);
  const std::size_t backward_from = order.size();
  if (options.direction == PropagateDirection::Both) walk(start - 1, -1, limit > 0 ? limit - 1 : -1);

  use_intra_op_threads(default_intra_op_threads());
  torch::NoGradGuard no_grad;
  c10::InferenceMode inference;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::int64_t t = order[i];
    const int step = (options.direction == PropagateDirection::Backward || i >= backward_from) ? -1 : +1;
    if (superseded()) {
      summary.superseded = true;
      break;
    }
    check_run(control, "sam2video propagation");
    Stopwatch watch;
    FrameMasks result;
    result.frame = t;
    result.generation = generation;
    TensorMap features;
    bool need_features = false;
    for (const auto& [id, obj] : objects_)
      if (!obj.prompted.count(t)) need_features = true;
    if (need_features) features = frame_features(t, &result, control);
    std::map<int, TensorMap> new_memory;
    for (const auto& [id, obj] : objects_) {
      auto p = obj.prompted.find(t);
      if (p != obj.prompted.end()) {
        Stopwatch post;
        result.objects.push_back(make_object_mask(id, p->second.logits, p->second.score, p->second.object_score, true,
                                                  &p->second.mask));
        result.postprocess_ms += post.lap();
        continue;
      }
      Stopwatch stage;
      std::vector<std::pair<std::int64_t, const PromptedFrame*>> prompted;
      for (const auto& entry : obj.prompted) prompted.emplace_back(entry.first, &entry.second);
      std::stable_sort(prompted.begin(), prompted.end(), [t](const auto& a, const auto& b) {
        return std::llabs(a.first - t) < std::llabs(b.first - t);
      });
      std::vector<std::tuple<double, bool, const TensorMap*>> entries;
      for (const auto& [frame, entry] : prompted) entries.emplace_back(double(frame - t), true, &entry->memory);
      for (int k = 1; k <= options_.memory_frames; ++k) {
        auto r = obj.recent.find(t - std::int64_t(k) * step);
        if (r != obj.recent.end()) entries.emplace_back(double(r->first - t), false, &r->second);
      }
      result.memory_ms += stage.lap();
      auto decoded = model_.decode(features, entries, {0.0f, 0.0f}, {-1.0f}, torch::Tensor(), result.model_ms);
      result.decode_ms += stage.lap();
      new_memory[id] = model_.encode_memory(features, decoded.logits, decoded.object_score, result.model_ms);
      result.memory_ms += stage.lap();
      result.objects.push_back(make_object_mask(id, decoded.logits, decoded.score, decoded.object_score, false, nullptr));
      result.postprocess_ms += stage.lap();
    }
    if (superseded()) {
      // Made under the old prompts: neither kept nor delivered.
      summary.superseded = true;
      break;
    }
    {
      Stopwatch stage;
      // The bank keeps the propagated frames the next steps can use: t, t - step, ... (N of them).
      std::uint64_t added = 0, freed = 0;
      for (const auto& [id, memory] : new_memory) {
        const ObjectState& obj = objects_.at(id);
        added += bytes_of(memory);
        for (const auto& [frame, entry] : obj.recent) {
          std::int64_t behind = (t - frame) * step;
          if (behind < 0 || behind >= options_.memory_frames) freed += bytes_of(entry);
        }
      }
      if (added > freed) check_cap(added - freed, "the memory bank of this propagation");
      std::lock_guard lock(data_mutex_);
      for (auto& [id, memory] : new_memory) {
        ObjectState& obj = objects_.at(id);
        obj.recent[t] = std::move(memory);
        for (auto it = obj.recent.begin(); it != obj.recent.end();) {
          std::int64_t behind = (t - it->first) * step;
          it = (behind < 0 || behind >= options_.memory_frames) ? obj.recent.erase(it) : std::next(it);
        }
      }
      result.memory_ms += stage.lap();
    }
    result.total_ms = watch.lap();
    ++summary.frames;
    if (!on_frame(result)) {
      summary.stopped = true;
      break;
    }
  }
  summary.total_ms = total.lap() + summary.wait_ms;
  return summary;
}

SessionMemory Sam2VideoSession::memory() const {
  SessionMemory m;
  m.frame_cache = frames_->cached_bytes();
  m.encodings = cache_ ? cache_->usage().bytes : 0;
  {
    std::lock_guard lock(data_mutex_);
    m.memory_bank = bank_bytes_locked();
  }
  m.total = m.frame_cache + m.encodings + m.memory_bank;
  m.cap = options_.memory_cap_bytes;
  return m;
}

// ---- checkpoints: one encoding; the state as JSON in the metadata, the tensors by name:
//   o<id>.p<frame>.logits, o<id>.p<frame>.mask (U8, mask prompts), o<id>.p<frame>.m.<name>,
//   o<id>.r<frame>.m.<name>

std::string Sam2VideoSession::checkpoint(EncodingStore& store, const std::string& requested_id) {
  std::string id = requested_id;
  if (id.empty()) {
    std::random_device device;
    std::mt19937_64 rng((std::uint64_t(device()) << 32) ^ device());
    std::ostringstream s;
    s << "video-session-" << std::hex << rng() << rng();
    id = s.str();
  }
  validate_encoding_id(id);
  // A snapshot between frames, without the turn: a propagation commits under data_mutex_, and
  // committed tensors are never changed in place, so copies of the maps share them safely. Not
  // waiting for the turn lets a stream's consumer checkpoint while its propagation waits for it.
  std::map<int, ObjectState> state;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(data_mutex_);
    state = objects_;
    generation = generation_.load();
  }
  const VideoInfo& v = frames_->info();
  Encoding e;
  nlohmann::json objects = nlohmann::json::array();
  auto put = [&](const std::string& name, const torch::Tensor& t) {
    e.tensors[name] = from_torch(t.contiguous());
  };
  auto put_memory = [&](const std::string& prefix, const TensorMap& memory, nlohmann::json& names) {
    for (const auto& [name, t] : memory) {
      put(prefix + ".m." + name, t);
      names.push_back(name);
    }
  };
  for (const auto& [object_id, obj] : state) {
    nlohmann::json o = {{"id", object_id}, {"prompted", nlohmann::json::array()}, {"recent", nlohmann::json::array()}};
    for (const auto& [frame, p] : obj.prompted) {
      std::string prefix = "o" + std::to_string(object_id) + ".p" + std::to_string(frame);
      nlohmann::json points = nlohmann::json::array();
      for (const PointPrompt& pt : p.points) points.push_back({pt.x, pt.y, pt.positive ? 1 : 0});
      nlohmann::json j = {{"frame", frame}, {"points", points}, {"score", p.score}, {"object_score", p.object_score},
                          {"mask", !p.mask.empty()}, {"memory", nlohmann::json::array()}};
      if (p.box) j["box"] = {p.box->x0, p.box->y0, p.box->x1, p.box->y1};
      put(prefix + ".logits", p.logits);
      if (!p.mask.empty())
        e.tensors[prefix + ".mask"] = HostTensor::copy_of(DType::U8, {p.mask.height(), p.mask.width()}, p.mask.data());
      put_memory(prefix, p.memory, j["memory"]);
      o["prompted"].push_back(j);
    }
    for (const auto& [frame, memory] : obj.recent) {
      nlohmann::json j = {{"frame", frame}, {"memory", nlohmann::json::array()}};
      put_memory("o" + std::to_string(object_id) + ".r" + std::to_string(frame), memory, j["memory"]);
      o["recent"].push_back(j);
    }
    objects.push_back(o);
  }
  EncodingMetadata& m = e.metadata;
  m.model_id = model_.model_id();
  m.model_checksum = model_.checksum();
  m.preprocessing = model_.preprocessing();
  m.dtype = "F32";
  m.image_sha256 = v.content_id;
  m.original_width = v.width;
  m.original_height = v.height;
  m.created_at = std::int64_t(std::time(nullptr));
  m.extra["kind"] = kCheckpointKind;
  m.extra["checkpoint_version"] = std::to_string(kCheckpointVersion);
  m.extra["frame_count"] = std::to_string(v.frame_count);
  m.extra["generation"] = std::to_string(generation);
  m.extra["memory_frames"] = std::to_string(options_.memory_frames);
  m.extra["objects"] = objects.dump();
  if (e.tensors.empty()) {
    // A session without objects still checkpoints (its generation); a store needs a tensor.
    e.tensors["empty"] = HostTensor::allocate(DType::U8, {1});
  }
  store.put(id, e);  // one put: the checkpoint is there whole or not at all
  return id;
}

void Sam2VideoSession::restore(const Encoding& e) {
  const EncodingMetadata& m = e.metadata;
  const VideoInfo& v = frames_->info();
  auto extra = [&](const char* key) {
    auto it = m.extra.find(key);
    return it == m.extra.end() ? std::string() : it->second;
  };
  if (extra("kind") != kCheckpointKind) invalid("the encoding is not a sam2video session checkpoint");
  if (extra("checkpoint_version") != std::to_string(kCheckpointVersion))
    invalid("the checkpoint's version is '" + extra("checkpoint_version") + "', this library reads " +
            std::to_string(kCheckpointVersion));
  if (m.model_id != model_.model_id())
    invalid("the checkpoint is of model '" + m.model_id + "', this is '" + model_.model_id() + "'");
  if (m.model_checksum != model_.checksum()) invalid("the checkpoint was made with other weights (checksum differs)");
  if (m.image_sha256 != v.content_id || extra("frame_count") != std::to_string(v.frame_count))
    invalid("the checkpoint is of another clip (content id " + m.image_sha256.substr(0, 16) + "..., this clip's " +
            v.content_id.substr(0, 16) + "...)");
  if (extra("memory_frames") != std::to_string(options_.memory_frames))
    invalid("the checkpoint was made with memory_frames=" + extra("memory_frames") + ", this session has " +
            std::to_string(options_.memory_frames));
  auto tensor = [&](const std::string& name) -> torch::Tensor {
    auto it = e.tensors.find(name);
    if (it == e.tensors.end()) invalid("the checkpoint lacks the tensor '" + name + "'");
    // A copy on the device: the stored bytes may belong to a file or a store's buffer.
    return to_torch(it->second).clone();
  };
  std::map<int, ObjectState> objects;
  try {
    nlohmann::json list = nlohmann::json::parse(extra("objects"));
    for (const auto& o : list) {
      const int object_id = o.at("id").get<int>();
      ObjectState& obj = objects[object_id];
      for (const auto& j : o.at("prompted")) {
        const std::int64_t frame = j.at("frame").get<std::int64_t>();
        check_frame(frame);
        const std::string prefix = "o" + std::to_string(object_id) + ".p" + std::to_string(frame);
        PromptedFrame p;
        for (const auto& pt : j.at("points"))
          p.points.push_back({pt.at(0).get<double>(), pt.at(1).get<double>(), pt.at(2).get<int>() != 0});
        if (j.contains("box")) {
          const auto& b = j.at("box");
          p.box = BoxPrompt{b.at(0).get<double>(), b.at(1).get<double>(), b.at(2).get<double>(), b.at(3).get<double>()};
        }
        p.score = j.at("score").get<double>();
        p.object_score = j.at("object_score").get<double>();
        p.logits = tensor(prefix + ".logits");
        if (p.logits.numel() != kLowRes * kLowRes || p.logits.scalar_type() != torch::kFloat32)
          invalid("the checkpoint's tensor '" + prefix + ".logits' is not F32 [1,1,256,256]");
        p.logits = p.logits.view({1, 1, kLowRes, kLowRes});
        if (j.at("mask").get<bool>()) {
          torch::Tensor mask = tensor(prefix + ".mask");
          if (mask.scalar_type() != torch::kUInt8 || mask.dim() != 2 || mask.size(0) != v.height || mask.size(1) != v.width)
            invalid("the checkpoint's tensor '" + prefix + ".mask' is not U8 [" + std::to_string(v.height) + ", " +
                    std::to_string(v.width) + "]");
          p.mask = Image::copy_of({mask.data_ptr<std::uint8_t>(), v.width, v.height, 1, 0});
        }
        for (const auto& name : j.at("memory"))
          p.memory[name.get<std::string>()] = tensor(prefix + ".m." + name.get<std::string>()).to(model_.device());
        if (p.memory.empty()) invalid("the checkpoint lists no memory for '" + prefix + "'");
        obj.prompted[frame] = std::move(p);
      }
      for (const auto& j : o.at("recent")) {
        const std::int64_t frame = j.at("frame").get<std::int64_t>();
        check_frame(frame);
        const std::string prefix = "o" + std::to_string(object_id) + ".r" + std::to_string(frame);
        TensorMap memory;
        for (const auto& name : j.at("memory"))
          memory[name.get<std::string>()] = tensor(prefix + ".m." + name.get<std::string>()).to(model_.device());
        if (memory.empty()) invalid("the checkpoint lists no memory for '" + prefix + "'");
        obj.recent[frame] = std::move(memory);
      }
      if (obj.prompted.empty()) invalid("the checkpoint's object " + std::to_string(object_id) + " has no prompted frame");
    }
  } catch (const nlohmann::json::exception& err) {
    invalid(std::string("the checkpoint's object list is malformed: ") + err.what());
  }
  if (int(objects.size()) > options_.max_objects)
    invalid("the checkpoint holds " + std::to_string(objects.size()) + " objects, more than max_objects = " +
            std::to_string(options_.max_objects));
  std::uint64_t bank = 0;
  for (const auto& entry : objects) bank += entry.second.bytes();
  check_cap(bank, "the checkpoint's memory bank");
  std::uint64_t generation = 0;
  try {
    generation = std::stoull(extra("generation"));
  } catch (const std::exception&) {
    invalid("the checkpoint's generation '" + extra("generation") + "' is not a number");
  }
  std::lock_guard lock(data_mutex_);
  objects_ = std::move(objects);
  generation_.store(generation);
}

}  // namespace

}  // namespace inpaint::detail

namespace inpaint::torch_backend {

std::unique_ptr<VideoSegmenter> make_sam2video(const ModelSpec& spec, double backend_ms) {
  using detail::invalid;
  SpecReader reader(spec);
  detail::Sam2VideoSegmenter::Options o;
  o.backend_ms = backend_ms;
  o.encoder = reader.get_string("encoder", "");
  o.memory_encoder = reader.get_string("memory_encoder", "");
  o.decoder = reader.get_string("decoder", "");
  o.size = reader.get_int("size", 1024, 64, 4096);
  o.device_name = reader.get_string("device", "auto");
  o.id = reader.get_string("id", "");
  o.mask_threshold = reader.get_double("mask_threshold", 0, -1e6, 1e6);
  reader.finish();
  if (o.encoder.empty() || o.memory_encoder.empty() || o.decoder.empty())
    invalid("encoder=FILE, memory_encoder=FILE and decoder=FILE are required");
  if (o.size % 16 != 0) invalid("size must be a multiple of 16, got " + std::to_string(o.size));
  return std::make_unique<detail::Sam2VideoSegmenter>(std::move(o));
}

}  // namespace inpaint::torch_backend
