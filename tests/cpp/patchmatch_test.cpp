#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "models/patchmatch.hpp"
#include "test_util.hpp"

using namespace inpaint;
using inpaint::detail::PatchMatchField;
using inpaint::detail::PatchMatchParams;
using inpaint::detail::patchmatch_fill;
using inpaint::test::at;

namespace {

// A texture that repeats every `period` pixels in x and y, with detail inside each tile.
Image periodic(int width, int height, int period) {
  Image img(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      int u = x % period, v = y % period;
      std::uint8_t* p = img.data() + (std::size_t(y) * width + x) * 3;
      p[0] = std::uint8_t(40 + 10 * u);
      p[1] = std::uint8_t(200 - 9 * v);
      p[2] = std::uint8_t((u * v) % 7 * 30);
    }
  return img;
}

Image box_mask(int width, int height, int x0, int y0, int x1, int y1) {
  Image m(width, height, 1);
  for (int y = y0; y < y1; ++y) std::memset(m.data() + std::size_t(y) * width + x0, 255, std::size_t(x1 - x0));
  return m;
}

bool is_hole(const Image& mask, int x, int y) { return at(mask, x, y) > 127; }

void expect_unchanged_outside(const Image& out, const Image& in, const Image& mask) {
  int changed = 0;
  for (int y = 0; y < in.height(); ++y)
    for (int x = 0; x < in.width(); ++x)
      if (!is_hole(mask, x, y)) changed += std::memcmp(out.data() + (y * in.width() + x) * 3, in.data() + (y * in.width() + x) * 3, 3) != 0;
  EXPECT_EQ(changed, 0);
}

}  // namespace

TEST(PatchMatch, FieldPointsOnlyAtKnownPatches) {
  Image img = test::pattern_rgb(160, 120);
  Image mask = test::disc_mask(160, 120, 70, 60, 25);
  PatchMatchField field;
  Image out = patchmatch_fill(img, mask, {}, {}, &field);
  ASSERT_FALSE(field.matches.empty());
  EXPECT_EQ(field.radius, 3);
  for (const auto& m : field.matches) {
    for (int dy = -field.radius; dy <= field.radius; ++dy)
      for (int dx = -field.radius; dx <= field.radius; ++dx) {
        int x = m.source_x + dx, y = m.source_y + dy;
        ASSERT_TRUE(x >= 0 && y >= 0 && x < 160 && y < 120) << "source patch leaves the image";
        ASSERT_FALSE(is_hole(mask, x, y)) << "source patch at " << m.source_x << "," << m.source_y << " touches the hole";
      }
  }
  expect_unchanged_outside(out, img, mask);
}

TEST(PatchMatch, EmptyHoleGivesTheImageBack) {
  Image img = test::pattern_rgb(64, 48);
  Image out = patchmatch_fill(img, Image(64, 48, 1), {});
  EXPECT_EQ(0, std::memcmp(out.data(), img.data(), img.size_bytes()));
}

TEST(PatchMatch, ReproducesAPeriodicTexture) {
  const int period = 12;
  Image img = periodic(240, 180, period);
  Image mask = box_mask(240, 180, 90, 60, 150, 120);
  Image out = default_registry().create("patchmatch")->inpaint({img, mask, ""});
  double error = 0;
  int n = 0;
  for (int y = 60; y < 120; ++y)
    for (int x = 90; x < 150; ++x, ++n)
      for (int c = 0; c < 3; ++c) error += std::abs(int(at(out, x, y, c)) - int(at(img, x, y, c)));
  EXPECT_LT(error / (3 * n), 2.0) << "the fill does not continue the period";
  expect_unchanged_outside(out, img, mask);
}

TEST(PatchMatch, SameSeedSameResultOtherSeedOther) {
  Image img = test::pattern_rgb(128, 96);
  Image mask = test::disc_mask(128, 96, 64, 48, 20);
  PatchMatchParams p;
  p.seed = 5;
  Image a = patchmatch_fill(img, mask, p), b = patchmatch_fill(img, mask, p);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size_bytes()));
  p.seed = 6;
  Image c = patchmatch_fill(img, mask, p);
  EXPECT_NE(0, std::memcmp(a.data(), c.data(), a.size_bytes()));
}

