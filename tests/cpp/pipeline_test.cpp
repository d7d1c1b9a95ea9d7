#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <set>

#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "inpaint/pipeline.hpp"
#include "test_util.hpp"

using namespace inpaint;
using inpaint::test::at;

namespace {

// Paints every pixel it is given a solid colour and counts calls and the sizes it saw, so a
// test knows exactly what the pipeline handed the model and what must come back.
class PaintAll : public InpaintModel {
 public:
  mutable std::atomic<int> calls{0};
  mutable std::atomic<int> last_width{0}, last_height{0};
  std::string spec() const override { return "paint"; }
  Image inpaint(const InpaintRequest& r) const override {
    ++calls;
    last_width = r.image.width;
    last_height = r.image.height;
    Image out(r.image.width, r.image.height, 3);
    for (std::size_t i = 0; i < out.size_bytes(); i += 3) { out.data()[i] = 10; out.data()[i + 1] = 200; out.data()[i + 2] = 30; }
    return out;
  }
};

std::vector<std::uint8_t> png(const Image& img) { return encode_image(img, {ImageFormat::Png, 90}); }

PipelineOptions lossless() {
  PipelineOptions o;
  o.output.format = ImageFormat::Png;
  return o;
}

}  // namespace

TEST(Pipeline, OutsideTheFeatheredHoleIsByteIdentical) {
  PaintAll model;
  Image img = test::pattern_rgb(300, 200);
  Image mask = test::disc_mask(300, 200, 150, 100, 30);
  PipelineOptions o = lossless();
  PipelineResult r = fill_image(model, img, mask, o);
  Image clean = clean_mask(mask, o.mask);
  Image alpha = feather_mask(clean, o.feather_px);
  int changed_outside = 0, hole_wrong = 0;
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 300; ++x) {
      bool outside = at(alpha, x, y) == 0;
      bool same = std::memcmp(r.image.data() + (y * 300 + x) * 3, img.data() + (y * 300 + x) * 3, 3) == 0;
      changed_outside += outside && !same;
      hole_wrong += at(clean, x, y) == 255 && at(r.image, x, y, 1) != 200;
    }
  EXPECT_EQ(changed_outside, 0);
  EXPECT_EQ(hole_wrong, 0);
  EXPECT_EQ(r.strategy, Strategy::Original);
  EXPECT_EQ(r.regions, 1);
  EXPECT_NEAR(r.hole.x, 150 - 30 - o.mask.dilate_px, 1);  // opening may shave the disc's tip pixel

  // The same through bytes: PNG out, decoded again, equal to fill_image's pixels.
  auto bytes = png(img), mask_bytes = png(mask);
  PipelineResult full = run_pipeline(model, bytes.data(), bytes.size(), mask_bytes.data(), mask_bytes.size(), o);
  DecodedImage back = decode_image(full.encoded.data(), full.encoded.size());
  EXPECT_EQ(0, std::memcmp(back.rgb.data(), r.image.data(), r.image.size_bytes()));
  EXPECT_GT(full.times.total, 0);
  EXPECT_GE(full.times.total, full.times.decode + full.times.model);
}

TEST(Pipeline, CropRunsOneBoxPerRegionAtNativeResolution) {
  PaintAll model;
  Image img = test::pattern_rgb(2000, 1000);
  Image mask = test::disc_mask(2000, 1000, 300, 300, 20);
  Image second = test::disc_mask(2000, 1000, 1600, 700, 20);
  for (std::size_t i = 0; i < mask.size_bytes(); ++i) mask.data()[i] |= second.data()[i];
  PipelineOptions o = lossless();
  PipelineResult r = fill_image(model, img, mask, o);
  EXPECT_EQ(r.strategy, Strategy::Crop);  // auto: long side 2000 > 800
  EXPECT_EQ(r.regions, 2);
  EXPECT_EQ(model.calls, 2);
  int expected_side = 2 * (20 + o.mask.dilate_px) + 1 + 2 * o.crop_margin;
  EXPECT_NEAR(model.last_width, expected_side, 2);
  EXPECT_EQ(at(r.image, 300, 300, 1), 200);
  EXPECT_EQ(at(r.image, 1600, 700, 1), 200);
  EXPECT_EQ(0, std::memcmp(r.image.data(), img.data(), 2000 * 3));  // row 0 untouched

  // Regions whose boxes overlap are filled in one merged box.
  Image near = test::disc_mask(2000, 1000, 300, 300, 20);
  Image near2 = test::disc_mask(2000, 1000, 420, 300, 20);
  for (std::size_t i = 0; i < near.size_bytes(); ++i) near.data()[i] |= near2.data()[i];
  PaintAll model2;
  EXPECT_EQ(fill_image(model2, img, near, o).regions, 1);
}

