// The effects' OpenCV path: names, backgrounds, parameters and validation, and known answers for
// each effect on small generated images (tests/cpp/effects_tensor_test.cpp holds the tensor
// path to this one).
#include <gtest/gtest.h>

#include <cstring>

#include "effects/effects_internal.hpp"
#include "effects/effects_math.hpp"
#include "inpaint/effects.hpp"
#include "test_util.hpp"

using namespace inpaint;
using inpaint::test::at;
using inpaint::test::code_of;

namespace {

Image constant_rgb(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Image img(w, h, 3);
  for (int i = 0; i < w * h; ++i) {
    img.data()[i * 3] = r;
    img.data()[i * 3 + 1] = g;
    img.data()[i * 3 + 2] = b;
  }
  return img;
}

Image constant_alpha(int w, int h, std::uint8_t v) {
  Image a(w, h, 1);
  std::memset(a.data(), v, a.size_bytes());
  return a;
}

EffectsOptions with(CallParams params, int threads = 2) {
  EffectsOptions o;
  o.params = std::move(params);
  o.threads = threads;
  return o;
}

bool same(const Image& a, const Image& b) {
  return a.width() == b.width() && a.height() == b.height() && a.channels() == b.channels() &&
         std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

double black_fraction(const Image& img) {
  std::size_t black = 0, n = std::size_t(img.width()) * img.height();
  for (std::size_t i = 0; i < n; ++i) black += img.data()[i * img.channels()] == 0;
  return double(black) / double(n);
}

// Plain dither settings: no gamma change, no edge boost, one sample per pixel.
CallParams plain_dither(const std::string& method, int cell = 1) {
  return {{"dither_method", method}, {"dither_gamma", 1.0}, {"dither_edge", 0.0}, {"dither_cell", std::int64_t(cell)}};
}

}  // namespace

TEST(Effects, NamesParseAndListInOrder) {
  EXPECT_EQ(effect_names(), (std::vector<std::string>{"color", "bw", "popart", "dither"}));
  for (const auto& n : effect_names()) EXPECT_EQ(effect_name(parse_effect(n)), n);
  EXPECT_EQ(parse_effect_list("bw,popart"), (std::vector<Effect>{Effect::BlackWhite, Effect::PopArt}));
  EXPECT_EQ(parse_effect_list(" dither , color"), (std::vector<Effect>{Effect::Dither, Effect::Color}));
  std::string msg;
  EXPECT_EQ(code_of([] { parse_effect("sepia"); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("sepia"), std::string::npos);
  EXPECT_NE(msg.find("color, bw, popart, dither"), std::string::npos);
  EXPECT_EQ(code_of([] { parse_effect_list("bw,bw"); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("twice"), std::string::npos);
  EXPECT_EQ(code_of([] { parse_effect_list(""); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { parse_effect_list("bw,"); }), ErrorCode::InvalidArgument);
}

TEST(Effects, BackgroundTextRoundTrips) {
  for (const char* text : {"transparent", "#ffffff", "#000000", "#12ab9f", "blur", "blur:12", "blur:0.5"})
    EXPECT_EQ(background_text(parse_background(text)), text);
  EXPECT_EQ(background_text(parse_background("white")), "#ffffff");
  EXPECT_EQ(background_text(parse_background("black")), "#000000");
  EXPECT_EQ(background_text(parse_background("FF0000")), "#ff0000");
  Background b = parse_background("#102030");
  EXPECT_EQ(b.kind, Background::Kind::Color);
  EXPECT_EQ(int(b.r), 0x10);
  EXPECT_EQ(int(b.g), 0x20);
  EXPECT_EQ(int(b.b), 0x30);
  std::string msg;
  for (const char* bad : {"", "red", "#12345", "#1234567", "blur:", "blur:x", "blur:0", "blur:-3", "blur:nan"}) {
    EXPECT_EQ(code_of([&] { parse_background(bad); }, &msg), ErrorCode::Parse) << bad;
    EXPECT_NE(msg.find("valid:"), std::string::npos) << msg;
  }
}

TEST(Effects, ParametersAreDeclaredWithPrefixesAndResolve) {
  for (const auto& spec : effect_parameters()) {
    bool prefixed = spec.name == "background";
    for (const auto& e : effect_names()) prefixed = prefixed || spec.name.rfind(e + "_", 0) == 0;
    EXPECT_TRUE(prefixed) << spec.name;
    EXPECT_FALSE(spec.doc.empty()) << spec.name;
  }
  CallParams all = resolve_params(effect_parameters(), {}, "effects");
  EXPECT_EQ(all.values().size(), effect_parameters().size());
  Image rgb = constant_rgb(4, 4, 10, 20, 30), a = constant_alpha(4, 4, 255);
  std::string msg;
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::Color}, with({{"bw_nonsense", 1.0}})); }, &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("bw_nonsense"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::BlackWhite}, with({{"bw_grain", 2.0}})); }, &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("bw_grain"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::Dither}, with({{"dither_method", std::string("atkinson")}})); },
                    &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("atkinson"), std::string::npos);
  EXPECT_NE(msg.find("floyd-steinberg, bayer"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::Dither}, with({{"dither_bayer", std::int64_t(3)}})); }, &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("2, 4, 8"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::Color}, with({{"background", std::string("mauve")}})); }),
            ErrorCode::Parse);
  // Text values are read as the declared type (as the CLI passes them).
  EXPECT_NO_THROW(render_effects(rgb, a, {Effect::PopArt}, with({{"popart_levels", std::string("5")}})));
}

