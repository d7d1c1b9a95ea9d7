// Video segmentation: frame sources, the video segmenter, sessions and their propagations (an
// iterator over a PropagationStream).
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "convert.hpp"
#include "inpaint/error.hpp"
#include "inpaint/video.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// A session and what it must not outlive: the segmenter that opened it (declared first, so
// destroyed last) and the Python source object (for .source).
struct PySession {
  std::shared_ptr<VideoSegmenter> segmenter;
  py::object source;
  std::unique_ptr<VideoSession> session;
};

struct PyObjectMask {
  int object_id = 0;
  py::object mask;
  py::object box;
  double score = 0, object_score = 0;
  bool present = false, prompted = false;
};

struct PyFrameMasks {
  std::int64_t frame = 0;
  py::list objects;
  py::dict timings;
  bool encoding_from_store = false;
};

// A propagation consumed as an iterator. The stream runs on its own thread, which never takes
// the GIL; every wait for it (next, close, the destructor's join) releases the GIL.
class PyPropagation {
 public:
  PyPropagation(std::shared_ptr<PySession> session, py::object token, const PropagateOptions& propagate,
                const PropagationStream::Options& options)
      : session_(std::move(session)), token_(std::move(token)) {
    py::gil_scoped_release release;
    stream_ = std::make_shared<PropagationStream>(*session_->session, propagate, options);
  }
  PyPropagation(const PyPropagation&) = delete;
  PyPropagation& operator=(const PyPropagation&) = delete;

  // Runs with the GIL held (Python's dealloc): close() joins without it; token_ and session_ go
  // afterwards, with the GIL held again.
  ~PyPropagation() { close(); }

  // The next frame, or nothing at the end. With the GIL held; waits without it.
  std::optional<FrameMasks> next() {
    std::shared_ptr<PropagationStream> stream = current();
    if (!stream) return std::nullopt;
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> one_at_a_time(next_mutex_);
    std::optional<FrameMasks> frame;
    try {
      frame = stream->next();
    } catch (...) {
      settle(std::move(stream));  // the error is raised once: the stream has ended
      throw;
    }
    if (!frame) settle(std::move(stream));
    return frame;
  }

  void cancel() {
    if (std::shared_ptr<PropagationStream> stream = current()) stream->cancel();
  }

  // Stops the propagation if it still runs and waits for its thread. With the GIL held.
  void close() {
    std::shared_ptr<PropagationStream> stream = current();
    if (!stream) return;
    py::gil_scoped_release release;
    stream->cancel();  // a next() waiting in another thread returns, and lets go of next_mutex_
    std::lock_guard<std::mutex> one_at_a_time(next_mutex_);
    settle(std::move(stream));
  }

  PropagateSummary summary() const {
    {
      std::lock_guard<std::mutex> lock(pointer_mutex_);
      if (final_) return *final_;
    }
    std::shared_ptr<PropagationStream> stream = current();
    return stream ? stream->summary() : PropagateSummary{};
  }

  std::size_t pending() const {
    std::shared_ptr<PropagationStream> stream = current();
    return stream ? stream->pending() : 0;
  }

  bool finished() const {
    std::lock_guard<std::mutex> lock(pointer_mutex_);
    return !stream_;
  }

 private:
  std::shared_ptr<PropagationStream> current() const {
    std::lock_guard<std::mutex> lock(pointer_mutex_);
    return stream_;
  }

  // Without the GIL, holding next_mutex_, for a stream that has ended or was cancelled: reads it
  // to its end so that the summary is final, keeps the summary, and drops the stream (the last
  // share joins its thread). Errors met here have no consumer left.
  void settle(std::shared_ptr<PropagationStream> stream) {
    {
      std::lock_guard<std::mutex> lock(pointer_mutex_);
      if (stream_ == stream) stream_.reset();
    }
    try {
      while (stream->next()) {
      }
    } catch (...) {
    }
    PropagateSummary summary = stream->summary();
    {
      std::lock_guard<std::mutex> lock(pointer_mutex_);
      if (!final_) final_ = summary;
    }
    stream.reset();
  }

