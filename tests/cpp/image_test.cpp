#include <gtest/gtest.h>
#include <sys/stat.h>
#include <dirent.h>

#include <cstdio>
#include <cstring>

#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "test_util.hpp"

using namespace inpaint;
using inpaint::test::at;

namespace {

ErrorCode decode_error(const std::vector<std::uint8_t>& bytes, const DecodeOptions& options = {}) {
  try {
    decode_image(bytes.data(), bytes.size(), options);
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "decode succeeded";
  return ErrorCode::Internal;
}

std::vector<std::uint8_t> png_of(const Image& img, const Image& alpha = {}) {
  return encode_image(img, {ImageFormat::Png, 90}, alpha);
}

}  // namespace

TEST(Image, PngRoundTripIsExact) {
  Image img = test::pattern_rgb(37, 23);
  auto bytes = png_of(img);
  DecodedImage d = decode_image(bytes.data(), bytes.size());
  ASSERT_EQ(d.rgb.width(), 37);
  ASSERT_EQ(d.rgb.height(), 23);
  ASSERT_EQ(d.rgb.channels(), 3);
  EXPECT_TRUE(d.alpha.empty());
  EXPECT_EQ(0, std::memcmp(d.rgb.data(), img.data(), img.size_bytes()));
}

TEST(Image, RgbOrderIsKeptThroughPngAndJpeg) {
  Image red(16, 16, 3);
  for (int i = 0; i < 16 * 16; ++i) red.data()[3 * i] = 255;
  for (ImageFormat f : {ImageFormat::Png, ImageFormat::Jpeg}) {
    auto bytes = encode_image(red, {f, 95});
    DecodedImage d = decode_image(bytes.data(), bytes.size());
    EXPECT_GT(at(d.rgb, 8, 8, 0), 240);
    EXPECT_LT(at(d.rgb, 8, 8, 2), 15);
  }
}

TEST(Image, JpegQualityChangesSizeAndStaysClose) {
  Image img = test::pattern_rgb(64, 48);
  auto low = encode_image(img, {ImageFormat::Jpeg, 20});
  auto high = encode_image(img, {ImageFormat::Jpeg, 98});
  EXPECT_LT(low.size(), high.size());
  DecodedImage d = decode_image(high.data(), high.size());
  double err = 0;
  for (std::size_t i = 0; i < img.size_bytes(); ++i) err += std::abs(int(d.rgb.data()[i]) - int(img.data()[i]));
  EXPECT_LT(err / img.size_bytes(), 12.0);
}

TEST(Image, GreyPngBecomesRgb) {
  Image grey(10, 6, 1);
  for (int i = 0; i < 60; ++i) grey.data()[i] = std::uint8_t(i * 4);
  auto bytes = png_of(grey);
  DecodedImage d = decode_image(bytes.data(), bytes.size());
  ASSERT_EQ(d.rgb.channels(), 3);
  EXPECT_EQ(at(d.rgb, 3, 2, 0), 23 * 4);
  EXPECT_EQ(at(d.rgb, 3, 2, 2), 23 * 4);
}

TEST(Image, AlphaIsKeptAsideAndReattached) {
  Image img = test::pattern_rgb(12, 9);
  Image alpha(12, 9, 1);
  for (int i = 0; i < 12 * 9; ++i) alpha.data()[i] = std::uint8_t(i * 2);
  auto bytes = png_of(img, alpha);
  DecodedImage d = decode_image(bytes.data(), bytes.size());
  ASSERT_FALSE(d.alpha.empty());
  EXPECT_EQ(0, std::memcmp(d.alpha.data(), alpha.data(), alpha.size_bytes()));
  EXPECT_EQ(0, std::memcmp(d.rgb.data(), img.data(), img.size_bytes()));
  EXPECT_THROW(encode_image(img, {ImageFormat::Jpeg, 90}, alpha), Error);
}

TEST(Image, ExifOrientationAllEightValues) {
  // A 4x2 image whose pixel values name their position; after orientation the top-left pixel
  // of the upright image must be the stored pixel that the EXIF value says.
  const int w = 32, h = 16;  // multiples of the JPEG block so edges are clean
  Image img(w, h, 3);
  auto quadrant = [&](int x, int y) { return (x < w / 2 ? 0 : 1) + (y < h / 2 ? 0 : 2); };
  const std::uint8_t colours[4][3] = {{250, 10, 10}, {10, 250, 10}, {10, 10, 250}, {250, 250, 10}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) std::memcpy(img.data() + (y * w + x) * 3, colours[quadrant(x, y)], 3);
  auto jpeg = encode_image(img, {ImageFormat::Jpeg, 98});
  // Which stored quadrant lands top-left, top-right, bottom-left after applying each value.
  // Stored quadrants: 0 = TL, 1 = TR, 2 = BL, 3 = BR.
  const int expect[9][3] = {{}, {0, 1, 2}, {1, 0, 3}, {3, 2, 1}, {2, 3, 0}, {0, 2, 1}, {2, 0, 3}, {3, 1, 2}, {1, 3, 0}};
  for (int o = 1; o <= 8; ++o) {
    for (bool le : {true, false}) {
      auto bytes = test::with_exif_orientation(jpeg, o, le);
      EXPECT_EQ(read_exif_orientation(bytes.data(), bytes.size()), o);
      DecodedImage d = decode_image(bytes.data(), bytes.size());
      EXPECT_EQ(d.exif_orientation, o);
      bool swapped = o >= 5;
      ASSERT_EQ(d.rgb.width(), swapped ? h : w) << o;
      ASSERT_EQ(d.rgb.height(), swapped ? w : h) << o;
      int W = d.rgb.width(), H = d.rgb.height();
      int probes[3][2] = {{W / 4, H / 4}, {3 * W / 4, H / 4}, {W / 4, 3 * H / 4}};
      for (int p = 0; p < 3; ++p)
        for (int c = 0; c < 3; ++c)
          EXPECT_NEAR(at(d.rgb, probes[p][0], probes[p][1], c), colours[expect[o][p]][c], 20)
              << "orientation " << o << " probe " << p;
    }
  }
  DecodeOptions keep;
  keep.apply_exif_orientation = false;
  auto rotated = test::with_exif_orientation(jpeg, 6, true);
  EXPECT_EQ(decode_image(rotated.data(), rotated.size(), keep).rgb.width(), w);
}

TEST(Image, BadInputsAreClearErrors) {
  EXPECT_EQ(decode_error({}), ErrorCode::Decode);
  EXPECT_EQ(decode_error({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}), ErrorCode::Decode);
  Image img = test::pattern_rgb(64, 64);
  auto jpeg = encode_image(img, {ImageFormat::Jpeg, 90});
  auto png = png_of(img);
  EXPECT_EQ(decode_error(std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2)), ErrorCode::Decode);
  EXPECT_EQ(decode_error(std::vector<std::uint8_t>(png.begin(), png.begin() + png.size() / 2)), ErrorCode::Decode);
  EXPECT_EQ(decode_error(std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + 4)), ErrorCode::Decode);
  EXPECT_EQ(decode_error(test::png_header_only(0, 10)), ErrorCode::Decode);
  EXPECT_EQ(decode_error(test::png_header_only(10, 0)), ErrorCode::Decode);
  EXPECT_EQ(decode_error(test::png_header_only(100000, 100000)), ErrorCode::TooLarge);
  try {
    auto header = test::png_header_only(100000, 100000);
    decode_image(header.data(), header.size());
    ADD_FAILURE() << "a 10 GP header was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("100000x100000"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_pixels"), std::string::npos) << e.what();
  }
}

