// Photo effects, OpenCV path: names, parameters, backgrounds, and the four effects rendered
// from shared intermediates in parallel. The formulas live in effects_math.hpp, shared with the
// tensor path (backends/torch/effects_tensor.cpp), which tests/cpp/effects_tensor_test.cpp
// holds to this one.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/cv_bridge.hpp"
#include "core/timer.hpp"
#include "effects/effects_internal.hpp"
#include "effects/effects_math.hpp"
#include "inpaint/effects.hpp"
#include "inpaint/error.hpp"

namespace inpaint {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string trim(const std::string& s) {
  std::size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

const char* effect_name(Effect effect) noexcept {
  switch (effect) {
    case Effect::Color: return "color";
    case Effect::BlackWhite: return "bw";
    case Effect::PopArt: return "popart";
    case Effect::Dither: return "dither";
  }
  return "?";
}

const std::vector<std::string>& effect_names() {
  static const std::vector<std::string> names = {"color", "bw", "popart", "dither"};
  return names;
}

Effect parse_effect(const std::string& name) {
  const auto& names = effect_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return Effect(i);
  throw Error(ErrorCode::InvalidArgument, "unknown effect '" + name + "' (known: " + join(names) + ")");
}

std::vector<Effect> parse_effect_list(const std::string& text) {
  std::vector<Effect> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    std::string item = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (item.empty())
      throw Error(ErrorCode::InvalidArgument, "effect list '" + text + "' has an empty entry (known: " +
                                                  join(effect_names()) + ")");
    Effect e = parse_effect(item);
    if (std::find(out.begin(), out.end(), e) != out.end())
      throw Error(ErrorCode::InvalidArgument, "effect list '" + text + "' names '" + item + "' twice");
    out.push_back(e);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Background parse_background(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::Parse, "background '" + text + "': " + why +
                                       " (valid: transparent, white, black, #rrggbb, rrggbb, blur, blur:SIGMA)");
  };
  Background bg;
  if (text == "transparent") return bg;
  if (text == "white" || text == "black") {
    bg.kind = Background::Kind::Color;
    bg.r = bg.g = bg.b = text == "white" ? 255 : 0;
    return bg;
  }
  if (text == "blur") {
    bg.kind = Background::Kind::Blur;
    return bg;
  }
  if (text.rfind("blur:", 0) == 0) {
    std::string num = text.substr(5);
    char* end = nullptr;
    double sigma = num.empty() ? -1 : std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(sigma))
      throw bad("the blur sigma is not a number");
    if (sigma <= 0 || sigma > 1000) throw bad("the blur sigma must be in (0, 1000]");
    bg.kind = Background::Kind::Blur;
    bg.blur_sigma = sigma;
    return bg;
  }
  std::string hex = !text.empty() && text[0] == '#' ? text.substr(1) : text;
  if (hex.size() == 6 && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
    unsigned long v = std::stoul(hex, nullptr, 16);
    bg.kind = Background::Kind::Color;
    bg.r = std::uint8_t(v >> 16);
    bg.g = std::uint8_t(v >> 8);
    bg.b = std::uint8_t(v);
    return bg;
  }
  throw bad("not a known background");
}

std::string background_text(const Background& bg) {
  switch (bg.kind) {
    case Background::Kind::Transparent: return "transparent";
    case Background::Kind::Color: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "#%02x%02x%02x", bg.r, bg.g, bg.b);
      return buf;
    }
    case Background::Kind::Blur: {
      if (bg.blur_sigma <= 0) return "blur";
      return "blur:" + param_value_text(bg.blur_sigma);
    }
  }
  return "transparent";
}