  std::shared_ptr<PySession> session_;
  py::object token_;  // the CancelToken the propagation reads: outlives the stream
  mutable std::mutex pointer_mutex_;  // guards stream_ and final_
  std::shared_ptr<PropagationStream> stream_;
  std::optional<PropagateSummary> final_;
  std::mutex next_mutex_;  // one next() at a time, as PropagationStream asks
};

double finite(const py::handle& value, const std::string& what) {
  double v = value.cast<double>();
  if (!std::isfinite(v)) throw Error(ErrorCode::InvalidArgument, what + " must be finite, got " + std::to_string(v));
  return v;
}

// (x, y) or (x, y, label) with label 1 (the object) or 0 (background).
PointPrompt point_of(const py::handle& item, std::size_t index) {
  const std::string what = "points[" + std::to_string(index) + "]";
  if (!py::isinstance<py::sequence>(item) || py::isinstance<py::str>(item))
    throw Error(ErrorCode::InvalidArgument, what + " must be (x, y) or (x, y, label)");
  auto seq = py::reinterpret_borrow<py::sequence>(item);
  if (seq.size() != 2 && seq.size() != 3)
    throw Error(ErrorCode::InvalidArgument, what + " must be (x, y) or (x, y, label), got " +
                                                std::to_string(seq.size()) + " values");
  PointPrompt p{finite(seq[0], what + ".x"), finite(seq[1], what + ".y"), true};
  if (seq.size() == 3) {
    int label = seq[2].cast<int>();
    if (label != 0 && label != 1)
      throw Error(ErrorCode::InvalidArgument,
                  what + ": label must be 1 (object) or 0 (background), got " + std::to_string(label));
    p.positive = label == 1;
  }
  return p;
}

py::object box_tuple(const MaskBox& box) {
  if (box.empty()) return py::none();
  return py::make_tuple(box.x, box.y, box.width, box.height);
}

PyObjectMask object_mask(ObjectMask&& m) {
  PyObjectMask out;
  out.object_id = m.object_id;
  out.box = box_tuple(m.box);
  out.mask = to_array_or_none(std::move(m.mask));
  out.score = m.score;
  out.object_score = m.object_score;
  out.present = m.present;
  out.prompted = m.prompted;
  return out;
}

PyFrameMasks frame_masks(FrameMasks&& f) {
  PyFrameMasks out;
  out.frame = f.frame;
  out.encoding_from_store = f.encoding_from_store;
  for (ObjectMask& m : f.objects) out.objects.append(py::cast(object_mask(std::move(m))));
  out.timings["read"] = f.read_ms;
  out.timings["encode"] = f.encode_ms;
  out.timings["decode"] = f.decode_ms;
  out.timings["memory"] = f.memory_ms;
  out.timings["postprocess"] = f.postprocess_ms;
  out.timings["total"] = f.total_ms;
  out.timings["model"] = f.model_ms;
  return out;
}

PropagateDirection direction_of(const std::string& name) {
  if (name == "forward") return PropagateDirection::Forward;
  if (name == "backward") return PropagateDirection::Backward;
  if (name == "both") return PropagateDirection::Both;
  throw Error(ErrorCode::InvalidArgument, "direction '" + name + "' is not one of forward, backward, both");
}

BackpressurePolicy policy_of(const std::string& name) {
  if (name == "wait") return BackpressurePolicy::Wait;
  if (name == "drop_oldest") return BackpressurePolicy::DropOldest;
  throw Error(ErrorCode::InvalidArgument, "policy '" + name + "' is not one of wait, drop_oldest");
}

// A share of a Python Store for a session: the Store object stays alive while the session holds
// the share. The last share may go on any thread, so the release takes the GIL.
std::shared_ptr<EncodingStore> shared_store(const py::object& store, const char* argument) {
  if (store.is_none()) return nullptr;
  if (!py::isinstance<EncodingStore>(store))
    throw py::type_error(std::string(argument) + " must be an inpaint.Store or None, got " + std::string(py::repr(store)));
  auto* held = new py::object(store);
  return std::shared_ptr<EncodingStore>(store.cast<EncodingStore*>(), [held](EncodingStore*) {
    py::gil_scoped_acquire gil;
    delete held;
  });
}

