// Background removal: matters, the effects, the output cache and remove_background().
#include <pybind11/stl.h>

#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convert.hpp"
#include "inpaint/cutout.hpp"
#include "inpaint/effects.hpp"
#include "inpaint/error.hpp"
#include "inpaint/matte.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

struct PyCutoutResult {
  py::dict outputs;  // effect name -> bytes, in the order asked for
  py::object alpha;
  py::dict timings;
  bool outputs_from_cache = false, matte_from_store = false, matte_stored = false;
  double model_ms_saved = 0;
  std::string store_error, input_sha256, matte_id, cache_key, effects_device;
  int width = 0, height = 0;
};


// effects=: "bw,popart" or ["bw", "popart"]; "" or [] (where allowed) for none.
std::vector<Effect> effect_list(const py::object& effects, const char* function, bool none_allowed) {
  std::vector<Effect> out;
  if (py::isinstance<py::str>(effects)) {
    std::string text = utf8_text(effects, (std::string(function) + "(): effects").c_str());
    if (text.empty() && none_allowed) return out;
    return parse_effect_list(text);
  }
  if (!py::isinstance<py::sequence>(effects) || py::isinstance<py::bytes>(effects))
    throw py::type_error(std::string(function) + "(): effects must be a str such as 'bw,popart' or a list of str, got " +
                         std::string(py::repr(effects)));
  for (const py::handle item : py::reinterpret_borrow<py::sequence>(effects)) {
    if (!py::isinstance<py::str>(item))
      throw py::type_error(std::string(function) + "(): effects must hold str, got " + std::string(py::repr(item)));
    out.push_back(parse_effect(utf8_text(py::reinterpret_borrow<py::str>(item), "effects")));
  }
  if (out.empty() && !none_allowed)
    throw Error(ErrorCode::InvalidArgument, std::string(function) + "(): effects is empty");
  return out;
}

EffectsBackend effects_backend_from_name(const std::string& name, const char* argument) {
  if (name == "opencv") return EffectsBackend::OpenCV;
  if (name == "tensor") return EffectsBackend::Tensor;
  throw Error(ErrorCode::InvalidArgument, std::string(argument) + " must be 'opencv' or 'tensor', got '" + name + "'");
}

py::dict cache_stats_dict(const ResultCacheStats& s) {
  py::dict d;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["insertions"] = s.insertions;
  d["evictions"] = s.evictions;
  d["entries"] = s.entries;
  d["bytes"] = s.bytes;
  d["capacity"] = s.capacity;
  return d;
}

PyCutoutResult to_python(CutoutResult&& r) {
  PyCutoutResult out;
  for (const CutoutOutput& o : r.outputs->outputs) out.outputs[effect_name(o.effect)] = to_bytes(o.encoded);
  out.alpha = to_array_or_none(std::move(r.alpha));
  for (const CutoutStageField& stage : kCutoutStageFields) out.timings[stage.name] = r.times.*stage.ms;
  out.outputs_from_cache = r.outputs_from_cache;
  out.matte_from_store = r.matte_from_store;
  out.matte_stored = r.matte_stored;
  out.model_ms_saved = r.model_ms_saved;
  out.store_error = r.store_error;
  out.input_sha256 = r.input_sha256;
  out.matte_id = r.matte_id;
  out.cache_key = r.cache_key;
  out.effects_device = r.effects_device;
  out.width = r.outputs->width;
  out.height = r.outputs->height;
  return out;
}

std::string repr(const PyCutoutResult& r) {
  std::string names;
  for (auto item : r.outputs) names += (names.empty() ? "" : ", ") + std::string(py::str(item.first));
  return "CutoutResult(" + std::to_string(r.width) + "x" + std::to_string(r.height) + ", outputs=[" + names +
         "], outputs_from_cache=" + (r.outputs_from_cache ? "True" : "False") +
         ", matte_from_store=" + (r.matte_from_store ? "True" : "False") + ")";
}

}  // namespace

