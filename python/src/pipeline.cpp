// fill() and run(): the pipeline on pixels and on encoded bytes. Their keyword options mirror
// inpaint::PipelineOptions; the defaults are the C++ ones.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "convert.hpp"
#include "inpaint/error.hpp"
#include "inpaint/pipeline.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// The pipeline's result; the arrays own their pixels.
struct PyResult {
  py::array image;
  py::object alpha;
  py::object encoded;
  py::object preview;
  std::string strategy;
  int regions;
  bool mask_empty;
  py::object hole;
  py::dict timings;
  std::string model_prompt, model_prompt_reason;
};

template <typename T> const char* type_name();
template <> const char* type_name<bool>() { return "a bool"; }
template <> const char* type_name<std::string>() { return "a str"; }

// Reads keyword options one by one and, like a Python signature, refuses the ones nobody read.
class KeywordReader {
 public:
  KeywordReader(const py::kwargs& kwargs, const char* function) : kwargs_(kwargs), function_(function) {}

  // Sets target when the keyword was given; strict, so 2.5 is no int and 1 no bool.
  template <typename T>
  bool read(const char* name, T& target) {
    known_.push_back(name);
    if (!kwargs_.contains(name)) return false;
    py::object value = kwargs_[name];
    if constexpr (std::is_same_v<T, std::string>) {
      if (py::isinstance<py::str>(value)) {
        target = utf8_text(value, (function_ + "(): " + name).c_str());
        return true;
      }
    }
    py::detail::make_caster<T> caster;
    if (!caster.load(value, /*convert=*/false))
      throw py::type_error(function_ + "(): " + name + " must be " + type_name<T>() + ", got " +
                           std::string(py::repr(value)));
    target = py::detail::cast_op<T>(std::move(caster));
    return true;
  }

  bool given(const char* name) const { return kwargs_.contains(name); }

  // The keyword's object (None when not given), for types that need their own check.
  py::object read_object(const char* name) {
    known_.push_back(name);
    return kwargs_.contains(name) ? py::object(kwargs_[name]) : py::object(py::none());
  }

  void finish() const {
    for (auto item : kwargs_) {
      std::string key = py::str(item.first);
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string known;
      for (const auto& name : known_) known += (known.empty() ? "" : ", ") + name;
      throw py::type_error(function_ + "() got an unexpected keyword argument '" + key + "' (it takes " + known + ")");
    }
  }

 private:
  const py::kwargs& kwargs_;
  std::string function_;
  std::vector<std::string> known_;
};

// The run control of one fill() or run() call: the CancelToken's, or, when a progress callback
// is given, a control of the call's own that follows the token (a token may serve several runs
// at once, so the callback cannot live on it). An exception raised by the callback stops the
// run like a False return, and is raised again from the call once the native side has unwound.
class CallControl {
 public:
  void attach(PipelineOptions& o, const py::object& token, const py::object& callback, const char* function) {
    // The kwargs dict holds the token for the length of the call, so the pointer stays valid.
    if (RunControl* control = cancel_token(token, function)) o.control = control;
    if (callback.is_none()) return;
    if (!PyCallable_Check(callback.ptr()))
      throw py::type_error(std::string(function) + "(): progress must be a callable or None, got " +
                           std::string(py::repr(callback)));
    callback_ = callback;
    own_.follow(o.control);
    own_.progress = [this](double fraction) { return report(fraction); };
    o.control = &own_;
  }

  // Runs f (which releases the GIL); the GIL is held again when it returns or throws.
  template <class F>
  auto run(F&& f) {
    try {
      return f();
    } catch (const Error&) {
      if (error_) throw *error_;  // the callback's own exception, not the Cancelled it caused
      throw;
    }
  }

 private:
  // Called on the thread that runs the model, without the GIL.
  bool report(double fraction) {
    py::gil_scoped_acquire gil;
    try {
      py::object answer = callback_(fraction);
      // None (a callback that returns nothing) goes on; otherwise the answer's truth decides.
      if (answer.is_none()) return true;
      int truth = PyObject_IsTrue(answer.ptr());
      if (truth < 0) throw py::error_already_set();
      return truth != 0;
    } catch (py::error_already_set& e) {
      error_.emplace(std::move(e));
      return false;
    }
  }

