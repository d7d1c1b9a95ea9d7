// What video sessions share whatever model runs them: the video segmenter registry, the
// process-wide propagation slots and PropagationStream (a propagation on its own thread with
// back-pressure). The sam2video sessions themselves live in the torch backend (video_sam2.cpp).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "inpaint/error.hpp"
#include "inpaint/video.hpp"
#include "segment/builtin.hpp"
#include "video/propagation.hpp"

namespace inpaint {

VideoSession::~VideoSession() = default;
VideoSegmenter::~VideoSegmenter() = default;
ModelLoadInfo VideoSegmenter::load_info() const { return {}; }

VideoSegmenterRegistry::VideoSegmenterRegistry() : BasicRegistry<VideoSegmenter>("video segmenter") {}

void register_builtin_video_segmenters(VideoSegmenterRegistry& registry) {
  // Declared here, not by the backend, so that listing and key checks need no LibTorch.
  registry.add("sam2video", "a SAM2-style video model: TorchScript image encoder, memory encoder and decoder",
               {{"encoder", "the image encoder module file (required)"},
                {"memory_encoder", "the memory encoder module file (required)"},
                {"decoder", "the memory-conditioned mask decoder module file (required)"},
                {"size", "the encoder's square input side in px, multiple of 16, 64..4096 (1024)"},
                {"device", "cpu|cuda|cuda:N|auto (auto)"},
                {"id", "the model id that keys stored frame encodings and checkpoints (default: from the files' SHA-256)"},
                {"mask_threshold", "logit above which a pixel is object (0)"}},
               detail::make_sam2video_segmenter);
}

VideoSegmenterRegistry& default_video_segmenter_registry() {
  static VideoSegmenterRegistry* registry = [] {
    auto* r = new VideoSegmenterRegistry;  // never destroyed, like the other registries
    register_builtin_video_segmenters(*r);
    return r;
  }();
  return *registry;
}

std::unique_ptr<VideoSegmenter> create_video_segmenter(const std::string& spec) {
  return default_video_segmenter_registry().create(spec);
}

std::vector<ModelInfo> list_video_segmenters() { return default_video_segmenter_registry().list(); }

// ---- propagation slots

namespace {

struct Slots {
  std::mutex mutex;
  std::condition_variable freed;
  int limit = 2;
  int running = 0;