TEST(Pipeline, ResizeRunsSmallAndPastesOnlyTheHole) {
  PaintAll model;
  Image img = test::pattern_rgb(2560, 1280);
  Image mask = test::disc_mask(2560, 1280, 1000, 600, 50);
  PipelineOptions o = lossless();
  o.strategy = Strategy::Resize;
  PipelineResult r = fill_image(model, img, mask, o);
  EXPECT_EQ(r.strategy, Strategy::Resize);
  EXPECT_EQ(model.last_width, 1280);
  EXPECT_EQ(model.last_height, 640);
  EXPECT_NEAR(at(r.image, 1000, 600, 1), 200, 2);
  EXPECT_EQ(0, std::memcmp(r.image.data(), img.data(), 2560 * 3 * 400));  // far rows untouched
}

TEST(Pipeline, MaskSizeMustMatchUnlessResizing) {
  PaintAll model;
  Image img = test::pattern_rgb(200, 100);
  Image half = test::disc_mask(100, 50, 50, 25, 10);
  try {
    fill_image(model, img, half, lossless());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("100x50"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("200x100"), std::string::npos) << e.what();
  }
  PipelineOptions o = lossless();
  o.resize_mask = true;
  PipelineResult r = fill_image(model, img, half, o);
  EXPECT_EQ(at(r.image, 100, 50, 1), 200);
}

TEST(Pipeline, EmptyMaskReturnsTheInputUnchanged) {
  PaintAll model;
  Image img = test::pattern_rgb(120, 80);
  auto bytes = png(img), empty = png(Image(120, 80, 1));
  PipelineResult r = run_pipeline(model, bytes.data(), bytes.size(), empty.data(), empty.size(), lossless());
  EXPECT_TRUE(r.mask_empty);
  EXPECT_EQ(model.calls, 0);
  EXPECT_EQ(r.encoded, bytes);  // the very same bytes
  EXPECT_EQ(0, std::memcmp(r.image.data(), img.data(), img.size_bytes()));
  // Values at or below the threshold are not hole either.
  Image faint(120, 80, 1);
  std::memset(faint.data(), 127, faint.size_bytes());
  EXPECT_TRUE(fill_image(model, img, faint, lossless()).mask_empty);
}

TEST(Pipeline, AllHoleMaskFillsEverything) {
  PaintAll model;
  Image img = test::pattern_rgb(64, 48);
  Image full(64, 48, 1);
  std::memset(full.data(), 255, full.size_bytes());
  PipelineResult r = fill_image(model, img, full, lossless());
  for (std::size_t i = 0; i < r.image.size_bytes(); i += 3) ASSERT_EQ(r.image.data()[i + 1], 200);
}

TEST(Pipeline, NonBinaryMaskIsThresholded) {
  PaintAll model;
  Image img = test::pattern_rgb(100, 100);
  Image mask = test::disc_mask(100, 100, 30, 50, 12, 100);  // below 127: keep
  Image hole = test::disc_mask(100, 100, 70, 50, 12, 200);  // above: hole
  for (std::size_t i = 0; i < mask.size_bytes(); ++i) mask.data()[i] |= hole.data()[i];
  PipelineOptions o = lossless();
  o.mask.dilate_px = 0;
  o.feather_px = 0;
  PipelineResult r = fill_image(model, img, mask, o);
  EXPECT_EQ(at(r.image, 70, 50, 1), 200);
  EXPECT_EQ(at(r.image, 30, 50, 1), at(img, 30, 50, 1));
}

