// The effects with LibTorch tensor ops on any device: the formulas of the OpenCV path
// (effects/effects.cpp, effects/effects_math.hpp) written as tensor expressions, so the two
// agree (tests/cpp/effects_tensor_test.cpp measures how closely). popart, the dither samples,
// Bayer, Floyd-Steinberg and the compositing are integer arithmetic and match exactly on the
// same inputs; bw and the blurred background are float32 and match to a level or two.
// Part of the torch backend (backends/torch/).
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "backends/torch/backend.hpp"
#include "backends/torch/effects_tensor.hpp"
#include "backends/torch/runtime.hpp"
#include "core/cv_bridge.hpp"
#include "core/timer.hpp"
#include "effects/effects_math.hpp"
#include "inpaint/error.hpp"

namespace inpaint::detail {

namespace {

using torch::indexing::Slice;
namespace fx = inpaint::detail::fx;

torch::Tensor floor_div(const torch::Tensor& a, std::int64_t b) { return torch::div(a, b, "floor"); }

// Indices 0..n-1 of a dimension padded by `before` and `after`: mirrored without repeating the
// edge (OpenCV's BORDER_REFLECT_101, also for pads longer than the dimension) or repeating it.
torch::Tensor border_index(int n, int before, int after, bool reflect, const torch::Device& device) {
  std::vector<std::int64_t> idx;
  idx.reserve(std::size_t(n) + before + after);
  for (int i = -before; i < n + after; ++i)
    idx.push_back(reflect ? cv::borderInterpolate(i, n, cv::BORDER_REFLECT_101) : std::clamp(i, 0, n - 1));
  return torch::tensor(idx, torch::kInt64).to(device);
}

// Separable Gaussian of a [C, H, W] float tensor with OpenCV's kernel (ksize 2 ceil(3 sigma) + 1)
// and BORDER_REFLECT_101, as cv::GaussianBlur.
torch::Tensor gaussian_blur(const torch::Tensor& img, double sigma) {
  const int k = fx::gaussian_ksize(sigma), r = k / 2;
  cv::Mat kernel = cv::getGaussianKernel(k, sigma, CV_32F);
  auto kt = torch::from_blob(kernel.data, {k}, torch::kFloat32).clone().to(img.device());
  const int h = int(img.size(1)), w = int(img.size(2));
  auto x = img.index_select(2, border_index(w, r, r, true, img.device())).unsqueeze(1);  // [C,1,H,W+2r]
  x = torch::conv2d(x, kt.view({1, 1, 1, k})).squeeze(1);                                // [C,H,W]
  x = x.index_select(1, border_index(h, r, r, true, img.device())).unsqueeze(1);          // [C,1,H+2r,W]
  return torch::conv2d(x, kt.view({1, 1, k, 1})).squeeze(1);
}

// The reduced-resolution blur of effects_math.hpp on a [C, H, W] float tensor. round8: the
// reduced image is rounded to 8 bits before it is enlarged, and the result too (the OpenCV
// path does this for 8-bit images).
torch::Tensor reduced_blur(const torch::Tensor& img, double sigma, bool round8) {
  const int f = fx::blur_factor(sigma);
  const int h = int(img.size(1)), w = int(img.size(2));
  const int sh = (h + f - 1) / f, sw = (w + f - 1) / f;
  auto padded = img.index_select(1, border_index(h, 0, sh * f - h, false, img.device()))
                    .index_select(2, border_index(w, 0, sw * f - w, false, img.device()));
  auto small = f == 1 ? padded : torch::avg_pool2d(padded.unsqueeze(0), {f, f}, {f, f}).squeeze(0);
  small = gaussian_blur(small, sigma / f);
  if (round8) small = small.round().clamp(0, 255);
  if (f == 1) return small;
  auto up = torch::upsample_bilinear2d(small.unsqueeze(0), {sh * f, sw * f}, false).squeeze(0);
  up = up.index({Slice(), Slice(0, h), Slice(0, w)});
  return round8 ? up.round().clamp(0, 255) : up;
}

// BT.601 grey (int32 [H, W]) of int32 [3, H, W].
torch::Tensor grey601(const torch::Tensor& rgb) {
  return floor_div(rgb[0] * fx::kY601R + rgb[1] * fx::kY601G + rgb[2] * fx::kY601B + 128, 256);
}

// bw: float formulas of the OpenCV path; uint8 [H, W].
torch::Tensor render_bw(const torch::Tensor& rgb, const fx::Settings& s, const RunControl* control) {
  const auto dev = rgb.device();
  const std::int64_t h = rgb.size(1), w = rgb.size(2);
  auto index = floor_div(rgb[0] * fx::kBwR + rgb[1] * fx::kBwG + rgb[2] * fx::kBwB + 128, 256);
  std::vector<float> table = fx::bw_tone_table(s.bw_contrast);
  auto lut = torch::from_blob(table.data(), {std::int64_t(table.size())}, torch::kFloat32).clone().to(dev);
  auto t = lut.index_select(0, index.flatten().to(torch::kInt64)).view({h, w});
  if (s.bw_detail > 0) {
    auto blurred = gaussian_blur(t.unsqueeze(0), s.bw_detail_sigma).squeeze(0);
    t = t + float(s.bw_detail) * 4.f * t * (1 - t) * (t - blurred);
  }
  check_run(control, "effects: bw");
  if (s.bw_glow > 0) {
    auto source = (t - fx::kGlowKnee).clamp_min(0) * (1.f / (1.f - fx::kGlowKnee));
    auto glow = reduced_blur(source.unsqueeze(0), s.bw_glow_sigma, false).squeeze(0);
    t = t + float(s.bw_glow) * glow * (1 - t);
  }
  if (s.bw_grain > 0) {
    // grain_hash in int64 tensors, every product below 2^63, reduced modulo 2^32.
    const std::int64_t m32 = 0xFFFFFFFFll;
    const std::int64_t seed_term = std::int64_t(std::uint32_t(s.bw_seed * 0xC2B2AE3Du + 0x27D4EB2Fu));
    auto opts = torch::TensorOptions().dtype(torch::kInt64).device(dev);
    auto xs = torch::arange(w, opts).view({1, w}), ys = torch::arange(h, opts).view({h, 1});
    auto hsh = (xs * std::int64_t(0x9E3779B1u) + ys * std::int64_t(0x85EBCA77u) + seed_term).bitwise_and(m32);
    hsh = hsh.bitwise_xor(floor_div(hsh, 1 << 15));
    hsh = (hsh * std::int64_t(0x2C1B3C6Du)).bitwise_and(m32);
    hsh = hsh.bitwise_xor(floor_div(hsh, 1 << 12));
    hsh = (hsh * std::int64_t(0x297A2D39u)).bitwise_and(m32);
    hsh = hsh.bitwise_xor(floor_div(hsh, 1 << 15));
    auto noise = (hsh.bitwise_and(0xFFFF) + floor_div(hsh, 1 << 16) - 65535).to(torch::kFloat32) / 65535.0f;
    t = t + float(s.bw_grain) * noise * (0.3f + 2.8f * t * (1 - t));
  }
  return (t * 255.f).round().clamp(0, 255).to(torch::kUInt8);
}

// popart: integer arithmetic of the OpenCV path; uint8 [3, H, W].
torch::Tensor render_popart(const torch::Tensor& rgb, const fx::Settings& s) {
  const auto dev = rgb.device();
  const int kq = fx::fixed8(s.pop_contrast), sq = fx::fixed8(s.pop_saturation), n1 = s.pop_levels - 1;
  auto c = floor_div(((rgb - 128) * kq + 128 * 256 + 128).clamp(0, 255 * 256), 256);
  auto l = grey601(c);
  auto sat = floor_div((l.unsqueeze(0) * 256 + (c - l.unsqueeze(0)) * sq + 128).clamp(0, 255 * 256), 256);
  auto level = floor_div(sat * n1 + 127, 255);
  auto q = floor_div(level * 255 + n1 / 2, n1);
  auto luma = floor_div(q[0] * fx::kY709R + q[1] * fx::kY709G + q[2] * fx::kY709B + 128, 256);
  std::vector<std::int64_t> bands(256);
  for (int v = 0; v < 256; ++v) bands[v] = fx::pop_band(v);
  std::vector<std::uint8_t> palette;
  for (const auto& b : fx::kPopPalette) palette.insert(palette.end(), {b.r, b.g, b.b});
  auto band = torch::tensor(bands, torch::kInt64).to(dev).index_select(0, luma.flatten().to(torch::kInt64));
  auto pal = torch::tensor(palette, torch::kUInt8).view({fx::kPopPaletteSize, 3}).to(dev);
  return pal.index_select(0, band).t().reshape({3, rgb.size(1), rgb.size(2)});
}

// dither: samples (int32 [ch, cw]) of the OpenCV path.
torch::Tensor dither_samples(const torch::Tensor& grey, const torch::Tensor& alpha, const fx::Settings& s) {
  const auto dev = grey.device();
  const int h = int(grey.size(0)), w = int(grey.size(1)), cell = s.dither_cell;
  std::vector<std::uint8_t> gamma = fx::gamma_table(s.dither_gamma);
  auto lut = torch::tensor(std::vector<std::int64_t>(gamma.begin(), gamma.end()), torch::kInt64).to(dev);
  auto g = lut.index_select(0, grey.flatten().to(torch::kInt64)).view({h, w});
  g = torch::where(alpha < 128, torch::full_like(g, 255), g);
  const int eq = fx::fixed8(s.dither_edge);
  if (eq) {
    auto p = g.index_select(0, border_index(h, 1, 1, false, dev)).index_select(1, border_index(w, 1, 1, false, dev));
    auto at = [&](int dy, int dx) { return p.index({Slice(1 + dy, 1 + dy + h), Slice(1 + dx, 1 + dx + w)}); };
    auto around = at(-1, -1) + at(-1, 0) + at(-1, 1) + at(0, -1) + at(0, 1) + at(1, -1) + at(1, 0) + at(1, 1);
    g = (g + floor_div(eq * (8 * g - around) + 1024, 2048)).clamp(0, 255);
  }
  const int cw = (w + cell - 1) / cell, ch = (h + cell - 1) / cell;
  auto padded = torch::constant_pad_nd(g, {0, cw * cell - w, 0, ch * cell - h}, 0);
  auto sums = padded.view({ch, cell, cw, cell}).sum({1, 3});
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  auto rows = (torch::arange(ch, opts) * cell + cell).clamp_max(h) - torch::arange(ch, opts) * cell;
  auto cols = (torch::arange(cw, opts) * cell + cell).clamp_max(w) - torch::arange(cw, opts) * cell;
  auto count = rows.view({ch, 1}) * cols.view({1, cw});
  return torch::div(sums + floor_div(count, 2), count, "floor").to(torch::kInt32);
}

torch::Tensor bayer_dither(const torch::Tensor& samples, int n) {
  std::vector<std::int64_t> m(std::size_t(n) * n);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) m[std::size_t(y) * n + x] = fx::bayer_entry(n, x, y);
  const std::int64_t ch = samples.size(0), cw = samples.size(1);
  auto mt = torch::tensor(m, torch::kInt64).view({n, n}).to(samples.device());
  auto tiled = mt.repeat({(ch + n - 1) / n, (cw + n - 1) / n}).index({Slice(0, ch), Slice(0, cw)});
  auto black = samples.to(torch::kInt64) * (2 * n * n) < (2 * tiled + 1) * 256;
  return torch::where(black, torch::zeros_like(samples), torch::full_like(samples, 255)).to(torch::kUInt8);
}

// The composite of the OpenCV path: RGBA (alpha = the matte) when there is no background, else
// (fg a + bg (255 - a) + 127) / 255 in integers. fg, bg: [1 or 3, H, W]; returns HWC uint8 on the CPU.
Image composite(const torch::Tensor& fg, const torch::Tensor& alpha, const torch::Tensor& bg) {
  const int h = int(alpha.size(0)), w = int(alpha.size(1));
  auto f = fg.to(torch::kInt32).expand({3, h, w});
  torch::Tensor out;
  if (!bg.defined()) {
    out = torch::cat({f, alpha.to(torch::kInt32).unsqueeze(0)}, 0);
  } else {
    auto a = alpha.to(torch::kInt32).unsqueeze(0);
    out = floor_div(f * a + bg.to(torch::kInt32).expand({3, h, w}) * (255 - a) + 127, 255);
  }
  auto hwc = out.to(torch::kUInt8).permute({1, 2, 0}).contiguous().to(torch::kCPU);
  Image image = Image::uninitialized(w, h, int(out.size(0)));
  std::memcpy(image.data(), hwc.data_ptr<std::uint8_t>(), image.size_bytes());
  return image;
}

torch::Tensor upload(const ImageView& view, const torch::Device& device) {
  cv::Mat m = as_mat(view);
  if (!m.isContinuous()) m = m.clone();
  // A copy: the tensor must not refer to the caller's pixels (or a clone that dies here).
  return torch::from_blob(m.data, {view.height, view.width, view.channels}, torch::kUInt8).clone().to(device);
}

}  // namespace

