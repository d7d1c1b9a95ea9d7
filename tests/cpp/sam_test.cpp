// The sam segmenter against tiny encoder/decoder modules built here, whose outputs are known:
// the encoder returns the preprocessed image average-pooled, the decoders draw discs, boxes or
// colour matches, so the tests check normalisation, padding and the coordinate transforms.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/torch.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "inpaint/error.hpp"
#include "inpaint/segment.hpp"
#include "inpaint/store.hpp"
#include "segment/sam_mask.hpp"
#include "backends/torch/torch_bridge.hpp"
#include "test_util.hpp"

using namespace inpaint;

namespace {

using inpaint::test::code_of;

// Counts the encoder's runs: the test encoders call it (with a non-constant argument, so the
// graph optimiser cannot fold the call away).
std::atomic<int> g_encodes{0};
int64_t count_encode(int64_t k) {
  g_encodes += int(k);
  return 0;
}

TORCH_LIBRARY(inpaint_sam_test, m) { m.def("count_encode(int k) -> int", &count_encode); }

struct TestOpsResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction& f,
                                                         const torch::jit::SourceRange& loc) override {
    if (name == "inpaint_sam_test") return std::make_shared<torch::jit::BuiltinModule>("inpaint_sam_test");
    return torch::jit::nativeResolver()->resolveValue(name, f, loc);
  }
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override {
    return torch::jit::nativeResolver()->resolveType(name, loc);
  }
};

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "inpaint_sam_" + std::to_string(::getpid()) + "_" + name;
}

std::string save_module(const std::string& name, const std::string& body) {
  torch::jit::Module m("M");
  m.define(body, std::make_shared<TestOpsResolver>());
  std::string path = temp_path(name + ".pt");
  m.save(path);
  return path;
}

