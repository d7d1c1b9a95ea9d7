// Fill models written in Python: inpaint.register_model(name, factory). The library does the
// decoding, mask clean-up, strategy, compositing, encoding, timings, cancellation and concurrency
// around them; the Python object only fills pixels. The GIL is taken only around the Python calls.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <variant>

#include "convert.hpp"
#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// A Python exception raised inside a user model, carried through the pipeline (which lets
// ForeignError through unchanged) to the binding that raises it again.
class PythonModelError : public ForeignError {
 public:
  // Made with the GIL held; the message is formatted then, since what() may be called without it.
  explicit PythonModelError(py::error_already_set error) : error_(std::move(error)), message_(error_.what()) {}
  const char* what() const noexcept override { return message_.c_str(); }
  void restore() { error_.restore(); }

 private:
  py::error_already_set error_;
  std::string message_;
};

// A read-only numpy view of pixels the library owns for the length of one call.
py::array borrowed_array(const ImageView& view) {
  std::vector<py::ssize_t> shape{view.height, view.width};
  std::vector<py::ssize_t> strides{py::ssize_t(view.stride), view.channels};
  if (view.channels > 1) {
    shape.push_back(view.channels);
    strides.push_back(1);
  }
  py::array array(py::dtype::of<std::uint8_t>(), shape, strides, view.data, py::none());
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return array;
}

// The per-call parameters a Python model declares: its optional `parameters` attribute, a dict
// of name -> default value whose Python type (bool, int, float, str) is the parameter's type.
std::vector<ParamSpec> declared_parameters(const py::object& model, const std::string& name) {
  std::vector<ParamSpec> out;
  if (!py::hasattr(model, "parameters")) return out;
  py::object declared = model.attr("parameters");
  if (!py::isinstance<py::dict>(declared))
    throw Error(ErrorCode::InvalidArgument, "Python model '" + name + "': parameters must be a dict of name -> default");
  for (auto [key, value] : py::reinterpret_borrow<py::dict>(declared)) {
    ParamSpec spec;
    spec.name = py::str(key);
    if (py::isinstance<py::bool_>(value)) spec.type = ParamType::Bool, spec.default_value = value.cast<bool>();
    else if (py::isinstance<py::int_>(value)) spec.type = ParamType::Int, spec.default_value = value.cast<std::int64_t>();
    else if (py::isinstance<py::float_>(value)) spec.type = ParamType::Float, spec.default_value = value.cast<double>();
    else if (py::isinstance<py::str>(value)) spec.type = ParamType::String, spec.default_value = value.cast<std::string>();
    else
      throw Error(ErrorCode::InvalidArgument, "Python model '" + name + "': the default of parameter '" + spec.name +
                                                  "' must be a bool, int, float or str");
    out.push_back(std::move(spec));
  }
  resolve_params(out, {}, "Python model '" + name + "'");  // checks the declarations themselves
  return out;
}

py::object to_python(const ParamValue& value) {
  return std::visit([](const auto& v) -> py::object { return py::cast(v); }, value);
}

class PythonModel final : public InpaintModel {
 public:
  PythonModel(std::string name, ModelSpec spec, py::object model)
      : name_(std::move(name)), spec_(std::move(spec)), model_(std::move(model)),
        parameters_(declared_parameters(model_, name_)) {}

  std::vector<ParamSpec> parameters() const override { return parameters_; }

  ~PythonModel() override {
    py::gil_scoped_acquire gil;
    model_ = py::object();
  }

  std::string spec() const override { return spec_.str(); }

  Image inpaint(const InpaintRequest& request) const override {
    validate_request(request);
    check_run(request.control, "before the Python model");
    py::gil_scoped_acquire gil;
    py::object result;
    try {
      py::array image = borrowed_array(request.image);
      py::array mask = borrowed_array(request.mask);
      py::dict params;
      for (const auto& [key, value] : request.params.values()) params[py::str(key)] = to_python(value);
      result = model_.attr("inpaint")(image, mask, request.prompt, **params);
      // The views must not outlive the call: a model that kept one would read freed memory.
      int returned = result.is(image) ? 1 : 0;  // an unchanged input handed back is no leak
      if (image.ref_count() > 1 + returned || mask.ref_count() > 1)
        throw Error(ErrorCode::InvalidArgument, "Python model " + detail_name() +
                                                    " kept a reference to its input arrays; copy them instead");
    } catch (py::error_already_set& e) {
      throw PythonModelError(std::move(e));
    }
    return to_image(result, request);
  }

 private:
  std::string detail_name() const { return "'" + name_ + "'"; }