const std::vector<ParamSpec>& effect_parameters() {
  using P = ParamType;
  static const std::vector<ParamSpec> specs = {
      {"background", P::String, std::string("transparent"), 0, 0,
       "what shows where alpha < 255: transparent (RGBA out), white, black, #rrggbb, blur or blur:SIGMA (px; "
       "default 1% of the long side)"},
      {"bw_contrast", P::Float, 1.15, 0.5, 3.0, "bw: contrast of the tone curve about mid-grey (after the S-curve)"},
      {"bw_detail", P::Float, 0.6, 0.0, 4.0, "bw: local contrast, midtone-weighted unsharp amount (0: off)"},
      {"bw_detail_sigma", P::Float, 2.0, 0.5, 50.0, "bw: Gaussian sigma (px) of the local-contrast blur"},
      {"bw_glow", P::Float, 0.15, 0.0, 1.0, "bw: highlight glow strength (0: off)"},
      {"bw_glow_sigma", P::Float, 8.0, 1.0, 200.0, "bw: Gaussian sigma (px) of the highlight glow"},
      {"bw_grain", P::Float, 0.04, 0.0, 0.5, "bw: grain amplitude in tone units (0: no grain)"},
      {"bw_seed", P::Int, std::int64_t(0), 0, 4294967295.0, "bw: grain seed; the grain is a hash of (x, y, seed)"},
      {"popart_contrast", P::Float, 1.6, 0.5, 4.0, "popart: contrast factor about 128"},
      {"popart_saturation", P::Float, 1.8, 0.0, 4.0, "popart: saturation factor about the BT.601 luma"},
      {"popart_levels", P::Int, std::int64_t(4), 2, 16, "popart: posterise levels per channel"},
      {"dither_method", P::String, std::string("floyd-steinberg"), 0, 0,
       "dither: floyd-steinberg (error diffusion) or bayer (ordered)"},
      {"dither_cell", P::Int, std::int64_t(2), 1, 64, "dither: dot size in px (one sample per cell x cell block)"},
      {"dither_bayer", P::Int, std::int64_t(4), 2, 8, "dither: Bayer matrix size, 2, 4 or 8 (method bayer)"},
      {"dither_gamma", P::Float, 0.8, 0.2, 5.0, "dither: exponent on the grey before dithering (< 1 lightens)"},
      {"dither_edge", P::Float, 0.3, 0.0, 4.0, "dither: edge boost, amount of the 3x3 Laplacian added"},
  };
  return specs;
}