// The preprocessed image average-pooled by 16: [1,3,S/16,S/16].
const std::string& encoder_path() {
  static const std::string p = save_module("enc", R"(
def forward(self, image):
    assert image.size(0) == 1 and image.size(1) == 3 and image.size(2) == image.size(3)
    assert image.is_floating_point() and image.element_size() == 4
    assert inpaint_sam_test.count_encode(image.size(0)) == 0
    s = image.size(2)
    return image.reshape([1, 3, s // 16, 16, s // 16, 16]).mean([3, 5])
)");
  return p;
}

// SAM2 style: named features, with a high-resolution one.
const std::string& dict_encoder_path() {
  static const std::string p = save_module("enc_dict", R"(
def forward(self, image):
    assert inpaint_sam_test.count_encode(image.size(0)) == 0
    s = image.size(2)
    e = image.reshape([1, 3, s // 16, 16, s // 16, 16]).mean([3, 5])
    h = image.reshape([1, 3, s // 4, 4, s // 4, 4]).mean([3, 5])
    return {"image_embeddings": e, "high_res_feats_0": h}
)");
  return p;
}

const char* kDecoderSignature =
    "def forward(self, features: Dict[str, Tensor], point_coords, point_labels, mask_input, has_mask_input):\n";

// Three discs around the first positive point (radius 40, 80, 120 model pixels: 10, 20, 30 cells
// of the 256 grid, whose cell centres lie at (j + 0.5) * 4 model pixels), scores 0.5, 0.9, 0.7.
const std::string& disc_decoder_path() {
  static const std::string p = save_module("dec_disc", std::string(kDecoderSignature) + R"(
    assert "image_embeddings" in features
    n = point_labels.size(1)
    assert point_coords.size(0) == 1 and point_coords.size(1) == n and point_coords.size(2) == 2
    assert mask_input.size(1) == 1 and mask_input.size(2) == 256 and mask_input.size(3) == 256
    assert has_mask_input.size(0) == 1
    if float(point_labels[0, n - 1]) != 3.0:
        assert float(point_labels[0, n - 1]) == -1.0
        assert float(point_coords[0, n - 1, 0]) == 0.0 and float(point_coords[0, n - 1, 1]) == 0.0
    px = 0.0
    py = 0.0
    for i in range(n):
        if float(point_labels[0, i]) == 1.0:
            px = float(point_coords[0, i, 0])
            py = float(point_coords[0, i, 1])
            break
    c = torch.arange(256).float() + 0.5
    d = torch.sqrt((c.view(1, 256) - px / 4.0) ** 2 + (c.view(256, 1) - py / 4.0) ** 2)
    logits = torch.stack([10.0 - d, 20.0 - d, 30.0 - d]).unsqueeze(0)
    return logits, torch.tensor([[0.5, 0.9, 0.7]])
)");
  return p;
}

// The box (labels 2 and 3) as a rectangle: logits = distance inside its nearest edge, in cells.
const std::string& box_decoder_path() {
  static const std::string p = save_module("dec_box", std::string(kDecoderSignature) + R"(
    n = point_labels.size(1)
    assert float(point_labels[0, n - 2]) == 2.0 and float(point_labels[0, n - 1]) == 3.0
    x0 = float(point_coords[0, n - 2, 0]) / 4.0
    y0 = float(point_coords[0, n - 2, 1]) / 4.0
    x1 = float(point_coords[0, n - 1, 0]) / 4.0
    y1 = float(point_coords[0, n - 1, 1]) / 4.0
    c = torch.arange(256).float() + 0.5
    cx = c.view(1, 256)
    cy = c.view(256, 1)
    inside = torch.minimum(torch.minimum(cx - x0, x1 - cx), torch.minimum(cy - y0, y1 - cy))
    return inside.unsqueeze(0).unsqueeze(0), torch.tensor([[0.8]])
)");
  return p;
}

// Without a mask input: a disc of 20 cells around the first point, score 0.4; with one: the mask
// input itself, score 0.6.
const std::string& echo_decoder_path() {
  static const std::string p = save_module("dec_echo", std::string(kDecoderSignature) + R"(
    if float(has_mask_input[0]) == 1.0:
        return mask_input.clone(), torch.tensor([[0.6]])
    assert float(mask_input.abs().sum()) == 0.0
    c = torch.arange(256).float() + 0.5
    px = float(point_coords[0, 0, 0]) / 4.0
    py = float(point_coords[0, 0, 1]) / 4.0
    d = torch.sqrt((c.view(1, 256) - px) ** 2 + (c.view(256, 1) - py) ** 2)
    return (20.0 - d).view(1, 1, 256, 256), torch.tensor([[0.4]])
)");
  return p;
}

std::string decoder_returning(const std::string& name, const std::string& result) {
  return save_module(name, std::string(kDecoderSignature) + "    return " + result + "\n");
}

// Concepts over the colour-keyed encoder: logits = 0.5 - the distance between a cell's feature
// (its normalised colour) and the concept's mean embedding; instance 0 scores 0.9 when any cell
// matches (else 0.1), instance 1 is an empty mask scoring 0.2.
const std::string& concept_decoder_path() {
  static const std::string p = save_module("dec_concept", R"(
def forward(self, features: Dict[str, Tensor], concept):
    assert concept.dim() == 3 and concept.size(0) == 1 and concept.is_floating_point() and concept.element_size() == 4
    e = features["image_embeddings"][0]
    c = concept[0].mean(0).view(3, 1, 1)
    d = torch.sqrt(((e - c) ** 2).sum(0))
    logit = 0.5 - d
    up = logit.repeat_interleave(4, 0).repeat_interleave(4, 1)
    s = 0.1
    if bool((logit > 0).any()):
        s = 0.9
    logits = torch.stack([up, torch.full([256, 256], -5.0)]).unsqueeze(0)
    return logits, torch.tensor([[s, 0.2]])
)");
  return p;
}

std::array<float, 3> sam1_norm(std::array<float, 3> rgb) {
  const float mean[3] = {123.675f, 116.28f, 103.53f}, sd[3] = {58.395f, 57.12f, 57.375f};
  return {(rgb[0] - mean[0]) / sd[0], (rgb[1] - mean[1]) / sd[1], (rgb[2] - mean[2]) / sd[2]};
}

// A concepts file: grass (green, F32 [3]), soil (brown, F16 [1,3]), sky (blue, F32 [2,3]).
const std::string& concepts_path() {
  static const std::string p = [] {
    Encoding e;
    auto put = [&](const std::string& name, const torch::Tensor& t) { e.tensors[name] = inpaint::detail::from_torch(t.contiguous()); };
    auto vec = [](std::array<float, 3> v) { return torch::tensor({v[0], v[1], v[2]}); };
    put("grass", vec(sam1_norm({60, 160, 60})));
    put("soil", vec(sam1_norm({120, 80, 40})).view({1, 3}).to(torch::kFloat16));
    put("sky", torch::stack({vec(sam1_norm({40, 80, 230})), vec(sam1_norm({60, 100, 250}))}));
    std::string path = temp_path("concepts.safetensors");
    write_safetensors(path, e);
    return path;
  }();
  return p;
}

std::string sam_spec(const std::string& encoder, const std::string& decoder, const std::string& rest = "") {
  return "sam:encoder=" + encoder + ",decoder=" + decoder + ",device=cpu" + (rest.empty() ? "" : "," + rest);
}

Image uniform(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Image img(w, h, 3);
  for (std::size_t i = 0; i < std::size_t(w) * h; ++i) {
    img.data()[i * 3] = r;
    img.data()[i * 3 + 1] = g;
    img.data()[i * 3 + 2] = b;
  }
  return img;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no inpaint::Error thrown";
  return "";
}

struct Moments {
  double count = 0, cx = 0, cy = 0;
};

// Of the mask's pixel centres (x + 0.5, y + 0.5): SAM's coordinates are continuous.
Moments moments(const Image& m) {
  Moments r;
  for (int y = 0; y < m.height(); ++y)
    for (int x = 0; x < m.width(); ++x)
      if (test::at(m, x, y)) {
        r.count += 1;
        r.cx += x + 0.5;
        r.cy += y + 0.5;
      }
  if (r.count) {
    r.cx /= r.count;
    r.cy /= r.count;
  }
  return r;
}

// Every pixel whose centre lies inside the ellipse (cx, cy, rx, ry) shrunk by `margin` pixels is
// set, every one outside it grown by `margin` is not.
void expect_ellipse(const Image& m, double cx, double cy, double rx, double ry, double margin = 1.5) {
  int wrong = 0;
  for (int y = 0; y < m.height(); ++y)
    for (int x = 0; x < m.width(); ++x) {
      double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      double inner = std::hypot(dx / (rx - margin), dy / (ry - margin));
      double outer = std::hypot(dx / (rx + margin), dy / (ry + margin));
      bool set = test::at(m, x, y) != 0;
      if ((inner <= 1 && !set) || (outer > 1 && set)) ++wrong;
    }
  EXPECT_EQ(wrong, 0);
}

}  // namespace

TEST(Sam, SpecAndCapabilities) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  EXPECT_EQ(seg->spec(), "sam:decoder=" + disc_decoder_path() + ",device=cpu,encoder=" + encoder_path() +
                             ",preprocess=sam1,size=1024");
  EXPECT_EQ(seg->model_id().rfind("sam-", 0), 0u);
  EXPECT_EQ(seg->model_id().size(), 4u + 16u);
  auto caps = seg->capabilities();
  EXPECT_TRUE(caps.points && caps.boxes && caps.mask_input && caps.multimask);
  EXPECT_TRUE(caps.concepts.empty());
  EXPECT_EQ(seg->load_info().device, "cpu");
  // The spec round-trips, and the same files give the same id.
  auto again = create_segmenter(seg->spec());
  EXPECT_EQ(again->model_id(), seg->model_id());
  auto named = create_segmenter(sam_spec(encoder_path(), disc_decoder_path(), "id=my-sam"));
  EXPECT_EQ(named->model_id(), "my-sam");
  // Another decoder file: another checksum, another id.
  auto other = create_segmenter(sam_spec(encoder_path(), box_decoder_path()));
  EXPECT_NE(other->model_id(), seg->model_id());
  bool listed = false;
  for (const auto& info : list_segmenters()) listed |= info.name == "sam";
  EXPECT_TRUE(listed);
}

TEST(Sam, WarmupRunsAtLoad) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path(), "warmup=1"));
  EXPECT_GT(seg->load_info().warmup_ms, 0);
  EXPECT_NE(seg->spec().find("warmup=1"), std::string::npos);
}

TEST(Sam, BadSpecs) {
  const std::string e = encoder_path(), d = disc_decoder_path();
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(e, d, "colour=1")); }), ErrorCode::InvalidArgument);
  EXPECT_NE(message_of([&] { create_segmenter(sam_spec(e, d, "colour=1")); }).find("colour"), std::string::npos);
  EXPECT_EQ(code_of([&] { create_segmenter("sam:encoder=" + e); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(e, d, "preprocess=sam3")); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(e, d, "size=10")); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { create_segmenter("sam:encoder=" + e + ",decoder=" + d + ",device=gpu"); }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(e, d, "concept_decoder=" + concept_decoder_path())); }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(temp_path("missing.pt"), d)); }), ErrorCode::Io);
  std::string text = temp_path("not_torchscript.pt");
  std::ofstream(text) << "not a zip archive";
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(e, text)); }), ErrorCode::Decode);
  EXPECT_NE(message_of([&] { create_segmenter(sam_spec(e, text)); }).find(text), std::string::npos);
  EXPECT_EQ(code_of([&] { create_segmenter(sam_spec(e, d, "concept_decoder=" + concept_decoder_path() +
                                                              ",concepts=" + temp_path("none.safetensors"))); }),
            ErrorCode::Io);
}

