// The grabcut segmenter on generated objects, and the scene labeller on generated concept maps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "inpaint/inpaint.hpp"
#include "test_util.hpp"

using namespace inpaint;

namespace {

using inpaint::test::code_of;
using inpaint::test::iou;

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------- grabcut scenes

struct Ellipse {
  double cx, cy, ax, ay;
  bool contains(int x, int y) const {
    double dx = (x + 0.5 - cx) / ax, dy = (y + 0.5 - cy) / ay;
    return dx * dx + dy * dy <= 1;
  }
};

// A textured red-ish object (ellipses) on noisy green/grey ground, with its ground truth.
struct Scene {
  Image image;
  Image truth;  // 255 on the first ellipse
};

Scene make_scene(int width, int height, const std::vector<Ellipse>& objects, unsigned seed = 7) {
  Scene s{Image(width, height, 3), Image(width, height, 1)};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-25, 25);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = s.image.data() + (std::size_t(y) * width + x) * 3;
      bool inside = false;
      for (const Ellipse& e : objects) inside = inside || e.contains(x, y);
      int r, g, b;
      if (inside) {  // red with a stripe texture
        int stripe = ((x + y) / 6) % 2 ? 30 : 0;
        r = 190 + stripe, g = 50 + stripe / 2, b = 40;
      } else if ((x / 40 + y / 40) % 2) {  // grass green and grey patches
        r = 70, g = 140, b = 60;
      } else {
        r = 120, g = 125, b = 120;
      }
      p[0] = std::uint8_t(std::clamp(r + noise(rng), 0, 255));
      p[1] = std::uint8_t(std::clamp(g + noise(rng), 0, 255));
      p[2] = std::uint8_t(std::clamp(b + noise(rng), 0, 255));
      if (objects[0].contains(x, y)) s.truth.data()[std::size_t(y) * width + x] = 255;
    }
  return s;
}

const Ellipse kObject{300, 230, 150, 100};

const Scene& scene() {
  static const Scene s = make_scene(641, 479, {kObject});
  return s;
}

SegmentPrompt box_prompt(double x0, double y0, double x1, double y1) {
  SegmentPrompt p;
  p.box = BoxPrompt{x0, y0, x1, y1};
  return p;
}

BoxPrompt object_box() { return {kObject.cx - kObject.ax - 12, kObject.cy - kObject.ay - 12, kObject.cx + kObject.ax + 12, kObject.cy + kObject.ay + 12}; }

// max_side below the image's long side, so scaling there and back is exercised.
std::unique_ptr<Segmenter> small_grabcut() { return create_segmenter("grabcut:max_side=400"); }

}  // namespace

// ---------------------------------------------------------------- grabcut