TEST(Effects, RejectsBadInputs) {
  Image rgb = constant_rgb(8, 6, 1, 2, 3), a = constant_alpha(8, 6, 255);
  Image rgba(8, 6, 4), a3(8, 6, 3), small_alpha = constant_alpha(7, 6, 255);
  std::string msg;
  EXPECT_EQ(code_of([&] { render_effects(ImageView{}, a, {Effect::Color}); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { render_effects(rgba, a, {Effect::Color}); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("3-channel"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, ImageView{}, {Effect::Color}); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a3, {Effect::Color}); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { render_effects(rgb, small_alpha, {Effect::Color}); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("7x6"), std::string::npos);
  EXPECT_NE(msg.find("8x6"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {}); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::BlackWhite, Effect::Dither, Effect::BlackWhite}); }, &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("'bw'"), std::string::npos);
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect(7)}); }), ErrorCode::InvalidArgument);
  for (int threads : {0, 65, -1}) {
    EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::Color}, with({}, threads)); }, &msg),
              ErrorCode::InvalidArgument);
    EXPECT_NE(msg.find("threads"), std::string::npos);
  }
  RunControl stop;
  stop.cancel();
  EffectsOptions o;
  o.control = &stop;
  EXPECT_EQ(code_of([&] { render_effects(rgb, a, {Effect::BlackWhite}, o); }), ErrorCode::Cancelled);
}

TEST(Effects, TransparentBackgroundGivesRgbaWithTheMatte) {
  Image rgb = test::pattern_rgb(40, 30), a = test::disc_mask(40, 30, 20, 15, 9, 200);
  EffectsResult r = render_effects(rgb, a, {Effect::Dither, Effect::Color, Effect::BlackWhite, Effect::PopArt});
  ASSERT_EQ(r.images.size(), 4u);
  EXPECT_EQ(r.device, "cpu");
  const Effect order[] = {Effect::Dither, Effect::Color, Effect::BlackWhite, Effect::PopArt};
  for (int i = 0; i < 4; ++i) {
    const Image& img = r.images[i].image;
    EXPECT_EQ(r.images[i].effect, order[i]);
    ASSERT_EQ(img.channels(), 4);
    ASSERT_EQ(img.width(), 40);
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x) ASSERT_EQ(at(img, x, y, 3), at(a, x, y));
  }
  const Image& colour = r.images[1].image;
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(at(colour, x, y, c), at(rgb, x, y, c));
  // Grey effects are grey.
  for (int i : {0, 2})
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x) {
        ASSERT_EQ(at(r.images[i].image, x, y, 0), at(r.images[i].image, x, y, 1));
        ASSERT_EQ(at(r.images[i].image, x, y, 0), at(r.images[i].image, x, y, 2));
      }
}

TEST(Effects, ColourBackgroundComposites) {
  Image rgb = constant_rgb(3, 1, 200, 100, 0);
  Image a(3, 1, 1);
  a.data()[0] = 0;
  a.data()[1] = 128;
  a.data()[2] = 255;
  EffectsResult r = render_effects(rgb, a, {Effect::Color}, with({{"background", std::string("#204060")}}));
  const Image& img = r.images[0].image;
  ASSERT_EQ(img.channels(), 3);
  const int fg[3] = {200, 100, 0}, bg[3] = {0x20, 0x40, 0x60};
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(at(img, 0, 0, c), bg[c]);
    EXPECT_EQ(at(img, 1, 0, c), (fg[c] * 128 + bg[c] * 127 + 127) / 255);
    EXPECT_EQ(at(img, 2, 0, c), fg[c]);
  }
}