// A uniform image's embedding is its normalised colour in the image and 0 in the padding (sam1).
TEST(Sam, Sam1PreprocessingNormalisesAndPadsBottomRight) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  for (auto [w, h] : {std::pair{1001, 703}, std::pair{703, 1001}}) {
    Image img = uniform(w, h, 200, 100, 50);
    Encoding enc = seg->encode(img.view());
    const EncodingMetadata& m = enc.metadata;
    EXPECT_EQ(m.preprocessing, "sam1:size=1024,pad=br,norm=imagenet255");
    EXPECT_EQ(m.model_id, seg->model_id());
    EXPECT_EQ(m.model_checksum.size(), 64u);
    EXPECT_EQ(m.model_checksum.substr(0, 16), seg->model_id().substr(4));
    EXPECT_EQ(m.dtype, "F32");
    EXPECT_EQ(m.image_sha256, pixel_sha256(img.view()));
    EXPECT_EQ(m.original_width, w);
    EXPECT_EQ(m.original_height, h);
    EXPECT_GT(m.created_at, 0);
    // 703 * 1024 / 1001 + 0.5 = 719.6: SAM's ResizeLongestSide gives 719.
    EXPECT_EQ(m.extra.at("input_width"), w > h ? "1024" : "719");
    EXPECT_EQ(m.extra.at("input_height"), w > h ? "719" : "1024");
    ASSERT_EQ(enc.tensors.size(), 1u);
    auto t = inpaint::detail::to_torch(enc.tensor("image_embeddings"));
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
    auto norm = sam1_norm({200, 100, 50});
    // 719 model rows: cells 0..43 are all image, 44 mixed, 45..63 padding.
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 64; ++i)
        for (int j = 0; j < 64; ++j) {
          int across = w > h ? i : j;  // the padded direction
          float v = t[0][c][i][j].item<float>();
          if (across <= 43) ASSERT_NEAR(v, norm[std::size_t(c)], 1e-4) << c << " " << i << " " << j;
          if (across >= 45) ASSERT_EQ(v, 0.0f) << c << " " << i << " " << j;
        }
  }
}

TEST(Sam, Sam2PreprocessingSquaresAndKeepsEveryFeature) {
  auto seg = create_segmenter(sam_spec(dict_encoder_path(), disc_decoder_path(), "preprocess=sam2"));
  Image img = uniform(1001, 703, 200, 100, 50);
  Encoding enc = seg->encode(img.view());
  EXPECT_EQ(enc.metadata.preprocessing, "sam2:size=1024,square,norm=imagenet01");
  EXPECT_EQ(enc.metadata.extra.at("input_width"), "1024");
  EXPECT_EQ(enc.metadata.extra.at("features"), "high_res_feats_0,image_embeddings");
  ASSERT_EQ(enc.tensors.size(), 2u);
  auto e = inpaint::detail::to_torch(enc.tensor("image_embeddings"));
  auto hr = inpaint::detail::to_torch(enc.tensor("high_res_feats_0"));
  EXPECT_EQ(e.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
  EXPECT_EQ(hr.sizes(), (std::vector<int64_t>{1, 3, 256, 256}));
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f}, rgb[3] = {200, 100, 50};
  for (int c = 0; c < 3; ++c) {
    float want = (rgb[c] / 255.0f - mean[c]) / sd[c];
    EXPECT_NEAR(e[0][c].min().item<float>(), want, 1e-4);
    EXPECT_NEAR(e[0][c].max().item<float>(), want, 1e-4);
    EXPECT_NEAR(hr[0][c].min().item<float>(), want, 1e-4);
  }
  // The features go to the decoder by name, and its masks come back.
  SegmentPrompt p;
  p.points.push_back({500, 350, true});
  EXPECT_EQ(seg->segment(enc, p).masks.size(), 1u);
}