TEST(GrabCut, SpecsCapabilitiesAndTable) {
  EXPECT_STREQ(default_segmenter_spec(), "grabcut");
  auto listed = list_segmenters();
  ASSERT_FALSE(listed.empty());
  EXPECT_EQ(listed[0].name, "grabcut");
  auto g = create_segmenter("grabcut");
  EXPECT_EQ(g->spec(), "grabcut:iterations=5,max_side=1024");
  EXPECT_EQ(create_segmenter("grabcut:radius=4.5,iterations=3")->spec(), "grabcut:iterations=3,max_side=1024,radius=4.5");
  EXPECT_EQ(g->model_id(), "grabcut");
  SegmenterCapabilities c = g->capabilities();
  EXPECT_TRUE(c.points);
  EXPECT_TRUE(c.boxes);
  EXPECT_FALSE(c.mask_input);
  EXPECT_FALSE(c.multimask);
  EXPECT_TRUE(c.concepts.empty());
  EXPECT_EQ(code_of([] { create_segmenter("grabcut:iteratons=3"); }), ErrorCode::InvalidArgument);
  EXPECT_NE(message_of([] { create_segmenter("grabcut:iteratons=3"); }).find("iteratons"), std::string::npos);
  EXPECT_EQ(code_of([] { create_segmenter("grabcut:iterations=0"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { create_segmenter("grabcut:max_side=abc"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { create_segmenter("grabcat"); }), ErrorCode::UnknownModel);
}

TEST(GrabCut, EncodingIsTheScaledImageWithItsMetadata) {
  auto g = small_grabcut();
  Encoding e = g->encode(scene().image);
  const HostTensor& t = e.tensor("image");
  EXPECT_EQ(t.dtype(), DType::U8);
  EXPECT_EQ(t.shape(), (Shape{299, 400, 3}));  // 479 * 400 / 641 = 298.9
  EXPECT_EQ(e.metadata.model_id, "grabcut");
  EXPECT_EQ(e.metadata.model_checksum.rfind("opencv-", 0), 0u);
  EXPECT_EQ(e.metadata.preprocessing, "grabcut:max_side=400");
  EXPECT_EQ(e.metadata.image_sha256, pixel_sha256(scene().image));
  EXPECT_EQ(e.metadata.original_width, 641);
  EXPECT_EQ(e.metadata.original_height, 479);
  EXPECT_GT(e.metadata.created_at, 0);
  EXPECT_EQ(e.metadata.format_version, kEncodingFormatVersion);
  EXPECT_NO_THROW(g->check_encoding(e));
  // Area averaging: a uniform image stays uniform.
  Image grey(641, 479, 3);
  std::memset(grey.data(), 77, grey.size_bytes());
  Encoding ge = g->encode(grey);
  const HostTensor& gt = ge.tensor("image");
  for (std::int64_t i = 0; i < gt.numel(); ++i) ASSERT_EQ(gt.data()[i], 77);
  // Not scaled up: a small image keeps its size.
  EXPECT_EQ(g->encode(test::pattern_rgb(50, 30)).tensor("image").shape(), (Shape{30, 50, 3}));

  // Another max_side, another model or a tampered tensor: not usable.
  EXPECT_EQ(code_of([&] { create_segmenter("grabcut")->check_encoding(e); }), ErrorCode::InvalidArgument);
  Encoding other = e;
  other.metadata.model_id = "sam";
  EXPECT_EQ(code_of([&] { g->check_encoding(other); }), ErrorCode::InvalidArgument);
  other = e;
  other.metadata.model_checksum = "opencv-0.0";
  EXPECT_EQ(code_of([&] { g->check_encoding(other); }), ErrorCode::InvalidArgument);
  other = e;
  other.tensors["image"] = HostTensor::allocate(DType::U8, {300, 400, 3});
  EXPECT_NE(message_of([&] { g->check_encoding(other); }).find("[300, 400, 3]"), std::string::npos);
  other.tensors.clear();
  EXPECT_EQ(code_of([&] { g->check_encoding(other); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { g->segment(other, box_prompt(1, 1, 20, 20)); }), ErrorCode::InvalidArgument);
}

TEST(GrabCut, BoxSeparatesTheObject) {
  auto g = small_grabcut();
  Encoding e = g->encode(scene().image);
  SegmentPrompt p;
  p.box = object_box();
  SegmentResult r = g->segment(e, p);
  ASSERT_EQ(r.masks.size(), 1u);
  const SegmentMask& m = r.masks[0];
  ASSERT_EQ(m.mask.width(), 641);
  ASSERT_EQ(m.mask.height(), 479);
  ASSERT_EQ(m.mask.channels(), 1);
  for (std::size_t i = 0; i < m.mask.size_bytes(); ++i) ASSERT_TRUE(m.mask.data()[i] == 0 || m.mask.data()[i] == 255);
  EXPECT_GE(iou(m.mask, scene().truth), 0.9);
  MaskBox truth = mask_bounds(scene().truth);
  EXPECT_NEAR(m.box.x, truth.x, 4);
  EXPECT_NEAR(m.box.y, truth.y, 4);
  EXPECT_NEAR(m.box.width, truth.width, 8);
  EXPECT_NEAR(m.box.height, truth.height, 8);
  MaskBox exact = mask_bounds(m.mask);
  EXPECT_EQ(m.box.x, exact.x);
  EXPECT_EQ(m.box.width, exact.width);
  EXPECT_GT(m.score, 0.8);
  EXPECT_LE(m.score, 1.0);
  EXPECT_EQ(m.label, "");
  EXPECT_TRUE(m.low_res_logits.empty());
  EXPECT_GT(r.decode_ms, 0);
}

TEST(GrabCut, PointsAloneSeparateTheObject) {
  auto g = small_grabcut();
  Encoding e = g->encode(scene().image);
  SegmentPrompt p;
  p.points = {{300, 230, true}, {220, 200, true}, {390, 270, true}};
  SegmentMask m = g->segment(e, p).masks.at(0);
  EXPECT_GE(iou(m.mask, scene().truth), 0.9);
  // One click is enough on colours this distinct.
  p.points = {{300, 230, true}};
  EXPECT_GE(iou(g->segment(e, p).masks.at(0).mask, scene().truth), 0.9);
}

TEST(GrabCut, NegativeClicksAreBackground) {
  auto g = small_grabcut();
  Encoding e = g->encode(scene().image);
  SegmentPrompt p;
  p.box = object_box();
  p.points = {{300, 230, true}};
  SegmentMask without = g->segment(e, p).masks.at(0);
  EXPECT_EQ(test::at(without.mask, 380, 230), 255);
  // A negative click on the object: its disc (radius 10 px here) is cut out of the object.
  p.points.push_back({380, 230, false});
  auto g10 = create_segmenter("grabcut:max_side=400,radius=10");
  Encoding e10 = g10->encode(scene().image);
  SegmentMask with = g10->segment(e10, p).masks.at(0);
  for (int dy = -6; dy <= 6; ++dy)
    for (int dx = -6; dx <= 6; ++dx) ASSERT_EQ(test::at(with.mask, 380 + dx, 230 + dy), 0) << dx << "," << dy;
  EXPECT_EQ(test::at(with.mask, 300, 230), 255);
}

TEST(GrabCut, KeepsOnlyTheComponentsThePromptAsksFor) {
  // A second, smaller red object inside the box: a box alone keeps the largest component; a
  // positive click on the small one keeps it too.
  const Ellipse small{540, 400, 30, 25};
  Scene s = make_scene(641, 479, {kObject, small});
  auto g = small_grabcut();
  Encoding e = g->encode(s.image);
  SegmentPrompt p = box_prompt(130, 110, 600, 450);
  SegmentMask boxed = g->segment(e, p).masks.at(0);
  EXPECT_EQ(test::at(boxed.mask, 540, 400), 0);
  EXPECT_GE(iou(boxed.mask, s.truth), 0.9);
  p.points = {{300, 230, true}, {540, 400, true}};
  SegmentMask both = g->segment(e, p).masks.at(0);
  EXPECT_EQ(test::at(both.mask, 540, 400), 255);
  EXPECT_EQ(test::at(both.mask, 300, 230), 255);
  // Points alone: a click on the big object leaves the small same-coloured one out.
  SegmentPrompt one;
  one.points = {{300, 230, true}};
  EXPECT_EQ(test::at(g->segment(e, one).masks.at(0).mask, 540, 400), 0);
}

TEST(GrabCut, ScoreMeasuresColourSeparation) {
  auto g = small_grabcut();
  double clear = g->segment(g->encode(scene().image), box_prompt(138, 118, 462, 342)).masks.at(0).score;
  // Noise: object and background share every colour.
  std::mt19937 rng(3);
  Image noise(641, 479, 3);
  for (std::size_t i = 0; i < noise.size_bytes(); ++i) noise.data()[i] = std::uint8_t(rng() & 255);
  Encoding noisy = g->encode(noise);
  SegmentMask boxed = g->segment(noisy, box_prompt(138, 118, 462, 342)).masks.at(0);
  SegmentPrompt click;
  click.points = {{300, 230, true}};
  SegmentMask clicked = g->segment(noisy, click).masks.at(0);
  EXPECT_GT(clear, 0.9);
  // A click on noise: GrabCut keeps little more than the click, and its colours say ~coin flip.
  EXPECT_GE(clicked.score, 0.5);
  EXPECT_LT(clicked.score, 0.75);
  EXPECT_EQ(test::at(clicked.mask, 300, 230), 255);
  // A box around nothing: GrabCut gives every pixel to the background; an empty mask scores 0.
  EXPECT_TRUE(boxed.box.empty());
  EXPECT_EQ(boxed.score, 0.0);
}

TEST(GrabCut, IsDeterministic) {
  auto g = small_grabcut();
  Encoding e = g->encode(scene().image);
  SegmentPrompt p;
  p.points = {{300, 230, true}, {100, 100, false}};
  SegmentMask a = g->segment(e, p).masks.at(0);
  SegmentMask b = g->segment(e, p).masks.at(0);
  ASSERT_EQ(a.mask.size_bytes(), b.mask.size_bytes());
  EXPECT_EQ(std::memcmp(a.mask.data(), b.mask.data(), a.mask.size_bytes()), 0);
  EXPECT_EQ(a.score, b.score);
  // Another thread (its own OpenCV random state) gives the same mask too.
  SegmentMask c;
  std::thread([&] { c = g->segment(e, p).masks.at(0); }).join();
  EXPECT_EQ(std::memcmp(a.mask.data(), c.mask.data(), a.mask.size_bytes()), 0);
}

TEST(GrabCut, RejectsBadPromptsAndImages) {
  auto g = small_grabcut();
  Encoding e = g->encode(scene().image);
  auto bad = [&](SegmentPrompt p) { return code_of([&] { g->segment(e, p); }); };
  auto why = [&](SegmentPrompt p) { return message_of([&] { g->segment(e, p); }); };
  EXPECT_EQ(bad({}), ErrorCode::InvalidArgument);
  EXPECT_NE(why({}).find("empty prompt"), std::string::npos);
  SegmentPrompt concepts;
  concepts.concepts = {"grass"};
  EXPECT_NE(why(concepts).find("concept"), std::string::npos);
  SegmentPrompt masked = box_prompt(10, 10, 100, 100);
  masked.mask_input = HostTensor::allocate(DType::F32, {1, 1, 256, 256});
  EXPECT_NE(why(masked).find("mask_input"), std::string::npos);
  SegmentPrompt multi = box_prompt(10, 10, 100, 100);
  multi.multimask = true;
  EXPECT_NE(why(multi).find("multimask"), std::string::npos);
  SegmentPrompt nan_point;
  nan_point.points = {{std::nan(""), 3, true}};
  EXPECT_NE(why(nan_point).find("non-finite"), std::string::npos);
  SegmentPrompt inf_box = box_prompt(0, 0, INFINITY, 10);
  EXPECT_NE(why(inf_box).find("non-finite"), std::string::npos);
  EXPECT_NE(why(box_prompt(50, 10, 50, 100)).find("x1 > x0"), std::string::npos);
  EXPECT_EQ(bad(box_prompt(50, 100, 60, 20)), ErrorCode::InvalidArgument);
  EXPECT_NE(why(box_prompt(700, 10, 800, 100)).find("outside"), std::string::npos);
  EXPECT_EQ(bad(box_prompt(-90, -90, -10, -10)), ErrorCode::InvalidArgument);
  SegmentPrompt outside;
  outside.points = {{641, 10, true}};
  EXPECT_NE(why(outside).find("outside"), std::string::npos);
  outside.points = {{10, -1, true}};
  EXPECT_EQ(bad(outside), ErrorCode::InvalidArgument);
  SegmentPrompt negative_only;
  negative_only.points = {{10, 10, false}};
  EXPECT_NE(why(negative_only).find("positive"), std::string::npos);
  // A box over the whole image leaves no background to learn from.
  EXPECT_NE(why(box_prompt(0, 0, 641, 479)).find("background"), std::string::npos);
  // A box of one working pixel gives the object's colour model nothing to learn from.
  EXPECT_NE(why(box_prompt(10, 10, 10.5, 10.5)).find("object pixels"), std::string::npos);
  // A box partly outside is clipped, not refused.
  EXPECT_GE(iou(g->segment(e, box_prompt(120, 110, 1000, 350)).masks.at(0).mask, scene().truth), 0.9);

  EXPECT_NE(message_of([&] { g->encode(test::pattern_rgb(7, 40)); }).find("too small"), std::string::npos);
  // 2000x20 scales to 400x4 at max_side=400.
  EXPECT_NE(message_of([&] { g->encode(test::pattern_rgb(2000, 20)); }).find("too small"), std::string::npos);
  Image grey(64, 64, 1);
  EXPECT_EQ(code_of([&] { g->encode(grey); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { g->encode(ImageView{}); }), ErrorCode::InvalidArgument);
}

TEST(GrabCut, EncodesOnceWithAStore) {
  auto g = small_grabcut();
  auto store = make_memory_store(64 << 20);
  EncodeOutcome first, second;
  Encoding a = encode_with_store(*g, store.get(), scene().image, &first);
  Encoding b = encode_with_store(*g, store.get(), scene().image, &second);
  EXPECT_FALSE(first.from_store);
  EXPECT_TRUE(first.stored);
  EXPECT_TRUE(second.from_store);
  EXPECT_EQ(second.encode_ms, 0);
  EXPECT_EQ(first.id, second.id);
  EXPECT_EQ(first.id, encoding_id(scene().image, "grabcut"));
  SegmentPrompt p;
  p.box = object_box();
  SegmentMask ma = g->segment(a, p).masks.at(0), mb = g->segment(b, p).masks.at(0);
  EXPECT_EQ(std::memcmp(ma.mask.data(), mb.mask.data(), ma.mask.size_bytes()), 0);
  // Another max_side cannot use the stored encoding: it encodes again and replaces it.
  EncodeOutcome other;
  auto g2 = create_segmenter("grabcut:max_side=300");
  Encoding c = encode_with_store(*g2, store.get(), scene().image, &other);
  EXPECT_FALSE(other.from_store);
  EXPECT_EQ(c.tensor("image").shape(), (Shape{224, 300, 3}));
}

namespace {

// A store whose server is gone (every call fails), or that hands back a fixed encoding.
class FakeStore final : public EncodingStore {
 public:
  std::optional<Encoding> held;  // empty: every call throws Unavailable
  int puts = 0;
  std::string spec() const override { return "fake"; }
  bool exists(const std::string&) override { return held.has_value() || fail(); }
  std::optional<Encoding> get(const std::string&) override {
    if (!held) fail();
    return held;
  }
  void put(const std::string&, const Encoding&) override {
    if (!held) fail();
    ++puts;
  }
  bool remove(const std::string&) override { return fail(); }
  std::vector<std::string> ids() override { return {}; }
  StoreUsage usage() override { return {}; }
  std::uint64_t capacity() const override { return 0; }
  StoreStats stats() const override { return {}; }

 private:
  static bool fail() { throw Error(ErrorCode::Unavailable, "store is down"); }
};

}  // namespace

TEST(GrabCut, StoreFailuresAndForeignEncodingsOnlyCostAnEncode) {
  auto g = small_grabcut();
  FakeStore dead;
  EncodeOutcome outcome;
  Encoding e = encode_with_store(*g, &dead, scene().image, &outcome);
  EXPECT_NO_THROW(g->check_encoding(e));
  EXPECT_FALSE(outcome.from_store);
  EXPECT_FALSE(outcome.stored);
  EXPECT_NE(outcome.store_error.find("store is down"), std::string::npos);

  // A stored encoding of another image under the id (or of another model): encoded again.
  FakeStore wrong;
  wrong.held = g->encode(test::pattern_rgb(641, 479));
  Encoding fresh = encode_with_store(*g, &wrong, scene().image, &outcome);
  EXPECT_FALSE(outcome.from_store);
  EXPECT_TRUE(outcome.stored);
  EXPECT_EQ(outcome.store_error, "");
  EXPECT_EQ(fresh.metadata.image_sha256, pixel_sha256(scene().image));
  EXPECT_EQ(wrong.puts, 1);
  // No store: always encodes.
  encode_with_store(*g, nullptr, scene().image, &outcome);
  EXPECT_FALSE(outcome.from_store);
  EXPECT_FALSE(outcome.stored);
}

TEST(GrabCut, RunControlWatchesAndStopsIterations) {
  auto g = create_segmenter("grabcut:max_side=200,iterations=4");
  Encoding e = g->encode(scene().image);
  SegmentPrompt p;
  p.box = object_box();
  RunControl watching;
  std::vector<double> fractions;
  watching.progress = [&](double f) {
    fractions.push_back(f);
    return true;
  };
  g->segment(e, p, &watching);
  EXPECT_EQ(fractions, (std::vector<double>{0.25, 0.5, 0.75, 1.0}));

  RunControl stopping;
  int calls = 0;
  stopping.progress = [&](double) { return ++calls < 2; };
  EXPECT_EQ(code_of([&] { g->segment(e, p, &stopping); }), ErrorCode::Cancelled);
  EXPECT_EQ(calls, 2);

  RunControl cancelled;
  cancelled.cancel();
  EXPECT_EQ(code_of([&] { g->segment(e, p, &cancelled); }), ErrorCode::Cancelled);
  EXPECT_EQ(code_of([&] { g->encode(scene().image, &cancelled); }), ErrorCode::Cancelled);
}

// ---------------------------------------------------------------- scene labels

namespace {

constexpr int kW = 200, kH = 160;

Image rect_mask(int x0, int y0, int x1, int y1, int w = kW, int h = kH) {
  Image m(w, h, 1);
  for (int y = std::max(0, y0); y < std::min(h, y1); ++y)
    for (int x = std::max(0, x0); x < std::min(w, x1); ++x) m.data()[std::size_t(y) * w + x] = 255;
  return m;
}

SegmentMask concept(const std::string& label, double score, Image mask) {
  SegmentMask m;
  m.label = label;
  m.score = score;
  m.mask = std::move(mask);
  return m;
}

// The ring as documented, computed independently for a rectangular object [x0,x1)x[y0,y1):
// pixels outside it within OpenCV's elliptical kernel of radius r (half-width at row offset dy:
// round(sqrt(r^2 - dy^2))) of an object pixel, inside the image.
std::vector<std::pair<int, int>> reference_ring(int x0, int y0, int x1, int y1, int r) {
  std::vector<std::pair<int, int>> ring;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      if (x >= x0 && x < x1 && y >= y0 && y < y1) continue;
      bool near = false;
      for (int dy = -r; dy <= r && !near; ++dy) {
        int row = y + dy;
        if (row < y0 || row >= y1) continue;
        int half = int(std::lround(std::sqrt(double(r * r - dy * dy))));
        int gap = x < x0 ? x0 - x : (x >= x1 ? x - (x1 - 1) : 0);
        near = gap <= half;
      }
      if (near) ring.emplace_back(x, y);
    }
  return ring;
}

}  // namespace

TEST(SceneLabels, SurfaceOrder) {
  EXPECT_EQ(surface_labels(),
            (std::vector<std::string>{"grass", "concrete", "wood", "sand", "gravel", "leaves", "tile", "water"}));
}

TEST(SceneLabels, GrassWithFallenLeaves) {
  Image object = rect_mask(80, 60, 120, 100);
  // Grass everywhere at 0.9, leaves on the right half at 0.8; the ring is symmetric about x = 100.
  std::vector<SegmentMask> masks = {concept("grass", 0.9, rect_mask(0, 0, kW, kH)),
                                    concept("leaves", 0.8, rect_mask(100, 0, kW, kH))};
  LabelOptions options;
  options.ring_width = 20;
  SceneLabelling l = label_scene(masks, object, options);
  ASSERT_EQ(l.coverage.size(), 2u);
  EXPECT_EQ(l.coverage[0].label, "grass");
  EXPECT_NEAR(l.coverage[0].coverage, 0.9, 1e-6);
  EXPECT_EQ(l.coverage[1].label, "leaves");
  EXPECT_NEAR(l.coverage[1].coverage, 0.4, 1e-6);
  EXPECT_EQ(l.labels.surface, "grass");
  EXPECT_EQ(l.labels.detail, "grass with fallen leaves");
  ASSERT_TRUE(l.labels.confidence);
  EXPECT_NEAR(*l.labels.confidence, 0.9 / (0.9 + 0.4), 1e-6);  // the shares overlap: normalised
  EXPECT_TRUE(std::regex_match(l.labels.labeled_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));

  // The prompt builder reads it: detail first, then grass's prompt.
  Prompt prompt = build_prompt(parse_scene_labels(scene_labels_json(l.labels)));
  EXPECT_TRUE(prompt.from_labels);
  EXPECT_EQ(prompt.text, "grass with fallen leaves, " + PromptTable::builtin().surfaces.at("grass"));

  // A weak second label (0.4 < 0.5 * 0.9) leaves the detail empty: the surface's prompt alone.
  options.detail_ratio = 0.5;
  SceneLabelling plain = label_scene(masks, object, options);
  EXPECT_EQ(plain.labels.surface, "grass");
  EXPECT_EQ(plain.labels.detail, "");
  EXPECT_EQ(build_prompt(plain.labels).text, PromptTable::builtin().surfaces.at("grass"));
}

TEST(SceneLabels, TiesAreBrokenBySurfaceOrderWithHalfConfidence) {
  Image object = rect_mask(80, 60, 120, 100);
  Image left = rect_mask(0, 0, 100, kH), right = rect_mask(100, 0, kW, kH);
  for (bool reversed : {false, true}) {
    std::vector<SegmentMask> masks = {concept("water", 1.0, left), concept("concrete", 1.0, right)};
    if (reversed) std::swap(masks[0], masks[1]);
    SceneLabelling l = label_scene(masks, object);
    ASSERT_EQ(l.coverage.size(), 2u);
    EXPECT_DOUBLE_EQ(l.coverage[0].coverage, 0.5);
    EXPECT_DOUBLE_EQ(l.coverage[1].coverage, 0.5);
    EXPECT_EQ(l.labels.surface, "concrete");  // before water in surface_labels()
    EXPECT_EQ(l.labels.detail, "concrete with puddles");
    EXPECT_DOUBLE_EQ(*l.labels.confidence, 0.5);
    // Half the ring: just enough for build_prompt's default threshold, and the detail names both.
    EXPECT_TRUE(build_prompt(l.labels).from_labels);
  }
  // Labels outside the list come after the known ones, then by name.
  std::vector<SegmentMask> odd = {concept("moss", 1.0, left), concept("asphalt", 1.0, right)};
  EXPECT_EQ(label_scene(odd, object).labels.surface, "asphalt");
  odd.push_back(concept("tile", 1.0, rect_mask(0, 0, 100, kH)));
  SceneLabelling three = label_scene(odd, object);
  EXPECT_EQ(three.coverage[0].label, "tile");
  EXPECT_EQ(three.coverage[1].label, "asphalt");
  EXPECT_EQ(three.coverage[2].label, "moss");
}

TEST(SceneLabels, ObjectTouchingTheBorderHasAClippedRing) {
  // An object on the left edge: its ring is only above, below and right of it.
  const int r = 24;
  Image object = rect_mask(0, 50, 30, 110);
  std::vector<SegmentMask> masks = {concept("sand", 1.0, rect_mask(0, 0, 30, kH)),
                                    concept("gravel", 1.0, rect_mask(30, 0, kW, kH))};
  LabelOptions options;
  options.ring_width = r;
  SceneLabelling l = label_scene(masks, object, options);
  auto ring = reference_ring(0, 50, 30, 110, r);
  ASSERT_FALSE(ring.empty());
  int sand = 0;
  for (auto [x, y] : ring) sand += x < 30;
  double expected_sand = double(sand) / double(ring.size());
  ASSERT_EQ(l.coverage.size(), 2u);
  EXPECT_EQ(l.coverage[0].label, "gravel");
  EXPECT_NEAR(l.coverage[0].coverage, 1 - expected_sand, 1e-9);
  EXPECT_NEAR(l.coverage[1].coverage, expected_sand, 1e-9);
  EXPECT_NEAR(*l.labels.confidence, 1 - expected_sand, 1e-9);

  // An object in a corner and one that fills the image.
  SceneLabelling corner = label_scene({concept("grass", 1.0, rect_mask(0, 0, kW, kH))}, rect_mask(170, 130, kW, kH));
  EXPECT_EQ(corner.labels.surface, "grass");
  EXPECT_DOUBLE_EQ(*corner.labels.confidence, 1.0);
  SceneLabelling whole = label_scene({concept("grass", 1.0, rect_mask(0, 0, kW, kH))}, rect_mask(0, 0, kW, kH));
  EXPECT_EQ(whole.labels.surface, "");
  EXPECT_EQ(whole.labels.detail, "");
  EXPECT_EQ(*whole.labels.confidence, 0.0);
}

TEST(SceneLabels, ScoresWeightCoverageAndInstancesTakeTheBest) {
  Image object = rect_mask(80, 60, 120, 100);
  // Two grass instances: 0.5 everywhere and 1.0 on the left half -> 0.75. Gravel covers the
  // whole ring but at 0.7, so the better-scored grass wins.
  std::vector<SegmentMask> masks = {concept("gravel", 0.7, rect_mask(0, 0, kW, kH)),
                                    concept("grass", 0.5, rect_mask(0, 0, kW, kH)),
                                    concept("grass", 1.0, rect_mask(0, 0, 100, kH))};
  SceneLabelling l = label_scene(masks, object);
  ASSERT_EQ(l.coverage.size(), 2u);
  EXPECT_EQ(l.coverage[0].label, "grass");
  EXPECT_NEAR(l.coverage[0].coverage, 0.75, 1e-6);
  EXPECT_NEAR(l.coverage[1].coverage, 0.7, 1e-6);
  EXPECT_EQ(l.labels.detail, "grass with scattered gravel");
  EXPECT_NEAR(*l.labels.confidence, 0.75 / (0.75 + 0.7), 1e-6);
}

TEST(SceneLabels, TooLittleCoverageGivesNoLabel) {
  Image object = rect_mask(80, 60, 120, 100);
  // Wood on a 4-pixel-wide strip right of the object: a small share of the ring.
  std::vector<SegmentMask> masks = {concept("wood", 1.0, rect_mask(120, 60, 124, 100))};
  auto ring = reference_ring(80, 60, 120, 100, 48);
  double expected = 160.0 / double(ring.size());
  SceneLabelling l = label_scene(masks, object);
  ASSERT_EQ(l.coverage.size(), 1u);
  EXPECT_NEAR(l.coverage[0].coverage, expected, 1e-9);
  ASSERT_LT(expected, 0.05);
  EXPECT_EQ(l.labels.surface, "");
  EXPECT_EQ(*l.labels.confidence, 0.0);
  LabelOptions lenient;
  lenient.min_coverage = 0.005;
  SceneLabelling w = label_scene(masks, object, lenient);
  EXPECT_EQ(w.labels.surface, "wood");
  EXPECT_NEAR(*w.labels.confidence, expected, 1e-9);
  // No concept masks at all.
  EXPECT_EQ(label_scene({}, object).labels.surface, "");
  EXPECT_TRUE(label_scene({}, object).coverage.empty());
}

TEST(SceneLabels, RejectsBadInput) {
  Image object = rect_mask(80, 60, 120, 100);
  auto bad = [](const std::function<void()>& f) { return code_of(f); };
  EXPECT_EQ(bad([&] { label_scene({}, Image(kW, kH, 1)); }), ErrorCode::InvalidArgument);  // no object
  EXPECT_EQ(bad([&] { label_scene({}, ImageView{}); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([&] { label_scene({}, test::pattern_rgb(kW, kH)); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([&] { label_scene({concept("grass", 1.0, rect_mask(0, 0, 10, 10, kW + 1, kH))}, object); }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([&] { label_scene({concept("grass", 1.5, rect_mask(0, 0, 10, 10))}, object); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([&] { label_scene({concept("grass", std::nan(""), rect_mask(0, 0, 10, 10))}, object); }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([&] { label_scene({concept("", 1.0, rect_mask(0, 0, 10, 10))}, object); }), ErrorCode::InvalidArgument);
  LabelOptions o;
  o.ring_width = 0;
  EXPECT_EQ(bad([&] { label_scene({}, object, o); }), ErrorCode::InvalidArgument);
  o = {};
  o.detail_ratio = 0;
  EXPECT_EQ(bad([&] { label_scene({}, object, o); }), ErrorCode::InvalidArgument);
  o = {};
  o.min_coverage = 1.5;
  EXPECT_EQ(bad([&] { label_scene({}, object, o); }), ErrorCode::InvalidArgument);
}

TEST(SceneLabels, JsonRoundTrips) {
  SceneLabels labels{"grass", "grass with fallen leaves", 0.7, "2026-11-24T07:00:00Z"};
  std::string json = scene_labels_json(labels);
  SceneLabels back = parse_scene_labels(json);
  EXPECT_EQ(back.surface, labels.surface);
  EXPECT_EQ(back.detail, labels.detail);
  EXPECT_EQ(back.confidence, labels.confidence);
  EXPECT_EQ(back.labeled_at, labels.labeled_at);
  nlohmann::json j = nlohmann::json::parse(json);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"confidence", "detail", "labeledAt", "surface"}));
  // No confidence: null, read back as absent; no labels: the prompt builder's fallback.
  SceneLabels empty;
  SceneLabels empty_back = parse_scene_labels(scene_labels_json(empty));
  EXPECT_FALSE(empty_back.confidence);
  EXPECT_EQ(empty_back.surface, "");
  EXPECT_EQ(build_prompt(empty_back).reason, "no labels");
}

// ---------------------------------------------------------------- the segmenter registry

namespace {
// A segmenter from outside the library: keeps its spec and segments nothing.
class FixedSegmenter : public Segmenter {
 public:
  explicit FixedSegmenter(std::string spec) : spec_(std::move(spec)) {}
  std::string spec() const override { return spec_; }
  std::string model_id() const override { return "user-fixed"; }
  SegmenterCapabilities capabilities() const override { return {}; }
  Encoding encode(const ImageView&, const RunControl*) const override { return {}; }
  void check_encoding(const Encoding&) const override {}
  SegmentResult segment(const Encoding&, const SegmentPrompt&, const RunControl*) const override { return {}; }

 private:
  std::string spec_;
};
}  // namespace

TEST(SegmenterRegistry, UserSegmentersComeThroughCreateSegmenter) {
  SegmenterRegistry& r = default_segmenter_registry();
  EXPECT_TRUE(r.contains("grabcut") && r.contains("sam"));
  r.add("user-fixed", "a test segmenter", {{"label", "any text"}}, [](const ModelSpec& spec) {
    return std::make_unique<FixedSegmenter>(spec.str());
  });
  EXPECT_EQ(code_of([&] { r.add("user-fixed", "again", {}, [](const ModelSpec&) { return std::unique_ptr<Segmenter>(); }); }),
            ErrorCode::InvalidArgument);
  auto made = create_segmenter("user-fixed:label='grass, wet'");
  EXPECT_EQ(made->spec(), "user-fixed:label='grass, wet'");
  EXPECT_EQ(made->model_id(), "user-fixed");
  auto listed = list_segmenters();
  auto it = std::find_if(listed.begin(), listed.end(), [](const ModelInfo& i) { return i.name == "user-fixed"; });
  ASSERT_NE(it, listed.end());
  EXPECT_EQ(it->description, "a test segmenter");
  ASSERT_EQ(it->keys.size(), 1u);
  EXPECT_EQ(it->keys[0].name, "label");
  EXPECT_EQ(code_of([] { create_segmenter("user-fixed:lable=x"); }), ErrorCode::InvalidArgument);
  EXPECT_NE(message_of([] { create_segmenter("user-fixed:lable=x"); }).find("(it takes label)"), std::string::npos);
  EXPECT_EQ(code_of([] { create_segmenter("user-fixed:label='x"); }), ErrorCode::Parse);
  // The built-ins declare their keys too; an own registry starts empty.
  auto grabcut = std::find_if(listed.begin(), listed.end(), [](const ModelInfo& i) { return i.name == "grabcut"; });
  ASSERT_NE(grabcut, listed.end());
  EXPECT_EQ(grabcut->keys.size(), 3u);
  SegmenterRegistry own;
  EXPECT_TRUE(own.list().empty());
  std::string message;
  EXPECT_EQ(code_of([&] { own.create("grabcut"); }, &message), ErrorCode::UnknownModel);
  EXPECT_NE(message.find("unknown segmenter 'grabcut'"), std::string::npos) << message;
  register_builtin_segmenters(own);
  EXPECT_EQ(own.create("grabcut:iterations=2")->spec(), "grabcut:iterations=2,max_side=1024");
}