TEST(PatchMatch, HolesOnTheBorderAndTinyHoles) {
  Image img = periodic(120, 90, 10);
  // Corners, bands across the whole width and height, and a single pixel.
  for (const Image& mask : {box_mask(120, 90, 0, 0, 30, 25), box_mask(120, 90, 100, 60, 120, 90),
                            box_mask(120, 90, 0, 35, 120, 47), box_mask(120, 90, 50, 0, 60, 90),
                            box_mask(120, 90, 60, 45, 61, 46)}) {
    Image out = patchmatch_fill(img, mask, {});
    expect_unchanged_outside(out, img, mask);
    double error = 0;
    int n = 0;
    for (int y = 0; y < 90; ++y)
      for (int x = 0; x < 120; ++x)
        if (is_hole(mask, x, y)) {
          error += std::abs(int(at(out, x, y, 1)) - int(at(img, x, y, 1)));
          ++n;
        }
    EXPECT_LT(error / n, 10.0);
  }
}

TEST(PatchMatch, OnlyOneKnownRow) {
  Image img = test::pattern_rgb(50, 40);
  Image mask = box_mask(50, 40, 0, 1, 50, 40);  // row 0 is all that is known
  PatchMatchField field;
  Image out = patchmatch_fill(img, mask, {}, {}, &field);
  expect_unchanged_outside(out, img, mask);
  EXPECT_EQ(field.radius, 0);  // no 7x7 patch fits in one row: single pixels are copied
  for (const auto& m : field.matches) ASSERT_EQ(m.source_y, 0);
  Image all(50, 40, 1);
  std::memset(all.data(), 255, all.size_bytes());
  EXPECT_THROW(patchmatch_fill(img, all, {}), Error);
}

TEST(PatchMatch, ProgressAndCancellationStopWithinOneIteration) {
  Image img = test::pattern_rgb(200, 150);
  Image mask = test::disc_mask(200, 150, 100, 75, 30);
  std::vector<double> reports;
  RunControl reporting;
  reporting.progress = [&](double f) { reports.push_back(f); return true; };
  patchmatch_fill(img, mask, {}, &reporting);
  ASSERT_GE(reports.size(), 5u);
  EXPECT_DOUBLE_EQ(reports.back(), 1.0);
  for (std::size_t i = 1; i < reports.size(); ++i) EXPECT_GT(reports[i], reports[i - 1]);

  int calls = 0;
  RunControl stopping;
  stopping.progress = [&](double) { return ++calls < 2; };
  try {
    patchmatch_fill(img, mask, {}, &stopping);
    ADD_FAILURE() << "not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled);
  }
  EXPECT_EQ(calls, 2);  // stopped right after the iteration whose report said stop

  // The flag, set from another thread while the fill runs.
  RunControl control;
  int after_cancel = 0;
  std::thread canceller;
  control.progress = [&](double) {
    if (control.cancelled()) ++after_cancel;
    if (!canceller.joinable()) canceller = std::thread([&] { control.cancel(); });
    else canceller.join(), canceller = std::thread([] {});
    return true;
  };
  try {
    patchmatch_fill(img, mask, {}, &control);
    ADD_FAILURE() << "not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled);
  }
  if (canceller.joinable()) canceller.join();
  EXPECT_LE(after_cancel, 1);
}

TEST(PatchMatch, SpecParameters) {
  auto model = default_registry().create("patchmatch:patch=5,iterations=2,levels=3,search=40,seed=9");
  EXPECT_EQ(model->spec(), "patchmatch:iterations=2,levels=3,patch=5,search=40,seed=9");
  for (const char* bad : {"patchmatch:patch=4", "patchmatch:patch=17", "patchmatch:iterations=0", "patchmatch:radius=3"})
    EXPECT_THROW(default_registry().create(bad), Error) << bad;
}