// A click becomes a disc in model space and comes back a disc centred on the click (sam1,
// uniform scale) at odd sizes in both orientations; multimask returns all three by score.
TEST(Sam, Sam1PointsMapToModelSpaceAndMasksBackExactly) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  for (auto [w, h] : {std::pair{1001, 703}, std::pair{703, 1001}}) {
    Image img = test::pattern_rgb(w, h);
    Encoding enc = seg->encode(img.view());
    double in_w = w > h ? 1024 : 719, in_h = w > h ? 719 : 1024;
    double cx = w * 0.6, cy = h * 0.55;
    SegmentPrompt p;
    p.points.push_back({w * 0.1, h * 0.1, false});  // the decoder takes the first positive one
    p.points.push_back({cx, cy, true});
    SegmentResult r = seg->segment(enc, p);
    ASSERT_EQ(r.masks.size(), 1u);
    const SegmentMask& best = r.masks[0];
    EXPECT_DOUBLE_EQ(best.score, 0.9f);
    ASSERT_EQ(best.mask.width(), w);
    ASSERT_EQ(best.mask.height(), h);
    ASSERT_EQ(best.mask.channels(), 1);
    double rx = 80 * w / in_w, ry = 80 * h / in_h;
    Moments mo = moments(best.mask);
    EXPECT_NEAR(mo.cx, cx, 1.0);
    EXPECT_NEAR(mo.cy, cy, 1.0);
    EXPECT_NEAR(mo.count, M_PI * rx * ry, 0.02 * M_PI * rx * ry);
    expect_ellipse(best.mask, cx, cy, rx, ry);
    EXPECT_NEAR(best.box.x, cx - rx, 1.5);
    EXPECT_NEAR((best.box.x + best.box.width), cx + rx, 1.5);
    EXPECT_NEAR(best.box.y, cy - ry, 1.5);
    EXPECT_NEAR((best.box.y + best.box.height), cy + ry, 1.5);
    ASSERT_FALSE(best.low_res_logits.empty());
    EXPECT_EQ(best.low_res_logits.shape(), (Shape{1, 1, 256, 256}));
    EXPECT_EQ(best.low_res_logits.dtype(), DType::F32);
    EXPECT_GE(r.decode_ms, 0);
    EXPECT_GE(r.postprocess_ms, 0);

    p.multimask = true;
    SegmentResult all = seg->segment(enc, p);
    ASSERT_EQ(all.masks.size(), 3u);
    EXPECT_DOUBLE_EQ(all.masks[0].score, 0.9f);
    EXPECT_DOUBLE_EQ(all.masks[1].score, 0.7f);
    EXPECT_DOUBLE_EQ(all.masks[2].score, 0.5f);
    expect_ellipse(all.masks[1].mask, cx, cy, 120 * w / in_w, 120 * h / in_h);
    expect_ellipse(all.masks[2].mask, cx, cy, 40 * w / in_w, 40 * h / in_h);
  }
}

// sam2 squashes the image to a square: a disc in model space is an ellipse in the image.
TEST(Sam, Sam2PointsMapToModelSpaceAndMasksBackExactly) {
  auto seg = create_segmenter(sam_spec(dict_encoder_path(), disc_decoder_path(), "preprocess=sam2"));
  for (auto [w, h] : {std::pair{1001, 703}, std::pair{703, 1001}}) {
    Image img = test::pattern_rgb(w, h);
    Encoding enc = seg->encode(img.view());
    double cx = w * 0.3, cy = h * 0.65;
    SegmentPrompt p;
    p.points.push_back({cx, cy, true});
    const SegmentMask best = seg->segment(enc, p).masks.at(0);
    double rx = 80.0 * w / 1024, ry = 80.0 * h / 1024;
    Moments mo = moments(best.mask);
    EXPECT_NEAR(mo.cx, cx, 1.0);
    EXPECT_NEAR(mo.cy, cy, 1.0);
    expect_ellipse(best.mask, cx, cy, rx, ry);
  }
}

// A click at the border: the disc is cut by the image's edge, not shifted.
TEST(Sam, ClickOnTheEdge) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  Image img = test::pattern_rgb(640, 360);
  Encoding enc = seg->encode(img.view());
  SegmentPrompt p;
  p.points.push_back({640, 360, true});
  const SegmentMask best = seg->segment(enc, p).masks.at(0);
  expect_ellipse(best.mask, 640, 360, 80 * 640 / 1024.0, 80 * 640 / 1024.0);
  EXPECT_EQ((best.box.x + best.box.width), 640);
  EXPECT_EQ((best.box.y + best.box.height), 360);
}

TEST(Sam, BoxesMapToModelSpaceAndBack) {
  for (const char* pre : {"sam1", "sam2"}) {
    auto seg = create_segmenter(sam_spec(encoder_path(), box_decoder_path(), std::string("preprocess=") + pre));
    Image img = test::pattern_rgb(1001, 703);
    Encoding enc = seg->encode(img.view());
    SegmentPrompt p;
    p.box = BoxPrompt{100, 150, 700, 500};
    SegmentMask m = seg->segment(enc, p).masks.at(0);
    EXPECT_DOUBLE_EQ(m.score, 0.8f);
    EXPECT_NEAR(m.box.x, 100, 1) << pre;
    EXPECT_NEAR(m.box.y, 150, 1) << pre;
    EXPECT_NEAR((m.box.x + m.box.width), 700, 1) << pre;
    EXPECT_NEAR((m.box.y + m.box.height), 500, 1) << pre;
    Moments mo = moments(m.mask);
    EXPECT_NEAR(mo.count, 600.0 * 350.0, 600.0 * 4);
    // A box dragged past the edge is clipped to it.
    p.box = BoxPrompt{-50, -20, 300, 800};
    m = seg->segment(enc, p).masks.at(0);
    EXPECT_EQ(m.box.x, 0) << pre;
    EXPECT_EQ(m.box.y, 0) << pre;
    EXPECT_NEAR((m.box.x + m.box.width), 300, 1) << pre;
    EXPECT_EQ((m.box.y + m.box.height), 703) << pre;
    // Points and a box together: the box still arrives as the last two (labels 2, 3).
    p.points.push_back({200, 300, true});
    EXPECT_NO_THROW(seg->segment(enc, p));
  }
}