TEST(Pipeline, PreviewAlphaAndJpegOutput) {
  PaintAll model;
  Image img = test::pattern_rgb(900, 600);
  Image alpha(900, 600, 1);
  std::memset(alpha.data(), 180, alpha.size_bytes());
  auto bytes = encode_image(img, {ImageFormat::Png, 90}, alpha);
  auto mask = png(test::disc_mask(900, 600, 450, 300, 40));
  PipelineOptions o = lossless();
  o.preview_long_side = 300;
  PipelineResult r = run_pipeline(model, bytes.data(), bytes.size(), mask.data(), mask.size(), o);
  DecodedImage out = decode_image(r.encoded.data(), r.encoded.size());
  ASSERT_FALSE(out.alpha.empty());
  EXPECT_EQ(at(out.alpha, 10, 10), 180);
  DecodedImage preview = decode_image(r.preview.data(), r.preview.size());
  EXPECT_EQ(preview.rgb.width(), 300);
  EXPECT_EQ(preview.rgb.height(), 200);
  o.output = {ImageFormat::Jpeg, 80};
  r = run_pipeline(model, bytes.data(), bytes.size(), mask.data(), mask.size(), o);
  EXPECT_EQ(r.encoded[0], 0xFF);  // JPEG, alpha dropped
}

TEST(Pipeline, BadInputsNameTheProblem) {
  PaintAll model;
  auto img = png(test::pattern_rgb(50, 50));
  auto mask = png(test::disc_mask(50, 50, 25, 25, 5));
  std::vector<std::uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  try {
    run_pipeline(model, img.data(), img.size(), garbage.data(), garbage.size());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Decode);
    EXPECT_EQ(std::string(e.what()).rfind("mask: ", 0), 0u) << e.what();
  }
  EXPECT_THROW(run_pipeline(model, garbage.data(), garbage.size(), mask.data(), mask.size()), Error);
  EXPECT_THROW(run_pipeline(model, nullptr, 0, mask.data(), mask.size()), Error);
  PipelineOptions o;
  o.feather_px = -1;
  EXPECT_THROW(run_pipeline(model, img.data(), img.size(), mask.data(), mask.size(), o), Error);
  EXPECT_THROW(parse_strategy("fast"), Error);
  EXPECT_EQ(parse_strategy("crop"), Strategy::Crop);
  EXPECT_EQ(model.calls, 0);
}

TEST(Pipeline, RunControlStopsBetweenStages) {
  auto model = default_registry().create("patchmatch");
  Image img = test::pattern_rgb(120, 90);
  Image mask = test::disc_mask(120, 90, 60, 45, 15);
  PipelineOptions options;
  RunControl control;
  options.control = &control;
  EXPECT_NO_THROW(fill_image(*model, img, mask, options));  // a fresh control changes nothing

  control.cancel();
  try {
    fill_image(*model, img, mask, options);
    ADD_FAILURE() << "not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled);
  }

  RunControl late;
  late.set_timeout(std::chrono::milliseconds(0));
  options.control = &late;
  try {
    fill_image(*model, img, mask, options);
    ADD_FAILURE() << "deadline ignored";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Timeout);
    EXPECT_NE(std::string(e.what()).find("deadline"), std::string::npos) << e.what();
  }

  // A deadline that passes during the model stops it after the iteration under way.
  RunControl soon;
  int reports = 0;
  soon.progress = [&](double) {
    if (++reports == 2) soon.set_timeout(std::chrono::milliseconds(0));
    return true;
  };
  options.control = &soon;
  try {
    fill_image(*model, img, mask, options);
    ADD_FAILURE() << "deadline ignored";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Timeout);
  }
  EXPECT_EQ(reports, 2);
}

TEST(Pipeline, RunControlFollowsASharedControl) {
  auto model = default_registry().create("patchmatch");
  Image img = test::pattern_rgb(120, 90);
  Image mask = test::disc_mask(120, 90, 60, 45, 15);
  PipelineOptions options;
  // One run's own control (with its progress) follows a control shared with other runs.
  RunControl shared, own;
  own.follow(&shared);
  int reports = 0;
  own.progress = [&](double) {
    if (++reports == 2) shared.cancel();  // from the shared control, in the middle of the model
    return true;
  };
  options.control = &own;
  EXPECT_FALSE(own.has_deadline());
  try {
    fill_image(*model, img, mask, options);
    ADD_FAILURE() << "the shared control's cancel was ignored";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled);
  }
  EXPECT_EQ(reports, 2);
  EXPECT_TRUE(own.cancelled());

  // The earlier deadline of the two wins.
  RunControl shared_late, own_soon, shared_soon, own_none;
  shared_late.set_timeout(std::chrono::hours(1));
  own_soon.set_timeout(std::chrono::milliseconds(0));
  own_soon.follow(&shared_late);
  EXPECT_LT(own_soon.deadline(), shared_late.deadline());
  shared_soon.set_timeout(std::chrono::milliseconds(0));
  own_none.follow(&shared_soon);
  EXPECT_TRUE(own_none.has_deadline());
  EXPECT_EQ(own_none.deadline(), shared_soon.deadline());
  for (RunControl* control : {&own_soon, &own_none}) {
    options.control = control;
    try {
      fill_image(*model, img, mask, options);
      ADD_FAILURE() << "deadline ignored";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Timeout);
    }
  }
}