  Slots() {
    if (const char* env = std::getenv("INPAINT_MAX_PROPAGATIONS")) {
      char* end = nullptr;
      long n = std::strtol(env, &end, 10);
      // A malformed value keeps the default rather than failing every propagation.
      if (end != env && *end == '\0' && n >= 0 && n <= 1'000'000) limit = int(n);
    }
  }
};

Slots& slots() {
  static Slots* s = new Slots;  // never destroyed: streams may still finish during exit
  return *s;
}

}  // namespace

void set_max_concurrent_propagations(int n) {
  if (n < 0) throw Error(ErrorCode::InvalidArgument, "max concurrent propagations must be >= 0 (0: no limit), got " + std::to_string(n));
  Slots& s = slots();
  {
    std::lock_guard lock(s.mutex);
    s.limit = n;
  }
  s.freed.notify_all();
}

int max_concurrent_propagations() {
  Slots& s = slots();
  std::lock_guard lock(s.mutex);
  return s.limit;
}

int running_propagations() {
  Slots& s = slots();
  std::lock_guard lock(s.mutex);
  return s.running;
}

namespace detail {

PropagationSlot::PropagationSlot(const RunControl* control, const std::function<bool()>& superseded) {
  Slots& s = slots();
  std::unique_lock lock(s.mutex);
  while (s.limit != 0 && s.running >= s.limit) {
    // Polled: cancel and supersede come from other threads without a notification here.
    s.freed.wait_for(lock, std::chrono::milliseconds(5));
    if (superseded && superseded()) return;
    if (control) {
      lock.unlock();
      control->check("waiting for a propagation slot");
      lock.lock();
    }
  }
  ++s.running;
  held_ = true;
}

PropagationSlot::~PropagationSlot() {
  if (!held_) return;
  Slots& s = slots();
  {
    std::lock_guard lock(s.mutex);
    --s.running;
  }
  s.freed.notify_one();
}

}  // namespace detail

// ---- PropagationStream

struct PropagationStream::State {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<FrameMasks> pending;
  Options options;
  VideoSession* session = nullptr;
  RunControl control;  // follows the caller's; cancel() stops the propagation through it
  bool cancelled = false;
  bool done = false;
  std::exception_ptr error;
  PropagateSummary summary;
  std::int64_t dropped = 0;
  std::thread thread;
};

PropagationStream::PropagationStream(VideoSession& session, PropagateOptions propagate, Options options)
    : state_(std::make_shared<State>()) {
  if (options.max_pending < 1) throw Error(ErrorCode::InvalidArgument, "propagation stream: max_pending must be >= 1");
  state_->options = options;
  state_->session = &session;
  state_->control.follow(propagate.control);
  propagate.control = &state_->control;
  State* s = state_.get();
  s->thread = std::thread([s, &session, propagate] {
    auto deliver = [s](const FrameMasks& frame) {
      // A prompt change supersedes this frame: the session stops before the next one. Polled,
      // since the change comes from elsewhere (possibly the consumer's own thread, which then
      // waits for this propagation to end).
      auto stale = [s, &frame] { return s->session->generation() != frame.generation; };
      std::unique_lock lock(s->mutex);
      if (s->options.policy == BackpressurePolicy::Wait) {
        while (!s->cancelled && s->pending.size() >= s->options.max_pending && !stale())
          s->changed.wait_for(lock, std::chrono::milliseconds(5));
        if (stale()) return true;
      } else if (s->pending.size() >= s->options.max_pending) {
        s->pending.pop_front();
        ++s->dropped;
      }
      if (s->cancelled) return false;
      s->pending.push_back(frame);
      s->changed.notify_all();
      return true;
    };
    PropagateSummary summary;
    std::exception_ptr error;
    try {
      summary = session.propagate(propagate, deliver);
    } catch (const Error& e) {
      // A cancel by the consumer is how a stream ends early, not a failure of it.
      bool consumer_cancel = false;
      {
        std::lock_guard lock(s->mutex);
        consumer_cancel = s->cancelled && e.code() == ErrorCode::Cancelled;
      }
      if (consumer_cancel) summary.stopped = true;
      else error = std::current_exception();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(s->mutex);
    summary.dropped = s->dropped;
    summary.frames -= s->dropped;  // delivered to the consumer's queue, minus what it never saw
    s->summary = summary;
    s->error = error;
    s->done = true;
    s->changed.notify_all();
  });
}

PropagationStream::~PropagationStream() {
  cancel();
  if (state_->thread.joinable()) state_->thread.join();
}

void PropagationStream::cancel() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->done) return;
    state_->cancelled = true;
  }
  state_->control.cancel();
  state_->changed.notify_all();
}

std::optional<FrameMasks> PropagationStream::next(const RunControl* wait_control) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  // Frames of a superseded generation are not delivered.
  auto drop_stale = [&s] {
    const std::uint64_t now = s.session->generation();
    bool dropped = false;
    while (!s.pending.empty() && s.pending.front().generation != now) {
      s.pending.pop_front();
      dropped = true;
    }
    if (dropped) s.changed.notify_all();
  };
  drop_stale();
  while (s.pending.empty() && !s.done) {
    if (wait_control) {
      s.changed.wait_for(lock, std::chrono::milliseconds(10));
      lock.unlock();
      wait_control->check("waiting for the next propagated frame");
      lock.lock();
    } else {
      s.changed.wait_for(lock, std::chrono::milliseconds(50));
    }
    drop_stale();
  }
  if (!s.pending.empty()) {
    FrameMasks frame = std::move(s.pending.front());
    s.pending.pop_front();
    s.changed.notify_all();
    return frame;
  }
  if (s.error) {
    std::exception_ptr error = s.error;
    s.error = nullptr;  // rethrown once
    std::rethrow_exception(error);
  }
  return std::nullopt;
}

PropagateSummary PropagationStream::summary() const {
  std::lock_guard lock(state_->mutex);
  return state_->summary;
}

std::size_t PropagationStream::pending() const {
  std::lock_guard lock(state_->mutex);
  return state_->pending.size();
}

}  // namespace inpaint
