// The `sam` segmenter: a SAM-family encoder/decoder pair exported as TorchScript (DESIGN.md §4).
// Part of the torch backend (backends/torch/).
//
// Spec: sam:encoder=FILE,decoder=FILE[,concept_decoder=FILE,concepts=FILE.safetensors]
//           [,preprocess=sam1|sam2][,size=1024][,device=cpu|cuda|cuda:N|auto][,id=NAME]
//           [,warmup=0|1][,mask_threshold=0]
//
// Encoder: forward(image f32 [1,3,S,S]) -> Tensor (stored as "image_embeddings") or
//   Dict[str, Tensor] (every entry stored under its name, e.g. SAM2's "high_res_feats_0").
//   sam1: the long side resized to S (new = int(dim * S / long + 0.5), as SAM's
//   ResizeLongestSide), normalised on 0..255 with mean (123.675, 116.28, 103.53) and std
//   (58.395, 57.12, 57.375), zero-padded at the bottom/right. sam2: resized to S x S ignoring
//   the aspect, scaled to
//   [0,1], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), no padding. Both resize the
//   8-bit pixels with OpenCV: area averaging when shrinking (an antialiasing filter, as SAM's
//   PIL/torchvision resize has), bilinear when enlarging.
// Decoder: forward(features Dict[str, Tensor], point_coords f32 [1,N,2] (model-input pixels),
//   point_labels f32 [1,N] (1 positive, 0 negative, 2/3 box corners, -1 padding),
//   mask_input f32 [1,1,256,256], has_mask_input f32 [1]) -> (logits f32 [1,M,256,256],
//   scores f32 [1,M]). Points come first, then the box's two corners; without a box one padding
//   point (0,0) label -1 is appended (as SAM's ONNX export expects). x' = x * input_w / orig_w,
//   y' = y * input_h / orig_h (input = the resized size before padding; sam2: S).
//   multimask=false returns the single highest-scoring of the M masks; multimask=true all M by
//   decreasing score (ordered by the raw scores, then clamped to [0, 1] as SegmentMask promises:
//   a predicted IoU can stray slightly outside).
// Concept decoder: forward(features, concept f32 [1,T,D]) -> (logits f32 [1,Q,256,256], scores
//   f32 [1,Q]); run once per requested label with that label's embedding from the concepts
//   safetensors file (one F32/F16/BF16 tensor [D] or [T,D] per label); instances scoring at least
//   min_score are returned, labelled, all labels' instances by decreasing score.
// Decoders receive the features without a copy (they may be a memory-mapped encoding file):
//   they must not modify their inputs in place.
// Masks: logits -> S x S bilinear -> crop to the resized size -> original size bilinear
//   (SAM's postprocess_masks), a pixel is object when its logit > mask_threshold.
// model_id: `id`, else "sam-" + the first 16 hex digits of the checksum, SHA-256 over the
//   encoder's then the decoder's file bytes.
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "core/cv_bridge.hpp"
#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "backends/torch/backend.hpp"
#include "backends/torch/runtime.hpp"
#include "backends/torch/sam_prompt.hpp"
#include "backends/torch/torch_bridge.hpp"
#include "segment/sam_mask.hpp"
#include "store/sha256.hpp"

namespace inpaint::detail {

namespace {

constexpr int64_t kLowRes = kSamLowRes;

enum class Preprocess { Sam1, Sam2 };

[[noreturn]] void invalid(const std::string& message) { throw Error(ErrorCode::InvalidArgument, "sam: " + message); }

class SamSegmenter final : public Segmenter {
 public:
  struct Options {
    std::string encoder, decoder, concept_decoder, concepts;
    Preprocess preprocess = Preprocess::Sam1;
    int size = 1024;
    std::string device_name = "auto";
    std::string id;
    bool warmup = false;
    double mask_threshold = 0;
    double backend_ms = 0;  // what loading the backend cost this segmenter (load_info)
  };