TEST(Sam, MaskInputRoundTrip) {
  auto seg = create_segmenter(sam_spec(encoder_path(), echo_decoder_path()));
  Image img = test::pattern_rgb(800, 600);
  Encoding enc = seg->encode(img.view());
  SegmentPrompt p;
  p.points.push_back({400, 300, true});
  SegmentResult first = seg->segment(enc, p);
  EXPECT_DOUBLE_EQ(first.masks.at(0).score, 0.4f);
  // Passing the logits back: has_mask_input = 1 and the decoder sees them unchanged.
  p.mask_input = first.masks[0].low_res_logits;
  SegmentResult second = seg->segment(enc, p);
  EXPECT_DOUBLE_EQ(second.masks.at(0).score, 0.6f);
  const HostTensor& a = first.masks[0].low_res_logits;
  const HostTensor& b = second.masks[0].low_res_logits;
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0);
  EXPECT_EQ(std::memcmp(first.masks[0].mask.data(), second.masks[0].mask.data(), first.masks[0].mask.size_bytes()), 0);
  // [256,256] works too; other dtypes and sizes do not.
  p.mask_input = HostTensor::copy_of(DType::F32, {256, 256}, a.data());
  EXPECT_DOUBLE_EQ(seg->segment(enc, p).masks.at(0).score, 0.6f);
  p.mask_input = HostTensor::allocate(DType::F16, {1, 1, 256, 256});
  EXPECT_EQ(code_of([&] { seg->segment(enc, p); }), ErrorCode::InvalidArgument);
  p.mask_input = HostTensor::allocate(DType::F32, {1, 1, 128, 128});
  EXPECT_EQ(code_of([&] { seg->segment(enc, p); }), ErrorCode::InvalidArgument);
  HostTensor nan = HostTensor::allocate(DType::F32, {256, 256});
  reinterpret_cast<float*>(nan.mutable_data())[7] = NAN;
  p.mask_input = nan;
  EXPECT_EQ(code_of([&] { seg->segment(enc, p); }), ErrorCode::InvalidArgument);
}

TEST(Sam, MaskThresholdFromSpec) {
  // Logits are 20 - distance in cells: a threshold of 10 leaves a disc of 10 cells (40 px).
  auto seg = create_segmenter(sam_spec(encoder_path(), echo_decoder_path(), "mask_threshold=10"));
  EXPECT_NE(seg->spec().find("mask_threshold=10"), std::string::npos);
  Image img = test::pattern_rgb(1024, 1024);
  Encoding enc = seg->encode(img.view());
  SegmentPrompt p;
  p.points.push_back({512, 512, true});
  expect_ellipse(seg->segment(enc, p).masks.at(0).mask, 512, 512, 40, 40);
}

TEST(Sam, BadPrompts) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  Image img = test::pattern_rgb(320, 240);
  Encoding enc = seg->encode(img.view());
  auto fails = [&](const SegmentPrompt& p) { return code_of([&] { seg->segment(enc, p); }); };
  SegmentPrompt p;
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);  // empty
  p.mask_input = HostTensor::allocate(DType::F32, {256, 256});
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);  // a mask input alone
  p = {};
  p.points.push_back({NAN, 3, true});
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);
  p.points = {{10, INFINITY, true}};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);
  p.points = {{321, 10, true}};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);  // outside the image
  p.points = {{-1, 10, true}};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);
  p.points.assign(65, PointPrompt{10, 10, true});
  EXPECT_NE(message_of([&] { seg->segment(enc, p); }).find("too many points"), std::string::npos);
  p.points.assign(64, PointPrompt{10, 10, true});
  EXPECT_NO_THROW(seg->segment(enc, p));
  p = {};
  p.box = BoxPrompt{100, 10, 50, 20};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);  // x1 < x0
  p.box = BoxPrompt{NAN, 10, 50, 20};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);
  p.box = BoxPrompt{400, 300, 500, 400};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);  // wholly outside
  p = {};
  p.concepts = {"grass"};
  EXPECT_EQ(fails(p), ErrorCode::InvalidArgument);  // no concept decoder
  Image grey(32, 32, 1);
  EXPECT_EQ(code_of([&] { seg->encode(grey.view()); }), ErrorCode::InvalidArgument);
}