  RunControl own_;
  py::object callback_;
  std::optional<py::error_already_set> error_;
};

// One keyword of kPipelineOptions: strict about types like a Python signature (2.5 is no int,
// 1 no bool), so that a mistake is a TypeError rather than a silent conversion.
void read_option(KeywordReader& reader, const PipelineOptionInfo& row, PipelineOptions& o, const char* function) {
  switch (row.type) {
    case ParamType::Bool: {
      bool value = false;
      if (reader.read(row.name, value)) set_pipeline_option(o, row.name, value);
      return;
    }
    case ParamType::Int: {
      // Any integer (numpy's too, through __index__), but not a bool or a float; the range
      // (e.g. max_pixels >= 0) is the pipeline's to check.
      py::object value = reader.read_object(row.name);
      if (!reader.given(row.name)) return;
      py::detail::make_caster<std::int64_t> caster;
      if (py::isinstance<py::bool_>(value) || !caster.load(value, /*convert=*/false))
        throw py::type_error(std::string(function) + "(): " + row.name + " must be an int, got " +
                             std::string(py::repr(value)));
      set_pipeline_option(o, row.name, py::detail::cast_op<std::int64_t>(std::move(caster)));
      return;
    }
    case ParamType::String: {
      std::string value;
      if (reader.read(row.name, value)) set_pipeline_option(o, row.name, value);
      return;
    }
    case ParamType::Float: break;  // no float options yet
  }
  throw Error(ErrorCode::Internal, std::string("pipeline option ") + row.name + " has a type Python cannot read");
}

// The keywords come from kPipelineOptions, in its order, with params, cancel and progress
// (Python objects, not options) after prompt; fill() works on pixels, so only run() takes the
// decoding and encoding ones.
PipelineOptions pipeline_options(const py::kwargs& kwargs, const char* function, bool decodes_and_encodes,
                                 CallControl& control) {
  KeywordReader reader(kwargs, function);
  PipelineOptions o;
  for (const PipelineOptionInfo& row : kPipelineOptions)
    if (!row.encoded_only) read_option(reader, row, o, function);
  o.params = call_params(reader.read_object("params"), function);
  py::object token = reader.read_object("cancel");
  py::object progress = reader.read_object("progress");
  control.attach(o, token, progress, function);
  if (decodes_and_encodes)
    for (const PipelineOptionInfo& row : kPipelineOptions)
      if (row.encoded_only) read_option(reader, row, o, function);
  reader.finish();
  return o;
}

PyResult to_python(PipelineResult&& r, bool encoded) {
  py::dict timings;
  const StageTimes& t = r.times;
  for (const StageField& stage : kStageFields) timings[stage.name] = t.*stage.ms;
  py::object hole = py::none();
  if (!r.hole.empty()) hole = py::make_tuple(r.hole.x, r.hole.y, r.hole.width, r.hole.height);
  return PyResult{to_array(std::move(r.image)),
                  to_array_or_none(std::move(r.alpha)),
                  encoded ? py::object(to_bytes(r.encoded)) : py::none(),
                  r.preview.empty() ? py::none() : py::object(to_bytes(r.preview)),
                  strategy_name(r.strategy),
                  r.regions,
                  r.mask_empty,
                  hole,
                  timings,
                  std::move(r.model_prompt),
                  std::move(r.model_prompt_reason)};
}

std::string repr(const PyResult& r) {
  return "Result(image=<" + std::to_string(r.image.shape(1)) + "x" + std::to_string(r.image.shape(0)) +
         ">, strategy='" + r.strategy + "', regions=" + std::to_string(r.regions) +
         ", mask_empty=" + (r.mask_empty ? "True" : "False") + ", hole=" + std::string(py::repr(r.hole)) + ")";
}

