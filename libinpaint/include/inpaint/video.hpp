#pragma once
// Video segmentation: frames from a video file or a directory of images (VideoSource), a
// SAM2-style video model (VideoSegmenter, spec "sam2video:..."), and sessions on one clip
// (VideoSession): prompt objects on some frames, then propagate their masks through the clip.
//
// The session's state is the objects' prompts and their memory bank. Every prompt change
// (add_prompt, remove_object, reset) bumps the session's generation; a propagation started under
// an older generation stops before its next frame and reports that it was superseded. One
// propagation writes a session at a time; prompt changes wait for the running one to notice.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inpaint/encoding.hpp"
#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/model.hpp"
#include "inpaint/registry.hpp"
#include "inpaint/segment.hpp"
#include "inpaint/store.hpp"

namespace inpaint {

// ---- frames

// Caps checked when a source opens, from the container's and codec's parameters, before any
// frame is decoded (a service's plan-tier limits). Error(TooLarge) names the cap and the value.
struct VideoLimits {
  std::int64_t max_pixels = 3840LL * 2160;  // per frame (4K UHD)
  std::int64_t max_frames = 18000;          // 10 minutes at 30 fps
  // false: a file whose frame durations vary (phones record such files) is Error(InvalidArgument).
  // true: it opens; frames are numbered in presentation order and VideoInfo says it is variable.
  bool allow_variable_frame_rate = true;
};

struct VideoSourceOptions {
  VideoLimits limits;
  std::uint64_t cache_bytes = 256ull << 20;  // decoded frames kept, least recently used dropped
  double fps = 0;                            // a frame directory's rate (0: unknown, reported as 0)
  int decode_threads = 0;                    // the video decoder's threads (0: automatic)
};

struct VideoInfo {
  std::string path;
  std::string format;  // the container ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...) or "directory"
  std::string codec;   // "h264", "mpeg4", "mjpeg", ... or, for a directory, the first frame's "png"/"jpeg"
  int width = 0, height = 0;
  std::int64_t frame_count = 0;  // exact: counted from the stream's packets (or the files)
  double fps = 0;                // frame_count / duration; a directory's configured rate
  bool variable_frame_rate = false;
  // Presentation time of each frame in milliseconds from the first (a directory: index / fps, or
  // all 0 when fps is 0).
  std::vector<double> timestamps_ms;
  // SHA-256 (hex) of the coded frames (every packet's bytes with the stream's parameters), or of
  // the frame files' bytes in order: with the frame index it keys frame encodings in a store.
  std::string content_id;
};

// Thread-safety: every method may be called from any thread; decoding is serialised inside.
class INPAINT_CXX_API VideoSource {
 public:
  virtual ~VideoSource();
  // A video file (FFmpeg's libavformat/libavcodec: what its build demuxes and decodes) or a
  // directory of PNG/JPEG frames (files in natural order: "f2.png" before "f10.png"; other files
  // ignored). Opening reads the stream's packets without decoding them (a video file) or the files'
  // headers (a directory) to count frames, check the limits and compute content_id.
  // Error(Io): the path cannot be read. Error(Decode): not a video, no video stream, zero frames,
  // a directory without frames or with frames of different sizes, a truncated file whose index
  // promises more than it holds. Error(TooLarge): over a limit. Error(InvalidArgument): bad
  // options, or a variable frame rate that the limits refuse.
  static std::shared_ptr<VideoSource> open(const std::string& path, const VideoSourceOptions& options = {});

