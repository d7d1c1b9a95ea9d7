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
  while (dirent* e = readdir(d)) entries += std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0;
  closedir(d);
  EXPECT_EQ(entries, 1);  // only out.bin: no temporary files (hidden ones included) left
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

// The temporary file's name keeps only the first 100 bytes of the file's own name, so a name
// of 255 bytes (NAME_MAX) can still be written atomically, and nothing else is left beside it.
TEST(Image, AtomicWriteTakesTheLongestFileNames) {
  char dir_template[] = "/tmp/inpaint-test-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  std::string path = dir + "/" + std::string(251, 'n') + ".png";
  std::vector<std::uint8_t> bytes(100, 3);
  write_file_atomic(path, bytes.data(), bytes.size());
  EXPECT_EQ(read_file(path), bytes);
  int entries = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) entries += std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0;
  closedir(d);
  EXPECT_EQ(entries, 1);
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

// ---------------------------------------------------------------- PNG encoding (libpng)

namespace {

// Deterministic noise: incompressible, so every byte of the encoder's path is exercised.
Image noise(int width, int height, int channels, std::uint32_t seed) {
  Image img = Image::uninitialized(width, height, channels);
  for (std::size_t i = 0; i < img.size_bytes(); ++i) {
    seed = seed * 1664525u + 1013904223u;
    img.data()[i] = std::uint8_t(seed >> 24);
  }
  return img;
}

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}

// The zlib header's FLEVEL (0..3) of the first IDAT chunk: which compression level wrote it.
int zlib_flevel(const std::vector<std::uint8_t>& png) {
  for (std::size_t pos = 8; pos + 8 <= png.size();) {
    std::uint32_t length = be32(png, pos);
    if (std::memcmp(png.data() + pos + 4, "IDAT", 4) == 0) return png[pos + 8 + 1] >> 6;
    pos += 12 + length;
  }
  return -1;
}

}  // namespace

// Grey, grey+alpha, RGB and RGBA at 1x1, odd widths and heights, every compression level:
// the IHDR says what was stored (8 bits, the right colour type) and decoding gives back the
// input bytes exactly.
TEST(PngEncode, EveryLayoutSizeAndLevelRoundTripsExactly) {
  struct Layout { int channels; bool alpha; int colour_type; };
  const Layout layouts[] = {{1, false, 0}, {1, true, 4}, {3, false, 2}, {3, true, 6}};
  const std::pair<int, int> sizes[] = {{1, 1}, {1, 5}, {3, 1}, {7, 5}, {33, 17}, {257, 3}};
  std::uint32_t seed = 1;
  for (const Layout& layout : layouts)
    for (auto [w, h] : sizes)
      for (int level = 0; level <= 9; ++level) {
        SCOPED_TRACE(std::to_string(layout.channels) + (layout.alpha ? "+alpha " : " ") + std::to_string(w) + "x" +
                     std::to_string(h) + " level " + std::to_string(level));
        Image img = noise(w, h, layout.channels, seed++);
        Image alpha = layout.alpha ? noise(w, h, 1, seed++) : Image();
        EncodeOptions options;
        options.format = ImageFormat::Png;
        options.png_compression = level;
        std::vector<std::uint8_t> png = encode_image(img, options, alpha);
        ASSERT_GE(png.size(), 33u);
        EXPECT_EQ(be32(png, 16), std::uint32_t(w));
        EXPECT_EQ(be32(png, 20), std::uint32_t(h));
        EXPECT_EQ(png[24], 8);  // bit depth
        EXPECT_EQ(png[25], layout.colour_type);
        DecodedImage d = decode_image(png.data(), png.size());
        ASSERT_EQ(d.rgb.width(), w);
        ASSERT_EQ(d.rgb.height(), h);
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
              ASSERT_EQ(at(d.rgb, x, y, c), at(img, x, y, layout.channels == 1 ? 0 : c)) << x << "," << y;
        if (layout.alpha) {
          ASSERT_EQ(d.alpha.size_bytes(), alpha.size_bytes());
          EXPECT_EQ(0, std::memcmp(d.alpha.data(), alpha.data(), alpha.size_bytes()));
        } else {
          EXPECT_TRUE(d.alpha.empty());
        }
        if (layout.channels == 1 && !layout.alpha) {  // a grey mask comes back as stored
          Image mask = decode_mask(png.data(), png.size());
          EXPECT_EQ(0, std::memcmp(mask.data(), img.data(), img.size_bytes()));
        }
      }
}