void set_timeout_seconds(RunControl& control, double seconds) {
  if (!(seconds >= 0 && seconds <= 366.0 * 24 * 3600))
    throw Error(ErrorCode::InvalidArgument, "timeout must be 0..31622400 seconds, got " + std::to_string(seconds));
  control.set_timeout(std::chrono::milliseconds(std::llround(seconds * 1000)));
}

// A default as Python writes it: True, 800, 'auto'.
std::string python_literal(const ParamValue& value) {
  switch (param_type(value)) {
    case ParamType::Bool: return std::get<bool>(value) ? "True" : "False";
    case ParamType::String: return "'" + std::get<std::string>(value) + "'";
    default: return param_value_text(value);
  }
}

// The options part of fill()'s and run()'s doc strings, from kPipelineOptions and the defaults.
std::string options_doc(bool encoded) {
  const PipelineOptions defaults;
  auto line = [&](const PipelineOptionInfo& row) {
    std::string text = "  " + std::string(row.name) + "=" + python_literal(pipeline_option(defaults, row.name)) + ": " + row.doc;
    if (row.type == ParamType::Int)
      text += " (" + std::to_string(std::int64_t(row.min_value)) + ".." + std::to_string(std::int64_t(row.max_value)) + ")";
    return text + "\n";
  };
  std::string doc = "Options (keywords; the defaults are libinpaint's; see pipeline_options()):\n";
  for (const PipelineOptionInfo& row : kPipelineOptions)
    if (!row.encoded_only) doc += line(row);
  doc +=
      "  params=None: per-call model parameters, a dict such as {'seed': 3} (see Model.parameters());\n"
      "    checked before any work: an undeclared key, a wrong type or a value out of range raises\n"
      "    InvalidArgumentError (a str value is read as the declared type)\n"
      "  cancel=None: a CancelToken; its cancel() (from another thread) or its timeout stops the run\n"
      "    with CancelledError or WaitTimeoutError between stages and model iterations\n"
      "  progress=None: a callable given the fraction done (0..1] after each iteration of iterative\n"
      "    models (patchmatch; with the crop strategy each region counts 0..1 anew), on the thread\n"
      "    running the model with the GIL held. False (or another false value) stops the run with\n"
      "    CancelledError; None or a true value goes on; an exception it raises stops the run and\n"
      "    is raised from this call\n";
  if (encoded)
    for (const PipelineOptionInfo& row : kPipelineOptions)
      if (row.encoded_only) doc += line(row);
  return doc;
}

}  // namespace

