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
#include "inpaint/params.hpp"
#include "inpaint/registry.hpp"

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
  // The per-call parameters. From the pipeline: every one the model declares, typed and in
  // range (resolve_params). A direct call may leave it empty: read it with a fallback.
  CallParams params;
};

// What loading a model cost and where it runs. Models without such costs report zeros.
struct ModelLoadInfo {
  std::string device = "cpu";  // where it runs, e.g. "cpu", "cuda:0" (auto resolved)
  double load_ms = 0;          // reading the file and moving weights to the device
  double warmup_ms = 0;        // the warm-up run; 0 when none ran
  double backend_ms = 0;       // loading the backend it runs on (the torch backend: only the first
                               // model that needs it pays; 0 for the others and for built-ins)
  std::uint64_t weight_bytes = 0;  // weights resident on the device (reported by flux; 0 when unknown)
};

// The prompt a model conditions on for a request's prompt, and why when it is another one.
struct ModelPrompt {
  std::string text;
  std::string reason;  // empty when text is the prompt as asked
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
  // The per-call parameters it takes (seed, steps, ...); none by default. The pipeline refuses
  // any other key and fills in the defaults, so a model may declare defaults from its spec.
  virtual std::vector<ParamSpec> parameters() const;
  // The sizes it wants to see (ModelGeometry); by default any size. The pipeline scales and
  // pads for it in every strategy, so a model need not crop, resize or pad by itself.
  virtual ModelGeometry geometry() const;
  // What the model will condition on for `prompt`: the prompt itself by default; a model with
  // a closed set of prompts (flux's prompt table) may substitute one and say why, or throw for a
  // prompt it cannot use. The pipeline asks before any pixel work, hands the model `text` and
  // reports both in PipelineResult.
  virtual ModelPrompt resolve_prompt(const std::string& prompt) const;
};

// Throws Error(InvalidArgument) unless the request holds a non-empty RGB image and a
// one-channel mask of the same size. Models call it first; user models should too.
INPAINT_CXX_API void validate_request(const InpaintRequest& request);

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

using ModelFactory = BasicRegistry<InpaintModel>::Factory;

// The registry of fill models (see BasicRegistry in registry.hpp for add, contains, list, create).
class INPAINT_CXX_API Registry : public BasicRegistry<InpaintModel> {
 public:
  Registry();

  using BasicRegistry<InpaintModel>::add;
  // The older form, kept for source compatibility: the model declares no keys, so the listing
  // shows none and create() leaves every key check to the factory (SpecReader::finish).
  void add(const std::string& name, const std::string& description, ModelFactory factory);
};

// Adds the library's models: telea, ns, patchmatch, torchscript.
INPAINT_CXX_API void register_builtin_models(Registry& registry);

// A process-wide registry holding the built-in models (filled on first use).
INPAINT_CXX_API Registry& default_registry();

// The model the CLI, C API and Python use when none is named.
INPAINT_CXX_API const char* default_model_spec() noexcept;

}  // namespace inpaint