  virtual const VideoInfo& info() const = 0;
  // Frame `index` (0-based, presentation order) as RGB, width x height (0 x 0: the frame's own
  // size; otherwise scaled while converting, with area averaging when shrinking), from the cache
  // when it holds it. Decoding seeks to the key frame before it and keeps the frames decoded on
  // the way in the cache, so walking backwards decodes each group of pictures once while it fits.
  // Error(InvalidArgument) for an index outside 0..frame_count-1, Error(Decode) naming the frame
  // for one that cannot be decoded (a damaged or truncated file), control's errors.
  virtual std::shared_ptr<const Image> frame(std::int64_t index, int width = 0, int height = 0,
                                             const RunControl* control = nullptr) = 0;
  virtual std::uint64_t cached_bytes() const = 0;
  virtual std::uint64_t cache_capacity() const = 0;
  // Lowers or raises the cache's capacity, dropping frames at once when it shrinks.
  virtual void set_cache_capacity(std::uint64_t bytes) = 0;
  virtual std::uint64_t frames_decoded() const = 0;  // frames the decoder has produced so far (cache misses cost)
};

// ---- the video model

// A prompt for one object on one frame, in the frame's pixels. Points and a box combine; a mask
// (one channel, the frame's size, > 127 = object) is used as the frame's result as it is and may
// not be combined with them.
struct VideoPrompt {
  std::vector<PointPrompt> points;
  std::optional<BoxPrompt> box;
  Image mask;
  // true: replaces the object's earlier prompt on this frame; false: adds these clicks to it.
  bool replace = true;
};

struct ObjectMask {
  int object_id = 0;
  Image mask;                // one channel, the frame's size, 255 = object; all 0 when absent
  MaskBox box;               // tight bounding box; empty when the mask is
  double score = 0;          // the decoder's predicted IoU, clamped to [0, 1]
  double object_score = 0;   // the presence logit: > 0 means the object is in the frame
  bool present = false;      // object_score > 0
  bool prompted = false;     // the frame holds a prompt for this object
};

// One frame's result for every object of the session (by increasing id) and what it cost.
struct FrameMasks {
  std::int64_t frame = 0;
  std::uint64_t generation = 0;      // the session generation it was computed under
  std::vector<ObjectMask> objects;
  // The frame's encoding was found (session cache or store): no encoder ran. False on a frame where
  // every object is prompted: nothing is looked up there.
  bool encoding_from_store = false;
  double read_ms = 0;                // decoding (or the frame cache) and preprocessing the frame
  double encode_ms = 0;              // the image encoder with store get/put; only the lookup when found
  double decode_ms = 0;              // the mask decoder, all objects
  double memory_ms = 0;              // the memory encoder and the bank's bookkeeping, all objects
  double postprocess_ms = 0;         // logits to full-resolution masks
  double total_ms = 0;
  // Inside the model's modules (encoder, decoder, memory encoder; already counted in the stages
  // above): total_ms - model_ms is what the library itself spent on the frame.
  double model_ms = 0;
};

enum class PropagateDirection { Forward, Backward, Both };

struct PropagateOptions {
  // The first frame; -1: the earliest prompted frame (Forward, Both) or the latest (Backward).
  std::int64_t start_frame = -1;
  PropagateDirection direction = PropagateDirection::Forward;
  // Frames to visit in each direction, the start included; 0: to the clip's end (or start).
  std::int64_t max_frames = 0;
  const RunControl* control = nullptr;  // cancel and deadline: Error(Cancelled) / Error(Timeout)
};

struct PropagateSummary {
  std::uint64_t generation = 0;  // the generation it ran under
  bool superseded = false;       // a prompt change stopped it (not an error)
  bool stopped = false;          // the callback (or a stream's consumer) asked it to stop
  std::int64_t frames = 0;       // frames delivered to the callback (a stream: to its queue, less dropped)
  std::int64_t dropped = 0;      // a stream's frames dropped by the DropOldest policy
  double wait_ms = 0;            // waiting for a propagation slot and the session
  double total_ms = 0;
};

// Bytes a session holds, for its memory cap.
struct SessionMemory {
  std::uint64_t frame_cache = 0;  // the source's decoded frames (shared sources count whole)
  std::uint64_t encodings = 0;    // the session's cache of frame encodings
  std::uint64_t memory_bank = 0;  // every object's memory entries and prompted-frame results
  std::uint64_t total = 0;
  std::uint64_t cap = 0;
};

struct VideoSessionOptions {
  int memory_frames = 7;          // N: the bank's recent (unprompted) frames per object, 1..64
  int max_prompted_frames = 16;   // prompted frames per object, 1..256 (more: Error(InvalidArgument))
  int max_objects = 16;           // 1..1024
  // Frame cache + encodings + memory bank. The frame cache and the encoding cache are sized
  // inside it: they evict; the memory bank does not, and a prompt or a propagation step that would
  // take the total over the cap fails with Error(TooLarge), naming the parts, leaving the session as
  // it was. 0: no cap.
  std::uint64_t memory_cap_bytes = 2ull << 30;
  std::uint64_t encoding_cache_bytes = 256ull << 20;  // frame encodings kept in the session (LRU)
  // Where frame encodings are also looked up and kept (shared by sessions and processes); null:
  // only the session's cache. Its failures never fail a frame (it encodes instead).
  std::shared_ptr<EncodingStore> store;
};

// Thread-safety: every method may be called from any thread. One propagation runs at a time per
// session: another propagate waits for it (honouring its control); add_prompt, remove_object and
// reset bump the generation first, so a running propagation stops within one frame, then apply.
// Called from inside this session's propagate callback they would wait for themselves: they throw
// Error(InvalidArgument) there (return false from the callback, or consume a PropagationStream).
// A session must not outlive the VideoSegmenter that opened it.
class INPAINT_CXX_API VideoSession {
 public:
  virtual ~VideoSession();
  virtual const VideoInfo& video() const = 0;
  virtual std::uint64_t generation() const = 0;
  virtual std::vector<int> objects() const = 0;  // increasing

  // Adds (or, with replace, sets) a prompt for object_id (>= 0; a new id adds an object) on
  // `frame` and returns that object's mask there. Error(InvalidArgument) for a frame outside the
  // clip, a negative id, an empty prompt, points and a mask together, a mask of another size, NaN
  // coordinates, too many objects or prompted frames; Error(TooLarge) over the memory cap.
  virtual ObjectMask add_prompt(std::int64_t frame, int object_id, const VideoPrompt& prompt,
                                const RunControl* control = nullptr) = 0;
  // Error(InvalidArgument) naming the known ids for an unknown one.
  virtual void remove_object(int object_id) = 0;
  // Forgets every object, prompt and memory entry; frame and encoding caches stay.
  virtual void reset() = 0;

