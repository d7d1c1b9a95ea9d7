// The model registry and the Model class.
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <optional>

#include "convert.hpp"
#include "inpaint/backend.hpp"
#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// ModelInfo is a struct sequence, like os.stat_result: it unpacks and compares as the
// (name, description) pair that models() returned before keys were listed, and has the keys as
// a further attribute, so existing callers keep working.
PyTypeObject* g_model_info = nullptr;

PyStructSequence_Field g_model_info_fields[] = {
    {"name", "the name a spec starts with"},
    {"description", "one line"},
    {"keys", "the spec keys it takes: {key: short doc}, in the order documented"},
    {nullptr, nullptr}};

PyStructSequence_Desc g_model_info_desc = {
    "inpaint._core.ModelInfo",
    "A registered model or segmenter: a (name, description) tuple with a further attribute keys\n"
    "(a dict of the spec keys it takes, key -> short doc).",
    g_model_info_fields, 2};

}  // namespace

py::list model_infos(const std::vector<ModelInfo>& infos) {
  py::list out;
  for (const ModelInfo& info : infos) {
    py::dict keys;
    for (const SpecKey& key : info.keys) keys[py::str(key.name)] = py::str(key.doc);
    auto item = py::reinterpret_steal<py::object>(PyStructSequence_New(g_model_info));
    if (!item) throw py::error_already_set();
    // SetItem steals the references.
    PyStructSequence_SetItem(item.ptr(), 0, py::str(info.name).release().ptr());
    PyStructSequence_SetItem(item.ptr(), 1, py::str(info.description).release().ptr());
    PyStructSequence_SetItem(item.ptr(), 2, keys.release().ptr());
    out.append(item);
  }
  return out;
}

// Per-call parameter declarations as dicts {'name', 'type', 'default', 'min', 'max', 'doc'}.
py::list param_infos(const std::vector<ParamSpec>& specs) {
  py::list out;
  for (const ParamSpec& spec : specs) {
    bool ranged = spec.type == ParamType::Int || spec.type == ParamType::Float;
    auto bound = [&](double b) -> py::object {
      if (!ranged || !std::isfinite(b)) return py::none();
      if (spec.type == ParamType::Int) return py::int_(std::int64_t(b));
      return py::float_(b);
    };
    py::dict entry;
    entry["name"] = spec.name;
    entry["type"] = param_type_name(spec.type);
    entry["default"] = param_to_python(spec.default_value);
    entry["min"] = bound(spec.min_value);
    entry["max"] = bound(spec.max_value);
    entry["doc"] = spec.doc;
    out.append(entry);
  }
  return out;
}

