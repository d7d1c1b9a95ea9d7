#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "inpaint/error.hpp"
#include "inpaint/mask.hpp"
#include "test_util.hpp"

using namespace inpaint;
using inpaint::test::at;

namespace {
MaskCleanOptions no_ops() {
  MaskCleanOptions o;
  o.open_radius = o.close_radius = o.dilate_px = 0;
  o.min_island_area = o.min_hole_area = 0;
  return o;
}
int count_hole(const Image& m) {
  int n = 0;
  for (std::size_t i = 0; i < m.size_bytes(); ++i) n += m.data()[i] == 255;
  return n;
}
}  // namespace

TEST(Mask, ThresholdsAt127) {
  Image m(4, 1, 1);
  const std::uint8_t values[4] = {0, 127, 128, 200};
  std::memcpy(m.data(), values, 4);
  Image out = clean_mask(m, no_ops());
  EXPECT_EQ(at(out, 0, 0), 0);
  EXPECT_EQ(at(out, 1, 0), 0);
  EXPECT_EQ(at(out, 2, 0), 255);
  EXPECT_EQ(at(out, 3, 0), 255);
}

TEST(Mask, RemovesSmallIslandsAndFillsSmallHoles) {
  Image m = test::disc_mask(120, 120, 40, 60, 25);
  for (int y = 10; y < 13; ++y)
    for (int x = 100; x < 103; ++x) test::set(m, x, y, 255);  // a 9-pixel speck far away
  for (int y = 58; y < 62; ++y)
    for (int x = 38; x < 42; ++x) test::set(m, x, y, 0);  // a 16-pixel hole in the blob
  MaskCleanOptions o = no_ops();
  o.min_island_area = 20;
  o.min_hole_area = 20;
  Image out = clean_mask(m, o);
  EXPECT_EQ(at(out, 101, 11), 0);
  EXPECT_EQ(at(out, 40, 60), 255);
  EXPECT_EQ(at(out, 40, 40), 255);
  o.min_island_area = 5;
  o.min_hole_area = 5;
  out = clean_mask(m, o);
  EXPECT_EQ(at(out, 101, 11), 255);
  EXPECT_EQ(at(out, 40, 60), 0);
}

TEST(Mask, BackgroundOpenToTheBorderIsNotAHole) {
  // A U shape touching the image border: the notch reaches the border and must stay open.
  Image m(30, 30, 1);
  for (int y = 0; y < 20; ++y)
    for (int x = 5; x < 25; ++x)
      if (!(x >= 12 && x < 18 && y < 15)) test::set(m, x, y, 255);
  MaskCleanOptions o = no_ops();
  o.min_hole_area = 1000;
  Image out = clean_mask(m, o);
  EXPECT_EQ(at(out, 15, 5), 0);
}

TEST(Mask, OpenRemovesThinSpursAndDilateGrows) {
  Image m = test::disc_mask(100, 100, 50, 50, 20);
  for (int x = 70; x < 95; ++x) test::set(m, x, 50, 255);  // a 1-px line
  MaskCleanOptions o = no_ops();
  o.open_radius = 2;
  Image out = clean_mask(m, o);
  EXPECT_EQ(at(out, 85, 50), 0);
  EXPECT_EQ(at(out, 50, 50), 255);
  o = no_ops();
  o.dilate_px = 5;
  out = clean_mask(test::disc_mask(100, 100, 50, 50, 20), o);
  EXPECT_EQ(at(out, 50 + 24, 50), 255);
  EXPECT_EQ(at(out, 50 + 27, 50), 0);
}

TEST(Mask, EmptyMaskStaysEmptyAndBadOptionsThrow) {
  Image m(50, 40, 1);
  Image out = clean_mask(m);
  EXPECT_EQ(count_hole(out), 0);
  EXPECT_TRUE(mask_bounds(out).empty());
  MaskCleanOptions o;
  o.dilate_px = -1;
  EXPECT_THROW(clean_mask(m, o), Error);
  Image rgb(5, 5, 3);
  EXPECT_THROW(clean_mask(rgb), Error);
}

TEST(Mask, AllHoleMaskStaysAllHole) {
  Image m(40, 30, 1);
  std::memset(m.data(), 255, m.size_bytes());
  Image out = clean_mask(m);
  EXPECT_EQ(count_hole(out), 40 * 30);
}