TEST(Sam, BadModelOutputs) {
  const std::string e = encoder_path();
  Image img = test::pattern_rgb(300, 200);
  SegmentPrompt p;
  p.points.push_back({10, 10, true});
  auto run = [&](const std::string& spec) {
    auto seg = create_segmenter(spec);
    Encoding enc = seg->encode(img.view());
    seg->segment(enc, p);
  };
  std::string shape = decoder_returning("dec_shape", "torch.zeros([1, 3, 128, 128]), torch.zeros([1, 3])");
  EXPECT_EQ(code_of([&] { run(sam_spec(e, shape)); }), ErrorCode::InvalidArgument);
  EXPECT_NE(message_of([&] { run(sam_spec(e, shape)); }).find("[1, 3, 128, 128]"), std::string::npos);
  std::string scores = decoder_returning("dec_scores", "torch.zeros([1, 3, 256, 256]), torch.zeros([1, 2])");
  EXPECT_EQ(code_of([&] { run(sam_spec(e, scores)); }), ErrorCode::InvalidArgument);
  std::string single = decoder_returning("dec_single", "torch.zeros([1, 1, 256, 256])");
  EXPECT_EQ(code_of([&] { run(sam_spec(e, single)); }), ErrorCode::InvalidArgument);
  std::string none = decoder_returning("dec_none", "torch.zeros([1, 0, 256, 256]), torch.zeros([1, 0])");
  EXPECT_EQ(code_of([&] { run(sam_spec(e, none)); }), ErrorCode::InvalidArgument);
  std::string nan = decoder_returning("dec_nan", "torch.full([1, 1, 256, 256], float('nan')), torch.zeros([1, 1])");
  EXPECT_EQ(code_of([&] { run(sam_spec(e, nan)); }), ErrorCode::Internal);
  std::string raises = save_module("dec_raise", std::string(kDecoderSignature) +
                                                    "    assert False, 'decoder says no'\n"
                                                    "    return torch.zeros([1, 1, 256, 256]), torch.zeros([1, 1])\n");
  EXPECT_EQ(code_of([&] { run(sam_spec(e, raises)); }), ErrorCode::Internal);
  EXPECT_NE(message_of([&] { run(sam_spec(e, raises)); }).find("decoder says no"), std::string::npos);
  std::string list_encoder = save_module("enc_list", "def forward(self, image):\n    return [image]\n");
  EXPECT_EQ(code_of([&] { run(sam_spec(list_encoder, disc_decoder_path())); }), ErrorCode::InvalidArgument);
  std::string nan_encoder = save_module("enc_nan", "def forward(self, image):\n    return image * float('nan')\n");
  EXPECT_EQ(code_of([&] { run(sam_spec(nan_encoder, disc_decoder_path())); }), ErrorCode::Internal);
}

TEST(Sam, CheckEncodingNamesWhatDiffers) {
  const std::string e = encoder_path(), d = disc_decoder_path();
  auto seg = create_segmenter(sam_spec(e, d, "id=shared"));
  Image img = test::pattern_rgb(300, 200);
  Encoding enc = seg->encode(img.view());
  EXPECT_NO_THROW(seg->check_encoding(enc));
  auto message = [&](const Segmenter& s, const Encoding& x) { return message_of([&] { s.check_encoding(x); }); };
  // Another model id.
  auto other = create_segmenter(sam_spec(e, d, "id=other"));
  EXPECT_NE(message(*other, enc).find("model 'shared'"), std::string::npos);
  SegmentPrompt p;
  p.points.push_back({10, 10, true});
  EXPECT_EQ(code_of([&] { other->segment(enc, p); }), ErrorCode::InvalidArgument);
  // The same id over other weights.
  auto reweighted = create_segmenter(sam_spec(e, box_decoder_path(), "id=shared"));
  EXPECT_NE(message(*reweighted, enc).find("checksum"), std::string::npos);
  // Other preprocessing.
  auto sam2 = create_segmenter(sam_spec(e, d, "id=shared,preprocess=sam2"));
  EXPECT_NE(message(*sam2, enc).find("preprocessing"), std::string::npos);
  auto bigger = create_segmenter(sam_spec(e, d, "id=shared,size=512"));
  EXPECT_NE(message(*bigger, enc).find("preprocessing"), std::string::npos);
  // A missing feature tensor, a format version, a tampered input size.
  Encoding missing = enc;
  missing.tensors.clear();
  EXPECT_NE(message(*seg, missing).find("image_embeddings"), std::string::npos);
  Encoding version = enc;
  version.metadata.format_version = 99;
  EXPECT_NE(message(*seg, version).find("format version"), std::string::npos);
  Encoding size = enc;
  size.metadata.extra["input_width"] = "100";
  EXPECT_NE(message(*seg, size).find("input size"), std::string::npos);
  // An encoding from the dict encoder under the same id lacks nothing it lists, but its features
  // are not what this model's encoder makes.
  auto dict = create_segmenter(sam_spec(dict_encoder_path(), d, "id=shared"));
  Encoding enc2 = dict->encode(img.view());
  enc2.metadata.model_checksum = enc.metadata.model_checksum;
  EXPECT_NE(message(*seg, enc2).find("features"), std::string::npos);
  // Through safetensors and back it is still good.
  std::vector<std::uint8_t> bytes = to_safetensors(enc);
  auto owner = std::make_shared<std::vector<std::uint8_t>>(bytes);
  Encoding back = parse_safetensors(owner->data(), owner->size(), owner);
  EXPECT_NO_THROW(seg->check_encoding(back));
  EXPECT_EQ(seg->segment(back, p).masks.size(), 1u);
}

TEST(Sam, RunControlStopsIt) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  Image img = test::pattern_rgb(200, 100);
  RunControl control;
  control.cancel();
  EXPECT_EQ(code_of([&] { seg->encode(img.view(), &control); }), ErrorCode::Cancelled);
  Encoding enc = seg->encode(img.view());
  SegmentPrompt p;
  p.points.push_back({10, 10, true});
  EXPECT_EQ(code_of([&] { seg->segment(enc, p, &control); }), ErrorCode::Cancelled);
}