// ---------------------------------------------------------------- working geometry

namespace {

// Declares a geometry and records every size it is handed that breaks it; fills with a solid
// colour (or hands the image back, to show the pipeline maps the working frame back exactly).
class GeometryModel : public InpaintModel {
 public:
  explicit GeometryModel(ModelGeometry g, bool identity = false) : geometry_(g), identity_(identity) {}
  mutable std::atomic<int> calls{0}, bad_sizes{0}, empty_masks{0};
  mutable std::atomic<int> last_width{0}, last_height{0};
  std::string spec() const override { return "geometry"; }
  ModelGeometry geometry() const override { return geometry_; }
  Image inpaint(const InpaintRequest& r) const override {
    ++calls;
    last_width = r.image.width;
    last_height = r.image.height;
    int long_side = std::max(r.image.width, r.image.height);
    bool fits = r.image.width % geometry_.multiple_of == 0 && r.image.height % geometry_.multiple_of == 0 &&
                (geometry_.min_long_side == 0 || long_side >= geometry_.min_long_side) &&
                (geometry_.max_long_side == 0 || long_side <= geometry_.max_long_side) &&
                r.mask.width == r.image.width && r.mask.height == r.image.height;
    if (!fits) ++bad_sizes;
    bool any_hole = false;
    for (int y = 0; y < r.mask.height && !any_hole; ++y)
      for (int x = 0; x < r.mask.width; ++x) any_hole |= r.mask.row(y)[x] > 127;
    if (!any_hole) ++empty_masks;
    Image out = Image::copy_of(r.image);
    if (!identity_)
      for (std::size_t i = 0; i < out.size_bytes(); i += 3) { out.data()[i] = 10; out.data()[i + 1] = 200; out.data()[i + 2] = 30; }
    return out;
  }

 private:
  ModelGeometry geometry_;
  bool identity_;
};

// Counts pixels outside the feathered hole that differ from the input, and hole pixels that
// did not get the model's colour.
std::pair<int, int> check_composite(const Image& input, const Image& mask, const PipelineResult& r, const PipelineOptions& o) {
  Image alpha = feather_mask(clean_mask(mask, o.mask), o.feather_px);
  Image clean = clean_mask(mask, o.mask);
  int changed_outside = 0, hole_wrong = 0;
  for (int y = 0; y < input.height(); ++y)
    for (int x = 0; x < input.width(); ++x) {
      std::size_t i = (std::size_t(y) * input.width() + x) * 3;
      changed_outside += at(alpha, x, y) == 0 && std::memcmp(r.image.data() + i, input.data() + i, 3) != 0;
      hole_wrong += at(clean, x, y) == 255 && std::abs(int(at(r.image, x, y, 1)) - 200) > 1;
    }
  return {changed_outside, hole_wrong};
}

}  // namespace

