// The C shims of segmenters and the scene labeller.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "c_shim.hpp"

using namespace inpaint::capi;

struct inpaint_segmenter {
  std::unique_ptr<const inpaint::Segmenter> segmenter;
  // Kept so that the string getters can hand out stable pointers.
  std::string spec, model_id;
  inpaint::SegmenterCapabilities capabilities;
};

struct inpaint_segmentation {
  inpaint::SegmentResult result;
};

namespace {

constexpr std::int64_t kLowResSide = 256;

// Copies text into a fixed char array, truncated and always terminated.
template <std::size_t N>
void copy_truncated(char (&out)[N], const std::string& text) {
  std::snprintf(out, N, "%s", text.c_str());
}


inpaint::SegmentPrompt segment_prompt(const inpaint_segment_params* user) {
  inpaint_segment_params p = defaults_for(user, inpaint_segment_params_init, "inpaint_segment_params");
  if (user) {
    INPAINT_TAKE(p, user, points);
    INPAINT_TAKE(p, user, point_count);
    INPAINT_TAKE(p, user, has_box);
    INPAINT_TAKE(p, user, box);
    INPAINT_TAKE(p, user, mask_input);
    INPAINT_TAKE(p, user, concepts);
    INPAINT_TAKE(p, user, concept_count);
    INPAINT_TAKE(p, user, multimask);
    INPAINT_TAKE(p, user, min_score);
    INPAINT_TAKE(p, user, control);
  }
  inpaint::SegmentPrompt prompt;
  if (p.point_count && !p.points) invalid("inpaint_segment_params.points is NULL but point_count is " +
                                          std::to_string(p.point_count));
  for (std::size_t i = 0; i < p.point_count; ++i)
    prompt.points.push_back({p.points[i].x, p.points[i].y, p.points[i].positive != 0});
  if (p.has_box) prompt.box = inpaint::BoxPrompt{p.box[0], p.box[1], p.box[2], p.box[3]};
  if (p.mask_input)
    prompt.mask_input = inpaint::HostTensor::copy_of(inpaint::DType::F32, {1, 1, kLowResSide, kLowResSide}, p.mask_input);
  if (p.concept_count && !p.concepts) invalid("inpaint_segment_params.concepts is NULL but concept_count is " +
                                              std::to_string(p.concept_count));
  for (std::size_t i = 0; i < p.concept_count; ++i) {
    if (!p.concepts[i]) invalid("inpaint_segment_params.concepts[" + std::to_string(i) + "] is NULL");
    prompt.concepts.emplace_back(p.concepts[i]);
  }
  prompt.multimask = p.multimask != 0;
  prompt.min_score = p.min_score;
  return prompt;
}

}  // namespace