// png_compression is zlib's level: the zlib header records it (FLEVEL 0 for levels 0-1, 1 for
// 2-5, 2 for 6, 3 for 7-9), and a compressible image gets smaller as the level rises.
TEST(PngEncode, CompressionLevelIsZlibsLevel) {
  Image img = test::pattern_rgb(300, 200);
  const int flevel[10] = {0, 0, 1, 1, 1, 1, 2, 3, 3, 3};
  std::vector<std::size_t> sizes;
  for (int level = 0; level <= 9; ++level) {
    EncodeOptions options;
    options.format = ImageFormat::Png;
    options.png_compression = level;
    std::vector<std::uint8_t> png = encode_image(img, options);
    EXPECT_EQ(zlib_flevel(png), flevel[level]) << level;
    sizes.push_back(png.size());
  }
  EXPECT_GT(sizes[0], img.size_bytes());  // stored: the raw rows plus filter bytes and framing
  EXPECT_LT(sizes[1], sizes[0] / 4);
  // Smaller with the level among levels that filter alike (1-2: Up; 3-9: libpng's choice per row).
  EXPECT_LE(sizes[2], sizes[1]);
  EXPECT_LE(sizes[9], sizes[3]);
  for (int bad : {-1, 10}) {
    EncodeOptions options;
    options.format = ImageFormat::Png;
    options.png_compression = bad;
    std::string message;
    EXPECT_EQ(test::code_of([&] { encode_image(img, options); }, &message), ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("0..9, got " + std::to_string(bad)), std::string::npos) << message;
  }
}

// A view with a row stride wider than its pixels (a crop of a larger image) encodes only the
// view's pixels, with and without alpha.
TEST(PngEncode, StridedViewsEncodeTheirOwnPixels) {
  Image big = noise(41, 13, 3, 7), big_alpha = noise(41, 13, 1, 8);
  ImageView crop{big.data() + 3 * 3 + big.stride(), 29, 11, 3, big.stride()};
  ImageView crop_alpha{big_alpha.data() + 3 + big_alpha.stride(), 29, 11, 1, big_alpha.stride()};
  for (bool with_alpha : {false, true}) {
    std::vector<std::uint8_t> png = encode_image(crop, {ImageFormat::Png, 90, 6}, with_alpha ? crop_alpha : ImageView{});
    DecodedImage d = decode_image(png.data(), png.size());
    ASSERT_EQ(d.rgb.width(), 29);
    ASSERT_EQ(d.rgb.height(), 11);
    for (int y = 0; y < 11; ++y) {
      EXPECT_EQ(0, std::memcmp(d.rgb.data() + y * d.rgb.stride(), crop.row(y), 29 * 3)) << y;
      if (with_alpha) EXPECT_EQ(0, std::memcmp(d.alpha.data() + y * d.alpha.stride(), crop_alpha.row(y), 29)) << y;
    }
  }
}

// libpng refuses widths above 10^6 by default; the encoder lifts that to PNG's own limit, so
// whatever the decoder accepts (up to 2^20 a side) can be written back.
TEST(PngEncode, WidthsAboveAMillionAreWritten) {
  Image wide = noise(1040000, 2, 1, 9);
  std::vector<std::uint8_t> png = encode_image(wide, {ImageFormat::Png, 90, 1});
  Image back = decode_mask(png.data(), png.size());
  ASSERT_EQ(back.width(), 1040000);
  EXPECT_EQ(0, std::memcmp(back.data(), wide.data(), wide.size_bytes()));
}

TEST(Image, CopiesOfAnEmptyImageAreEmpty) {
  Image empty;
  Image copy(empty);
  EXPECT_TRUE(copy.empty());
  Image filled(4, 3, 1);
  filled = empty;
  EXPECT_TRUE(filled.empty());
  EXPECT_EQ(filled.width(), 0);
}