TEST(Effects, BlurBackgroundIsASmoothBlurOfThePhoto) {
  // Left half black, right half white, all background: the result is a blurred step.
  const int w = 200, h = 60;
  Image rgb(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = w / 2; x < w; ++x) test::set(rgb, x, y, 255);
  Image a = constant_alpha(w, h, 0);
  EffectsResult r =
      render_effects(rgb, a, {Effect::Color, Effect::BlackWhite}, with({{"background", std::string("blur:8")}}));
  const Image& img = r.images[0].image;
  ASSERT_EQ(img.channels(), 3);
  EXPECT_EQ(at(img, 2, 30), 0);
  EXPECT_EQ(at(img, w - 3, 30), 255);
  int mid = at(img, w / 2, 30);
  EXPECT_GT(mid, 60);
  EXPECT_LT(mid, 195);
  for (int x = 1; x < w; ++x) ASSERT_GE(at(img, x, 30), at(img, x - 1, 30)) << x;
  // A rising edge over several pixels, not a step.
  int between = 0;
  for (int x = 0; x < w; ++x) between += at(img, x, 30) > 10 && at(img, x, 30) < 245;
  EXPECT_GT(between, 10);
  // bw's background is the grey of the same blur.
  for (int x = 0; x < w; ++x) EXPECT_NEAR(at(r.images[1].image, x, 30, 1), at(img, x, 30), 1);
  // Uniform photo: the blur changes nothing.
  Image flat = constant_rgb(33, 17, 90, 140, 30);
  EffectsResult f = render_effects(flat, constant_alpha(33, 17, 0), {Effect::Color}, with({{"background", std::string("blur")}}));
  EXPECT_TRUE(same(f.images[0].image, flat));
}

TEST(Effects, FloydSteinbergOnConstantGreyGivesItsDensity) {
  for (int v : {0, 32, 64, 128, 192, 230, 255}) {
    cv::Mat samples(64, 96, CV_8UC1, cv::Scalar(v));
    cv::Mat bits = detail::floyd_steinberg(samples);
    double black = double(cv::countNonZero(bits == 0)) / double(bits.total());
    EXPECT_NEAR(black, 1.0 - v / 255.0, 0.02) << v;
  }
  // The same through render_effects, with 3-px dots: every cell is one colour.
  Image rgb = constant_rgb(90, 60, 100, 100, 100), a = constant_alpha(90, 60, 255);
  EffectsResult r = render_effects(rgb, a, {Effect::Dither}, with(plain_dither("floyd-steinberg", 3)));
  const Image& img = r.images[0].image;
  EXPECT_NEAR(black_fraction(img), 1.0 - 100 / 255.0, 0.03);
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 90; ++x) {
      ASSERT_TRUE(at(img, x, y) == 0 || at(img, x, y) == 255);
      ASSERT_EQ(at(img, x, y), at(img, x / 3 * 3, y / 3 * 3)) << x << "," << y;
    }
}

TEST(Effects, FloydSteinbergSharesRoundHalfUpForNegativeErrors) {
  EXPECT_EQ(detail::fx::fs_share(7, 16), 7);
  EXPECT_EQ(detail::fx::fs_share(7, -16), -7);
  EXPECT_EQ(detail::fx::fs_share(1, 8), 1);    // 0.5 -> 1
  EXPECT_EQ(detail::fx::fs_share(1, -8), 0);   // -0.5 -> 0
  EXPECT_EQ(detail::fx::fs_share(1, -9), -1);  // -0.5625 -> -1
  EXPECT_EQ(detail::fx::fs_share(5, -127), -40);  // -39.6875 -> -40
  // A 2x2 by hand: 100 -> black, e 100: right +44, down-left 19 (dropped), down 31, down-right 6.
  cv::Mat s = (cv::Mat_<std::uint8_t>(2, 2) << 100, 100, 100, 100);
  cv::Mat b = detail::floyd_steinberg(s);
  // (1,0): 144 -> white, e -111: down-left floor((3*-111+8)/16) = -21, down floor((5*-111+8)/16) = -35.
  // (0,1): 100 + 31 - 21 = 110 -> black, e 110: right +48.
  EXPECT_EQ(b.at<std::uint8_t>(0, 0), 0);
  EXPECT_EQ(b.at<std::uint8_t>(0, 1), 255);
  EXPECT_EQ(b.at<std::uint8_t>(1, 0), 0);
  // (1,1): 100 + 6 - 35 + 48 = 119 -> black.
  EXPECT_EQ(b.at<std::uint8_t>(1, 1), 0);
}

