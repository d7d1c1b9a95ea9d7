#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/image.hpp"

namespace inpaint {

// Stops a run from outside: a cancel flag and a deadline, checked between pipeline stages and
// between iterations of iterative models (and before a model waits for a free slot).
// Thread-safety: cancel() may be called from any thread, and from a signal handler (it only
// stores a lock-free atomic); the checks from any thread. Set the deadline and progress before
// the run starts. One control may serve several runs: cancelling stops them all.
class INPAINT_CXX_API RunControl {
 public:
  using Clock = std::chrono::steady_clock;

  void cancel() noexcept { cancelled_.store(true); }
  // True after cancel() here or on the followed control.
  bool cancelled() const noexcept { return cancelled_.load() || (follows_ && follows_->cancelled()); }
  void set_deadline(Clock::time_point deadline) noexcept;
  void set_timeout(std::chrono::milliseconds timeout) noexcept;  // deadline = now + timeout
  bool has_deadline() const noexcept;
  // The earlier of this control's and the followed control's; Clock::time_point::max() when none is set.
  Clock::time_point deadline() const noexcept;
  // Makes the cancel flag and deadline of `other` stop runs under this control too, so that one
  // run can add its own progress callback to a control that other runs share (Python's
  // progress= beside a CancelToken). Set before the run; `other` must outlive the runs.
  void follow(const RunControl* other) noexcept { follows_ = other; }
  // Throws Error(Cancelled) when cancelled, Error(Timeout) when the deadline has passed; the
  // message names `stage`.
  void check(const char* stage) const;
  // check(), then the progress callback with the fraction done (0..1]; false from it stops the
  // run with Error(Cancelled).
  void report(const char* stage, double fraction) const;

  // Iterative models report the fraction done after each iteration. Called on the thread that
  // runs the model. With the Crop strategy each region reports 0..1 anew.
  std::function<bool(double)> progress;

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<std::int64_t> deadline_ns_{INT64_MAX};  // steady_clock nanoseconds since epoch
  const RunControl* follows_ = nullptr;
};

// Checks control when there is one (see RunControl::check).
inline void check_run(const RunControl* control, const char* stage) {
  if (control) control->check(stage);
}

struct InpaintRequest {
  ImageView image;     // RGB
  ImageView mask;      // one channel, 255 = hole, 0 = keep, same size as image
  std::string prompt;  // used by prompt-conditioned models, ignored by the others
  // Cancel flag, deadline and progress of this run; nullptr: it runs to the end.
  const RunControl* control = nullptr;
};

// What loading a model cost and where it runs. Models without such costs report zeros.
struct ModelLoadInfo {
  std::string device = "cpu";  // where it runs, e.g. "cpu", "cuda:0" (auto resolved)
  double load_ms = 0;          // reading the file and moving weights to the device
  double warmup_ms = 0;        // the warm-up run; 0 when none ran
  double backend_ms = 0;       // loading the backend it runs on (the torch backend: only the first
                               // model that needs it pays; 0 for the others and for built-ins)
};

// A fill model. A factory returns it loaded (and warmed up when asked), ready to run. A loaded model is immutable and may be shared by any number of threads.
class INPAINT_CXX_API InpaintModel {
 public:
  virtual ~InpaintModel();
  // The canonical spec this model was made from, e.g. "telea:radius=5".
  virtual std::string spec() const = 0;
  // Returns an RGB image of the request's size; pixels outside the hole may be anything,
  // the pipeline keeps the original there.
  virtual Image inpaint(const InpaintRequest& request) const = 0;
  virtual ModelLoadInfo load_info() const;
  // True once loading (and the warm-up run, when one was asked for) has completed. The built-in
  // factories return a model only then, so theirs is always true; a user model that loads in the
  // background overrides it, so that a service's health check can ask any model the same way.
  virtual bool ready() const;
};

// Throws Error(InvalidArgument) unless the request holds a non-empty RGB image and a
// one-channel mask of the same size. Models call it first; user models should too.
INPAINT_CXX_API void validate_request(const InpaintRequest& request);

// "name" or "name:key=value,key=value". Keys are unique; values are non-empty.
struct INPAINT_CXX_API ModelSpec {
  std::string name;
  std::map<std::string, std::string> params;

  static ModelSpec parse(const std::string& spec);
  std::string str() const;
};

// Typed access to a spec's parameters that remembers which keys were read, so a factory can
// reject keys it does not know (a typo must not be silently ignored).
class INPAINT_CXX_API SpecReader {
 public:
  explicit SpecReader(const ModelSpec& spec);
  std::string get_string(const std::string& key, const std::string& fallback);
  int get_int(const std::string& key, int fallback, int min_value, int max_value);
  double get_double(const std::string& key, double fallback, double min_value, double max_value);
  // Throws Error(InvalidArgument) naming every key that was never read.
  void finish() const;

 private:
  const ModelSpec& spec_;
  std::vector<std::string> read_;
};

// Service-level model names (a worker's MODEL_VARIANT, e.g. "lama_fp32", "flux_fill_q8") mapped
// to spec strings by a JSON object: {"lama_fp32": "torchscript:path=/models/big-lama.pt", ...}.
// Every spec is parsed when the file is read. Immutable once read: any threads may use it.
class INPAINT_CXX_API ModelVariants {
 public:
  // Throws Error(Parse) for malformed JSON, a value that is not a string or not a spec;
  // origin names the source in messages.
  static ModelVariants from_json(const std::string& json, const std::string& origin = "JSON");
  static ModelVariants from_file(const std::string& path);  // also Error(Io)
  // Reads the file named by $INPAINT_MODEL_VARIANTS and returns the spec of $MODEL_VARIANT.
  // Throws Error(InvalidArgument) when either variable is unset or empty.
  static std::string spec_from_environment();

  // Throws Error(UnknownModel) listing the known names.
  const std::string& spec(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

 private:
  std::map<std::string, std::string> specs_;
};

using ModelFactory = std::function<std::unique_ptr<InpaintModel>(const ModelSpec&)>;

struct ModelInfo {
  std::string name;
  std::string description;  // one line, including the spec keys it takes
};

// A name-keyed table of model factories. Filled explicitly: register_builtin_models() and
// add(); nothing registers itself. Adding and creating may happen from several threads.
class INPAINT_CXX_API Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Throws Error(InvalidArgument) when the name is taken or not [a-z0-9_-]+.
  void add(const std::string& name, const std::string& description, ModelFactory factory);
  bool contains(const std::string& name) const;
  std::vector<ModelInfo> list() const;  // sorted by name
  // Throws Error(UnknownModel) listing the registered names when the name is unknown.
  std::unique_ptr<InpaintModel> create(const std::string& spec) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Adds the library's models: telea, ns, patchmatch, torchscript.
INPAINT_CXX_API void register_builtin_models(Registry& registry);

// A process-wide registry holding the built-in models (filled on first use).
INPAINT_CXX_API Registry& default_registry();

// The model the CLI, C API and Python use when none is named.
INPAINT_CXX_API const char* default_model_spec() noexcept;

}  // namespace inpaint