// One loaded segmenter shared by threads: encodes and decodes at once give what one thread gets.
TEST(Sam, SharedByThreads) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  Image img = test::pattern_rgb(500, 300);
  Encoding enc = seg->encode(img.view());
  auto prompt = [](int i) {
    SegmentPrompt p;
    p.points.push_back({40.0 + 50 * i, 150, true});
    return p;
  };
  std::vector<Image> want;
  for (int i = 0; i < 8; ++i) want.push_back(seg->segment(enc, prompt(i)).masks.at(0).mask);
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Encoding own = seg->encode(img.view());
      for (int i = 0; i < 8; ++i) {
        const Encoding& e = i % 2 ? own : enc;
        Image got = seg->segment(e, prompt(i)).masks.at(0).mask;
        if (std::memcmp(got.data(), want[std::size_t(i)].data(), got.size_bytes()) != 0) ++bad[std::size_t(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int b : bad) EXPECT_EQ(b, 0);
}

// Colour-keyed concepts on a green field with two brown patches.
TEST(Sam, ConceptPrompts) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path(),
                                       "concept_decoder=" + concept_decoder_path() + ",concepts=" + concepts_path()));
  EXPECT_EQ(seg->capabilities().concepts, (std::vector<std::string>{"grass", "sky", "soil"}));
  EXPECT_NE(seg->spec().find("concepts="), std::string::npos);
  // 640x480 -> 1024x768: the patches' edges fall on the encoder's 16-pixel cells.
  Image img = uniform(640, 480, 60, 160, 60);
  Image truth(640, 480, 1);
  for (cv::Rect r : {cv::Rect(80, 80, 80, 80), cv::Rect(400, 240, 80, 80)})
    for (int y = r.y; y < r.br().y; ++y)
      for (int x = r.x; x < r.br().x; ++x) {
        std::uint8_t* px = img.data() + (std::size_t(y) * 640 + x) * 3;
        px[0] = 120, px[1] = 80, px[2] = 40;
        test::set(truth, x, y, 255);
      }
  Encoding enc = seg->encode(img.view());
  SegmentPrompt p;
  p.concepts = {"soil", "grass", "sky"};
  SegmentResult r = seg->segment(enc, p);
  ASSERT_EQ(r.masks.size(), 2u);  // sky (0.1) and the empty instances (0.2) are below 0.5
  auto iou = [&](const Image& m, bool invert) {
    double both = 0, any = 0;
    for (std::size_t i = 0; i < m.size_bytes(); ++i) {
      bool a = m.data()[i] != 0, b = (truth.data()[i] != 0) != invert;
      both += a && b;
      any += a || b;
    }
    return both / any;
  };
  for (const SegmentMask& m : r.masks) {
    EXPECT_DOUBLE_EQ(m.score, 0.9f);
    EXPECT_EQ(m.mask.width(), 640);
    if (m.label == "soil") {
      EXPECT_GT(iou(m.mask, false), 0.85);
      EXPECT_NEAR(m.box.x, 80, 6);
      EXPECT_NEAR((m.box.y + m.box.height), 320, 6);
    } else {
      EXPECT_EQ(m.label, "grass");
      EXPECT_GT(iou(m.mask, true), 0.95);
    }
  }
  EXPECT_EQ(r.masks[0].label, "soil");  // equal scores keep the request's order
  p.min_score = 0;
  EXPECT_EQ(seg->segment(enc, p).masks.size(), 6u);
  p.concepts = {"grass", "moss"};
  std::string msg = message_of([&] { seg->segment(enc, p); });
  EXPECT_NE(msg.find("moss"), std::string::npos);
  EXPECT_NE(msg.find("grass, sky, soil"), std::string::npos);
  p.concepts = {"grass"};
  p.points.push_back({10, 10, true});
  EXPECT_EQ(code_of([&] { seg->segment(enc, p); }), ErrorCode::InvalidArgument);
}

TEST(Sam, EncodeWithStoreEncodesOncePerImage) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  Image img = test::pattern_rgb(400, 300);
  std::string dir = temp_path("store_dir");
  std::filesystem::remove_all(dir);
  std::vector<std::unique_ptr<EncodingStore>> stores;
  stores.push_back(make_memory_store(64 << 20));
  stores.push_back(make_directory_store(dir, 64 << 20, false));
  for (auto& store : stores) {
    int before = g_encodes.load();
    for (int i = 0; i < 5; ++i) {
      EncodeOutcome out;
      Encoding enc = encode_with_store(*seg, store.get(), img.view(), &out);
      EXPECT_EQ(out.from_store, i > 0) << store->spec();
      EXPECT_EQ(out.stored, i == 0);
      EXPECT_EQ(out.store_error, "");
      EXPECT_EQ(out.id, encoding_id(img.view(), seg->model_id()));
      SegmentPrompt p;
      p.points.push_back({50.0 + 60 * i, 150, true});
      SegmentMask m = seg->segment(enc, p).masks.at(0);
      EXPECT_NEAR(moments(m.mask).cx, 50.0 + 60 * i, 1.0);
    }
    EXPECT_EQ(g_encodes.load() - before, 1) << store->spec();
  }
  // A fresh load of the same files reads the directory store's file: still no encoder run.
  auto reloaded = create_segmenter(seg->spec());
  int before = g_encodes.load();
  EncodeOutcome out;
  encode_with_store(*reloaded, stores[1].get(), img.view(), &out);
  EXPECT_TRUE(out.from_store);
  EXPECT_EQ(g_encodes.load(), before);
  // A corrupt file is a miss: encoded again and replaced.
  {
    std::ofstream(dir + "/" + out.id + ".safetensors", std::ios::binary | std::ios::trunc) << "garbage";
  }
  encode_with_store(*reloaded, stores[1].get(), img.view(), &out);
  EXPECT_FALSE(out.from_store);
  EXPECT_TRUE(out.stored);
  EXPECT_EQ(g_encodes.load(), before + 1);
  std::filesystem::remove_all(dir);
}