TEST(Image, PixelLimitIsConfigurable) {
  auto png = png_of(test::pattern_rgb(100, 100));
  DecodeOptions small;
  small.max_pixels = 9999;
  EXPECT_EQ(decode_error(png, small), ErrorCode::TooLarge);
  auto jpeg = encode_image(test::pattern_rgb(100, 100), {ImageFormat::Jpeg, 90});
  EXPECT_EQ(decode_error(jpeg, small), ErrorCode::TooLarge);
  small.max_pixels = 10000;
  EXPECT_NO_THROW(decode_image(png.data(), png.size(), small));
}

TEST(Image, MaskDecodeTakesLumaOrAlpha) {
  Image rgb(8, 8, 3);
  std::memset(rgb.data(), 0, rgb.size_bytes());
  Image alpha(8, 8, 1);
  alpha.data()[9] = 255;
  auto painted = png_of(rgb, alpha);  // black paint on transparency: the hole is in alpha
  Image mask = decode_mask(painted.data(), painted.size());
  ASSERT_EQ(mask.channels(), 1);
  EXPECT_EQ(mask.data()[9], 255);
  EXPECT_EQ(mask.data()[10], 0);
}

TEST(Image, FormatFromPath) {
  EXPECT_EQ(format_from_path("a/b.PNG"), ImageFormat::Png);
  EXPECT_EQ(format_from_path("x.jpeg"), ImageFormat::Jpeg);
  EXPECT_EQ(format_from_path("x.JPG"), ImageFormat::Jpeg);
  EXPECT_THROW(format_from_path("x.gif"), Error);
  EXPECT_THROW(format_from_path("noext"), Error);
}

TEST(Image, AtomicWriteLeavesNothingOnFailure) {
  char dir_template[] = "/tmp/inpaint-test-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  std::string path = dir + "/out.bin";
  std::vector<std::uint8_t> bytes(1000, 7);
  write_file_atomic(path, bytes.data(), bytes.size());
  EXPECT_EQ(read_file(path), bytes);
  try {
    write_file_atomic(dir + "/missing/out.bin", bytes.data(), bytes.size());
    ADD_FAILURE() << "write into a missing directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
    EXPECT_NE(std::string(e.what()).find("missing/out.bin"), std::string::npos);
  }
  int entries = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) entries += e->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(entries, 1);  // only out.bin: no temporary files left
  std::remove(path.c_str());
  rmdir(dir.c_str());
  EXPECT_THROW(read_file(dir + "/nope"), Error);
}

TEST(Image, ResizeLongSide) {
  Image img = test::pattern_rgb(400, 100);
  Image small = resize_long_side(img, 100);
  EXPECT_EQ(small.width(), 100);
  EXPECT_EQ(small.height(), 25);
  EXPECT_THROW(resize_long_side(img, 0), Error);
}