void bind_models(py::module_& m) {
  g_model_info = PyStructSequence_NewType(&g_model_info_desc);
  if (!g_model_info) throw py::error_already_set();
  // The module keeps the reference; the pointer above stays valid as long as it exists.
  m.attr("ModelInfo") = py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(g_model_info));
  m.def(
      "models", [] { return model_infos(default_registry().list()); },
      "The registered models, sorted by name, as ModelInfo: (name, description) tuples with .keys.");
  auto backend_dict = [](const BackendStatus& b) {
    py::dict d;
    d["name"] = b.name;
    d["built"] = b.built;
    d["loaded"] = b.loaded;
    d["path"] = b.path;
    d["error"] = b.error;
    d["torch_version"] = b.torch_version;
    d["load_ms"] = b.load_ms;
    return d;
  };
  m.def(
      "backends",
      [backend_dict] {
        py::list out;
        for (const BackendStatus& b : inpaint::backends()) out.append(backend_dict(b));
        return out;
      },
      "The optional backends ('torch') and their state as dicts: name, built, loaded, path, error,\n"
      "torch_version, load_ms. Loads nothing.");
  m.def(
      "load_backend",
      [backend_dict](const std::string& name) {
        return backend_dict(without_gil([&] { return inpaint::load_backend(name); }));
      },
      py::arg("name"),
      "Loads a backend now rather than at the first model that needs it (a service warming up) and\n"
      "returns its state. Raises UnavailableError naming the file tried and why it failed.");
  m.def(
      "default_model_spec", [] { return std::string(default_model_spec()); },
      "The spec Model() uses when given none.");

  py::class_<InpaintModel>(m, "Model", py::is_final(),
                           "A loaded fill model. Immutable: one instance may serve any number of threads.")
      .def(py::init([](const std::optional<std::string>& spec) {
             std::string text = spec.value_or(default_model_spec());
             // Loading may read big files: let other threads run meanwhile.
             return without_gil([&] { return default_registry().create(text); });
           }),
           py::arg("spec") = py::none(),
           "Loads the model a spec names: 'telea', 'ns:radius=3', ... (see models()). Raises\n"
           "UnknownModelError for an unregistered name, ParseError for a malformed spec and\n"
           "InvalidArgumentError for a bad parameter.")
      .def_property_readonly("spec", &InpaintModel::spec, "The canonical spec, e.g. 'telea:radius=5'.")
      .def_property_readonly(
          "load_info",
          [](const InpaintModel& model) { return load_info_dict(model.load_info()); },
          "Where the model runs and what loading cost: {'device': 'cpu', 'load_ms': ..., 'warmup_ms': ...,\n"
          "'backend_ms': ..., 'weight_bytes': ...} (zeros for models that load nothing; warmup_ms is 0 when\n"
          "no warm-up ran; backend_ms: loading the backend, only for the first model that needed it;\n"
          "weight_bytes: weights resident on the device, 0 when the model does not report it).")
      .def_property_readonly("ready", &InpaintModel::ready,
                             "True once loading (and the warm-up run, when asked) has completed; Model()\n"
                             "returns built-in models only then.")
      .def(
          "inpaint",
          [](const InpaintModel& model, const py::array& image, const py::array& mask, const std::string& prompt,
             const py::object& params) {
            ImageView rgb = image_view(image, "image", Pixels::Rgb);
            ImageView hole = image_view(mask, "mask", Pixels::Mask);
            // The models trust their request: check here what fill_image checks for the pipeline.
            if (hole.width != rgb.width || hole.height != rgb.height)
              throw Error(ErrorCode::InvalidArgument,
                          "mask is " + std::to_string(hole.width) + "x" + std::to_string(hole.height) +
                              " but the image is " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height));
            InpaintRequest request;
            request.image = rgb;
            request.mask = hole;
            request.prompt = prompt;
            // Checked and completed as the pipeline does, so the model sees the same map.
            std::string spec = model.spec();
            request.params = resolve_params(model.parameters(), call_params(params, "inpaint"),
                                            "model '" + spec.substr(0, spec.find(':')) + "'");
            Image fill = without_gil([&] { return model.inpaint(request); });
            return to_array(std::move(fill));
          },
          py::arg("image").noconvert(), py::arg("mask").noconvert(), py::arg("prompt") = "",
          py::arg("params") = py::none(),
          "The raw model call: returns an RGB array of the image's size whose pixels inside the\n"
          "hole (mask 255) are filled; pixels outside may differ from the input. Use fill() for\n"
          "the cleaned, composited result (and the model's working geometry). params: as in fill().")
      .def(
          "parameters",
          [](const InpaintModel& model) { return param_infos(model.parameters()); },
          "The per-call parameters this model takes (params= of fill(), run() and inpaint()), as\n"
          "dicts {'name', 'type', 'default', 'min', 'max', 'doc'}: type is 'bool', 'int', 'float' or\n"
          "'string'; min and max are None when open or not numeric. Most classical models take\n"
          "none; patchmatch takes iterations and seed.")
      .def_property_readonly(
          "geometry",
          [](const InpaintModel& model) {
            ModelGeometry g = model.geometry();
            py::dict out;
            out["multiple_of"] = g.multiple_of;
            out["min_long_side"] = g.min_long_side;
            out["max_long_side"] = g.max_long_side;
            return out;
          },
          "The sizes the model wants: {'multiple_of', 'min_long_side', 'max_long_side'} (0 = no bound).\n"
          "fill() and run() scale and pad what they hand it to fit, in every strategy.")
      .def("__repr__", [](const InpaintModel& model) {
        return "inpaint.Model(" + std::string(py::repr(py::str(model.spec()))) + ")";
      });
}

}  // namespace inpaint::python