  explicit SamSegmenter(Options o) : o_(std::move(o)), device_(resolve_device(o_.device_name, "sam")) {
    configure_executor();
    Stopwatch watch;
    // Hashing the weights (about 1.5 s for a 2.5 GB ViT-H) runs beside loading them.
    auto checksum = std::async(std::launch::async, [this] { return sha256_of_files({o_.encoder, o_.decoder}); });
    encoder_ = load_module(o_.encoder, device_, "sam");
    decoder_ = load_module(o_.decoder, device_, "sam");
    if (!o_.concept_decoder.empty()) {
      concept_decoder_ = load_module(o_.concept_decoder, device_, "sam");
      load_concepts();
    }
    checksum_ = checksum.get();
    model_id_ = o_.id.empty() ? "sam-" + checksum_.substr(0, 16) : o_.id;
    preprocessing_ = o_.preprocess == Preprocess::Sam1
                         ? "sam1:size=" + std::to_string(o_.size) + ",pad=br,norm=imagenet255"
                         : "sam2:size=" + std::to_string(o_.size) + ",square,norm=imagenet01";
    info_.device = device_.str();
    info_.load_ms = watch.lap();
    info_.backend_ms = o_.backend_ms;
    if (o_.warmup) {
      // One encode and one click, so the first request does not pay for lazy initialisation.
      Image grey = Image::uninitialized(256, 256, 3);
      std::fill(grey.data(), grey.data() + grey.size_bytes(), std::uint8_t(128));
      Encoding encoding = encode(grey.view(), nullptr);
      SegmentPrompt prompt;
      prompt.points.push_back({128, 128, true});
      segment(encoding, prompt, nullptr);
      info_.warmup_ms = watch.lap();
    }
  }

  std::string spec() const override {
    ModelSpec s{"sam", {{"encoder", o_.encoder},
                        {"decoder", o_.decoder},
                        {"preprocess", o_.preprocess == Preprocess::Sam1 ? "sam1" : "sam2"},
                        {"size", std::to_string(o_.size)},
                        {"device", device_.str()}}};
    if (!o_.concept_decoder.empty()) {
      s.params["concept_decoder"] = o_.concept_decoder;
      s.params["concepts"] = o_.concepts;
    }
    if (!o_.id.empty()) s.params["id"] = o_.id;
    if (o_.warmup) s.params["warmup"] = "1";
    if (o_.mask_threshold != 0) s.params["mask_threshold"] = number_text(o_.mask_threshold);
    return s.str();
  }

  std::string model_id() const override { return model_id_; }

  SegmenterCapabilities capabilities() const override {
    SegmenterCapabilities c;
    c.points = c.boxes = c.mask_input = c.multimask = true;
    for (const auto& entry : concepts_) c.concepts.push_back(entry.first);  // a map: sorted
    return c;
  }

  ModelLoadInfo load_info() const override { return info_; }

  Encoding encode(const ImageView& image, const RunControl* control) const override {
    if (image.empty() || image.channels != 3)
      invalid("encode needs a non-empty RGB image, got " + std::to_string(image.width) + "x" +
              std::to_string(image.height) + "x" + std::to_string(image.channels));
    check_run(control, "before the sam encoder");
    // The metadata's pixel hash is computed on another thread while the image is preprocessed
    // and encoded (a 12 MP photo takes about 20 ms to hash).
    auto pixel_hash = std::async(std::launch::async, [&image] { return pixel_sha256(image); });
    SamGeometry g = geometry(image.width, image.height);
    Encoding encoding;
    {
      torch::NoGradGuard no_grad;
      c10::InferenceMode inference;
      torch::Tensor x = preprocess(image, g);
      torch::jit::IValue out = call_forward(encoder_, {x}, o_.encoder, "sam");
      for (const auto& [name, t] : encoder_features(out, o_.encoder, "sam")) encoding.tensors[name] = from_torch(t);
    }
    check_run(control, "after the sam encoder");
    EncodingMetadata& m = encoding.metadata;
    m.model_id = model_id_;
    m.model_checksum = checksum_;
    m.preprocessing = preprocessing_;
    auto primary = encoding.tensors.count("image_embeddings") ? encoding.tensors.find("image_embeddings")
                                                              : encoding.tensors.begin();
    m.dtype = dtype_name(primary->second.dtype());
    m.image_sha256 = pixel_hash.get();
    m.original_width = image.width;
    m.original_height = image.height;
    m.created_at = std::int64_t(std::time(nullptr));
    m.extra["input_width"] = std::to_string(g.input_width);
    m.extra["input_height"] = std::to_string(g.input_height);
    m.extra["features"] = feature_list(encoding);
    {
      std::lock_guard lock(features_mutex_);
      if (known_features_.empty()) known_features_ = m.extra["features"];
    }
    return encoding;
  }