namespace detail {

namespace fx_cpu {

using namespace fx;

// Runs task(0..n-1) on up to `workers` threads (the caller is one of them). Tasks are taken in
// order as threads free up; the first exception is rethrown once all threads are done.
template <class F>
void run_tasks(int n, int workers, F&& task) {
  workers = std::max(1, std::min(workers, n));
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto loop = [&] {
    for (int i; (i = next.fetch_add(1)) < n;) {
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(n);  // stop handing out tasks
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < workers; ++i) threads.emplace_back(loop);
  loop();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// Mean of factor x factor blocks, the image first padded right/bottom by repeating its last
// column/row to a multiple of factor. src: CV_8UC(n) or CV_32FC1; result CV_32FC(n).
cv::Mat block_mean(const cv::Mat& src, int factor) {
  const int w = src.cols, h = src.rows, cn = src.channels();
  const int sw = (w + factor - 1) / factor, sh = (h + factor - 1) / factor;
  cv::Mat sum(sh, sw, CV_32FC(cn), cv::Scalar::all(0));
  std::vector<float> acc(std::size_t(sw) * cn);
  for (int by = 0; by < sh; ++by) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int dy = 0; dy < factor; ++dy) {
      int y = std::min(by * factor + dy, h - 1);
      for (int x = 0; x < sw * factor; ++x) {
        int sx = std::min(x, w - 1);
        float* a = &acc[std::size_t(x / factor) * cn];
        if (src.depth() == CV_8U) {
          const std::uint8_t* p = src.ptr<std::uint8_t>(y) + std::size_t(sx) * cn;
          for (int c = 0; c < cn; ++c) a[c] += p[c];
        } else {
          a[0] += src.ptr<float>(y)[sx];
        }
      }
    }
    float* out = sum.ptr<float>(by);
    const float inv = 1.0f / float(factor * factor);
    for (std::size_t i = 0; i < acc.size(); ++i) out[i] = acc[i] * inv;
  }
  return sum;
}

// The reduced-resolution Gaussian blur (effects_math.hpp). u8 input: u8 output (the reduced
// image is rounded to 8 bits before it is enlarged); float input: float output.
cv::Mat reduced_blur(const cv::Mat& src, double sigma) {
  const int f = blur_factor(sigma);
  cv::Mat small = block_mean(src, f);
  const double s = sigma / f;
  const int k = gaussian_ksize(s);
  cv::GaussianBlur(small, small, cv::Size(k, k), s, s, cv::BORDER_REFLECT_101);
  const int pw = small.cols * f, ph = small.rows * f;
  cv::Mat up;
  if (src.depth() == CV_8U) {
    cv::Mat small8;
    small.convertTo(small8, CV_8U);
    if (f == 1) return small8;
    cv::resize(small8, up, cv::Size(pw, ph), 0, 0, cv::INTER_LINEAR);
  } else {
    if (f == 1) return small;
    cv::resize(small, up, cv::Size(pw, ph), 0, 0, cv::INTER_LINEAR);
  }
  return up(cv::Rect(0, 0, src.cols, src.rows)).clone();
}

// BT.601 grey of an RGB image, CV_8UC1.
cv::Mat grey601(const cv::Mat& rgb) {
  cv::Mat g(rgb.rows, rgb.cols, CV_8UC1);
  for (int y = 0; y < rgb.rows; ++y) {
    const std::uint8_t* p = rgb.ptr<std::uint8_t>(y);
    std::uint8_t* o = g.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x, p += 3) o[x] = std::uint8_t(luma601(p[0], p[1], p[2]));
  }
  return g;
}

// bw: grey (CV_8UC1).
cv::Mat render_bw(const cv::Mat& rgb, const Settings& s, const RunControl* control) {
  const int w = rgb.cols, h = rgb.rows;
  const std::vector<float> tone = bw_tone_table(s.bw_contrast);
  cv::Mat t1(h, w, CV_32FC1);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* p = rgb.ptr<std::uint8_t>(y);
    float* o = t1.ptr<float>(y);
    for (int x = 0; x < w; ++x, p += 3) o[x] = tone[bw_grey_index(p[0], p[1], p[2])];
  }
  check_run(control, "effects: bw");
  // Local contrast: t2 = t1 + detail * 4 t1 (1 - t1) * (t1 - blur(t1)); and the glow source.
  cv::Mat t2 = t1;
  if (s.bw_detail > 0) {
    cv::Mat blurred;
    const int k = gaussian_ksize(s.bw_detail_sigma);
    cv::GaussianBlur(t1, blurred, cv::Size(k, k), s.bw_detail_sigma, s.bw_detail_sigma, cv::BORDER_REFLECT_101);
    const float amount = float(s.bw_detail) * 4.f;
    for (int y = 0; y < h; ++y) {
      float* t = t1.ptr<float>(y);
      const float* b = blurred.ptr<float>(y);
      for (int x = 0; x < w; ++x) t[x] = t[x] + amount * t[x] * (1.f - t[x]) * (t[x] - b[x]);
    }
  }
  check_run(control, "effects: bw");
  cv::Mat glow;
  if (s.bw_glow > 0) {
    cv::Mat source(h, w, CV_32FC1);
    for (int y = 0; y < h; ++y) {
      const float* t = t2.ptr<float>(y);
      float* o = source.ptr<float>(y);
      for (int x = 0; x < w; ++x) o[x] = std::max(t[x] - kGlowKnee, 0.f) * (1.f / (1.f - kGlowKnee));
    }
    glow = reduced_blur(source, s.bw_glow_sigma);
  }
  check_run(control, "effects: bw");
  cv::Mat out(h, w, CV_8UC1);
  const float glow_amount = float(s.bw_glow), grain = float(s.bw_grain);
  for (int y = 0; y < h; ++y) {
    const float* t = t2.ptr<float>(y);
    const float* g = glow.empty() ? nullptr : glow.ptr<float>(y);
    std::uint8_t* o = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      float v = t[x];
      if (g) v = v + glow_amount * g[x] * (1.f - v);
      if (grain > 0) {
        float n = grain_noise(grain_hash(std::uint32_t(x), std::uint32_t(y), s.bw_seed));
        v = v + grain * n * (0.3f + 2.8f * v * (1.f - v));
      }
      o[x] = cv::saturate_cast<std::uint8_t>(v * 255.f);
    }
  }
  return out;
}