void bind_pipeline(py::module_& m) {
  py::class_<RunControl>(m, "CancelToken", py::is_final(),
                         "Stops fill() and run() from outside: cancel() from any thread, or a timeout in seconds\n"
                         "from now. Checked between stages and between iterations of iterative models. One token\n"
                         "may serve several runs; cancelling stops them all.")
      .def(py::init([](std::optional<double> timeout) {
             auto control = std::make_unique<RunControl>();
             if (timeout) set_timeout_seconds(*control, *timeout);
             return control;
           }),
           py::arg("timeout") = py::none())
      .def("cancel", &RunControl::cancel, "Asks every run using this token to stop.")
      .def_property_readonly("cancelled", &RunControl::cancelled, "True once cancel() was called.")
      .def("set_timeout", &set_timeout_seconds, py::arg("seconds"),
           "Sets the deadline to now + seconds (>= 0); a run past it raises WaitTimeoutError.");

  py::class_<PyResult>(m, "Result", "What fill() and run() return. The arrays own their memory.")
      .def_readonly("image", &PyResult::image,
                    "The filled RGB image, uint8 (height, width, 3); the input's pixels when the mask is empty.")
      .def_readonly("alpha", &PyResult::alpha, "The input's alpha channel (height, width) from run(), or None.")
      .def_readonly("encoded", &PyResult::encoded, "run(): the result encoded as options format; fill(): None.")
      .def_readonly("preview", &PyResult::preview, "The JPEG preview when preview_long_side > 0, else None.")
      .def_readonly("strategy", &PyResult::strategy, "The strategy that ran: 'original', 'crop' or 'resize'.")
      .def_readonly("regions", &PyResult::regions, "How many times the model ran (one per crop box).")
      .def_readonly("mask_empty", &PyResult::mask_empty, "True when the cleaned mask had no hole (nothing filled).")
      .def_readonly("hole", &PyResult::hole, "The cleaned hole's bounding box (x, y, width, height), or None.")
      .def_readonly("timings", &PyResult::timings,
                    "Milliseconds per stage: decode, orient, mask, clean, model, composite, encode, preview, total.")
      .def_readonly("model_prompt", &PyResult::model_prompt,
                    "The prompt the model is handed for the prompt given (the same text unless the model substitutes one).")
      .def_readonly("model_prompt_reason", &PyResult::model_prompt_reason,
                    "Why the model used another prompt than asked (flux's missing_prompt=fallback), else ''.")
      .def("__repr__", &repr);

  m.def(
      "pipeline_options",
      [] {
        const PipelineOptions defaults;
        py::list out;
        for (const PipelineOptionInfo& row : kPipelineOptions) {
          bool ranged = row.type == ParamType::Int;
          py::dict entry;
          entry["name"] = row.name;
          entry["type"] = param_type_name(row.type);
          entry["default"] = param_to_python(pipeline_option(defaults, row.name));
          entry["min"] = ranged ? py::object(py::int_(std::int64_t(row.min_value))) : py::object(py::none());
          entry["max"] = ranged ? py::object(py::int_(std::int64_t(row.max_value))) : py::object(py::none());
          entry["doc"] = row.doc;
          entry["run_only"] = row.encoded_only;
          out.append(entry);
        }
        return out;
      },
      "The pipeline options fill() and run() take as keywords, in order, as dicts {'name', 'type',\n"
      "'default', 'min', 'max', 'doc', 'run_only'} (run_only: decoding and encoding, run() only).\n"
      "Besides these both take params, cancel and progress.");

  m.def(
      "fill",
      [](const InpaintModel& model, const py::array& image, const py::array& mask, const py::kwargs& kwargs) {
        CallControl control;
        PipelineOptions options = pipeline_options(kwargs, "fill", false, control);
        ImageView rgb = image_view(image, "image", Pixels::Rgb);
        ImageView hole = image_view(mask, "mask", Pixels::Mask);
        PipelineResult result =
            control.run([&] { return without_gil([&] { return fill_image(model, rgb, hole, options); }); });
        return to_python(std::move(result), false);
      },
      py::arg("model"), py::arg("image").noconvert(), py::arg("mask").noconvert(),
      (std::string("Fills the hole of an RGB uint8 (height, width, 3) image given a uint8 (height, width)\n"
                   "mask (255 = hole): mask check -> clean -> strategy -> model -> feathered composite.\n"
                   "Outside the feathered hole the result equals the input byte for byte.\n\n") +
       options_doc(false))
          .c_str());

  m.def(
      "run",
      [](const InpaintModel& model, const py::buffer& image, const py::buffer& mask, const py::kwargs& kwargs) {
        CallControl control;
        PipelineOptions options = pipeline_options(kwargs, "run", true, control);
        ByteView image_bytes(image, "image");
        ByteView mask_bytes(mask, "mask");
        PipelineResult result = control.run([&] {
          return without_gil([&] {
            return run_pipeline(model, image_bytes.data(), image_bytes.size(), mask_bytes.data(), mask_bytes.size(),
                                options);
          });
        });
        return to_python(std::move(result), true);
      },
      py::arg("model"), py::arg("image"), py::arg("mask"),
      (std::string("The whole path from encoded bytes to encoded bytes: decode image and mask (PNG or JPEG)\n"
                   "-> EXIF orientation -> fill -> encode (+ preview). Raises DecodeError, TooLargeError,\n"
                   "InvalidArgumentError (e.g. a mask of another size without resize_mask=True).\n\n") +
       options_doc(true))
          .c_str());
}

}  // namespace inpaint::python