  void check_encoding(const Encoding& e) const override {
    const EncodingMetadata& m = e.metadata;
    if (m.format_version != kEncodingFormatVersion)
      invalid("the encoding's format version is " + std::to_string(m.format_version) + ", this library's is " +
              std::to_string(kEncodingFormatVersion));
    if (m.model_id != model_id_) invalid("the encoding is of model '" + m.model_id + "', this is '" + model_id_ + "'");
    if (m.model_checksum != checksum_)
      invalid("the encoding's model checksum " + m.model_checksum.substr(0, 16) + "... differs from this model's " +
              checksum_.substr(0, 16) + "...");
    if (m.preprocessing != preprocessing_)
      invalid("the encoding's preprocessing '" + m.preprocessing + "' differs from this model's '" + preprocessing_ + "'");
    if (m.original_width <= 0 || m.original_height <= 0) invalid("the encoding has no original image size");
    SamGeometry g = geometry(m.original_width, m.original_height);
    auto extra = [&](const char* key) {
      auto it = m.extra.find(key);
      return it == m.extra.end() ? std::string("(none)") : it->second;
    };
    if (extra("input_width") != std::to_string(g.input_width) || extra("input_height") != std::to_string(g.input_height))
      invalid("the encoding's input size " + extra("input_width") + "x" + extra("input_height") + " is not " +
              std::to_string(g.input_width) + "x" + std::to_string(g.input_height) + " for a " +
              std::to_string(m.original_width) + "x" + std::to_string(m.original_height) + " image");
    // The feature names it was made with, and (once this model has encoded) the ones it makes.
    std::string listed = extra("features"), known;
    {
      std::lock_guard lock(features_mutex_);
      known = known_features_;
    }
    if (!known.empty() && listed != known)
      invalid("the encoding holds features {" + listed + "}, this model's encoder makes {" + known + "}");
    std::size_t start = 0;
    while (start <= listed.size()) {
      std::size_t end = listed.find(',', start);
      if (end == std::string::npos) end = listed.size();
      std::string name = listed.substr(start, end - start);
      if (name.empty() || !e.tensors.count(name)) invalid("the encoding lacks the feature tensor '" + name + "'");
      start = end + 1;
    }
    if (e.tensors.empty()) invalid("the encoding holds no feature tensors");
  }

  SegmentResult segment(const Encoding& encoding, const SegmentPrompt& prompt,
                        const RunControl* control) const override {
    check_encoding(encoding);
    SamGeometry g = geometry(encoding.metadata.original_width, encoding.metadata.original_height);
    validate_prompt(prompt, g);
    check_run(control, "before the sam decoder");
    SegmentResult result;
    torch::NoGradGuard no_grad;
    c10::InferenceMode inference;
    c10::Dict<std::string, at::Tensor> features;
    for (const auto& [name, t] : encoding.tensors) features.insert(name, to_torch(t).to(device_));
    if (!prompt.concepts.empty()) {
      run_concepts(features, prompt, g, control, result);
    } else {
      run_prompt(features, prompt, g, result);
    }
    std::stable_sort(result.masks.begin(), result.masks.end(),
                     [](const SegmentMask& a, const SegmentMask& b) { return a.score > b.score; });
    return result;
  }

