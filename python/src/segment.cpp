// Segmenters (encode once, segment per prompt), the store-backed encoding path and the scene
// labeller.
#include <pybind11/stl.h>

#include <cmath>
#include <optional>

#include "convert.hpp"
#include "inpaint/error.hpp"
#include "inpaint/segment.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

double finite(const py::handle& value, const std::string& what) {
  double v = value.cast<double>();
  if (!std::isfinite(v)) throw Error(ErrorCode::InvalidArgument, what + " must be finite, got " + std::to_string(v));
  return v;
}

// (x, y) or (x, y, label) with label 1 (object) or 0 (background), SAM's convention.
PointPrompt to_point(const py::handle& item, std::size_t index) {
  const std::string what = "points[" + std::to_string(index) + "]";
  auto seq = py::reinterpret_borrow<py::sequence>(item);
  if (!py::isinstance<py::sequence>(item) || (seq.size() != 2 && seq.size() != 3))
    throw Error(ErrorCode::InvalidArgument, what + " must be (x, y) or (x, y, label)");
  PointPrompt p{finite(seq[0], what + ".x"), finite(seq[1], what + ".y"), true};
  if (seq.size() == 3) {
    int label = seq[2].cast<int>();
    if (label != 0 && label != 1)
      throw Error(ErrorCode::InvalidArgument, what + ": label must be 1 (object) or 0 (background), got " +
                                                  std::to_string(label));
    p.positive = label == 1;
  }
  return p;
}

HostTensor to_mask_input(const py::array& array) {
  if (array.dtype().kind() != 'f' || array.itemsize() != 4)
    throw py::type_error("mask_input must be a float32 array (a previous mask's low_res_logits)");
  if (!(array.flags() & py::array::c_style)) throw py::type_error("mask_input must be C-contiguous");
  Shape shape(array.shape(), array.shape() + array.ndim());
  return HostTensor::copy_of(DType::F32, shape, array.data());
}

py::dict outcome_dict(const EncodeOutcome& o) {
  py::dict d;
  d["id"] = o.id;
  d["from_store"] = o.from_store;
  d["stored"] = o.stored;
  d["store_error"] = o.store_error;
  d["encode_ms"] = o.encode_ms;
  return d;
}

py::dict labels_dict(const SceneLabels& labels) {
  py::dict d;
  d["surface"] = labels.surface;
  d["detail"] = labels.detail;
  d["confidence"] = labels.confidence ? py::object(py::float_(*labels.confidence)) : py::none();
  d["labeledAt"] = labels.labeled_at;
  return d;
}

// A read-only array over the mask held by the Python SegmentMask `owner`.
py::array mask_view(const py::object& owner) {
  const SegmentMask& m = owner.cast<const SegmentMask&>();
  if (m.mask.empty()) return py::array(py::dtype::of<std::uint8_t>(), std::vector<py::ssize_t>{0, 0});
  py::array array(py::dtype::of<std::uint8_t>(), {py::ssize_t(m.mask.height()), py::ssize_t(m.mask.width())}, {},
                  m.mask.data(), owner);
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return array;
}

struct PySegmentResult {
  py::list masks;
  py::dict timings;
};

}  // namespace