TEST(PipelineGeometry, EveryStrategyHandsTheModelSizesThatFitItsGeometry) {
  // An odd-sized photo with two holes: far apart, so Crop makes two boxes of odd sizes.
  Image img = test::pattern_rgb(1001, 603);
  Image mask = test::disc_mask(1001, 603, 150, 150, 25);
  Image second = test::disc_mask(1001, 603, 850, 480, 15);
  for (std::size_t i = 0; i < mask.size_bytes(); ++i) mask.data()[i] |= second.data()[i];
  const ModelGeometry geometries[] = {
      {8, 0, 0},       // padding only
      {16, 0, 256},    // scaled down, then padded
      {32, 512, 768},  // crop boxes (about 300 px) scaled up, the whole photo scaled down
  };
  for (const ModelGeometry& g : geometries)
    for (Strategy s : {Strategy::Original, Strategy::Crop, Strategy::Resize, Strategy::Auto}) {
      SCOPED_TRACE("multiple_of " + std::to_string(g.multiple_of) + " range " + std::to_string(g.min_long_side) +
                   ".." + std::to_string(g.max_long_side) + " strategy " + strategy_name(s));
      GeometryModel model(g);
      PipelineOptions o = lossless();
      o.strategy = s;
      o.resize_long_side = 500;
      PipelineResult r = fill_image(model, img, mask, o);
      EXPECT_GT(model.calls, 0);
      EXPECT_EQ(model.calls, r.regions);
      EXPECT_EQ(model.bad_sizes, 0);
      EXPECT_EQ(model.empty_masks, 0);  // the hole survives scaling
      auto [changed_outside, hole_wrong] = check_composite(img, mask, r, o);
      EXPECT_EQ(changed_outside, 0);
      EXPECT_EQ(hole_wrong, 0);
    }
}

TEST(PipelineGeometry, PaddingIsCutOffAgainExactly) {
  // Only padding (no scaling): a model that hands its input back must give the input back.
  GeometryModel model({64, 0, 0}, /*identity=*/true);
  Image img = test::pattern_rgb(301, 203);
  Image mask = test::disc_mask(301, 203, 290, 195, 20);  // touches the padded corner
  PipelineOptions o = lossless();
  o.strategy = Strategy::Original;
  PipelineResult r = fill_image(model, img, mask, o);
  EXPECT_EQ(model.last_width, 320);
  EXPECT_EQ(model.last_height, 256);
  EXPECT_EQ(model.bad_sizes, 0);
  EXPECT_EQ(0, std::memcmp(r.image.data(), img.data(), img.size_bytes()));
}

TEST(PipelineGeometry, ScalingMapsBackToTheSamePlace) {
  // Scaled down 4x and back, a hand-back model gives a blurred copy of the input: close to
  // it on a smooth image, not shifted.
  GeometryModel model({1, 0, 200}, /*identity=*/true);
  Image img(800, 600, 3);
  for (int y = 0; y < 600; ++y)
    for (int x = 0; x < 800; ++x) {
      test::set(img, x, y, 0);
      img.data()[(std::size_t(y) * 800 + x) * 3] = std::uint8_t(x * 255 / 799);
      img.data()[(std::size_t(y) * 800 + x) * 3 + 1] = std::uint8_t(y * 255 / 599);
    }
  Image mask = test::disc_mask(800, 600, 400, 300, 100);
  PipelineOptions o = lossless();
  o.strategy = Strategy::Original;
  PipelineResult r = fill_image(model, img, mask, o);
  EXPECT_EQ(model.last_width, 200);
  EXPECT_EQ(model.last_height, 150);
  int worst = 0;
  for (int y = 220; y < 380; ++y)
    for (int x = 320; x < 480; ++x)
      for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(int(at(r.image, x, y, c)) - int(at(img, x, y, c))));
  EXPECT_LE(worst, 3);
}

TEST(PipelineGeometry, BadDeclarationsAreRefusedBeforeAnyWork) {
  Image img = test::pattern_rgb(64, 64);
  Image mask = test::disc_mask(64, 64, 32, 32, 8);
  for (ModelGeometry g : {ModelGeometry{0, 0, 0}, ModelGeometry{8, 0, 100}, ModelGeometry{1, 512, 256},
                          ModelGeometry{1, -1, 0}, ModelGeometry{8192, 0, 0}}) {
    GeometryModel model(g);
    std::string message;
    EXPECT_EQ(test::code_of([&] { fill_image(model, img, mask, lossless()); }, &message), ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("model 'geometry' declares a bad working geometry"), std::string::npos) << message;
    EXPECT_EQ(model.calls, 0);
  }
}

// ---------------------------------------------------------------- per-call parameters

namespace {

// Declares one parameter of each type and keeps the map the pipeline hands it.
class ParamModel : public InpaintModel {
 public:
  mutable CallParams seen;
  mutable std::atomic<int> calls{0};
  std::string spec() const override { return "params:x=1"; }
  std::vector<ParamSpec> parameters() const override {
    return {{"seed", ParamType::Int, std::int64_t(7), 0, 1000, "random seed"},
            {"guidance", ParamType::Float, 3.5, 0.0, 20.0, "how closely to follow the prompt"},
            {"tiled", ParamType::Bool, false, 0, 0, "run in tiles"},
            {"sampler", ParamType::String, std::string("euler"), 0, 0, "sampler name"}};
  }
  Image inpaint(const InpaintRequest& r) const override {
    ++calls;
    seen = r.params;
    return Image::copy_of(r.image);
  }
};

}  // namespace

