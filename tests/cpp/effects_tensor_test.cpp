// The effects' tensor path (LibTorch, here on the CPU) against the OpenCV path on a real photo
// with a synthetic soft alpha, and the wavefront Floyd-Steinberg against the sequential scan.
// Tolerances: color, popart and dither are integer pipelines and must be identical (the brief
// allows dither >= 99% equal; we hold it to 100%); bw is float32 and may differ by rounding:
// max |diff| <= 2 and >= 99.9% of values within 1. Blurred backgrounds: the same bound (the
// OpenCV path enlarges with 8-bit fixed-point bilinear weights, the tensor path in float).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <random>

#include <opencv2/imgproc.hpp>

#include "backends/torch/effects_tensor.hpp"
#include "effects/effects_internal.hpp"
#include "inpaint/effects.hpp"
#include "test_util.hpp"

using namespace inpaint;

namespace {

struct Photo {
  Image rgb, alpha;
};

const Photo& chelsea() {
  static const Photo photo = [] {
    Photo p;
    auto bytes = read_file(std::string(INPAINT_DATA_DIR) + "/inpaint-dev/chelsea.png");
    p.rgb = decode_image(bytes.data(), bytes.size()).rgb;
    // An ellipse with a soft 10 px edge, so every alpha value occurs.
    cv::Mat a(p.rgb.height(), p.rgb.width(), CV_8UC1, cv::Scalar(0));
    cv::ellipse(a, cv::Point(a.cols / 2, a.rows / 2), cv::Size(a.cols / 3, a.rows * 2 / 5), 20, 0, 360,
                cv::Scalar(255), -1);
    cv::GaussianBlur(a, a, cv::Size(21, 21), 5);
    p.alpha = Image::copy_of({a.data, a.cols, a.rows, 1, a.step[0]});
    return p;
  }();
  return photo;
}

struct Diff {
  int max = 0;
  double within1 = 1, equal = 1;
};

Diff compare(const Image& a, const Image& b) {
  EXPECT_EQ(a.width(), b.width());
  EXPECT_EQ(a.height(), b.height());
  EXPECT_EQ(a.channels(), b.channels());
  Diff d;
  std::size_t n = a.size_bytes(), near = 0, same = 0;
  if (n != b.size_bytes()) return {255, 0, 0};
  for (std::size_t i = 0; i < n; ++i) {
    int e = std::abs(int(a.data()[i]) - int(b.data()[i]));
    d.max = std::max(d.max, e);
    near += e <= 1;
    same += e == 0;
  }
  d.within1 = double(near) / double(n);
  d.equal = double(same) / double(n);
  return d;
}

EffectsResult render(const Photo& p, const std::vector<Effect>& effects, EffectsBackend backend, CallParams params,
                     const std::string& device = "cpu") {
  EffectsOptions o;
  o.backend = backend;
  o.device = device;
  o.params = std::move(params);
  return render_effects(p.rgb, p.alpha, effects, o);
}

}  // namespace

TEST(EffectsTensor, AgreesWithTheOpenCVPathOnAPhoto) {
  const Photo& p = chelsea();
  const std::vector<Effect> all = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  for (const char* bg : {"transparent", "#3366cc", "blur", "blur:3"}) {
    CallParams params{{"background", std::string(bg)}};
    EffectsResult cpu = render(p, all, EffectsBackend::OpenCV, params);
    EffectsResult tensor = render(p, all, EffectsBackend::Tensor, params);
    EXPECT_EQ(tensor.device, "cpu");
    ASSERT_EQ(tensor.images.size(), 4u);
    for (int i = 0; i < 4; ++i) {
      Effect e = all[i];
      ASSERT_EQ(tensor.images[i].effect, e);
      Diff d = compare(cpu.images[i].image, tensor.images[i].image);
      std::printf("[effects cpu vs tensor] %-11s %-7s max %d  within1 %.6f  equal %.6f\n", bg, effect_name(e), d.max,
                  d.within1, d.equal);
      bool blur = std::string(bg).rfind("blur", 0) == 0;
      if (e == Effect::BlackWhite || blur) {
        EXPECT_LE(d.max, 2) << bg << " " << effect_name(e);
        EXPECT_GE(d.within1, 0.999) << bg << " " << effect_name(e);
      } else {
        EXPECT_EQ(d.max, 0) << bg << " " << effect_name(e);
      }
      if (e == Effect::Dither && !blur) EXPECT_GE(d.equal, 0.99);
    }
  }
}

// On a GPU (scripts/gpu-check.sh runs this binary there): the same agreement on cuda.
TEST(EffectsTensor, AgreesOnCudaWhenAvailable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Photo& p = chelsea();
  const std::vector<Effect> all = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
  for (const char* bg : {"transparent", "blur"}) {
    CallParams params{{"background", std::string(bg)}};
    EffectsResult cpu = render(p, all, EffectsBackend::OpenCV, params);
    EffectsResult cuda = render(p, all, EffectsBackend::Tensor, params, "cuda");
    EXPECT_EQ(cuda.device.rfind("cuda", 0), 0u) << cuda.device;
    std::printf("[effects cuda] %s: shared %.1f ms, effects %.1f ms\n", bg, cuda.shared_ms, cuda.effects_ms);
    for (int i = 0; i < 4; ++i) {
      Diff d = compare(cpu.images[i].image, cuda.images[i].image);
      std::printf("[effects cpu vs cuda] %-11s %-7s max %d  within1 %.6f  equal %.6f\n", bg, effect_name(all[i]), d.max,
                  d.within1, d.equal);
      EXPECT_LE(d.max, 2) << bg << " " << effect_name(all[i]);
      EXPECT_GE(d.within1, 0.999) << bg << " " << effect_name(all[i]);
    }
  }
}

