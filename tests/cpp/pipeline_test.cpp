#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include "inpaint/error.hpp"
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