TEST(CallParams, ResolveFillsDefaultsAndReadsTextByDeclaredType) {
  ParamModel model;
  CallParams all = resolve_params(model.parameters(), {}, "model 'params'");
  EXPECT_EQ(all.get_int("seed", -1), 7);
  EXPECT_EQ(all.get_float("guidance", -1), 3.5);
  EXPECT_FALSE(all.get_bool("tiled", true));
  EXPECT_EQ(all.get_string("sampler", ""), "euler");

  CallParams given{{"seed", std::string("+12")}, {"guidance", std::string("1e1")}, {"tiled", std::string("true")},
                   {"sampler", std::string("ddim, fast")}};
  CallParams r = resolve_params(model.parameters(), given, "model 'params'");
  EXPECT_EQ(r.get_int("seed", -1), 12);
  EXPECT_EQ(r.get_float("guidance", -1), 10.0);
  EXPECT_TRUE(r.get_bool("tiled", false));
  EXPECT_EQ(r.get_string("sampler", ""), "ddim, fast");  // a string stays as given, commas and all
  // An int is a fine float; it comes out as a float.
  r = resolve_params(model.parameters(), {{"guidance", std::int64_t(4)}}, "m");
  EXPECT_EQ(param_type(r.values().at("guidance")), ParamType::Float);

  EXPECT_EQ(param_value_text(0.1), "0.1");
  EXPECT_EQ(param_value_text(true), "true");
  EXPECT_EQ(param_value_text(std::int64_t(-3)), "-3");
  EXPECT_EQ(std::get<double>(parse_param_value(ParamType::Float, param_value_text(0.1), "g")), 0.1);
  // A model reading a value of another type is told so rather than handed garbage.
  EXPECT_EQ(test::code_of([&] { CallParams{{"seed", 1.5}}.get_int("seed", 0); }), ErrorCode::InvalidArgument);
}