// popart: RGB (CV_8UC3), integer arithmetic throughout.
cv::Mat render_popart(const cv::Mat& rgb, const Settings& s) {
  const int kq = fixed8(s.pop_contrast), sq = fixed8(s.pop_saturation), n1 = s.pop_levels - 1;
  int contrast[256], poster[256], band[256];
  for (int c = 0; c < 256; ++c) {
    contrast[c] = std::clamp((c - 128) * kq + 128 * 256 + 128, 0, 255 * 256) >> 8;
    int level = (c * n1 + 127) / 255;
    poster[c] = (level * 255 + n1 / 2) / n1;
    band[c] = pop_band(c);
  }
  cv::Mat out(rgb.rows, rgb.cols, CV_8UC3);
  for (int y = 0; y < rgb.rows; ++y) {
    const std::uint8_t* p = rgb.ptr<std::uint8_t>(y);
    std::uint8_t* o = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x, p += 3, o += 3) {
      int c[3] = {contrast[p[0]], contrast[p[1]], contrast[p[2]]};
      int l = luma601(c[0], c[1], c[2]);
      int q[3];
      for (int i = 0; i < 3; ++i) q[i] = poster[std::clamp(l * 256 + (c[i] - l) * sq + 128, 0, 255 * 256) >> 8];
      const PopBand& b = kPopPalette[band[luma709(q[0], q[1], q[2])]];
      o[0] = b.r;
      o[1] = b.g;
      o[2] = b.b;
    }
  }
  return out;
}

// dither's samples: grey (alpha < 128 counts as white) -> gamma -> edge boost -> cell means.
cv::Mat dither_samples(const cv::Mat& grey, const cv::Mat& alpha, const Settings& s) {
  const int w = grey.cols, h = grey.rows, cell = s.dither_cell;
  const std::vector<std::uint8_t> gamma = gamma_table(s.dither_gamma);
  cv::Mat g(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* v = grey.ptr<std::uint8_t>(y);
    const std::uint8_t* a = alpha.ptr<std::uint8_t>(y);
    std::uint8_t* o = g.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) o[x] = a[x] < 128 ? 255 : gamma[v[x]];
  }
  const int eq = fixed8(s.dither_edge);
  const int cw = (w + cell - 1) / cell, ch = (h + cell - 1) / cell;
  std::vector<int> sums(cw);
  cv::Mat samples(ch, cw, CV_8UC1);
  for (int cy = 0; cy < ch; ++cy) {
    std::fill(sums.begin(), sums.end(), 0);
    const int y0 = cy * cell, y1 = std::min(h, y0 + cell);
    for (int y = y0; y < y1; ++y) {
      const std::uint8_t* up = g.ptr<std::uint8_t>(std::max(y - 1, 0));
      const std::uint8_t* mid = g.ptr<std::uint8_t>(y);
      const std::uint8_t* dn = g.ptr<std::uint8_t>(std::min(y + 1, h - 1));
      for (int x = 0; x < w; ++x) {
        int v = mid[x];
        if (eq) {
          int xl = std::max(x - 1, 0), xr = std::min(x + 1, w - 1);
          int around = up[xl] + up[x] + up[xr] + mid[xl] + mid[xr] + dn[xl] + dn[x] + dn[xr];
          v = std::clamp(v + ((eq * (8 * v - around) + 1024) >> 11), 0, 255);
        }
        sums[x / cell] += v;
      }
    }
    std::uint8_t* o = samples.ptr<std::uint8_t>(cy);
    for (int cx = 0; cx < cw; ++cx) {
      int count = (std::min(w, (cx + 1) * cell) - cx * cell) * (y1 - y0);
      o[cx] = std::uint8_t((sums[cx] + count / 2) / count);
    }
  }
  return samples;
}

cv::Mat bayer_dither(const cv::Mat& samples, int n) {
  cv::Mat bits(samples.size(), CV_8UC1);
  for (int y = 0; y < samples.rows; ++y) {
    const std::uint8_t* v = samples.ptr<std::uint8_t>(y);
    std::uint8_t* o = bits.ptr<std::uint8_t>(y);
    for (int x = 0; x < samples.cols; ++x)
      o[x] = 2 * v[x] * n * n < (2 * bayer_entry(n, x % n, y % n) + 1) * 256 ? 0 : 255;
  }
  return bits;
}

// Cells back to pixels: each sample's bit fills its cell.
cv::Mat expand_cells(const cv::Mat& bits, int cell, int w, int h) {
  cv::Mat out(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* b = bits.ptr<std::uint8_t>(y / cell);
    std::uint8_t* o = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) o[x] = b[x / cell];
  }
  return out;
}

// What shows behind an effect: nothing (transparent), one colour, or an image (grey or RGB).
struct Behind {
  bool transparent = true;
  std::uint8_t colour[3] = {0, 0, 0};
  cv::Mat image;  // CV_8UC1 or CV_8UC3, or empty for a colour
};

