// The model registry and the Model class.
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <optional>

#include "convert.hpp"
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
          [](const InpaintModel& model) {
            py::list out;
            for (const ParamSpec& spec : model.parameters()) {
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
          },
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