extern "C" {

inpaint_status inpaint_segmenter_create(const char* spec, inpaint_segmenter** out_segmenter) {
  return guarded([&] {
    require(out_segmenter, "inpaint_segmenter_create", "out_segmenter");
    auto handle = std::make_unique<inpaint_segmenter>();
    handle->segmenter = inpaint::create_segmenter(spec && *spec ? spec : inpaint::default_segmenter_spec());
    handle->spec = handle->segmenter->spec();
    handle->model_id = handle->segmenter->model_id();
    handle->capabilities = handle->segmenter->capabilities();
    *out_segmenter = handle.release();
  });
}

void inpaint_segmenter_free(inpaint_segmenter* segmenter) { delete segmenter; }

const char* inpaint_segmenter_spec(const inpaint_segmenter* segmenter) {
  return segmenter ? segmenter->spec.c_str() : nullptr;
}

const char* inpaint_segmenter_model_id(const inpaint_segmenter* segmenter) {
  return segmenter ? segmenter->model_id.c_str() : nullptr;
}

void inpaint_segmenter_capabilities_init(inpaint_segmenter_capabilities* capabilities) {
  if (!capabilities) return;
  *capabilities = inpaint_segmenter_capabilities{};
  capabilities->struct_size = sizeof(inpaint_segmenter_capabilities);
}

inpaint_status inpaint_segmenter_get_capabilities(const inpaint_segmenter* segmenter,
                                                  inpaint_segmenter_capabilities* out_capabilities) {
  return guarded([&] {
    require(segmenter, "inpaint_segmenter_get_capabilities", "segmenter");
    require(out_capabilities, "inpaint_segmenter_get_capabilities", "out_capabilities");
    require_struct_size(out_capabilities, "inpaint_segmenter_get_capabilities", "out_capabilities",
                        "inpaint_segmenter_capabilities_init");
    const auto& c = segmenter->capabilities;
    inpaint_segmenter_capabilities all;
    all.struct_size = out_capabilities->struct_size;
    all.points = c.points;
    all.boxes = c.boxes;
    all.mask_input = c.mask_input;
    all.multimask = c.multimask;
    all.concept_count = c.concepts.size();
    const inpaint_segmenter_capabilities* from = &all;
    INPAINT_TAKE(*out_capabilities, from, points);
    INPAINT_TAKE(*out_capabilities, from, boxes);
    INPAINT_TAKE(*out_capabilities, from, mask_input);
    INPAINT_TAKE(*out_capabilities, from, multimask);
    INPAINT_TAKE(*out_capabilities, from, concept_count);
  });
}

const char* inpaint_segmenter_concept(const inpaint_segmenter* segmenter, size_t index) {
  if (!segmenter || index >= segmenter->capabilities.concepts.size()) return nullptr;
  return segmenter->capabilities.concepts[index].c_str();
}

inpaint_status inpaint_segmenter_list_size(size_t* out_count) {
  return guarded([&] {
    require(out_count, "inpaint_segmenter_list_size", "out_count");
    *out_count = inpaint::list_segmenters().size();
  });
}

inpaint_status inpaint_segmenter_list_get(size_t index, char** out_name, char** out_description) {
  return guarded([&] {
    const std::vector<inpaint::ModelInfo> list = inpaint::list_segmenters();  // info refers into it
    const inpaint::ModelInfo& info = list_entry(list, index, "inpaint_segmenter_list_get", "segmenter");
    give_strings(info.name, out_name, info.description, out_description);
  });
}

inpaint_status inpaint_segmenter_list_key_count(size_t index, size_t* out_count) {
  return guarded([&] {
    list_key_count(inpaint::list_segmenters(), index, out_count, "inpaint_segmenter_list_key_count", "segmenter");
  });
}

inpaint_status inpaint_segmenter_list_key_get(size_t index, size_t key_index, char** out_key, char** out_doc) {
  return guarded([&] {
    list_key_get(inpaint::list_segmenters(), index, key_index, out_key, out_doc, "inpaint_segmenter_list_key_get",
                 "segmenter");
  });
}

void inpaint_encode_outcome_init(inpaint_encode_outcome* outcome) {
  if (!outcome) return;
  *outcome = inpaint_encode_outcome{};
  outcome->struct_size = sizeof(inpaint_encode_outcome);
}

inpaint_status inpaint_segmenter_encode(const inpaint_segmenter* segmenter, const inpaint_image* image,
                                        inpaint_store* store, inpaint_run_control* control,
                                        inpaint_encoding** out_encoding, inpaint_encode_outcome* out_outcome) {
  return guarded([&] {
    const char* fn = "inpaint_segmenter_encode";
    require(segmenter, fn, "segmenter");
    require(out_encoding, fn, "out_encoding");
    if (out_outcome) require_struct_size(out_outcome, fn, "out_outcome", "inpaint_encode_outcome_init");
    inpaint::ImageView rgb = image_view(image, fn, "image", 3, 3);
    inpaint::EncodeOutcome outcome;
    auto handle = std::make_unique<inpaint_encoding>();
    handle->encoding = inpaint::encode_with_store(*segmenter->segmenter, store ? store->store.get() : nullptr, rgb,
                                                  &outcome, control_of(control));
    if (out_outcome) {
      inpaint_encode_outcome all;
      all.struct_size = out_outcome->struct_size;
      copy_truncated(all.id, outcome.id);
      all.from_store = outcome.from_store;
      all.stored = outcome.stored;
      copy_truncated(all.store_error, outcome.store_error);
      all.encode_ms = outcome.encode_ms;
      const inpaint_encode_outcome* from = &all;
      INPAINT_TAKE(*out_outcome, from, id);
      INPAINT_TAKE(*out_outcome, from, from_store);
      INPAINT_TAKE(*out_outcome, from, stored);
      INPAINT_TAKE(*out_outcome, from, store_error);
      INPAINT_TAKE(*out_outcome, from, encode_ms);
    }
    *out_encoding = handle.release();
  });
}

void inpaint_segment_params_init(inpaint_segment_params* params) {
  if (!params) return;
  *params = inpaint_segment_params{};
  params->struct_size = sizeof(inpaint_segment_params);
  params->min_score = inpaint::SegmentPrompt{}.min_score;
}

inpaint_status inpaint_segment(const inpaint_segmenter* segmenter, const inpaint_encoding* encoding,
                               const inpaint_segment_params* params, inpaint_segmentation** out_segmentation) {
  return guarded([&] {
    require(segmenter, "inpaint_segment", "segmenter");
    require(encoding, "inpaint_segment", "encoding");
    require(out_segmentation, "inpaint_segment", "out_segmentation");
    inpaint::SegmentPrompt prompt = segment_prompt(params);
    const inpaint::RunControl* control = nullptr;
    if (params && offsetof(inpaint_segment_params, control) + sizeof(params->control) <= params->struct_size)
      control = control_of(params->control);
    auto handle = std::make_unique<inpaint_segmentation>();
    handle->result = segmenter->segmenter->segment(encoding->encoding, prompt, control);
    *out_segmentation = handle.release();
  });
}

void inpaint_segmentation_free(inpaint_segmentation* segmentation) { delete segmentation; }

size_t inpaint_segmentation_count(const inpaint_segmentation* segmentation) {
  return segmentation ? segmentation->result.masks.size() : 0;
}

void inpaint_segment_mask_init(inpaint_segment_mask* mask) {
  if (!mask) return;
  *mask = inpaint_segment_mask{};
  mask->struct_size = sizeof(inpaint_segment_mask);
}

inpaint_status inpaint_segmentation_mask(const inpaint_segmentation* segmentation, size_t index,
                                         inpaint_segment_mask* out_mask) {
  return guarded([&] {
    const char* fn = "inpaint_segmentation_mask";
    require(segmentation, fn, "segmentation");
    require(out_mask, fn, "out_mask");
    require_struct_size(out_mask, fn, "out_mask", "inpaint_segment_mask_init");
    const auto& masks = segmentation->result.masks;
    if (index >= masks.size())
      invalid(std::string(fn) + ": index " + std::to_string(index) + " is out of range (there are " +
              std::to_string(masks.size()) + " masks)");
    const inpaint::SegmentMask& m = masks[index];
    inpaint_segment_mask all;
    all.struct_size = out_mask->struct_size;
    // The library never writes through it: the mask stays the segmentation's.
    all.mask = inpaint_image{const_cast<uint8_t*>(m.mask.data()), m.mask.width(), m.mask.height(), 1, m.mask.stride()};
    all.score = m.score;
    all.box[0] = m.box.x, all.box[1] = m.box.y, all.box[2] = m.box.width, all.box[3] = m.box.height;
    all.label = m.label.c_str();
    all.low_res_logits =
        m.low_res_logits.empty() ? nullptr : reinterpret_cast<const float*>(m.low_res_logits.data());
    const inpaint_segment_mask* from = &all;
    INPAINT_TAKE(*out_mask, from, mask);
    INPAINT_TAKE(*out_mask, from, score);
    INPAINT_TAKE(*out_mask, from, box);
    INPAINT_TAKE(*out_mask, from, label);
    INPAINT_TAKE(*out_mask, from, low_res_logits);
  });
}

void inpaint_label_params_init(inpaint_label_params* params) {
  if (!params) return;
  *params = inpaint_label_params{};
  params->struct_size = sizeof(inpaint_label_params);
  inpaint::LabelOptions defaults;
  params->ring_width = defaults.ring_width;
  params->detail_ratio = defaults.detail_ratio;
  params->min_coverage = defaults.min_coverage;
}

inpaint_status inpaint_label_scene(const inpaint_segmentation* concept_masks, const inpaint_image* object_mask,
                                   const inpaint_label_params* params, char** out_json) {
  return guarded([&] {
    const char* fn = "inpaint_label_scene";
    require(concept_masks, fn, "concept_masks");
    require(out_json, fn, "out_json");
    inpaint::ImageView object = image_view(object_mask, fn, "object_mask", 1, 1);
    inpaint_label_params p = defaults_for(params, inpaint_label_params_init, "inpaint_label_params");
    if (params) {
      INPAINT_TAKE(p, params, ring_width);
      INPAINT_TAKE(p, params, detail_ratio);
      INPAINT_TAKE(p, params, min_coverage);
    }
    inpaint::LabelOptions options;
    options.ring_width = p.ring_width;
    options.detail_ratio = p.detail_ratio;
    options.min_coverage = p.min_coverage;
    auto labelling = inpaint::label_scene(concept_masks->result.masks, object, options);
    *out_json = copy_string(inpaint::scene_labels_json(labelling.labels));
  });
}

}  // extern "C"