void bind_segment(py::module_& m) {
  m.def(
      "segmenters", [] { return model_infos(list_segmenters()); },
      "The segmenters, sorted by name, as ModelInfo: (name, description) tuples with .keys.");
  m.def(
      "default_segmenter_spec", [] { return std::string(default_segmenter_spec()); },
      "The spec Segmenter() uses when given none ('grabcut': works without a model file).");
  m.def("surface_labels", &surface_labels, "The surfaces the scene labeller names, in the segmentation service's order.");

  py::class_<SegmentMask>(m, "SegmentMask", "One mask of a segment() result (or a concept mask for label_scene()).")
      .def(py::init([](const py::array& mask, double score, const std::string& label) {
             SegmentMask s;
             s.mask = Image::copy_of(image_view(mask, "mask", Pixels::Mask));
             s.score = score;
             s.label = label;
             s.box = mask_bounds(s.mask.view());
             return s;
           }),
           py::arg("mask").noconvert(), py::arg("score") = 1.0, py::arg("label") = "",
           "A mask made elsewhere (copied), e.g. a concept mask from another service for label_scene().")
      .def_property_readonly(
          "mask", [](py::object self) { return mask_view(self); },
          "uint8 (height, width) at the original image's size, 255 = object; a read-only view.")
      .def_readonly("score", &SegmentMask::score, "Predicted IoU (points/boxes) or instance score (concepts).")
      .def_property_readonly(
          "box",
          [](const SegmentMask& s) -> py::object {
            if (s.box.empty()) return py::none();
            return py::make_tuple(s.box.x, s.box.y, s.box.width, s.box.height);
          },
          "(x, y, width, height) of the mask's pixels, or None for an empty mask.")
      .def_readonly("label", &SegmentMask::label, "The concept for concept prompts, '' otherwise.")
      .def_property_readonly(
          "low_res_logits",
          [](const SegmentMask& s) -> py::object {
            if (s.low_res_logits.empty()) return py::none();
            return tensor_to_numpy(s.low_res_logits);
          },
          "float32 (1, 1, 256, 256) model-space logits to pass back as mask_input, or None.")
      .def("__repr__", [](const SegmentMask& s) {
        return "SegmentMask(score=" + std::to_string(s.score) + ", box=(" + std::to_string(s.box.x) + ", " +
               std::to_string(s.box.y) + ", " + std::to_string(s.box.width) + ", " + std::to_string(s.box.height) +
               ")" + (s.label.empty() ? "" : ", label='" + s.label + "'") + ")";
      });

  py::class_<PySegmentResult>(m, "SegmentResult", "What Segmenter.segment() returns.")
      .def_readonly("masks", &PySegmentResult::masks, "SegmentMask list, by decreasing score.")
      .def_readonly("timings", &PySegmentResult::timings, "{'decode': ms, 'postprocess': ms}.")
      .def("__len__", [](const PySegmentResult& r) { return r.masks.size(); })
      .def("__getitem__", [](const PySegmentResult& r, py::ssize_t i) -> py::object {
        py::ssize_t n = py::ssize_t(r.masks.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw py::index_error("segment result index out of range");
        return r.masks[std::size_t(i)];
      });

  py::class_<Segmenter>(m, "Segmenter", py::is_final(),
                        "Encode an image once (expensive, cacheable), then segment many prompts from the\n"
                        "encoding (cheap). Immutable: one instance may serve any number of threads.")
      .def(py::init([](const std::optional<std::string>& spec) {
             std::string text = spec.value_or(default_segmenter_spec());
             return without_gil([&] { return create_segmenter(text); });
           }),
           py::arg("spec") = py::none(),
           "Loads the segmenter a spec names: 'grabcut' (the default) or\n"
           "'sam:encoder=FILE,decoder=FILE[,concept_decoder=FILE,concepts=FILE]' (see segmenters()).")
      .def_property_readonly("spec", &Segmenter::spec, "The canonical spec.")
      .def_property_readonly("model_id", &Segmenter::model_id, "What stored encodings are keyed by (with the pixels).")
      .def_property_readonly(
          "capabilities",
          [](const Segmenter& s) {
            SegmenterCapabilities c = s.capabilities();
            py::dict d;
            d["points"] = c.points;
            d["boxes"] = c.boxes;
            d["mask_input"] = c.mask_input;
            d["multimask"] = c.multimask;
            d["concepts"] = c.concepts;
            return d;
          },
          "{'points', 'boxes', 'mask_input', 'multimask': bool, 'concepts': [labels]}.")
      .def_property_readonly(
          "load_info",
          [](const Segmenter& s) { return load_info_dict(s.load_info()); },
          "{'device', 'load_ms', 'warmup_ms'}.")
      .def(
          "encode",
          [](const Segmenter& s, const py::array& image, const py::object& cancel) {
            ImageView rgb = image_view(image, "image", Pixels::Rgb);
            const RunControl* control = cancel_token(cancel, "encode");
            return without_gil([&] { return s.encode(rgb, control); });
          },
          py::arg("image").noconvert(), py::arg("cancel") = py::none(),
          "The image's encoding (uint8 RGB (height, width, 3)); no store involved.")
      .def(
          "encode_with_store",
          [](const Segmenter& s, const py::array& image, EncodingStore* store, const py::object& cancel) {
            ImageView rgb = image_view(image, "image", Pixels::Rgb);
            const RunControl* control = cancel_token(cancel, "encode_with_store");
            EncodeOutcome outcome;
            Encoding encoding = without_gil([&] { return encode_with_store(s, store, rgb, &outcome, control); });
            return py::make_tuple(std::move(encoding), outcome_dict(outcome));
          },
          py::arg("image").noconvert(), py::arg("store"), py::arg("cancel") = py::none(),
          "(encoding, outcome): the stored encoding when the store holds a reusable one, else a fresh\n"
          "one, put into the store. A store failure never raises: it is reported in\n"
          "outcome = {'id', 'from_store', 'stored', 'store_error', 'encode_ms'}. store may be None.")
      .def(
          "segment",
          [](const Segmenter& s, const Encoding& encoding, const std::optional<py::sequence>& points,
             const std::optional<std::vector<double>>& box, const std::optional<py::array>& mask_input,
             const std::vector<std::string>& concepts, bool multimask, double min_score, const py::object& cancel) {
            SegmentPrompt prompt;
            if (points)
              for (std::size_t i = 0; i < points->size(); ++i) prompt.points.push_back(to_point((*points)[i], i));
            if (box) {
              if (box->size() != 4) throw Error(ErrorCode::InvalidArgument, "box must be (x0, y0, x1, y1)");
              for (double v : *box)
                if (!std::isfinite(v)) throw Error(ErrorCode::InvalidArgument, "box values must be finite");
              prompt.box = BoxPrompt{(*box)[0], (*box)[1], (*box)[2], (*box)[3]};
            }
            if (mask_input) prompt.mask_input = to_mask_input(*mask_input);
            prompt.concepts = concepts;
            prompt.multimask = multimask;
            prompt.min_score = min_score;
            const RunControl* control = cancel_token(cancel, "segment");
            SegmentResult result = without_gil([&] { return s.segment(encoding, prompt, control); });
            PySegmentResult out;
            for (SegmentMask& mask : result.masks) out.masks.append(py::cast(std::move(mask)));
            out.timings["decode"] = result.decode_ms;
            out.timings["postprocess"] = result.postprocess_ms;
            return out;
          },
          py::arg("encoding"), py::kw_only(), py::arg("points") = py::none(), py::arg("box") = py::none(),
          py::arg("mask_input") = py::none(), py::arg("concepts") = std::vector<std::string>{},
          py::arg("multimask") = false, py::arg("min_score") = 0.5, py::arg("cancel") = py::none(),
          "Masks for a prompt from an encoding this segmenter made:\n"
          "  points=[(x, y), (x, y, 0), ...]: clicks in image pixels, label 1 object (default), 0 background\n"
          "  box=(x0, y0, x1, y1): a box in image pixels\n"
          "  mask_input: a previous mask's low_res_logits, to refine it\n"
          "  concepts=['grass', ...]: every instance of each label (segmenters with concept embeddings)\n"
          "  multimask=False: all candidates (best first) instead of the best one\n"
          "  min_score=0.5: concept instances below this are dropped")
      .def("__repr__", [](const Segmenter& s) {
        return "inpaint.Segmenter(" + std::string(py::repr(py::str(s.spec()))) + ")";
      });

  m.def(
      "label_scene",
      [](const std::vector<SegmentMask>& concept_masks, const py::array& object_mask, int ring_width,
         double detail_ratio, double min_coverage) {
        ImageView object = image_view(object_mask, "object_mask", Pixels::Mask);
        LabelOptions options;
        options.ring_width = ring_width;
        options.detail_ratio = detail_ratio;
        options.min_coverage = min_coverage;
        SceneLabelling labelling = without_gil([&] { return label_scene(concept_masks, object, options); });
        py::dict coverage;
        for (const SurfaceCoverage& c : labelling.coverage) coverage[py::str(c.label)] = c.coverage;
        py::dict out;
        out["labels"] = labels_dict(labelling.labels);
        out["json"] = scene_labels_json(labelling.labels);
        out["coverage"] = coverage;
        return out;
      },
      py::arg("concept_masks"), py::arg("object_mask").noconvert(), py::kw_only(),
      py::arg("ring_width") = LabelOptions{}.ring_width, py::arg("detail_ratio") = LabelOptions{}.detail_ratio,
      py::arg("min_coverage") = LabelOptions{}.min_coverage,
      "Names the ground around an object from concept masks (SegmentMask with label and score):\n"
      "{'labels': {'surface', 'detail', 'confidence', 'labeledAt'}, 'json': the scene-labels JSON the\n"
      "prompt builder reads, 'coverage': {label: share of the ring}}. object_mask: uint8 (h, w), 255 = object.");
}

}  // namespace inpaint::python