at::Tensor floyd_steinberg_wavefront(const at::Tensor& samples_in, const RunControl* control) {
  torch::NoGradGuard no_grad;
  const auto dev = samples_in.device();
  const std::int64_t h = samples_in.size(0), w = samples_in.size(1), stride = w + 2;
  auto samples = samples_in.to(torch::kInt32).flatten();
  // Errors with a margin: row 0 above the grid and columns 0 and w+1 beside it stay 0, so the
  // shares from outside the grid are 0 (fs_share(k, 0) == 0).
  auto err = torch::zeros({(h + 1) * stride}, torch::TensorOptions().dtype(torch::kInt32).device(dev));
  auto bits = torch::zeros({h * w}, torch::TensorOptions().dtype(torch::kUInt8).device(dev));
  auto share = [](const torch::Tensor& e, int weight) { return floor_div(e * weight + 8, 16); };
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  const std::int64_t steps = (w - 1) + 2 * (h - 1) + 1;
  for (std::int64_t t = 0; t < steps; ++t) {
    if (control && t % 256 == 0) control->check("effects: dither");
    const std::int64_t y_lo = std::max<std::int64_t>(0, (t - (w - 1) + 1) / 2), y_hi = std::min(h - 1, t / 2);
    if (y_lo > y_hi) continue;
    auto ys = torch::arange(y_lo, y_hi + 1, opts);
    auto xs = t - 2 * ys;
    auto at = (ys + 1) * stride + (xs + 1);
    auto up = at - stride;
    // Incoming shares, gathered in a fixed order: left, up-right, up, up-left.
    auto in = share(err.index_select(0, at - 1), 7) + share(err.index_select(0, up + 1), 3) +
              share(err.index_select(0, up), 5) + share(err.index_select(0, up - 1), 1);
    auto flat = ys * w + xs;
    auto u = (samples.index_select(0, flat) + in).clamp(0, 255);
    auto white = u >= fx::kFsThreshold;
    auto out = white.to(torch::kInt32) * 255;
    err.index_put_({at}, u - out);
    bits.index_put_({flat}, out.to(torch::kUInt8));
  }
  return bits.view({h, w});
}

}  // namespace inpaint::detail