  // The model's answer as an RGB image of the request's size: a uint8 array (H, W, 3).
  Image to_image(const py::object& result, const InpaintRequest& request) const {
    auto fail = [&](const std::string& got) {
      return Error(ErrorCode::InvalidArgument, "Python model " + detail_name() + " returned " + got +
                                                   ", expected a uint8 array of shape (" + std::to_string(request.image.height) +
                                                   ", " + std::to_string(request.image.width) + ", 3)");
    };
    if (result.is_none()) throw fail("None");
    if (!py::isinstance<py::array>(result)) throw fail("a " + std::string(py::str(py::type::of(result).attr("__name__"))));
    auto array = py::reinterpret_borrow<py::array>(result);
    std::string shape = "(";
    for (py::ssize_t i = 0; i < array.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(array.shape(i));
    shape += array.ndim() == 1 ? ",)" : ")";
    if (!array.dtype().is(py::dtype::of<std::uint8_t>()))
      throw fail("a " + std::string(py::str(array.dtype())) + " array of shape " + shape);
    if (array.ndim() != 3 || array.shape(0) != request.image.height || array.shape(1) != request.image.width ||
        array.shape(2) != 3)
      throw fail("an array of shape " + shape);
    Image out = Image::uninitialized(request.image.width, request.image.height, 3);
    const std::size_t row_bytes = std::size_t(out.width()) * 3;
    if (array.strides(2) == 1 && array.strides(1) == 3) {  // packed rows (the usual answer): a copy per row
      const auto* base = static_cast<const std::uint8_t*>(array.data());
      for (int y = 0; y < out.height(); ++y)
        std::memcpy(out.data() + y * row_bytes, base + y * array.strides(0), row_bytes);
      return out;
    }
    auto pixels = array.unchecked<std::uint8_t, 3>();  // any other strides
    for (int y = 0; y < out.height(); ++y) {
      std::uint8_t* row = out.data() + y * row_bytes;
      for (int x = 0; x < out.width(); ++x)
        for (int c = 0; c < 3; ++c) row[x * 3 + c] = pixels(y, x, c);
    }
    return out;
  }

  std::string name_;
  ModelSpec spec_;
  py::object model_;
  std::vector<ParamSpec> parameters_;
};

}  // namespace

void bind_user_models(py::module_& m) {
  // Raises the user's own exception again when it reaches Python through fill/run/Model.
  // Registered after errors.cpp's translator, so tried before it (which would wrap it).
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (PythonModelError& e) {
      e.restore();
    }
  });
  m.def(
      "register_model",
      [](const std::string& name, py::object factory, const std::string& description) {
        if (!PyCallable_Check(factory.ptr())) throw py::type_error("register_model: factory must be callable");
        // The registry outlives the interpreter's objects, so it holds the factory through a
        // reference it never drops (the process-wide registry is never destroyed).
        auto* held = new py::object(std::move(factory));
        default_registry().add(name, description.empty() ? "a fill model written in Python" : description,
                               [name, held](const ModelSpec& spec) -> std::unique_ptr<InpaintModel> {
          py::gil_scoped_acquire gil;
          py::object model;
          try {
            py::dict kwargs;
            for (const auto& [key, value] : spec.params) kwargs[py::str(key)] = value;
            model = (*held)(**kwargs);
          } catch (py::error_already_set& e) {
            throw PythonModelError(std::move(e));
          }
          if (model.is_none() || !py::hasattr(model, "inpaint"))
            throw Error(ErrorCode::InvalidArgument, "Python model factory '" + name +
                                                        "' returned an object without an inpaint(image, mask, prompt) method");
          return std::make_unique<PythonModel>(name, spec, std::move(model));
        });
      },
      py::arg("name"), py::arg("factory"), py::arg("description") = "",
      "Registers a fill model written in Python under `name` ([a-z0-9_-]+, not taken). Model(\\n"
      "'name:key=value,...') calls factory(key='value', ...) (values as str) and the object it returns\\n"
      "fills holes through inpaint(image, mask, prompt) -> uint8 array (H, W, 3): image is a\\n"
      "read-only uint8 (H, W, 3) view and mask a (H, W) view (255 = hole), valid only during the call.\\n"
      "It runs inside fill()/run() with the GIL taken only around the call, so the library's own\\n"
      "work (decoding, clean-up, compositing, encoding) runs without it; its exceptions reach the\\n"
      "caller unchanged. A wrong return (None, another dtype or shape) is InvalidArgumentError. An\n"
      "optional attribute `parameters`, a dict of name -> default (bool, int, float or str), declares\n"
      "the per-call parameters it takes (fill(..., params={...})): they arrive as keyword arguments.");
}

}  // namespace inpaint::python