VideoSessionOptions session_options(int memory_frames, int max_prompted_frames, int max_objects,
                                    std::uint64_t memory_cap_bytes, std::uint64_t encoding_cache_bytes,
                                    const py::object& store, const char* store_argument) {
  VideoSessionOptions o;
  o.memory_frames = memory_frames;
  o.max_prompted_frames = max_prompted_frames;
  o.max_objects = max_objects;
  o.memory_cap_bytes = memory_cap_bytes;
  o.encoding_cache_bytes = encoding_cache_bytes;
  o.store = shared_store(store, store_argument);
  return o;
}

std::shared_ptr<PySession> new_session(const std::shared_ptr<VideoSegmenter>& segmenter, const py::object& source,
                                       std::unique_ptr<VideoSession> session) {
  auto out = std::make_shared<PySession>();
  out->segmenter = segmenter;
  out->source = source;
  out->session = std::move(session);
  return out;
}

py::dict memory_dict(const SessionMemory& m) {
  py::dict d;
  d["frame_cache"] = m.frame_cache;
  d["encodings"] = m.encodings;
  d["memory_bank"] = m.memory_bank;
  d["total"] = m.total;
  d["cap"] = m.cap;
  return d;
}

std::string repr_summary(const PropagateSummary& s) {
  return "PropagateSummary(generation=" + std::to_string(s.generation) +
         ", superseded=" + (s.superseded ? "True" : "False") + ", stopped=" + (s.stopped ? "True" : "False") +
         ", frames=" + std::to_string(s.frames) + ", dropped=" + std::to_string(s.dropped) + ")";
}

const char* const kSessionOptionsDoc =
    "  memory_frames=7: recent (unprompted) frames in each object's memory, 1..64\n"
    "  max_prompted_frames=16: prompted frames per object, 1..256\n"
    "  max_objects=16: 1..1024\n"
    "  memory_cap_bytes=2 GiB: frame cache + encodings + memory bank (0: no cap); a prompt or a\n"
    "    propagation step that would pass it raises TooLargeError and leaves the session as it was\n"
    "  encoding_cache_bytes=256 MiB: frame encodings kept in the session (LRU)\n";

}  // namespace