TEST(CallParams, BadValuesNameTheParameterAndTheLimit) {
  ParamModel model;
  struct Case {
    CallParams given;
    const char* expected;
  };
  const Case cases[] = {
      {{{"sed", std::int64_t(1)}}, "model 'params' takes no parameter 'sed' (it takes seed, guidance, tiled, sampler)"},
      {{{"seed", 2.5}}, "parameter 'seed' must be an int, got a float"},
      {{{"seed", true}}, "parameter 'seed' must be an int, got a bool"},
      {{{"seed", std::int64_t(1001)}}, "parameter 'seed' must be 0..1000, got 1001"},
      {{{"seed", std::int64_t(-1)}}, "parameter 'seed' must be 0..1000, got -1"},
      {{{"seed", std::string("12x")}}, "parameter 'seed' must be an int, got '12x'"},
      {{{"seed", std::string("")}}, "parameter 'seed' must be an int, got ''"},
      {{{"guidance", 20.5}}, "parameter 'guidance' must be 0..20, got 20.5"},
      {{{"guidance", std::string("nan")}}, "parameter 'guidance' must be a float, got 'nan'"},
      {{{"guidance", std::nan("")}}, "parameter 'guidance' must be a finite number"},
      {{{"tiled", std::string("yes")}}, "parameter 'tiled' must be a bool, got 'yes'"},
      {{{"tiled", std::int64_t(1)}}, "parameter 'tiled' must be a bool, got an int"},
      {{{"sampler", std::int64_t(1)}}, "parameter 'sampler' must be a string, got an int"},
  };
  for (const Case& c : cases) {
    std::string message;
    EXPECT_EQ(test::code_of([&] { resolve_params(model.parameters(), c.given, "model 'params'"); }, &message),
              ErrorCode::InvalidArgument);
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
  // A model that declares nothing says so.
  std::string message;
  resolve_params({}, {}, "model 'x'");
  EXPECT_EQ(test::code_of([&] { resolve_params({}, {{"seed", std::int64_t(1)}}, "model 'x'"); }, &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("model 'x' takes no parameter 'seed' (it takes none)"), std::string::npos) << message;
  // Broken declarations are the model's bug, not the caller's.
  const std::vector<ParamSpec> broken[] = {
      {{"Seed", ParamType::Int, std::int64_t(0), 0, 1, ""}},
      {{"seed", ParamType::Int, std::int64_t(5), 0, 1, ""}},
      {{"seed", ParamType::Int, 0.5, 0, 1, ""}},
      {{"seed", ParamType::Int, std::int64_t(0), 0, 1, ""}, {"seed", ParamType::Int, std::int64_t(0), 0, 1, ""}},
  };
  for (const auto& declared : broken) EXPECT_EQ(test::code_of([&] { resolve_params(declared, {}, "m"); }), ErrorCode::Internal);
}

TEST(CallParams, ThePipelineHandsTheModelTheCompleteTypedMap) {
  ParamModel model;
  Image img = test::pattern_rgb(100, 80);
  Image mask = test::disc_mask(100, 80, 50, 40, 10);
  PipelineOptions o = lossless();
  o.strategy = Strategy::Crop;
  o.params.set("seed", std::string("42"));
  o.params.set("tiled", true);
  fill_image(model, img, mask, o);
  ASSERT_EQ(model.calls, 1);
  EXPECT_EQ(model.seen.values().size(), 4u);
  EXPECT_EQ(model.seen.get_int("seed", -1), 42);
  EXPECT_TRUE(model.seen.get_bool("tiled", false));
  EXPECT_EQ(model.seen.get_float("guidance", -1), 3.5);
  EXPECT_EQ(model.seen.get_string("sampler", ""), "euler");
}

TEST(CallParams, ABadParameterFailsBeforeDecoding) {
  ParamModel model;
  // Bytes that are no image: an InvalidArgument (not Decode) shows the check came first.
  std::vector<std::uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  PipelineOptions o = lossless();
  o.params.set("steps", std::int64_t(20));
  std::string message;
  EXPECT_EQ(test::code_of([&] { run_pipeline(model, garbage.data(), garbage.size(), garbage.data(), garbage.size(), o); },
                          &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("takes no parameter 'steps'"), std::string::npos) << message;
  // A model that declares nothing refuses any parameter too.
  PaintAll plain;
  Image img = test::pattern_rgb(40, 40);
  Image mask = test::disc_mask(40, 40, 20, 20, 5);
  EXPECT_EQ(test::code_of([&] { fill_image(plain, img, mask, o); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(plain.calls, 0);
  EXPECT_EQ(model.calls, 0);
}

TEST(CallParams, PatchMatchTakesSeedAndIterationsPerCall) {
  auto spec_seed_3 = default_registry().create("patchmatch:seed=3,iterations=2");
  auto spec_seed_0 = default_registry().create("patchmatch:iterations=2");
  Image img = test::pattern_rgb(120, 90);
  Image mask = test::disc_mask(120, 90, 60, 45, 15);
  PipelineOptions o = lossless();
  PipelineResult by_spec = fill_image(*spec_seed_3, img, mask, o);
  PipelineResult default_seed = fill_image(*spec_seed_0, img, mask, o);
  o.params.set("seed", std::int64_t(3));
  PipelineResult per_call = fill_image(*spec_seed_0, img, mask, o);
  // The per-call seed overrides the spec's: the same output as a model loaded with that seed.
  EXPECT_EQ(0, std::memcmp(per_call.image.data(), by_spec.image.data(), img.size_bytes()));
  EXPECT_NE(0, std::memcmp(per_call.image.data(), default_seed.image.data(), img.size_bytes()));

  // The spec's values are the declared defaults.
  auto declared = spec_seed_3->parameters();
  ASSERT_EQ(declared.size(), 2u);
  EXPECT_EQ(declared[0].name, "iterations");
  EXPECT_EQ(std::get<std::int64_t>(declared[0].default_value), 2);
  EXPECT_EQ(declared[1].name, "seed");
  EXPECT_EQ(std::get<std::int64_t>(declared[1].default_value), 3);

  o.params = {};
  o.params.set("iterations", std::int64_t(51));
  std::string message;
  EXPECT_EQ(test::code_of([&] { fill_image(*spec_seed_0, img, mask, o); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("model 'patchmatch': parameter 'iterations' must be 1..50, got 51"), std::string::npos) << message;
  // A direct call checks the same ranges.
  InpaintRequest request{img, mask, "", nullptr, {{"seed", std::int64_t(-1)}}};
  EXPECT_EQ(test::code_of([&] { spec_seed_0->inpaint(request); }), ErrorCode::InvalidArgument);
}

// ---------------------------------------------------------------- the option and stage tables

TEST(PipelineOptionTable, EveryRowReadsWritesAndIsRangeChecked) {
  PaintAll model;
  Image img = test::pattern_rgb(32, 32);
  Image mask = test::disc_mask(32, 32, 16, 16, 4);
  const PipelineOptions defaults;
  std::set<std::string> names;
  for (const PipelineOptionInfo& row : kPipelineOptions) {
    SCOPED_TRACE(row.name);
    EXPECT_TRUE(names.insert(row.name).second) << "listed twice";
    EXPECT_NE(std::string(row.doc), "");
    ParamValue value = pipeline_option(defaults, row.name);
    ASSERT_EQ(param_type(value), row.type);
    // Writing the default back changes nothing; a value of another type is refused.
    PipelineOptions o = defaults;
    set_pipeline_option(o, row.name, value);
    EXPECT_EQ(pipeline_option(o, row.name), value);
    EXPECT_EQ(test::code_of([&] { set_pipeline_option(o, row.name, 1.5); }), ErrorCode::InvalidArgument);
    if (row.type != ParamType::Int) continue;
    // The row's range is the one the pipeline enforces: both ends pass, one past them fails.
    std::int64_t default_int = std::get<std::int64_t>(value);
    EXPECT_GE(default_int, row.min_value);
    EXPECT_LE(default_int, row.max_value);
    for (double end : {row.min_value, row.max_value}) {
      o = defaults;
      set_pipeline_option(o, row.name, std::int64_t(end));
      EXPECT_NO_THROW(fill_image(model, img, mask, o)) << end;
    }
    for (double past : {row.min_value - 1, row.max_value + 1}) {
      if (std::string(row.name) == "max_pixels" && past < 0) continue;  // refused by the setter itself
      o = defaults;
      set_pipeline_option(o, row.name, std::int64_t(past));
      std::string message;
      EXPECT_EQ(test::code_of([&] { fill_image(model, img, mask, o); }, &message), ErrorCode::InvalidArgument) << past;
      EXPECT_NE(message.find(row.name), std::string::npos) << message;
    }
  }
  PipelineOptions o;
  std::string message;
  EXPECT_EQ(test::code_of([&] { set_pipeline_option(o, "dilate", std::int64_t(3)); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("no pipeline option 'dilate' (there are clean, threshold"), std::string::npos) << message;
  EXPECT_EQ(test::code_of([&] { set_pipeline_option(o, "strategy", std::string("fast")); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(test::code_of([&] { set_pipeline_option(o, "format", std::string("gif")); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(test::code_of([&] { set_pipeline_option(o, "mask_backend", std::string("cuda")); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(test::code_of([&] { set_pipeline_option(o, "max_pixels", std::int64_t(-1)); }), ErrorCode::InvalidArgument);
  set_pipeline_option(o, "format", std::string("jpg"));
  EXPECT_EQ(std::get<std::string>(pipeline_option(o, "format")), "jpeg");
  set_pipeline_option(o, "dilate_px", std::int64_t(3));
  EXPECT_EQ(o.mask.dilate_px, 3);
}

TEST(PipelineOptionTable, StageFieldsNameEveryStageOnce) {
  StageTimes t;
  std::set<std::string> names;
  double next = 1;
  for (const StageField& stage : kStageFields) {
    EXPECT_TRUE(names.insert(stage.name).second) << stage.name;
    t.*stage.ms = next++;
  }
  // Each entry wrote its own field: the struct holds exactly these, all distinct.
  EXPECT_EQ(sizeof(StageTimes), std::size(kStageFields) * sizeof(double));
  std::set<double> values;
  for (const StageField& stage : kStageFields) values.insert(t.*stage.ms);
  EXPECT_EQ(values.size(), std::size(kStageFields));
  EXPECT_EQ(t.decode, 1);
  EXPECT_EQ(t.total, double(std::size(kStageFields)));
}