TEST(Effects, BayerPatternIsExact) {
  // The classic 4x4 matrix.
  const int m4[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_EQ(detail::fx::bayer_entry(4, x, y), m4[y][x]);
  std::vector<int> seen(64, 0);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) ++seen[detail::fx::bayer_entry(8, x, y)];
  for (int v : seen) EXPECT_EQ(v, 1);
  Image a = constant_alpha(8, 8, 255);
  // Grey 128, 2x2: entries 0 2 / 3 1; black where 2*128*4 < (2e+1)*256, i.e. e >= 2.
  CallParams p = plain_dither("bayer");
  p.set("dither_bayer", std::int64_t(2));
  Image img = render_effects(constant_rgb(8, 8, 128, 128, 128), a, {Effect::Dither}, with(p)).images[0].image;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      int e = detail::fx::bayer_entry(2, x % 2, y % 2);
      ASSERT_EQ(at(img, x, y), e >= 2 ? 0 : 255) << x << "," << y;
    }
  // Grey 100 on 8x8: 2*100*64 = 12800 < (2e+1)*256 for e >= 25: 39 of 64 black.
  p.set("dither_bayer", std::int64_t(8));
  img = render_effects(constant_rgb(8, 8, 100, 100, 100), a, {Effect::Dither}, with(p)).images[0].image;
  EXPECT_DOUBLE_EQ(black_fraction(img), 39.0 / 64.0);
}

TEST(Effects, DitherCountsTransparentPixelsAsPaper) {
  Image rgb = constant_rgb(20, 20, 0, 0, 0), a = constant_alpha(20, 20, 0);
  Image img = render_effects(rgb, a, {Effect::Dither}).images[0].image;
  for (int i = 0; i < 400; ++i) ASSERT_EQ(img.data()[i * 4], 255);
}

TEST(Effects, PopArtMapsKnownColoursToThePalette) {
  struct Case {
    std::uint8_t in[3], out[3];
  } cases[] = {
      {{0, 0, 0}, {0, 0, 0}},            // black
      {{255, 255, 255}, {255, 255, 255}},  // white
      {{255, 0, 0}, {138, 43, 226}},     // red: luma709 54 -> violet
      {{0, 255, 0}, {50, 205, 50}},      // green: luma709 182 -> lime
      {{0, 0, 255}, {0, 0, 0}},          // blue: luma709 19 -> black
      {{128, 128, 128}, {50, 205, 50}},  // grey: posterised to 170 -> lime
  };
  Image rgb(6, 1, 3);
  for (int i = 0; i < 6; ++i) std::memcpy(rgb.data() + i * 3, cases[i].in, 3);
  Image img = render_effects(rgb, constant_alpha(6, 1, 255), {Effect::PopArt}).images[0].image;
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(at(img, i, 0, c), cases[i].out[c]) << "case " << i << " channel " << c;
  // Every output colour is a palette entry.
  Image p = render_effects(test::pattern_rgb(64, 64), constant_alpha(64, 64, 255), {Effect::PopArt}).images[0].image;
  for (int i = 0; i < 64 * 64; ++i) {
    bool found = false;
    for (const auto& b : detail::fx::kPopPalette)
      found = found || (p.data()[i * 4] == b.r && p.data()[i * 4 + 1] == b.g && p.data()[i * 4 + 2] == b.b);
    ASSERT_TRUE(found) << i;
  }
}