TEST(Sam, EncodeWithStoreReencodesAMismatchedEncoding) {
  // Two models under one id (so one encoding id) with different preprocessing.
  auto a = create_segmenter(sam_spec(encoder_path(), disc_decoder_path(), "id=same"));
  auto b = create_segmenter(sam_spec(encoder_path(), disc_decoder_path(), "id=same,preprocess=sam2"));
  auto store = make_memory_store(64 << 20);
  Image img = test::pattern_rgb(300, 200);
  EncodeOutcome out;
  encode_with_store(*b, store.get(), img.view(), &out);
  ASSERT_TRUE(out.stored);
  int before = g_encodes.load();
  Encoding enc = encode_with_store(*a, store.get(), img.view(), &out);
  EXPECT_FALSE(out.from_store);
  EXPECT_TRUE(out.stored);
  EXPECT_EQ(g_encodes.load(), before + 1);
  EXPECT_EQ(enc.metadata.preprocessing, "sam1:size=1024,pad=br,norm=imagenet255");
  encode_with_store(*a, store.get(), img.view(), &out);
  EXPECT_TRUE(out.from_store);
}

TEST(Sam, EncodeWithStoreSurvivesADeadStore) {
  auto seg = create_segmenter(sam_spec(encoder_path(), disc_decoder_path()));
  auto dead = open_store("redis://127.0.0.1:1?timeout_ms=100");
  Image img = test::pattern_rgb(300, 200);
  int before = g_encodes.load();
  EncodeOutcome out;
  Encoding enc = encode_with_store(*seg, dead.get(), img.view(), &out);
  EXPECT_FALSE(out.from_store);
  EXPECT_FALSE(out.stored);
  EXPECT_NE(out.store_error, "");
  EXPECT_EQ(g_encodes.load(), before + 1);
  SegmentPrompt p;
  p.points.push_back({150, 100, true});
  EXPECT_EQ(seg->segment(enc, p).masks.size(), 1u);
}

// The postprocessing against SAM's own two steps done by LibTorch (F.interpolate twice), on a
// 12 MP photo's geometry, with timings of both and of OpenCV's two resizes + compare.
TEST(SamMask, MatchesSamPostprocessAndIsFast) {
  namespace F = torch::nn::functional;
  inpaint::detail::SamGeometry g;
  g.size = 1024;
  g.orig_width = 4032;
  g.orig_height = 3024;
  g.input_width = 1024;
  g.input_height = 768;
  // Wavy logits with plenty of boundary.
  auto c = torch::arange(256, torch::kFloat32);
  auto logits = (torch::sin(c.view({1, 256}) / 9.0) * 6 + torch::cos(c.view({256, 1}) / 13.0) * 5 - 1).contiguous();
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a) { return std::chrono::duration<double, std::milli>(Clock::now() - a).count(); };

  MaskBox box;
  Image mask = inpaint::detail::sam_logits_to_mask(logits.data_ptr<float>(), g, 0.0f, &box);  // warm
  double ours = 1e9;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    mask = inpaint::detail::sam_logits_to_mask(logits.data_ptr<float>(), g, 0.0f, &box);
    ours = std::min(ours, ms(t0));
  }
  double torch_ms = 1e9;
  torch::Tensor ref;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    auto x = F::interpolate(logits.view({1, 1, 256, 256}), F::InterpolateFuncOptions()
                                                              .size(std::vector<int64_t>{1024, 1024})
                                                              .mode(torch::kBilinear)
                                                              .align_corners(false));
    x = x.index({0, 0, torch::indexing::Slice(0, 768), torch::indexing::Slice(0, 1024)}).unsqueeze(0).unsqueeze(0);
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{3024, 4032})
                              .mode(torch::kBilinear)
                              .align_corners(false));
    ref = (x[0][0] > 0).to(torch::kUInt8).mul(255).contiguous();
    torch_ms = std::min(torch_ms, ms(t0));
  }
  double cv_ms = 1e9;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    cv::Mat low(256, 256, CV_32F, logits.data_ptr<float>()), up, full, bytes;
    cv::resize(low, up, {1024, 1024}, 0, 0, cv::INTER_LINEAR);
    cv::resize(up(cv::Rect(0, 0, 1024, 768)), full, {4032, 3024}, 0, 0, cv::INTER_LINEAR);
    cv::compare(full, 0.0, bytes, cv::CMP_GT);
    cv::Rect r = cv::boundingRect(bytes);
    (void)r;
    cv_ms = std::min(cv_ms, ms(t0));
  }
  int64_t differ = 0;
  const std::uint8_t* a = mask.data();
  const std::uint8_t* b = ref.data_ptr<std::uint8_t>();
  for (std::size_t i = 0; i < mask.size_bytes(); ++i) differ += a[i] != b[i];
  std::printf("logits -> 4032x3024 mask: library %.1f ms, LibTorch two-step %.1f ms, OpenCV two-step %.1f ms; "
              "%lld of 12.2M pixels differ from LibTorch\n",
              ours, torch_ms, cv_ms, static_cast<long long>(differ));
  // Only pixels whose logit rounds to either side of the threshold may differ.
  EXPECT_LE(differ, 50);
  cv::Mat bytes(3024, 4032, CV_8U, mask.data());
  cv::Rect r = cv::boundingRect(bytes);
  EXPECT_EQ(box.x, r.x);
  EXPECT_EQ(box.y, r.y);
  EXPECT_EQ(box.width, r.width);
  EXPECT_EQ(box.height, r.height);
  // An empty mask has an all-zero box.
  std::vector<float> negative(256 * 256, -1.0f);
  inpaint::detail::sam_logits_to_mask(negative.data(), g, 0.0f, &box);
  EXPECT_TRUE(box.empty());
  EXPECT_EQ(box.width, 0);
}