TEST(EffectsTensor, AgreesForOtherParameters) {
  const Photo& p = chelsea();
  std::vector<CallParams> cases = {
      {{"dither_method", std::string("bayer")}, {"dither_bayer", std::int64_t(8)}, {"dither_cell", std::int64_t(3)}},
      {{"dither_method", std::string("bayer")}, {"dither_bayer", std::int64_t(2)}, {"dither_edge", 2.5}},
      {{"dither_cell", std::int64_t(1)}, {"dither_gamma", 1.7}},
      {{"dither_cell", std::int64_t(7)}, {"background", std::string("white")}},
      {{"popart_levels", std::int64_t(2)}, {"popart_saturation", 0.0}, {"popart_contrast", 3.3}},
      {{"bw_grain", 0.3}, {"bw_seed", std::int64_t(4294967295)}, {"bw_glow", 1.0}, {"bw_glow_sigma", 2.0}},
      {{"bw_detail", 4.0}, {"bw_detail_sigma", 0.7}, {"bw_contrast", 0.5}},
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const std::vector<Effect> effects = {Effect::BlackWhite, Effect::PopArt, Effect::Dither};
    EffectsResult cpu = render(p, effects, EffectsBackend::OpenCV, cases[c]);
    EffectsResult tensor = render(p, effects, EffectsBackend::Tensor, cases[c]);
    for (int i = 0; i < 3; ++i) {
      Diff d = compare(cpu.images[i].image, tensor.images[i].image);
      std::printf("[effects cpu vs tensor] case %zu %-7s max %d  within1 %.6f  equal %.6f\n", c,
                  effect_name(effects[i]), d.max, d.within1, d.equal);
      if (effects[i] == Effect::BlackWhite) {
        EXPECT_LE(d.max, 2) << "case " << c;
        EXPECT_GE(d.within1, 0.999) << "case " << c;
      } else {
        EXPECT_EQ(d.max, 0) << "case " << c << " " << effect_name(effects[i]);
      }
    }
  }
}

TEST(EffectsTensor, WavefrontFloydSteinbergEqualsTheSequentialScan) {
  std::mt19937 rng(7);
  const int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {3, 17}, {29, 13}, {64, 48}, {5, 200}};
  for (auto [h, w] : sizes)
    for (int kind = 0; kind < 3; ++kind) {
      cv::Mat s(h, w, CV_8UC1);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          s.at<std::uint8_t>(y, x) = kind == 0 ? std::uint8_t(rng() % 256)
                                     : kind == 1 ? std::uint8_t(127 + rng() % 3)
                                                 : std::uint8_t((x * 255) / std::max(1, w - 1));
      cv::Mat sequential = inpaint::detail::floyd_steinberg(s);
      auto t = torch::from_blob(s.data, {h, w}, torch::kUInt8).to(torch::kInt32);
      auto wave = inpaint::detail::floyd_steinberg_wavefront(t).contiguous();
      ASSERT_EQ(0, std::memcmp(sequential.data, wave.data_ptr<std::uint8_t>(), std::size_t(h) * w))
          << h << "x" << w << " kind " << kind;
    }
  // The photo's grey at full resolution.
  const Photo& p = chelsea();
  cv::Mat rgb(p.rgb.height(), p.rgb.width(), CV_8UC3, const_cast<std::uint8_t*>(p.rgb.data())), grey;
  cv::cvtColor(rgb, grey, cv::COLOR_RGB2GRAY);
  cv::Mat sequential = inpaint::detail::floyd_steinberg(grey);
  auto wave = inpaint::detail::floyd_steinberg_wavefront(
                  torch::from_blob(grey.data, {grey.rows, grey.cols}, torch::kUInt8).to(torch::kInt32))
                  .contiguous();
  EXPECT_EQ(0, std::memcmp(sequential.data, wave.data_ptr<std::uint8_t>(), grey.total()));
}

TEST(EffectsTensor, BadDeviceAndCancelAreErrors) {
  const Photo& p = chelsea();
  EffectsOptions o;
  o.backend = EffectsBackend::Tensor;
  o.device = "nonsense";
  EXPECT_EQ(test::code_of([&] { render_effects(p.rgb, p.alpha, {Effect::Color}, o); }), ErrorCode::InvalidArgument);
  RunControl stop;
  stop.cancel();
  o.device = "cpu";
  o.control = &stop;
  EXPECT_EQ(test::code_of([&] { render_effects(p.rgb, p.alpha, {Effect::Dither}, o); }), ErrorCode::Cancelled);
}