  // Called once per frame, in propagation order, on the propagating thread; false stops the
  // propagation (summary.stopped). An exception from it stops the propagation and leaves
  // propagate unchanged; the session stays usable (frames already done stay in the bank).
  using FrameCallback = std::function<bool(const FrameMasks&)>;
  // Runs the objects' masks through the clip from options.start_frame (Both: forward to the end,
  // then backward from the frame before the start). Error(InvalidArgument) when there are no
  // objects, the start is outside the clip, or (start -1) nothing is prompted; Error(Timeout) when
  // no propagation slot (set_max_concurrent_propagations) freed before the control's deadline.
  virtual PropagateSummary propagate(const PropagateOptions& options, const FrameCallback& on_frame) = 0;

  virtual SessionMemory memory() const = 0;
  // Saves prompts, object ids, the memory bank and the generation into store as one encoding
  // (safetensors) under id (validate_encoding_id; "" picks a fresh random id) and returns the id.
  // While a propagation runs it saves the state as of its last completed frame (it neither waits
  // for nor disturbs it).
  virtual std::string checkpoint(EncodingStore& store, const std::string& id = "") = 0;
};

// What a stream does when its consumer falls max_pending frames behind.
enum class BackpressurePolicy {
  Wait,        // the propagation waits for the consumer: every frame is delivered
  DropOldest,  // the propagation goes on; the oldest undelivered frame is dropped and counted
};

// A propagation on its own thread, consumed frame by frame (Python's iterator, the C API's
// inpaint_propagation_next): at most max_pending results wait for the consumer. Once a prompt
// change supersedes the propagation, the producer stops waiting for room and frames still queued
// from the old generation are not delivered, so a consumer may change prompts on its own thread.
// Thread-safety: next() from one thread at a time; cancel() from any thread.
class INPAINT_CXX_API PropagationStream {
 public:
  struct Options {
    std::size_t max_pending = 4;  // K, >= 1
    BackpressurePolicy policy = BackpressurePolicy::Wait;
  };
  // Starts the propagation at once; the session must outlive the stream.
  PropagationStream(VideoSession& session, PropagateOptions propagate, Options options);
  PropagationStream(VideoSession& session, PropagateOptions propagate)
      : PropagationStream(session, propagate, Options{}) {}
  // Stops the propagation (as a consumer that stops) and waits for its thread.
  ~PropagationStream();
  PropagationStream(const PropagationStream&) = delete;
  PropagationStream& operator=(const PropagationStream&) = delete;

  // The next frame, waiting for it; nothing at the end (summary() is then final). Rethrows the
  // propagation's error once. wait_control: cancel/deadline of this wait only.
  std::optional<FrameMasks> next(const RunControl* wait_control = nullptr);
  void cancel();  // stops the propagation; next() then ends
  PropagateSummary summary() const;  // all zero until next() has ended
  std::size_t pending() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Thread-safety: a loaded video segmenter is immutable and may be shared by any number of threads
// and sessions.
class INPAINT_CXX_API VideoSegmenter {
 public:
  virtual ~VideoSegmenter();
  virtual std::string spec() const = 0;
  virtual std::string model_id() const = 0;
  virtual ModelLoadInfo load_info() const;
  virtual std::unique_ptr<VideoSession> open_session(std::shared_ptr<VideoSource> frames,
                                                     const VideoSessionOptions& options = {}) const = 0;
  // A session saved by checkpoint(). Error(InvalidArgument) when the id is not in the store, the
  // checkpoint is of another model or clip, or lacks a tensor it lists (named).
  virtual std::unique_ptr<VideoSession> resume_session(std::shared_ptr<VideoSource> frames, EncodingStore& store,
                                                       const std::string& checkpoint_id,
                                                       const VideoSessionOptions& options = {}) const = 0;
};

class INPAINT_CXX_API VideoSegmenterRegistry : public BasicRegistry<VideoSegmenter> {
 public:
  VideoSegmenterRegistry();
};

// Adds the library's video segmenters: sam2video.
INPAINT_CXX_API void register_builtin_video_segmenters(VideoSegmenterRegistry& registry);
INPAINT_CXX_API VideoSegmenterRegistry& default_video_segmenter_registry();
// "sam2video:encoder=FILE,memory_encoder=FILE,decoder=FILE[,size=1024][,device=auto][,id=NAME]
// [,mask_threshold=0]" (README, "Video model contract").
INPAINT_CXX_API std::unique_ptr<VideoSegmenter> create_video_segmenter(const std::string& spec);
INPAINT_CXX_API std::vector<ModelInfo> list_video_segmenters();

// The process-wide number of propagations that may run at once (the device's share); a
// propagation beyond it waits for a slot (its control's deadline and cancel apply, and a prompt
// change supersedes it while it waits). Default: INPAINT_MAX_PROPAGATIONS from the environment,
// else 2. 0: no limit. Error(InvalidArgument) for a negative n.
INPAINT_CXX_API void set_max_concurrent_propagations(int n);
INPAINT_CXX_API int max_concurrent_propagations();
INPAINT_CXX_API int running_propagations();

}  // namespace inpaint