inline std::uint8_t mix(int fg, int bg, int a) {
  int t = fg * a + bg * (255 - a) + 127;
  return std::uint8_t((t + (t >> 8) + 1) >> 8);  // t / 255, exact for t < 65535
}

// fg: CV_8UC1 (grey, replicated) or CV_8UC3. RGBA with alpha = the matte when transparent,
// else fg over the background with a = alpha / 255, rounded.
Image composite(const cv::Mat& fg, const cv::Mat& alpha, const Behind& behind) {
  const int w = fg.cols, h = fg.rows, fc = fg.channels();
  Image out = Image::uninitialized(w, h, behind.transparent ? 4 : 3);
  const int bc = behind.image.empty() ? 0 : behind.image.channels();
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* f = fg.ptr<std::uint8_t>(y);
    const std::uint8_t* a = alpha.ptr<std::uint8_t>(y);
    std::uint8_t* o = out.data() + std::size_t(y) * out.stride();
    if (behind.transparent) {
      for (int x = 0; x < w; ++x, o += 4) {
        const std::uint8_t* p = f + std::size_t(x) * fc;
        o[0] = p[0];
        o[1] = p[fc == 3 ? 1 : 0];
        o[2] = p[fc == 3 ? 2 : 0];
        o[3] = a[x];
      }
      continue;
    }
    const std::uint8_t* b = bc ? behind.image.ptr<std::uint8_t>(y) : nullptr;
    for (int x = 0; x < w; ++x, o += 3) {
      const std::uint8_t* p = f + std::size_t(x) * fc;
      const std::uint8_t* q = b ? b + std::size_t(x) * bc : behind.colour;
      const int qs = b ? (bc == 3 ? 1 : 0) : 1;
      for (int c = 0; c < 3; ++c) o[c] = mix(p[fc == 3 ? c : 0], q[c * qs], a[x]);
    }
  }
  return out;
}

void validate_inputs(const ImageView& rgb, const ImageView& alpha, const std::vector<Effect>& effects, int threads) {
  if (rgb.empty() || rgb.channels != 3)
    throw Error(ErrorCode::InvalidArgument, "effects: rgb must be a non-empty 3-channel image, got " +
                                                std::to_string(rgb.width) + "x" + std::to_string(rgb.height) + "x" +
                                                std::to_string(rgb.channels));
  if (alpha.empty() || alpha.channels != 1)
    throw Error(ErrorCode::InvalidArgument, "effects: alpha must be a non-empty 1-channel image, got " +
                                                std::to_string(alpha.width) + "x" + std::to_string(alpha.height) +
                                                "x" + std::to_string(alpha.channels));
  if (alpha.width != rgb.width || alpha.height != rgb.height)
    throw Error(ErrorCode::InvalidArgument, "effects: alpha is " + std::to_string(alpha.width) + "x" +
                                                std::to_string(alpha.height) + ", rgb is " + std::to_string(rgb.width) +
                                                "x" + std::to_string(rgb.height) + " (they must match)");
  if (effects.empty())
    throw Error(ErrorCode::InvalidArgument, "effects: no effect asked for (known: " + join(effect_names()) + ")");
  for (std::size_t i = 0; i < effects.size(); ++i) {
    int e = int(effects[i]);
    if (e < 0 || e >= int(effect_names().size()))
      throw Error(ErrorCode::InvalidArgument, "effects: effect value " + std::to_string(e) + " is not an Effect");
    for (std::size_t j = 0; j < i; ++j)
      if (effects[j] == effects[i])
        throw Error(ErrorCode::InvalidArgument,
                    std::string("effects: '") + effect_name(effects[i]) + "' is asked for twice");
  }
  if (threads < 1 || threads > 64)
    throw Error(ErrorCode::InvalidArgument, "effects: threads must be 1..64, got " + std::to_string(threads));
}

}  // namespace fx_cpu

