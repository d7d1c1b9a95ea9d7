// The model registry and the Model class.
#include <pybind11/stl.h>

#include <optional>

#include "convert.hpp"
#include "inpaint/backend.hpp"
#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "module.hpp"

namespace inpaint::python {

void bind_models(py::module_& m) {
  m.def(
      "models",
      [] {
        std::vector<std::pair<std::string, std::string>> out;
        for (const ModelInfo& info : default_registry().list()) out.emplace_back(info.name, info.description);
        return out;
      },
      "The registered models as (name, description) pairs, sorted by name.");
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
          "Where the model runs and what loading cost: {'device': 'cpu', 'load_ms': ..., 'warmup_ms': ...}\n"
          "(zeros for models that load nothing; warmup_ms is 0 when no warm-up ran).")
      .def_property_readonly("ready", &InpaintModel::ready,
                             "True once loading (and the warm-up run, when asked) has completed; Model()\n"
                             "returns built-in models only then.")
      .def(
          "inpaint",
          [](const InpaintModel& model, const py::array& image, const py::array& mask, const std::string& prompt) {
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
            Image fill = without_gil([&] { return model.inpaint(request); });
            return to_array(std::move(fill));
          },
          py::arg("image").noconvert(), py::arg("mask").noconvert(), py::arg("prompt") = "",
          "The raw model call: returns an RGB array of the image's size whose pixels inside the\n"
          "hole (mask 255) are filled; pixels outside may differ from the input. Use fill() for\n"
          "the cleaned, composited result.")
      .def("__repr__", [](const InpaintModel& model) {
        return "inpaint.Model(" + std::string(py::repr(py::str(model.spec()))) + ")";
      });
}

}  // namespace inpaint::python
