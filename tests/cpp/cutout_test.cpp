// Background removal in the core: the matter registry, the built-in saliency matter, refinement,
// foreground estimation, the output cache and remove_background with a real store (memory,
// Redis started for the test, and a Redis that is down).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "inpaint/cutout.hpp"
#include "inpaint/error.hpp"
#include "inpaint/matte.hpp"
#include "inpaint/store.hpp"
#include "redis_server.hpp"
#include "test_util.hpp"

namespace inpaint {
namespace {

using test::code_of;
using test::iou;

// A subject the saliency matter should find: a warm disc on a cool, textured ground that
// reaches every edge of the frame.
Image subject_photo(int width, int height, int cx, int cy, int r) {
  Image img(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = img.data() + (std::size_t(y) * width + x) * 3;
      int noise = ((x * 37 + y * 91) ^ (x * y)) % 17;
      bool inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
      p[0] = std::uint8_t(inside ? 210 + noise : 40 + noise);
      p[1] = std::uint8_t(inside ? 120 + noise : 110 + noise);
      p[2] = std::uint8_t(inside ? 60 + noise : 70 + noise);
    }
  return img;
}

std::vector<std::uint8_t> png_of(const Image& image, const ImageView& alpha = {}) {
  return encode_image(image, {ImageFormat::Png, 90, 1}, alpha);
}

TEST(Matters, RegistryListsBuiltInsWithTheirKeys) {
  auto list = list_matters();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "saliency");
  EXPECT_EQ(list[1].name, "salient");
  EXPECT_FALSE(list[1].keys.empty());
  EXPECT_STREQ(default_matter_spec(), "saliency");
  auto m = create_matter("saliency");
  EXPECT_EQ(m->spec(), "saliency:iterations=4,max_side=320,softness=1.5");
  EXPECT_NE(m->model_id(), create_matter("saliency:iterations=5")->model_id());
  std::string message;
  EXPECT_EQ(code_of([] { create_matter("saliency:radius=3"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("radius"), std::string::npos) << message;
  EXPECT_EQ(code_of([] { create_matter("grabcut"); }, &message), ErrorCode::UnknownModel);
  EXPECT_NE(message.find("saliency"), std::string::npos) << message;
  EXPECT_EQ(code_of([] { create_matter("saliency:max_side=10"); }), ErrorCode::InvalidArgument);
}

TEST(Matters, SalientNeedsAPathAndTheBackend) {
  std::string message;
  ErrorCode code = code_of([] { create_matter("salient:path=/nonexistent/model.pt"); }, &message);
#if INPAINT_TEST_WITH_TORCH
  EXPECT_EQ(code, ErrorCode::Io) << message;
#else
  EXPECT_EQ(code, ErrorCode::Unavailable) << message;
#endif
  EXPECT_NE(message.find("salient"), std::string::npos) << message;
}

TEST(Matters, SaliencyFindsTheSubject) {
  Image photo = subject_photo(400, 300, 210, 160, 80);
  Image truth = test::disc_mask(400, 300, 210, 160, 80);
  auto matter = create_matter("saliency");
  MatteResult r = matter->matte(photo);
  ASSERT_EQ(r.alpha.width(), 400);
  ASSERT_EQ(r.alpha.height(), 300);
  ASSERT_EQ(r.alpha.channels(), 1);
  EXPECT_GT(iou(r.alpha, truth), 0.9);
  // Deterministic: the same photo gives the same matte, on any thread.
  Image again;
  std::thread([&] { again = matter->matte(photo).alpha; }).join();
  EXPECT_EQ(std::memcmp(again.data(), r.alpha.data(), r.alpha.size_bytes()), 0);
  MattePrediction p = matter->predict(photo);
  EXPECT_EQ(p.map.dtype(), DType::F32);
  EXPECT_EQ(p.map.shape(), (Shape{240, 320}));  // the working size: long side 320
}

TEST(Matters, TinyImagesAreAllSubject) {
  auto matter = create_matter("saliency");
  Image one = test::pattern_rgb(1, 1);
  MatteResult r = matter->matte(one);
  ASSERT_EQ(r.alpha.width(), 1);
  EXPECT_EQ(r.alpha.data()[0], 255);
  Image grey(10, 10, 1);
  EXPECT_EQ(code_of([&] { matter->matte(grey); }), ErrorCode::InvalidArgument);
}

TEST(Matters, AlphaFromMapScalesBilinearAndRounds) {
  auto matter = create_matter("saliency");
  float values[4] = {0.f, 1.f, 0.5f, 0.25f};
  HostTensor map = HostTensor::copy_of(DType::F32, {2, 2}, values);
  Image same = matter->alpha_from_map(map, 2, 2);
  EXPECT_EQ(same.data()[0], 0);
  EXPECT_EQ(same.data()[1], 255);
  EXPECT_EQ(same.data()[2], 128);  // round(127.5)
  EXPECT_EQ(same.data()[3], 64);   // round(63.75)
  Image big = matter->alpha_from_map(map, 4, 4);
  EXPECT_EQ(test::at(big, 0, 0), 0);
  EXPECT_EQ(test::at(big, 3, 0), 255);
  HostTensor wrong = HostTensor::allocate(DType::U8, {2, 2});
  EXPECT_EQ(code_of([&] { matter->alpha_from_map(wrong, 2, 2); }), ErrorCode::InvalidArgument);
}

TEST(Matters, RefineSnapsTheMatteToThePhotosEdge) {
  // The photo's edge is at x = 50; the matte is a 24 px ramp across it, as a network's 1024 px
  // output looks when scaled up to a large photo.
  Image photo(100, 40, 3), alpha(100, 40, 1);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 100; ++x) {
      std::uint8_t v = x < 50 ? 230 : 20;
      for (int c = 0; c < 3; ++c) photo.data()[(y * 100 + x) * 3 + c] = v;
      double ramp = std::clamp((50.0 - x) / 24.0 + 0.5, 0.0, 1.0);
      alpha.data()[y * 100 + x] = std::uint8_t(std::lround(255 * ramp));
    }
  Image refined = refine_alpha(photo, alpha, 16, 1e-4);  // windows wider than the ramp
  int error_before = 0, error_after = 0;
  for (int x = 0; x < 100; ++x) {
    int truth = x < 50 ? 255 : 0;
    error_before += std::abs(test::at(alpha, x, 20) - truth);
    error_after += std::abs(test::at(refined, x, 20) - truth);
  }
  // The guided filter puts the matte's transition where the photo's edge is: one large step
  // between x = 49 and 50 instead of a ramp, and a smaller error overall.
  int step_before = test::at(alpha, 49, 20) - test::at(alpha, 50, 20);
  int step_after = test::at(refined, 49, 20) - test::at(refined, 50, 20);
  EXPECT_GT(step_after, 5 * step_before) << step_before << " -> " << step_after;
  EXPECT_LT(error_after, error_before) << error_before << " -> " << error_after;
  EXPECT_EQ(code_of([&] { refine_alpha(photo, alpha, 0); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { refine_alpha(photo, alpha, 8, 0); }), ErrorCode::InvalidArgument);
  Image small_alpha(10, 10, 1);
  EXPECT_EQ(code_of([&] { refine_alpha(photo, small_alpha); }), ErrorCode::InvalidArgument);
}

TEST(Matters, ForegroundEstimationRemovesTheBackgroundsColour) {
  // A red object over a blue background, mixed by a horizontal alpha ramp.
  const int w = 120, h = 40;
  Image photo(w, h, 3), alpha(w, h, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double a = std::clamp((80.0 - x) / 40.0, 0.0, 1.0);
      alpha.data()[y * w + x] = std::uint8_t(std::lround(255 * a));
      std::uint8_t* p = photo.data() + (y * w + x) * 3;
      p[0] = std::uint8_t(std::lround(220 * a + 10 * (1 - a)));
      p[1] = std::uint8_t(std::lround(30 * a + 40 * (1 - a)));
      p[2] = std::uint8_t(std::lround(20 * a + 230 * (1 - a)));
    }
  Image fg = estimate_foreground(photo, alpha);
  // Opaque and transparent pixels keep their colour.
  EXPECT_EQ(test::at(fg, 5, 20, 0), test::at(photo, 5, 20, 0));
  EXPECT_EQ(test::at(fg, 110, 20, 2), test::at(photo, 110, 20, 2));
  // Half-transparent pixels are far closer to the object's red than the mixed input.
  int x = 60;  // alpha 0.5
  int before = std::abs(test::at(photo, x, 20, 2) - 20), after = std::abs(test::at(fg, x, 20, 2) - 20);
  EXPECT_LT(after * 4, before) << before << " -> " << after;
}

TEST(ResultCacheTest, EvictsLeastRecentlyUsedByBytes) {
  ResultCache cache(100);
  auto outputs = [](std::size_t bytes) {
    auto o = std::make_shared<CutoutOutputs>();
    o->outputs.push_back({Effect::Color, std::vector<std::uint8_t>(bytes, 1)});
    return o;
  };
  EXPECT_EQ(cache.get("a"), nullptr);
  cache.put("a", outputs(40));
  cache.put("b", outputs(40));
  ASSERT_NE(cache.get("a"), nullptr);  // a is now the most recent
  cache.put("c", outputs(40));         // evicts b
  EXPECT_EQ(cache.get("b"), nullptr);
  EXPECT_NE(cache.get("a"), nullptr);
  EXPECT_NE(cache.get("c"), nullptr);
  cache.put("huge", outputs(101));  // larger than the whole cache: not kept, nothing evicted
  EXPECT_EQ(cache.get("huge"), nullptr);
  ResultCacheStats s = cache.stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, 80u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.hits, 3u);    // a, a, c
  EXPECT_EQ(s.misses, 3u);  // a (empty), b (evicted), huge (not kept)
  cache.clear();
  EXPECT_EQ(cache.stats().bytes, 0u);
}

class Cutout : public ::testing::Test {
 protected:
  Image photo = subject_photo(320, 240, 160, 130, 70);
  std::vector<std::uint8_t> bytes = png_of(photo);
  std::unique_ptr<Matter> matter = create_matter("saliency");
};

TEST_F(Cutout, ColourCutoutIsTheMatteOverTransparency) {
  CutoutOptions o;
  CutoutResult r = remove_background(*matter, bytes.data(), bytes.size(), o);
  ASSERT_EQ(r.outputs->outputs.size(), 1u);
  EXPECT_EQ(r.outputs->outputs[0].effect, Effect::Color);
  DecodedImage out = decode_image(r.outputs->outputs[0].encoded.data(), r.outputs->outputs[0].encoded.size());
  ASSERT_FALSE(out.alpha.empty());
  EXPECT_EQ(std::memcmp(out.alpha.data(), r.alpha.data(), r.alpha.size_bytes()), 0);
  EXPECT_GT(iou(r.alpha, test::disc_mask(320, 240, 160, 130, 70)), 0.9);
  EXPECT_FALSE(r.outputs_from_cache);
  EXPECT_FALSE(r.matte_from_store);
  EXPECT_GT(r.times.model, 0);
  EXPECT_EQ(r.input_sha256.size(), 64u);
}

TEST_F(Cutout, RepeatedRequestComesFromTheCache) {
  ResultCache cache(64 << 20);
  CutoutOptions o;
  o.effects = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  o.cache = &cache;
  CutoutResult first = remove_background(*matter, bytes.data(), bytes.size(), o);
  CutoutResult second = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_FALSE(first.outputs_from_cache);
  EXPECT_TRUE(second.outputs_from_cache);
  EXPECT_EQ(second.times.decode, 0);
  EXPECT_EQ(second.times.model, 0);
  ASSERT_EQ(second.outputs->outputs.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(second.outputs->outputs[i].encoded, first.outputs->outputs[i].encoded);
  // Other parameters, other key.
  o.params.set("background", std::string("white"));
  CutoutResult third = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_FALSE(third.outputs_from_cache);
  EXPECT_NE(third.cache_key, first.cache_key);
  EXPECT_EQ(third.matte_id, first.matte_id);
}

TEST_F(Cutout, MatteComesFromTheStoreAndSkipsTheModel) {
  auto store = make_memory_store(64 << 20);
  CutoutOptions o;
  o.store = store.get();
  CutoutResult first = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_TRUE(first.matte_stored);
  EXPECT_TRUE(first.store_error.empty()) << first.store_error;
  CutoutResult second = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_TRUE(second.matte_from_store);
  EXPECT_EQ(second.times.model, 0);
  EXPECT_GT(second.model_ms_saved, 0);
  EXPECT_EQ(std::memcmp(first.alpha.data(), second.alpha.data(), first.alpha.size_bytes()), 0);
  // Another matter's matte is not reused.
  auto other = create_matter("saliency:iterations=2");
  CutoutResult third = remove_background(*other, bytes.data(), bytes.size(), o);
  EXPECT_FALSE(third.matte_from_store);
}

TEST_F(Cutout, RedisSharesMattesAcrossWorkers) {
  test::RedisServer server;
  auto worker_a = open_store(server.url() + "?prefix=cutout:");
  auto worker_b = open_store(server.url() + "?prefix=cutout:");
  CutoutOptions o;
  o.store = worker_a.get();
  CutoutResult a = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_TRUE(a.matte_stored) << a.store_error;
  o.store = worker_b.get();
  CutoutResult b = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_TRUE(b.matte_from_store) << b.store_error;
}

TEST_F(Cutout, ADeadStoreDoesNotFailTheRequest) {
  int port;
  {
    test::RedisServer server;
    port = server.port();
  }  // stopped: nothing listens there now
  auto store = open_store("redis://127.0.0.1:" + std::to_string(port) + "?timeout_ms=200&retry_ms=0");
  CutoutOptions o;
  o.store = store.get();
  CutoutResult r = remove_background(*matter, bytes.data(), bytes.size(), o);
  EXPECT_FALSE(r.store_error.empty());
  EXPECT_FALSE(r.matte_from_store);
  EXPECT_FALSE(r.matte_stored);
  EXPECT_EQ(r.outputs->outputs.size(), 1u);
}

TEST_F(Cutout, InputAlphaStaysTransparent) {
  Image input_alpha(320, 240, 1);
  std::memset(input_alpha.data(), 255, input_alpha.size_bytes());
  for (int y = 0; y < 240; ++y)
    for (int x = 160; x < 320; ++x) input_alpha.data()[y * 320 + x] = 0;  // right half transparent
  std::vector<std::uint8_t> rgba = png_of(photo, input_alpha);
  CutoutResult r = remove_background(*matter, rgba.data(), rgba.size());
  for (int y = 0; y < 240; y += 7)
    for (int x = 160; x < 320; x += 7) ASSERT_EQ(test::at(r.alpha, x, y), 0);
  EXPECT_GT(test::at(r.alpha, 120, 130), 200);  // the subject's left half stays
}

TEST_F(Cutout, BadRequestsFailBeforeAnyWork) {
  CutoutOptions o;
  std::string message;
  o.output.format = ImageFormat::Jpeg;
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }, &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("transparency"), std::string::npos) << message;
  o.params.set("background", std::string("#12345"));
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }, &message), ErrorCode::Parse);
  o = {};
  o.params.set("no_such_parameter", std::int64_t(1));
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }, &message),
            ErrorCode::InvalidArgument);
  o = {};
  o.effects = {Effect::Dither, Effect::Dither};
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }), ErrorCode::InvalidArgument);
  o = {};
  o.refine_radius = 1000;
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }), ErrorCode::InvalidArgument);
  o = {};
  o.refine_radius = 4;
  o.refine_eps = 0;
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("refine_eps"), std::string::npos) << message;
  o = {};
  o.threads = 0;
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }), ErrorCode::InvalidArgument);
  o = {};
  o.output.png_compression = 10;
  EXPECT_EQ(code_of([&] { remove_background(*matter, bytes.data(), bytes.size(), o); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { remove_background(*matter, nullptr, 0); }), ErrorCode::Decode);
  std::vector<std::uint8_t> truncated(bytes.begin(), bytes.begin() + bytes.size() / 2);
  EXPECT_EQ(code_of([&] { remove_background(*matter, truncated.data(), truncated.size()); }), ErrorCode::Decode);
  std::vector<std::uint8_t> huge = test::png_header_only(10000, 10000);  // 100 MP claimed
  o = {};
  o.decode.max_pixels = 50'000'000;
  EXPECT_EQ(code_of([&] { remove_background(*matter, huge.data(), huge.size(), o); }), ErrorCode::TooLarge);
}

TEST_F(Cutout, OneByOnePhoto) {
  Image one = test::pattern_rgb(1, 1);
  auto png = png_of(one);
  CutoutOptions o;
  o.effects = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  CutoutResult r = remove_background(*matter, png.data(), png.size(), o);
  EXPECT_EQ(r.outputs->outputs.size(), 4u);
  EXPECT_EQ(r.alpha.data()[0], 255);
}

TEST_F(Cutout, RefinementAndForegroundRun) {
  CutoutOptions o;
  o.refine_radius = 6;
  o.foreground = true;
  o.params.set("background", std::string("#00ff00"));
  o.output = {ImageFormat::Jpeg, 90, 1};
  CutoutResult r = remove_background(*matter, bytes.data(), bytes.size(), o);
  DecodedImage out = decode_image(r.outputs->outputs[0].encoded.data(), r.outputs->outputs[0].encoded.size());
  EXPECT_TRUE(out.alpha.empty());
  EXPECT_GT(test::at(out.rgb, 5, 5, 1), 200);  // the green background in a corner
  EXPECT_LT(test::at(out.rgb, 5, 5, 0), 60);
  EXPECT_GE(r.times.refine, 0);
}

}  // namespace
}  // namespace inpaint