void bind_video(py::module_& m) {
  m.def(
      "video_segmenters", [] { return model_infos(list_video_segmenters()); },
      "The video segmenters, sorted by name, as ModelInfo: (name, description) tuples with .keys.");
  m.def(
      "set_max_concurrent_propagations", [](int n) { set_max_concurrent_propagations(n); }, py::arg("n"),
      "How many propagations may run at once in this process (0: no limit); one beyond it waits for a\n"
      "slot (its cancel token's deadline applies). Default: $INPAINT_MAX_PROPAGATIONS, else 2.");
  m.def("max_concurrent_propagations", &max_concurrent_propagations,
        "The process-wide limit set_max_concurrent_propagations() sets (0: none).");
  m.def("running_propagations", &running_propagations, "Propagations running now in this process.");

  py::class_<VideoInfo>(m, "VideoInfo", "What a video source holds (VideoSource.info, VideoSession.video).")
      .def_readonly("path", &VideoInfo::path)
      .def_readonly("format", &VideoInfo::format, "The container ('mov,mp4,m4a,3gp,3g2,mj2', ...) or 'directory'.")
      .def_readonly("codec", &VideoInfo::codec, "'h264', 'mpeg4', ...; a directory: its first frame's 'png' or 'jpeg'.")
      .def_readonly("width", &VideoInfo::width)
      .def_readonly("height", &VideoInfo::height)
      .def_readonly("frame_count", &VideoInfo::frame_count, "Exact: counted from the packets (or the files).")
      .def_readonly("fps", &VideoInfo::fps, "frame_count / duration; a directory: the fps it was opened with.")
      .def_readonly("variable_frame_rate", &VideoInfo::variable_frame_rate)
      .def_readonly("timestamps_ms", &VideoInfo::timestamps_ms,
                    "Each frame's presentation time in ms from the first (a directory: index / fps).")
      .def_readonly("content_id", &VideoInfo::content_id,
                    "Hex SHA-256 of the coded frames (or of the frame files): keys frame encodings in a store.")
      .def("__repr__", [](const VideoInfo& i) {
        return "VideoInfo(" + std::to_string(i.width) + "x" + std::to_string(i.height) + ", frames=" +
               std::to_string(i.frame_count) + ", fps=" + std::to_string(i.fps) + ", format='" + i.format +
               "', codec='" + i.codec + "')";
      });

  py::class_<VideoSource, std::shared_ptr<VideoSource>>(
      m, "VideoSource", py::is_final(),
      "Frames of a video file (what the library's FFmpeg decodes) or of a directory of PNG/JPEG\n"
      "frames (natural order: f2.png before f10.png), decoded on demand into an LRU cache. Any\n"
      "threads may share one; calls release the GIL.")
      .def(py::init([](const std::filesystem::path& path, std::int64_t max_pixels, std::int64_t max_frames,
                       bool allow_variable_frame_rate, std::uint64_t cache_bytes, double fps, int decode_threads) {
             VideoSourceOptions o;
             o.limits.max_pixels = max_pixels;
             o.limits.max_frames = max_frames;
             o.limits.allow_variable_frame_rate = allow_variable_frame_rate;
             o.cache_bytes = cache_bytes;
             o.fps = fps;
             o.decode_threads = decode_threads;
             std::string text = path.string();
             return without_gil([&] { return VideoSource::open(text, o); });
           }),
           py::arg("path"), py::kw_only(), py::arg("max_pixels") = VideoLimits{}.max_pixels,
           py::arg("max_frames") = VideoLimits{}.max_frames,
           py::arg("allow_variable_frame_rate") = VideoLimits{}.allow_variable_frame_rate,
           py::arg("cache_bytes") = VideoSourceOptions{}.cache_bytes, py::arg("fps") = VideoSourceOptions{}.fps,
           py::arg("decode_threads") = VideoSourceOptions{}.decode_threads,
           "Opens a clip: counts its frames (no decoding), checks the limits and hashes it.\n"
           "  max_pixels, max_frames: limits checked before any frame is decoded (TooLargeError)\n"
           "  allow_variable_frame_rate=True: False refuses a file whose frame durations vary\n"
           "  cache_bytes: decoded frames kept; fps: a frame directory's rate (0: unknown)\n"
           "  decode_threads=0: the decoder's threads (0: automatic)\n"
           "Raises FileError when path cannot be read, DecodeError for something that is not a video\n"
           "(or is truncated, has zero frames, or a directory without frames or of mixed sizes).")
      .def_property_readonly("info", &VideoSource::info, py::return_value_policy::copy, "The clip's VideoInfo.")
      .def("__len__", [](const VideoSource& s) { return s.info().frame_count; })
      .def(
          "frame",
          [](VideoSource& s, std::int64_t index, int width, int height, const py::object& cancel) {
            const RunControl* control = cancel_token(cancel, "frame");
            auto frame = without_gil([&] { return s.frame(index, width, height, control); });
            // A read-only view of the cached frame, which the capsule keeps alive (no copy).
            auto* owner = new std::shared_ptr<const Image>(std::move(frame));
            py::capsule capsule(owner, [](void* p) { delete static_cast<std::shared_ptr<const Image>*>(p); });
            const Image& image = **owner;
            py::array array(py::dtype::of<std::uint8_t>(),
                            {py::ssize_t(image.height()), py::ssize_t(image.width()), py::ssize_t(image.channels())},
                            {}, image.data(), capsule);
            py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
            return array;
          },
          py::arg("index"), py::arg("width") = 0, py::arg("height") = 0, py::arg("cancel") = py::none(),
          "Frame `index` (0-based) as uint8 RGB (height, width, 3): a read-only view of the cached\n"
          "frame (copy it to draw on it). width x height other than 0 x 0 scales it while converting.\n"
          "InvalidArgumentError for an index outside the clip, DecodeError for a damaged frame.")
      .def_property_readonly("cached_bytes", &VideoSource::cached_bytes, "Bytes of decoded frames held now.")
      .def_property(
          "cache_capacity", &VideoSource::cache_capacity,
          [](VideoSource& s, std::uint64_t bytes) { without_gil([&] { s.set_cache_capacity(bytes); }); },
          "The cache's bound in bytes; lowering it drops frames at once.")
      .def("__repr__", [](const VideoSource& s) {
        return "inpaint.VideoSource(" + std::string(py::repr(py::str(s.info().path))) + ")";
      });

  py::class_<PyObjectMask>(m, "ObjectMask", "One object's mask on one frame.")
      .def_readonly("object_id", &PyObjectMask::object_id)
      .def_readonly("mask", &PyObjectMask::mask, "uint8 (height, width) at the frame's size, 255 = object; all 0 when absent.")
      .def_readonly("box", &PyObjectMask::box, "(x, y, width, height) of the mask's pixels, or None when it is empty.")
      .def_readonly("score", &PyObjectMask::score, "The decoder's predicted IoU, in [0, 1].")
      .def_readonly("object_score", &PyObjectMask::object_score, "The presence logit: > 0 means the object is in the frame.")
      .def_readonly("present", &PyObjectMask::present, "object_score > 0.")
      .def_readonly("prompted", &PyObjectMask::prompted, "The frame holds a prompt for this object.")
      .def("__repr__", [](const PyObjectMask& o) {
        return "ObjectMask(object_id=" + std::to_string(o.object_id) + ", score=" + std::to_string(o.score) +
               ", present=" + (o.present ? "True" : "False") + ", box=" + std::string(py::repr(o.box)) + ")";
      });

  py::class_<PyFrameMasks>(m, "FrameMasks", "One frame of a propagation: every object's mask and what it cost.")
      .def_readonly("frame", &PyFrameMasks::frame)
      .def_readonly("objects", &PyFrameMasks::objects, "ObjectMask list, by increasing object id.")
      .def_readonly("timings", &PyFrameMasks::timings,
                    "Milliseconds: {'read', 'encode', 'decode', 'memory', 'postprocess', 'total', 'model'};\n"
                    "model: inside the model's modules (already counted in the stages).")
      .def_readonly("encoding_from_store", &PyFrameMasks::encoding_from_store,
                    "The frame's encoding was found in the session's cache or store: no encoder ran.")
      .def("__repr__", [](const PyFrameMasks& f) {
        return "FrameMasks(frame=" + std::to_string(f.frame) + ", objects=" + std::to_string(f.objects.size()) + ")";
      });

  py::class_<PropagateSummary>(m, "PropagateSummary", "How a propagation ran (Propagation.summary).")
      .def_readonly("generation", &PropagateSummary::generation, "The session's generation it ran under.")
      .def_readonly("superseded", &PropagateSummary::superseded, "A prompt change stopped it (not an error).")
      .def_readonly("stopped", &PropagateSummary::stopped, "The consumer stopped it (break, close(), cancel()).")
      .def_readonly("frames", &PropagateSummary::frames, "Frames delivered.")
      .def_readonly("dropped", &PropagateSummary::dropped, "Frames dropped by policy='drop_oldest'.")
      .def_readonly("wait_ms", &PropagateSummary::wait_ms, "Waiting for a propagation slot and for the session.")
      .def_readonly("total_ms", &PropagateSummary::total_ms)
      .def("__repr__", &repr_summary);

  py::class_<PyPropagation, std::shared_ptr<PyPropagation>>(
      m, "Propagation",
      "An iterator of FrameMasks from a propagation running on its own thread (VideoSession.propagate).\n"
      "Waiting for a frame releases the GIL. Leaving the loop early (break, an exception) or close()\n"
      "stops the propagation and waits for its thread; the session stays usable. A context manager.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__",
           [](PyPropagation& p) {
             std::optional<FrameMasks> frame = p.next();
             if (!frame) throw py::stop_iteration();
             return frame_masks(std::move(*frame));
           })
      .def("cancel", &PyPropagation::cancel,
           "Stops the propagation from any thread; the iteration then ends (summary.stopped).")
      .def("close", &PyPropagation::close, "Stops the propagation if it runs and waits for its thread.")
      .def_property_readonly("summary", &PyPropagation::summary,
                             "The PropagateSummary: final once the iteration has ended or close() returned; zeros while\n"
                             "the propagation runs.")
      .def_property_readonly("pending", &PyPropagation::pending, "Frames produced and waiting for the consumer now.")
      .def_property_readonly("finished", &PyPropagation::finished, "The iteration has ended (or close() was called).")
      .def("__enter__", [](py::object self) { return self; })
      .def(
          "__exit__",
          [](PyPropagation& p, const py::object&, const py::object&, const py::object&) {
            p.close();
            return false;
          },
          py::arg("exc_type"), py::arg("exc_value"), py::arg("traceback"));

  // Declared before the session, whose .segmenter returns one; its methods follow the session's.
  py::class_<VideoSegmenter, std::shared_ptr<VideoSegmenter>> segmenter_class(
      m, "VideoSegmenter", py::is_final(),
      "A SAM2-style video model (an image encoder, a memory encoder and a mask decoder). Immutable:\n"
      "any threads and sessions may share one.");

  py::class_<PySession, std::shared_ptr<PySession>>(
      m, "VideoSession",
      "The objects of one clip (their prompts and memory bank) and the propagations of their masks\n"
      "through it. Every prompt change bumps the generation; a propagation of an older generation\n"
      "stops before its next frame (summary.superseded). Any threads may call a session; one\n"
      "propagation runs at a time (another waits for it). Made by VideoSegmenter.open_session().")
      .def_property_readonly("video", [](const PySession& s) { return s.session->video(); }, "The clip's VideoInfo.")
      .def_property_readonly("source", [](const PySession& s) { return s.source; }, "The VideoSource it was opened on.")
      .def_property_readonly("segmenter", [](const PySession& s) { return s.segmenter; }, "The VideoSegmenter.")
      .def_property_readonly("generation", [](const PySession& s) { return s.session->generation(); },
                             "Bumped by every add_prompt, remove_object and reset.")
      .def_property_readonly("objects", [](const PySession& s) { return s.session->objects(); },
                             "The object ids, increasing.")
      .def(
          "add_prompt",
          [](PySession& s, std::int64_t frame, int object_id, const std::optional<py::sequence>& points,
             const std::optional<std::vector<double>>& box, const std::optional<py::array>& mask, bool replace,
             const py::object& cancel) {
            VideoPrompt prompt;
            if (points)
              for (std::size_t i = 0; i < points->size(); ++i) prompt.points.push_back(point_of((*points)[i], i));
            if (box) {
              if (box->size() != 4) throw Error(ErrorCode::InvalidArgument, "box must be (x0, y0, x1, y1)");
              for (double v : *box)
                if (!std::isfinite(v)) throw Error(ErrorCode::InvalidArgument, "box values must be finite");
              prompt.box = BoxPrompt{(*box)[0], (*box)[1], (*box)[2], (*box)[3]};
            }
            if (mask) prompt.mask = Image::copy_of(image_view(*mask, "mask", Pixels::Mask));
            prompt.replace = replace;
            const RunControl* control = cancel_token(cancel, "add_prompt");
            ObjectMask result = without_gil([&] { return s.session->add_prompt(frame, object_id, prompt, control); });
            return object_mask(std::move(result));
          },
          py::arg("frame"), py::arg("object_id"), py::kw_only(), py::arg("points") = py::none(),
          py::arg("box") = py::none(), py::arg("mask") = py::none(), py::arg("replace") = true,
          py::arg("cancel") = py::none(),
          "Prompts object_id (>= 0; a new id adds an object) on `frame` and returns its ObjectMask there.\n"
          "  points=[(x, y), (x, y, 0), ...]: clicks in frame pixels, label 1 object (default), 0 background\n"
          "  box=(x0, y0, x1, y1); points and a box combine\n"
          "  mask: uint8 (height, width) of the frame's size, > 127 = object, used as it is (not with points)\n"
          "  replace=True: replaces the object's earlier prompt on this frame; False adds these clicks\n"
          "A running propagation stops before its next frame (superseded). InvalidArgumentError for a frame\n"
          "outside the clip, an empty prompt, too many objects or prompted frames; TooLargeError over the\n"
          "memory cap; the session is then unchanged.")
      .def(
          "remove_object", [](PySession& s, int object_id) { without_gil([&] { s.session->remove_object(object_id); }); },
          py::arg("object_id"), "Forgets one object; InvalidArgumentError naming the known ids for an unknown one.")
      .def(
          "reset", [](PySession& s) { without_gil([&] { s.session->reset(); }); },
          "Forgets every object, prompt and memory entry (the frame and encoding caches stay).")
      .def(
          "memory", [](const PySession& s) { return memory_dict(without_gil([&] { return s.session->memory(); })); },
          "Bytes held: {'frame_cache', 'encodings', 'memory_bank', 'total', 'cap'}.")
      .def(
          "checkpoint",
          [](PySession& s, EncodingStore& store, const std::string& id) {
            return without_gil([&] { return s.session->checkpoint(store, id); });
          },
          py::arg("store"), py::arg("id") = "",
          "Saves prompts, objects, the memory bank and the generation into store under id ('' picks a\n"
          "fresh random id) and returns the id; VideoSegmenter.resume_session() opens it again, also\n"
          "in another process. Waits for a running propagation (without superseding it).")
      .def(
          "propagate",
          [](py::object self, std::int64_t start_frame, const std::string& direction, std::int64_t max_frames,
             std::size_t max_pending, const std::string& policy, const py::object& cancel) {
            auto session = self.cast<std::shared_ptr<PySession>>();
            PropagateOptions propagate;
            propagate.start_frame = start_frame;
            propagate.direction = direction_of(direction);
            propagate.max_frames = max_frames;
            propagate.control = cancel_token(cancel, "propagate");
            PropagationStream::Options options;
            if (max_pending < 1) throw Error(ErrorCode::InvalidArgument, "max_pending must be at least 1, got 0");
            options.max_pending = max_pending;
            options.policy = policy_of(policy);
            return std::make_shared<PyPropagation>(std::move(session), cancel, propagate, options);
          },
          py::arg("start_frame") = -1, py::arg("direction") = "forward", py::arg("max_frames") = 0, py::kw_only(),
          py::arg("max_pending") = 4, py::arg("policy") = "wait", py::arg("cancel") = py::none(),
          "Starts propagating the objects' masks through the clip on a thread of its own and returns\n"
          "a Propagation: iterate it for FrameMasks, in propagation order.\n"
          "  start_frame=-1: the earliest prompted frame (forward, both) or the latest (backward)\n"
          "  direction='forward' | 'backward' | 'both' (forward to the end, then backward from start - 1)\n"
          "  max_frames=0: frames in each direction, the start included (0: to the clip's end)\n"
          "  max_pending=4: results that may wait for the consumer\n"
          "  policy='wait' (the propagation waits for a slow consumer) | 'drop_oldest' (it goes on;\n"
          "    the oldest waiting frame is dropped and counted in summary.dropped)\n"
          "  cancel=None: a CancelToken; its cancel() or timeout raises CancelledError or\n"
          "    WaitTimeoutError from the iteration\n"
          "Errors of the propagation (no objects, nothing prompted) are raised by the first next().")
      .def("__repr__", [](const PySession& s) {
        return "inpaint.VideoSession(" + std::string(py::repr(py::str(s.session->video().path))) +
               ", objects=" + std::to_string(s.session->objects().size()) + ")";
      });

  segmenter_class
      .def(py::init([](const std::string& spec) {
             return without_gil([&] { return std::shared_ptr<VideoSegmenter>(create_video_segmenter(spec)); });
           }),
           py::arg("spec"),
           "Loads 'sam2video:encoder=FILE,memory_encoder=FILE,decoder=FILE[,size=1024][,device=auto]\n"
           "[,id=NAME][,mask_threshold=0]' (see video_segmenters()).")
      .def_property_readonly("spec", &VideoSegmenter::spec, "The canonical spec.")
      .def_property_readonly("model_id", &VideoSegmenter::model_id, "What checkpoints and stored frame encodings are keyed by.")
      .def_property_readonly("load_info", [](const VideoSegmenter& s) { return load_info_dict(s.load_info()); },
                             "{'device', 'load_ms', 'warmup_ms', 'backend_ms', 'weight_bytes'}.")
      .def(
          "open_session",
          [](const std::shared_ptr<VideoSegmenter>& self, const py::object& source, int memory_frames,
             int max_prompted_frames, int max_objects, std::uint64_t memory_cap_bytes,
             std::uint64_t encoding_cache_bytes, const py::object& store) {
            auto frames = source.cast<std::shared_ptr<VideoSource>>();
            VideoSessionOptions options = session_options(memory_frames, max_prompted_frames, max_objects,
                                                          memory_cap_bytes, encoding_cache_bytes, store, "store");
            auto session = without_gil([&] { return self->open_session(frames, options); });
            return new_session(self, source, std::move(session));
          },
          py::arg("source"), py::kw_only(), py::arg("memory_frames") = VideoSessionOptions{}.memory_frames,
          py::arg("max_prompted_frames") = VideoSessionOptions{}.max_prompted_frames,
          py::arg("max_objects") = VideoSessionOptions{}.max_objects,
          py::arg("memory_cap_bytes") = VideoSessionOptions{}.memory_cap_bytes,
          py::arg("encoding_cache_bytes") = VideoSessionOptions{}.encoding_cache_bytes, py::arg("store") = py::none(),
          (std::string("A VideoSession on a VideoSource (the session keeps both alive).\n") + kSessionOptionsDoc +
           "  store=None: a Store where frame encodings are also looked up and kept (shared by sessions\n"
           "    and processes); its failures never fail a frame")
              .c_str())
      .def(
          "resume_session",
          [](const std::shared_ptr<VideoSegmenter>& self, const py::object& source, EncodingStore& store,
             const std::string& checkpoint_id, int memory_frames, int max_prompted_frames, int max_objects,
             std::uint64_t memory_cap_bytes, std::uint64_t encoding_cache_bytes, const py::object& encoding_store) {
            auto frames = source.cast<std::shared_ptr<VideoSource>>();
            VideoSessionOptions options =
                session_options(memory_frames, max_prompted_frames, max_objects, memory_cap_bytes,
                                encoding_cache_bytes, encoding_store, "encoding_store");
            auto session = without_gil([&] { return self->resume_session(frames, store, checkpoint_id, options); });
            return new_session(self, source, std::move(session));
          },
          py::arg("source"), py::arg("store"), py::arg("checkpoint_id"), py::kw_only(),
          py::arg("memory_frames") = VideoSessionOptions{}.memory_frames,
          py::arg("max_prompted_frames") = VideoSessionOptions{}.max_prompted_frames,
          py::arg("max_objects") = VideoSessionOptions{}.max_objects,
          py::arg("memory_cap_bytes") = VideoSessionOptions{}.memory_cap_bytes,
          py::arg("encoding_cache_bytes") = VideoSessionOptions{}.encoding_cache_bytes,
          py::arg("encoding_store") = py::none(),
          (std::string("The session VideoSession.checkpoint() saved in store under checkpoint_id, on the same\n"
                       "clip. InvalidArgumentError when the id is not there, the checkpoint is of another model\n"
                       "or clip, or lacks a tensor it lists.\n") +
           kSessionOptionsDoc + "  encoding_store=None: as open_session()'s store")
              .c_str())
      .def("__repr__", [](const VideoSegmenter& s) {
        return "inpaint.VideoSegmenter(" + std::string(py::repr(py::str(s.spec()))) + ")";
      });
}

}  // namespace inpaint::python