 private:
  SamGeometry geometry(int width, int height) const {
    SamGeometry g;
    g.size = o_.size;
    g.orig_width = width;
    g.orig_height = height;
    if (o_.preprocess == Preprocess::Sam1) {
      // SAM's ResizeLongestSide.get_preprocess_shape.
      double scale = double(o_.size) / double(std::max(width, height));
      g.input_width = std::clamp(int(double(width) * scale + 0.5), 1, o_.size);
      g.input_height = std::clamp(int(double(height) * scale + 0.5), 1, o_.size);
    } else {
      g.input_width = g.input_height = o_.size;
    }
    return g;
  }

  // [1,3,S,S] f32 on the device. The resize runs on the 8-bit host pixels with OpenCV (area
  // averaging when shrinking, bilinear otherwise), so a 12 MP photo is 1024 px of bytes before
  // anything becomes float or crosses to the device.
  torch::Tensor preprocess(const ImageView& image, const SamGeometry& g) const {
    cv::Mat resized = as_mat(image);
    if (g.input_width != image.width || g.input_height != image.height) {
      bool shrink = g.input_width <= image.width && g.input_height <= image.height;
      cv::Mat source = resized;
      cv::resize(source, resized, cv::Size(g.input_width, g.input_height), 0, 0,
                 shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    auto rgb = torch::from_blob(resized.data, {resized.rows, resized.cols, 3}, {int64_t(resized.step), 3, 1},
                                torch::kUInt8);
    // The float copy is made before `resized` goes out of scope.
    auto x = rgb.to(device_).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
    namespace F = torch::nn::functional;
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
    if (o_.preprocess == Preprocess::Sam1) {
      auto mean = torch::tensor({123.675f, 116.28f, 103.53f}, opts).view({1, 3, 1, 1});
      auto std = torch::tensor({58.395f, 57.12f, 57.375f}, opts).view({1, 3, 1, 1});
      x = (x - mean) / std;
      x = F::pad(x, F::PadFuncOptions({0, g.size - g.input_width, 0, g.size - g.input_height}).value(0));
    } else {
      auto mean = torch::tensor({0.485f, 0.456f, 0.406f}, opts).view({1, 3, 1, 1});
      auto std = torch::tensor({0.229f, 0.224f, 0.225f}, opts).view({1, 3, 1, 1});
      x = (x / 255.0 - mean) / std;
    }
    return x.contiguous();
  }

  static std::string feature_list(const Encoding& e) {
    std::string s;
    for (const auto& entry : e.tensors) s += (s.empty() ? "" : ",") + entry.first;
    return s;
  }

  void load_concepts() {
    Encoding file;
    try {
      file = read_safetensors(o_.concepts);
    } catch (const Error& e) {
      throw Error(e.code(), "sam: concepts: " + std::string(e.what()));
    }
    if (file.tensors.empty()) invalid("concepts file '" + o_.concepts + "' holds no tensors");
    for (const auto& [label, t] : file.tensors) {
      if (t.dtype() != DType::F32 && t.dtype() != DType::F16 && t.dtype() != DType::BF16)
        invalid("concept '" + label + "' in '" + o_.concepts + "' is " + dtype_name(t.dtype()) +
                ", expected F32, F16 or BF16");
      if ((t.shape().size() != 1 && t.shape().size() != 2) || t.numel() == 0)
        invalid("concept '" + label + "' in '" + o_.concepts + "' has shape " + shape_text(t.shape()) +
                ", expected [D] or [T,D]");
      auto x = to_torch(t).to(torch::kFloat32);
      if (x.dim() == 1) x = x.unsqueeze(0);
      if (!all_finite(x)) invalid("concept '" + label + "' in '" + o_.concepts + "' holds NaN or infinite values");
      concepts_[label] = x.unsqueeze(0).to(device_).contiguous().clone();
    }
  }

  void validate_prompt(const SegmentPrompt& p, const SamGeometry& g) const {
    if (!p.concepts.empty()) {
      if (!p.points.empty() || p.box || !p.mask_input.empty())
        invalid("concept prompts cannot be mixed with points, a box or a mask input");
      if (concepts_.empty()) invalid("this model has no concept decoder (give concept_decoder= and concepts=)");
      if (!std::isfinite(p.min_score)) invalid("min_score is not finite");
      for (const std::string& label : p.concepts) {
        if (concepts_.count(label)) continue;
        std::string known;
        for (const auto& entry : concepts_) known += (known.empty() ? "" : ", ") + entry.first;
        invalid("unknown concept '" + label + "' (known: " + known + ")");
      }
      return;
    }
    if (p.points.empty() && !p.box) invalid("the prompt is empty: give points, a box or concepts");
    check_sam_prompt(p.points, p.box, g.orig_width, g.orig_height, "image", "sam: ");
    if (!p.mask_input.empty()) {
      const HostTensor& m = p.mask_input;
      bool shape_ok = m.shape() == Shape{1, 1, kLowRes, kLowRes} || m.shape() == Shape{kLowRes, kLowRes};
      if (m.dtype() != DType::F32 || !shape_ok)
        invalid("mask_input must be F32 [1,1,256,256] or [256,256], got " + std::string(dtype_name(m.dtype())) + " " +
                shape_text(m.shape()));
      if (!all_finite(to_torch(m))) invalid("mask_input holds NaN or infinite values");
    }
  }

  // (logits [1,M,256,256], scores [1,M]) as CPU f32, checked.
  std::pair<torch::Tensor, torch::Tensor> logits_and_scores(const torch::jit::IValue& out, const std::string& path,
                                                            bool allow_empty) const {
    const char* expected = "Tuple[Tensor, Tensor] (logits [1,M,256,256], scores [1,M])";
    if (!out.isTuple()) invalid("'" + path + "' returned a " + out.tagKind() + ", expected " + expected);
    const auto& items = out.toTuple()->elements();
    if (items.size() != 2 || !items[0].isTensor() || !items[1].isTensor())
      invalid("'" + path + "' returned a tuple of " + std::to_string(items.size()) + " that is not " + expected);
    auto logits = items[0].toTensor(), scores = items[1].toTensor();
    bool ok = logits.dim() == 4 && logits.size(0) == 1 && logits.size(2) == kLowRes && logits.size(3) == kLowRes &&
              scores.dim() == 2 && scores.size(0) == 1 && scores.size(1) == logits.size(1) &&
              (allow_empty || logits.size(1) > 0);
    if (!ok)
      invalid("'" + path + "' returned logits " + shape_str(logits) + " and scores " + shape_str(scores) +
              ", expected [1,M,256,256] and [1,M]");
    logits = logits.to(torch::kCPU, torch::kFloat32).contiguous();
    scores = scores.to(torch::kCPU, torch::kFloat32).contiguous();
    if (!all_finite(logits) || !all_finite(scores))
      throw Error(ErrorCode::Internal, "sam: '" + path + "' returned NaN or infinite values (logits " +
                                           shape_str(logits) + ", scores " + shape_str(scores) + ")");
    return {logits, scores};
  }

  SegmentMask make_mask(const torch::Tensor& logits, int64_t index, double score, const SamGeometry& g) const {
    SegmentMask m;
    torch::Tensor low = logits[0][index].clone();  // [256,256], contiguous, this mask's only
    m.mask = sam_logits_to_mask(low.data_ptr<float>(), g, float(o_.mask_threshold), &m.box);
    // The model's predicted IoU may stray a little outside [0, 1]; SegmentMask promises [0, 1]
    // (masks are ordered by the raw scores before this).
    m.score = std::clamp(score, 0.0, 1.0);
    m.low_res_logits = from_torch(low.view({1, 1, kLowRes, kLowRes}));
    return m;
  }

  void run_prompt(const c10::Dict<std::string, at::Tensor>& features, const SegmentPrompt& p, const SamGeometry& g,
                  SegmentResult& result) const {
    const double sx = double(g.input_width) / g.orig_width, sy = double(g.input_height) / g.orig_height;
    std::vector<float> coords, labels;
    sam_point_inputs(p.points, p.box, g.orig_width, g.orig_height, sx, sy, coords, labels);
    const int64_t n = int64_t(labels.size());
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    auto point_coords = torch::from_blob(coords.data(), {1, n, 2}, opts).to(device_).clone();
    auto point_labels = torch::from_blob(labels.data(), {1, n}, opts).to(device_).clone();
    torch::Tensor mask_input, has_mask;
    if (p.mask_input.empty()) {
      mask_input = torch::zeros({1, 1, kLowRes, kLowRes}, opts.device(device_));
      has_mask = torch::zeros({1}, opts.device(device_));
    } else {
      mask_input = to_torch(p.mask_input).view({1, 1, kLowRes, kLowRes}).to(device_).clone();
      has_mask = torch::ones({1}, opts.device(device_));
    }
    Stopwatch watch;
    auto out = call_forward(decoder_, {features, point_coords, point_labels, mask_input, has_mask}, o_.decoder, "sam");
    auto [logits, scores] = logits_and_scores(out, o_.decoder, false);
    result.decode_ms = watch.lap();
    const int64_t m = logits.size(1);
    const float* s = scores.data_ptr<float>();
    std::vector<int64_t> order(static_cast<std::size_t>(m));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
    if (!p.multimask) order.resize(1);  // the best-scoring one
    for (int64_t i : order) result.masks.push_back(make_mask(logits, i, s[i], g));
    result.postprocess_ms = watch.lap();
  }

  void run_concepts(const c10::Dict<std::string, at::Tensor>& features, const SegmentPrompt& p, const SamGeometry& g,
                    const RunControl* control, SegmentResult& result) const {
    for (const std::string& label : p.concepts) {
      check_run(control, "between sam concept labels");
      Stopwatch watch;
      auto out = call_forward(concept_decoder_, {features, concepts_.at(label)}, o_.concept_decoder, "sam");
      auto [logits, scores] = logits_and_scores(out, o_.concept_decoder, true);
      result.decode_ms += watch.lap();
      const float* s = scores.data_ptr<float>();
      for (int64_t q = 0; q < logits.size(1); ++q) {
        if (s[q] < p.min_score) continue;
        result.masks.push_back(make_mask(logits, q, s[q], g));
        result.masks.back().label = label;
      }
      result.postprocess_ms += watch.lap();
    }
  }

  Options o_;
  torch::Device device_;
  // forward() is safe for concurrent callers: the modules are not changed after load.
  mutable torch::jit::Module encoder_, decoder_, concept_decoder_;
  std::map<std::string, torch::Tensor> concepts_;  // label -> f32 [1,T,D] on the device
  std::string checksum_, model_id_, preprocessing_;
  ModelLoadInfo info_;
  mutable std::mutex features_mutex_;
  mutable std::string known_features_;  // the encoder's feature names, once it has run
};

}  // namespace

}  // namespace inpaint::detail

namespace inpaint::detail {

void check_sam_prompt(const std::vector<PointPrompt>& points, const std::optional<BoxPrompt>& box, int width,
                      int height, const char* picture, const std::string& who) {
  auto bad = [&](const std::string& what) { throw Error(ErrorCode::InvalidArgument, who + what); };
  const double W = width, H = height;
  if (points.size() > std::size_t(kSamMaxPoints))
    bad("too many points: " + std::to_string(points.size()) + " (at most " + std::to_string(kSamMaxPoints) + ")");
  for (std::size_t i = 0; i < points.size(); ++i) {
    const PointPrompt& pt = points[i];
    if (!std::isfinite(pt.x) || !std::isfinite(pt.y)) bad("point " + std::to_string(i) + " is not finite");
    if (pt.x < 0 || pt.y < 0 || pt.x > W || pt.y > H)
      bad("point " + std::to_string(i) + " (" + number_text(pt.x) + ", " + number_text(pt.y) + ") lies outside the " +
          std::to_string(width) + "x" + std::to_string(height) + " " + picture);
  }
  if (box) {
    const BoxPrompt& b = *box;
    if (!std::isfinite(b.x0) || !std::isfinite(b.y0) || !std::isfinite(b.x1) || !std::isfinite(b.y1))
      bad("the box is not finite");
    if (b.x1 < b.x0 || b.y1 < b.y0)
      bad("the box (" + number_text(b.x0) + ", " + number_text(b.y0) + ", " + number_text(b.x1) + ", " +
          number_text(b.y1) + ") has x1 < x0 or y1 < y0");
    if (b.x1 < 0 || b.y1 < 0 || b.x0 > W || b.y0 > H) bad(std::string("the box lies outside the ") + picture);
  }
}

void sam_point_inputs(const std::vector<PointPrompt>& points, const std::optional<BoxPrompt>& box, int width,
                      int height, double sx, double sy, std::vector<float>& coords, std::vector<float>& labels) {
  for (const PointPrompt& pt : points) {
    coords.push_back(float(pt.x * sx));
    coords.push_back(float(pt.y * sy));
    labels.push_back(pt.positive ? 1.0f : 0.0f);
  }
  if (box) {
    // Corners clipped to the picture: a box dragged past the edge means "to the edge".
    const BoxPrompt& b = *box;
    const double W = width, H = height;
    coords.insert(coords.end(), {float(std::clamp(b.x0, 0.0, W) * sx), float(std::clamp(b.y0, 0.0, H) * sy),
                                 float(std::clamp(b.x1, 0.0, W) * sx), float(std::clamp(b.y1, 0.0, H) * sy)});
    labels.insert(labels.end(), {2.0f, 3.0f});
  } else {
    coords.insert(coords.end(), {0.0f, 0.0f});
    labels.push_back(-1.0f);
  }
}

}  // namespace inpaint::detail

namespace inpaint::torch_backend {

using detail::invalid;
using detail::Preprocess;
using detail::SamSegmenter;

std::unique_ptr<Segmenter> make_sam(const ModelSpec& spec, double backend_ms) {
  SpecReader reader(spec);
  SamSegmenter::Options o;
  o.backend_ms = backend_ms;
  o.encoder = reader.get_string("encoder", "");
  o.decoder = reader.get_string("decoder", "");
  o.concept_decoder = reader.get_string("concept_decoder", "");
  o.concepts = reader.get_string("concepts", "");
  std::string preprocess = reader.get_string("preprocess", "sam1");
  o.size = reader.get_int("size", 1024, 64, 4096);
  o.device_name = reader.get_string("device", "auto");
  o.id = reader.get_string("id", "");
  o.warmup = reader.get_int("warmup", 0, 0, 1) != 0;
  o.mask_threshold = reader.get_double("mask_threshold", 0, -1e6, 1e6);
  reader.finish();
  if (o.encoder.empty() || o.decoder.empty()) invalid("encoder=FILE and decoder=FILE are required");
  if (o.concept_decoder.empty() != o.concepts.empty())
    invalid("concept_decoder=FILE and concepts=FILE.safetensors go together");
  if (preprocess == "sam1") o.preprocess = Preprocess::Sam1;
  else if (preprocess == "sam2") o.preprocess = Preprocess::Sam2;
  else invalid("preprocess '" + preprocess + "' is not sam1 or sam2");
  return std::make_unique<SamSegmenter>(std::move(o));
}

}  // namespace inpaint::torch_backend