namespace inpaint::torch_backend {

EffectsResult render_effects(const ImageView& rgb_view, const ImageView& alpha_view, const std::vector<Effect>& effects,
                             const CallParams& params, const std::string& device_name, const RunControl* control) {
  using namespace inpaint::detail;
  torch::Device device = resolve_device(device_name, "effects");
  torch::NoGradGuard no_grad;
  const fx::Settings s = fx::read_settings(params);
  EffectsResult result;
  Stopwatch watch;
  const int h = rgb_view.height, w = rgb_view.width;
  auto rgb = upload(rgb_view, device).permute({2, 0, 1}).to(torch::kInt32);  // [3, H, W]
  auto alpha = upload(alpha_view, device).squeeze(2);                       // uint8 [H, W]
  auto wants = [&](Effect e) { return std::find(effects.begin(), effects.end(), e) != effects.end(); };
  const bool blur = s.background.kind == Background::Kind::Blur;
  torch::Tensor grey, blurred, blurred_grey;
  if (wants(Effect::Dither)) grey = grey601(rgb);
  if (blur) {
    const double sigma = s.background.blur_sigma > 0 ? s.background.blur_sigma : std::max(1.0, 0.01 * std::max(w, h));
    blurred = reduced_blur(rgb.to(torch::kFloat32), sigma, true).to(torch::kInt32);
    blurred_grey = grey601(blurred).unsqueeze(0);
  }
  result.shared_ms = watch.lap();
  check_run(control, "effects");
  for (Effect e : effects) {
    check_run(control, "effects");
    torch::Tensor fg;
    switch (e) {
      case Effect::Color: fg = rgb; break;
      case Effect::BlackWhite: fg = render_bw(rgb, s, control).unsqueeze(0); break;
      case Effect::PopArt: fg = render_popart(rgb, s); break;
      case Effect::Dither: {
        auto samples = dither_samples(grey, alpha, s);
        auto bits = s.dither_fs ? floyd_steinberg_wavefront(samples, control) : bayer_dither(samples, s.dither_bayer);
        fg = bits.repeat_interleave(s.dither_cell, 0)
                 .repeat_interleave(s.dither_cell, 1)
                 .index({torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)})
                 .unsqueeze(0);
        break;
      }
    }
    torch::Tensor bg;
    if (s.background.kind == Background::Kind::Color) {
      bg = torch::tensor({int(s.background.r), int(s.background.g), int(s.background.b)},
                         torch::TensorOptions().dtype(torch::kInt32))
               .to(device)
               .view({3, 1, 1});
    } else if (blur) {
      bg = (e == Effect::BlackWhite || e == Effect::Dither) ? blurred_grey : blurred;
    }
    result.images.push_back({e, composite(fg, alpha, bg)});
  }
  result.effects_ms = watch.lap();
  result.device = device.str();
  return result;
}

}  // namespace inpaint::torch_backend