TEST(Effects, BlackWhiteFollowsTheToneCurveAndGrainIsSeeded) {
  // A constant image without grain: the tone curve's value everywhere (no local contrast, no glow).
  Image a = constant_alpha(32, 32, 255);
  for (int v : {20, 128, 240}) {
    Image img = render_effects(constant_rgb(32, 32, std::uint8_t(v), std::uint8_t(v), std::uint8_t(v)), a,
                               {Effect::BlackWhite}, with({{"bw_grain", 0.0}, {"bw_glow", 0.0}}))
                    .images[0]
                    .image;
    int idx = detail::fx::bw_grey_index(v, v, v);
    int expected = int(std::lround(detail::fx::bw_tone(double(idx) / detail::fx::kBwGreyMax, 1.15) * 255));
    for (int i = 0; i < 32 * 32; ++i) ASSERT_EQ(img.data()[i * 4], expected) << v;
  }
  // Green weighs most: a green patch is lighter than a blue one of the same value.
  Image g = render_effects(constant_rgb(4, 4, 0, 200, 0), constant_alpha(4, 4, 255), {Effect::BlackWhite}).images[0].image;
  Image b = render_effects(constant_rgb(4, 4, 0, 0, 200), constant_alpha(4, 4, 255), {Effect::BlackWhite}).images[0].image;
  EXPECT_GT(at(g, 1, 1), at(b, 1, 1) + 60);
  // Grain: the same seed gives the same image, another seed another one; it varies in space.
  Image grey = constant_rgb(64, 64, 120, 120, 120), a64 = constant_alpha(64, 64, 255);
  auto bw = [&](std::int64_t seed) {
    return render_effects(grey, a64, {Effect::BlackWhite}, with({{"bw_seed", seed}, {"bw_grain", 0.1}})).images[0].image;
  };
  Image s1 = bw(1), s1b = bw(1), s2 = bw(2);
  EXPECT_TRUE(same(s1, s1b));
  EXPECT_FALSE(same(s1, s2));
  int distinct = 0;
  for (int i = 1; i < 64 * 64; ++i) distinct += s1.data()[i * 4] != s1.data()[(i - 1) * 4];
  EXPECT_GT(distinct, 64 * 64 / 3);
}

TEST(Effects, DeterministicAndThreadCountDoesNotMatter) {
  Image rgb = test::pattern_rgb(123, 77), a = test::disc_mask(123, 77, 60, 40, 30, 255);
  for (int i = 0; i < 123 * 77; i += 7) a.data()[i] = std::uint8_t(i % 256);  // soft edges
  const std::vector<Effect> all = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  for (const char* bg : {"transparent", "#ff8800", "blur:5"}) {
    EffectsResult one = render_effects(rgb, a, all, with({{"background", std::string(bg)}}, 1));
    EffectsResult two = render_effects(rgb, a, all, with({{"background", std::string(bg)}}, 2));
    EffectsResult again = render_effects(rgb, a, all, with({{"background", std::string(bg)}}, 2));
    EffectsResult many = render_effects(rgb, a, all, with({{"background", std::string(bg)}}, 64));
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(same(one.images[i].image, two.images[i].image)) << bg << " " << i;
      EXPECT_TRUE(same(two.images[i].image, again.images[i].image)) << bg << " " << i;
      EXPECT_TRUE(same(two.images[i].image, many.images[i].image)) << bg << " " << i;
    }
    // One effect alone equals the same effect among the others.
    EffectsResult alone = render_effects(rgb, a, {Effect::Dither}, with({{"background", std::string(bg)}}));
    EXPECT_TRUE(same(alone.images[0].image, two.images[3].image)) << bg;
  }
}

TEST(Effects, StridedInputsGiveTheSameResult) {
  Image big = test::pattern_rgb(50, 40), a = test::disc_mask(40, 30, 20, 15, 10);
  ImageView part{big.data() + 5 * big.stride() + 3 * 3, 40, 30, 3, big.stride()};
  Image packed = Image::copy_of(part);
  const std::vector<Effect> all = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  EffectsResult x = render_effects(part, a, all), y = render_effects(packed, a, all);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(same(x.images[i].image, y.images[i].image)) << i;
}

TEST(Effects, OnePixelImagesWork) {
  Image rgb = constant_rgb(1, 1, 10, 200, 30);
  const std::vector<Effect> all = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  for (const char* bg : {"transparent", "black", "blur", "blur:40"})
    for (int av : {0, 100, 255}) {
      EffectsResult r = render_effects(rgb, constant_alpha(1, 1, std::uint8_t(av)), all,
                                       with({{"background", std::string(bg)}, {"dither_cell", std::int64_t(8)}}));
      ASSERT_EQ(r.images.size(), 4u);
      for (const auto& e : r.images) {
        EXPECT_EQ(e.image.width(), 1);
        EXPECT_EQ(e.image.height(), 1);
        EXPECT_EQ(e.image.channels(), std::string(bg) == "transparent" ? 4 : 3);
      }
    }
}