void bind_cutout(py::module_& m) {
  m.def(
      "matters", [] { return model_infos(list_matters()); },
      "The matters (background removal), sorted by name, as ModelInfo: (name, description) tuples with .keys.");
  m.def(
      "default_matter_spec", [] { return std::string(default_matter_spec()); },
      "The spec load_matter() uses when given none ('saliency': works without a model file).");

  py::class_<Matter>(m, "Matter", py::is_final(),
                     "Turns a photo into a soft alpha matte (255 = object). Immutable: one instance may serve\n"
                     "any number of threads. Made by load_matter(spec) (or Matter(spec)).")
      .def(py::init([](const std::optional<std::string>& spec) {
             std::string text = spec.value_or(default_matter_spec());
             return without_gil([&] { return create_matter(text); });
           }),
           py::arg("spec") = py::none(),
           "Loads the matter a spec names: 'saliency' (the default, no model file) or\n"
           "'salient:path=FILE,...' (a TorchScript network; see matters()).")
      .def_property_readonly("spec", &Matter::spec, "The canonical spec.")
      .def_property_readonly("model_id", &Matter::model_id, "What stored mattes are keyed by (with the input's bytes).")
      .def_property_readonly(
          "load_info", [](const Matter& matter) { return load_info_dict(matter.load_info()); },
          "{'device', 'load_ms', 'warmup_ms', 'backend_ms'}.")
      .def(
          "matte",
          [](const Matter& matter, const py::array& image, const py::object& cancel) {
            ImageView rgb = image_view(image, "rgb", Pixels::Rgb);
            const RunControl* control = cancel_token(cancel, "matte");
            MatteResult result = without_gil([&] { return matter.matte(rgb, control); });
            return to_array(std::move(result.alpha));
          },
          py::arg("rgb").noconvert(), py::arg("cancel") = py::none(),
          "The matte of a uint8 RGB (height, width, 3) image: uint8 (height, width), 255 = object.")
      .def(
          "predict",
          [](const Matter& matter, const py::array& image, const py::object& cancel) {
            ImageView rgb = image_view(image, "rgb", Pixels::Rgb);
            const RunControl* control = cancel_token(cancel, "predict");
            MattePrediction prediction = without_gil([&] { return matter.predict(rgb, control); });
            return tensor_to_numpy(prediction.map);
          },
          py::arg("rgb").noconvert(), py::arg("cancel") = py::none(),
          "The model's raw answer at its working size: a read-only float32 (h, w) array in [0, 1].")
      .def("__repr__", [](const Matter& matter) {
        return "inpaint.Matter(" + std::string(py::repr(py::str(matter.spec()))) + ")";
      });

  m.def(
      "load_matter",
      [](const std::optional<std::string>& spec) {
        std::string text = spec.value_or(default_matter_spec());
        return without_gil([&] { return create_matter(text); });
      },
      py::arg("spec") = py::none(),
      "Loads a Matter: 'saliency' (the default) or 'salient:path=FILE,...'. Raises UnknownModelError,\n"
      "ParseError or InvalidArgumentError for a bad spec.");

  m.def(
      "refine_alpha",
      [](const py::array& image, const py::array& alpha, int radius, double eps) {
        ImageView rgb = image_view(image, "rgb", Pixels::Rgb);
        ImageView matte = image_view(alpha, "alpha", Pixels::Mask);
        Image refined = without_gil([&] { return inpaint::refine_alpha(rgb, matte, radius, eps); });
        return to_array(std::move(refined));
      },
      py::arg("rgb").noconvert(), py::arg("alpha").noconvert(), py::arg("radius") = 8, py::arg("eps") = 1e-4,
      "Edge-aware refinement of a matte (a guided filter with the photo's luminance as guide):\n"
      "radius 1..256 px, eps > 0 (larger = smoother). Returns a new uint8 (h, w) alpha.");
  m.def(
      "estimate_foreground",
      [](const py::array& image, const py::array& alpha) {
        ImageView rgb = image_view(image, "rgb", Pixels::Rgb);
        ImageView matte = image_view(alpha, "alpha", Pixels::Mask);
        Image foreground = without_gil([&] { return inpaint::estimate_foreground(rgb, matte); });
        return to_array(std::move(foreground));
      },
      py::arg("rgb").noconvert(), py::arg("alpha").noconvert(),
      "The object's own colour where the matte is soft (background bleeding removed), so an RGBA\n"
      "cut-out shows no halo: a new uint8 (h, w, 3) image; pixels with alpha 0 or 255 are kept.");

  m.def("effect_names", &effect_names, "The effects, in their order: ['color', 'bw', 'popart', 'dither'].");
  m.def(
      "effect_parameters", [] { return param_infos(effect_parameters()); },
      "The effects' parameters (params= of render_effects() and remove_background()), as dicts\n"
      "{'name', 'type', 'default', 'min', 'max', 'doc'}: 'background' ('transparent', 'white',\n"
      "'black', '#rrggbb', 'blur' or 'blur:SIGMA') and each effect's own, prefixed with its name.");
  m.def(
      "render_effects",
      [](const py::array& image, const py::array& alpha, const py::object& effects, const py::object& params,
         const std::string& backend, const std::string& device, int threads, const py::object& cancel) {
        ImageView rgb = image_view(image, "rgb", Pixels::Rgb);
        ImageView matte = image_view(alpha, "alpha", Pixels::Mask);
        std::vector<Effect> list = effect_list(effects, "render_effects", false);
        EffectsOptions options;
        options.params = call_params(params, "render_effects");
        options.backend = effects_backend_from_name(backend, "backend");
        options.device = device;
        options.threads = threads;
        options.control = cancel_token(cancel, "render_effects");
        EffectsResult result = without_gil([&] { return inpaint::render_effects(rgb, matte, list, options); });
        py::dict out;
        for (EffectImage& e : result.images) out[effect_name(e.effect)] = to_array(std::move(e.image));
        return out;
      },
      py::arg("rgb").noconvert(), py::arg("alpha").noconvert(), py::arg("effects") = "color", py::kw_only(),
      py::arg("params") = py::none(), py::arg("backend") = "opencv", py::arg("device") = "cpu",
      py::arg("threads") = EffectsOptions{}.threads, py::arg("cancel") = py::none(),
      "Renders effects ('bw,popart' or ['bw', 'popart']; see effect_names()) of a uint8 RGB\n"
      "(h, w, 3) photo under a uint8 (h, w) matte: {name: image} in the order asked for, each RGBA\n"
      "(h, w, 4) for a transparent background, else RGB. params: see effect_parameters().\n"
      "backend 'opencv' (CPU) or 'tensor' (LibTorch on device). Unknown names or bad parameters\n"
      "raise InvalidArgumentError (naming the known effects), a bad background text ParseError.");

  py::class_<ResultCache>(m, "ResultCache", py::is_final(),
                          "An in-process LRU of rendered cut-outs, bounded in encoded bytes (remove_background's\n"
                          "cache=). Any threads may share one.")
      .def(py::init<std::size_t>(), py::arg("capacity_bytes"))
      .def("stats", [](const ResultCache& c) { return cache_stats_dict(c.stats()); },
           "{'hits', 'misses', 'insertions', 'evictions', 'entries', 'bytes', 'capacity'}.")
      .def("clear", &ResultCache::clear, "Drops every entry (the counters stay).")
      .def("__repr__", [](const ResultCache& c) {
        ResultCacheStats s = c.stats();
        return "inpaint.ResultCache(capacity_bytes=" + std::to_string(s.capacity) + ", entries=" +
               std::to_string(s.entries) + ")";
      });

  py::class_<PyCutoutResult>(m, "CutoutResult", "What remove_background() returns.")
      .def_readonly("outputs", &PyCutoutResult::outputs, "{effect name: encoded bytes}, in the order asked for.")
      .def_readonly("alpha", &PyCutoutResult::alpha,
                    "The matte used, uint8 (h, w) (refined, times the input's alpha); None when the outputs\n"
                    "came from the cache.")
      .def_readonly("timings", &PyCutoutResult::timings,
                    "Milliseconds per stage: key, decode, orient, store, preprocess, model, postprocess,\n"
                    "refine, effects, encode, total; 0 for what a cache or the store served.")
      .def_readonly("outputs_from_cache", &PyCutoutResult::outputs_from_cache, "Served from the cache: nothing ran.")
      .def_readonly("matte_from_store", &PyCutoutResult::matte_from_store, "The matte came from the store.")
      .def_readonly("matte_stored", &PyCutoutResult::matte_stored, "A fresh matte was put into the store.")
      .def_readonly("model_ms_saved", &PyCutoutResult::model_ms_saved,
                    "From the store: what the matter took when it made the matte.")
      .def_readonly("store_error", &PyCutoutResult::store_error, "A store failure that was ignored, '' when none.")
      .def_readonly("input_sha256", &PyCutoutResult::input_sha256, "Hex SHA-256 of the encoded input.")
      .def_readonly("matte_id", &PyCutoutResult::matte_id, "The matte's id in the store.")
      .def_readonly("cache_key", &PyCutoutResult::cache_key, "The outputs' key in the cache.")
      .def_readonly("effects_device", &PyCutoutResult::effects_device, "Where the effects ran: 'cpu', 'cuda:0', ...")
      .def_readonly("width", &PyCutoutResult::width, "The outputs' width (the upright photo).")
      .def_readonly("height", &PyCutoutResult::height, "The outputs' height.")
      .def("__repr__", &repr);

  const CutoutOptions defaults;
  m.def(
      "remove_background",
      [](const Matter& matter, const py::buffer& image, const py::object& effects, const py::object& params,
         int refine_radius, double refine_eps, bool foreground, const std::string& format, int quality,
         int png_compression, EncodingStore* store, ResultCache* cache, std::uint64_t max_pixels,
         bool apply_exif_orientation, int threads, const std::string& effects_backend,
         const std::string& effects_device, const py::object& cancel) {
        CutoutOptions o;
        o.effects = effect_list(effects, "remove_background", true);
        o.params = call_params(params, "remove_background");
        o.refine_radius = refine_radius;
        o.refine_eps = refine_eps;
        o.foreground = foreground;
        o.output.format = format_from_name(format);
        o.output.quality = quality;
        o.output.png_compression = png_compression;
        o.store = store;
        o.cache = cache;
        o.decode.max_pixels = max_pixels;
        o.decode.apply_exif_orientation = apply_exif_orientation;
        o.threads = threads;
        o.effects_backend = effects_backend_from_name(effects_backend, "effects_backend");
        o.effects_device = effects_device;
        o.control = cancel_token(cancel, "remove_background");
        ByteView bytes(image, "image");
        CutoutResult result =
            without_gil([&] { return inpaint::remove_background(matter, bytes.data(), bytes.size(), o); });
        return to_python(std::move(result));
      },
      py::arg("matter"), py::arg("image"), py::kw_only(), py::arg("effects") = "color", py::arg("params") = py::none(),
      py::arg("refine_radius") = defaults.refine_radius, py::arg("refine_eps") = defaults.refine_eps,
      py::arg("foreground") = defaults.foreground, py::arg("format") = "png",
      py::arg("quality") = defaults.output.quality, py::arg("png_compression") = defaults.output.png_compression,
      py::arg("store") = py::none(), py::arg("cache") = py::none(), py::arg("max_pixels") = defaults.decode.max_pixels,
      py::arg("apply_exif_orientation") = defaults.decode.apply_exif_orientation,
      py::arg("threads") = defaults.threads, py::arg("effects_backend") = "opencv",
      py::arg("effects_device") = defaults.effects_device, py::arg("cancel") = py::none(),
      "Removes the background of encoded PNG or JPEG bytes: decode -> EXIF orientation -> matte\n"
      "(from store when it holds it) -> refinement -> effects -> encode; a repeated request is served\n"
      "from cache. Returns a CutoutResult.\n"
      "  effects='color': the outputs, 'color,bw' or a list, in this order; '' or [] for only the matte\n"
      "  params=None: effect parameters (effect_parameters()), e.g. {'background': 'white'}\n"
      "  refine_radius=0 (off), refine_eps: edge refinement; foreground=False: clean soft edges\n"
      "  format='png' | 'jpeg' (needs an opaque background), quality, png_compression\n"
      "  store=None: a Store for mattes (a failing one never raises: see store_error);\n"
      "  cache=None: a ResultCache for the outputs\n"
      "  max_pixels, apply_exif_orientation: decoding; threads: effects rendered and encoded at once\n"
      "  effects_backend='opencv' | 'tensor', effects_device='cpu'; cancel=None: a CancelToken\n"
      "The GIL is released while it works. Bad options fail before decoding (InvalidArgumentError).");
}

}  // namespace inpaint::python