TEST(Mask, WorksOnTheBoundingBoxOnly) {
  // Processing only the hole's box must give what whole-frame processing gives: compare a mask
  // near a corner of a big frame with the same mask in a small frame.
  Image big(2000, 1500, 1), small(200, 150, 1);
  std::mt19937 rng(7);
  for (int i = 0; i < 30; ++i) {
    int cx = 60 + int(rng() % 80), cy = 40 + int(rng() % 70), r = 3 + int(rng() % 12);
    for (int y = cy - r; y <= cy + r; ++y)
      for (int x = cx - r; x <= cx + r; ++x)
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) {
          test::set(big, x, y, 255);
          test::set(small, x, y, 255);
        }
  }
  Image a = clean_mask(big), b = clean_mask(small);
  for (int y = 0; y < 150; ++y)
    ASSERT_EQ(0, std::memcmp(a.data() + y * 2000, b.data() + y * 200, 200)) << "row " << y;
  EXPECT_EQ(count_hole(a), count_hole(b));
  MaskBox box = mask_bounds(a);
  EXPECT_LT(box.x + box.width, 200);
}

TEST(Mask, TensorPathEqualsOpenCvPath) {
  if (!INPAINT_TEST_WITH_TORCH) {
    std::string message;
    EXPECT_EQ(test::code_of([] { clean_mask(test::disc_mask(20, 20, 10, 10, 4), {}, MaskBackend::Tensor, "cpu"); }, &message),
              ErrorCode::Unavailable);
    EXPECT_NE(message.find("torch backend"), std::string::npos) << message;
    GTEST_SKIP() << "built without the torch backend (INPAINT_WITH_TORCH=OFF): its absence was checked instead";
  }
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 6; ++trial) {
    int w = 90 + trial * 37, h = 70 + trial * 23;
    Image m(w, h, 1);
    // Random blobs, specks, holes and noise, touching the border in some trials.
    for (int i = 0; i < 25; ++i) {
      int cx = int(rng() % w), cy = int(rng() % h), r = 1 + int(rng() % 14);
      std::uint8_t v = (i % 4 == 3) ? 0 : std::uint8_t(128 + rng() % 128);
      for (int y = std::max(0, cy - r); y <= std::min(h - 1, cy + r); ++y)
        for (int x = std::max(0, cx - r); x <= std::min(w - 1, cx + r); ++x)
          if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) test::set(m, x, y, v);
    }
    for (int i = 0; i < 200; ++i) m.data()[rng() % (w * h)] = std::uint8_t(rng() % 256);
    MaskCleanOptions o;
    o.open_radius = trial % 3;
    o.close_radius = (trial + 1) % 3;
    o.dilate_px = trial * 2;
    o.min_island_area = 10 + trial * 10;
    o.min_hole_area = 15 + trial * 5;
    Image cv_mask = clean_mask(m, o, MaskBackend::OpenCV);
    Image tensor_mask = clean_mask(m, o, MaskBackend::Tensor, "cpu");
    ASSERT_EQ(0, std::memcmp(cv_mask.data(), tensor_mask.data(), cv_mask.size_bytes())) << "trial " << trial;
  }
  Image m(10, 10, 1);
  m.data()[55] = 255;
  EXPECT_THROW(clean_mask(m, {}, MaskBackend::Tensor, "nonsense"), Error);
}

TEST(Mask, FeatherIsFullInsideAndZeroBeyondItsWidth) {
  Image m = test::disc_mask(100, 100, 50, 50, 10);
  Image a = feather_mask(m, 8);
  EXPECT_EQ(at(a, 50, 50), 255);
  EXPECT_EQ(at(a, 60, 50), 255);           // the hole's edge stays fully replaced
  EXPECT_GT(at(a, 62, 50), 0);             // fades outside ...
  EXPECT_LT(at(a, 62, 50), 255);
  EXPECT_EQ(at(a, 50 + 10 + 9, 50), 0);    // ... and is zero beyond the feather width
  Image hard = feather_mask(m, 0);
  EXPECT_EQ(0, std::memcmp(hard.data(), m.data(), m.size_bytes()));
}

TEST(Mask, CompositeKeepsBytesWhereAlphaIsZero) {
  Image base = test::pattern_rgb(20, 10), original = base;
  Image fill(20, 10, 3);
  std::memset(fill.data(), 200, fill.size_bytes());
  Image alpha(20, 10, 1);
  alpha.data()[5] = 255;
  alpha.data()[6] = 128;
  composite(base, fill, alpha);
  EXPECT_EQ(at(base, 5, 0, 1), 200);
  EXPECT_EQ(at(base, 6, 0, 0), (at(original, 6, 0, 0) * 127 + 200 * 128 + 127) / 255);
  for (int i = 0; i < 200; ++i)
    if (i != 5 && i != 6) EXPECT_EQ(0, std::memcmp(base.data() + 3 * i, original.data() + 3 * i, 3));
  EXPECT_THROW(composite(base, fill, alpha, 1, 0), Error);  // would spill outside
}