cv::Mat floyd_steinberg(const cv::Mat& samples) {
  using fx::fs_share;
  const int w = samples.cols, h = samples.rows;
  cv::Mat bits(h, w, CV_8UC1);
  // err[x + 1] collects what row y gets; next[x + 1] what row y + 1 gets (one column of margin
  // on each side takes the shares that fall outside).
  std::vector<int> err(w + 2, 0), next(w + 2, 0);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* v = samples.ptr<std::uint8_t>(y);
    std::uint8_t* o = bits.ptr<std::uint8_t>(y);
    std::fill(next.begin(), next.end(), 0);
    for (int x = 0; x < w; ++x) {
      int u = std::clamp(int(v[x]) + err[x + 1], 0, 255);
      int out = u >= fx::kFsThreshold ? 255 : 0;
      int e = u - out;
      o[x] = std::uint8_t(out);
      err[x + 2] += fs_share(7, e);
      next[x] += fs_share(3, e);
      next[x + 1] += fs_share(5, e);
      next[x + 2] += fs_share(1, e);
    }
    std::swap(err, next);
  }
  return bits;
}

}  // namespace detail

EffectsResult render_effects(const ImageView& rgb_view, const ImageView& alpha_view, const std::vector<Effect>& effects,
                             const EffectsOptions& options) {
  using namespace detail::fx_cpu;
  validate_inputs(rgb_view, alpha_view, effects, options.threads);
  CallParams params = resolve_params(effect_parameters(), options.params, "effects");
  Settings s = read_settings(params);
  if (options.backend == EffectsBackend::Tensor)
    return detail::render_effects_tensor(rgb_view, alpha_view, effects, params, options.device, options.control);
  check_run(options.control, "effects");

  EffectsResult result;
  detail::Stopwatch watch;
  const cv::Mat rgb = detail::as_mat(rgb_view), alpha = detail::as_mat(alpha_view);
  auto wants = [&](Effect e) { return std::find(effects.begin(), effects.end(), e) != effects.end(); };
  const bool blur = s.background.kind == Background::Kind::Blur;
  const bool want_grey = wants(Effect::Dither);
  const bool want_grey_behind = blur && (wants(Effect::Dither) || wants(Effect::BlackWhite));

  // Shared: the BT.601 grey (dither), the blurred photo and its grey (blurred backgrounds).
  cv::Mat grey, blurred, blurred_grey;
  const double sigma = s.background.blur_sigma > 0 ? s.background.blur_sigma
                                                    : std::max(1.0, 0.01 * std::max(rgb.cols, rgb.rows));
  run_tasks(2, options.threads, [&](int i) {
    if (i == 0 && want_grey) grey = grey601(rgb);
    if (i == 1 && blur) {
      blurred = reduced_blur(rgb, sigma);
      if (want_grey_behind) blurred_grey = grey601(blurred);
    }
  });
  result.shared_ms = watch.lap();
  check_run(options.control, "effects");

  // The effects, heaviest first, as threads free up.
  std::vector<int> order(effects.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  auto cost = [](Effect e) { return e == Effect::BlackWhite ? 0 : e == Effect::Dither ? 1 : e == Effect::PopArt ? 2 : 3; };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return cost(effects[a]) < cost(effects[b]); });
  result.images.resize(effects.size());
  run_tasks(int(order.size()), options.threads, [&](int k) {
    const int i = order[k];
    const Effect e = effects[i];
    check_run(options.control, "effects");
    cv::Mat fg;
    switch (e) {
      case Effect::Color: fg = rgb; break;
      case Effect::BlackWhite: fg = render_bw(rgb, s, options.control); break;
      case Effect::PopArt: fg = render_popart(rgb, s); break;
      case Effect::Dither: {
        cv::Mat samples = dither_samples(grey, alpha, s);
        cv::Mat bits = s.dither_fs ? detail::floyd_steinberg(samples) : bayer_dither(samples, s.dither_bayer);
        fg = expand_cells(bits, s.dither_cell, rgb.cols, rgb.rows);
        break;
      }
    }
    check_run(options.control, "effects");
    Behind behind;
    if (s.background.kind == Background::Kind::Color) {
      behind.transparent = false;
      behind.colour[0] = s.background.r;
      behind.colour[1] = s.background.g;
      behind.colour[2] = s.background.b;
    } else if (blur) {
      behind.transparent = false;
      behind.image = (e == Effect::BlackWhite || e == Effect::Dither) ? blurred_grey : blurred;
    }
    result.images[i] = {e, composite(fg, alpha, behind)};
  });
  result.effects_ms = watch.lap();
  result.device = "cpu";
  return result;
}

}  // namespace inpaint
