#pragma once
// The formulas both effects paths share (the OpenCV path in effects.cpp and the tensor path in
// backends/torch/effects_tensor.cpp): constants, lookup tables, the grain hash, the integer
// Floyd-Steinberg rounding and the reduced-resolution blur geometry. Header-only, so that the
// torch backend computes the very same tables. Not a public header.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "inpaint/effects.hpp"
#include "inpaint/error.hpp"

namespace inpaint::detail::fx {

// ---- integer colour weights (each set sums to 256) ----
// BT.601 luma: 0.299 0.587 0.114.
constexpr int kY601R = 77, kY601G = 150, kY601B = 29;
// BT.709 luma: 0.2126 0.7152 0.0722.
constexpr int kY709R = 54, kY709G = 183, kY709B = 19;
inline int luma601(int r, int g, int b) { return (kY601R * r + kY601G * g + kY601B * b + 128) >> 8; }
inline int luma709(int r, int g, int b) { return (kY709R * r + kY709G * g + kY709B * b + 128) >> 8; }

// ---- bw ----
// Film-like (Tri-X-like) channel weights 0.18 0.72 0.10 in 1/4096: the grey is an index
// 0..kBwGreyMax (1/16 of an 8-bit level) into the tone table.
constexpr int kBwR = 737, kBwG = 2949, kBwB = 410;  // sum 4096
constexpr int kBwGreyMax = 4080;                     // 255 * 16
inline int bw_grey_index(int r, int g, int b) { return (kBwR * r + kBwG * g + kBwB * b + 128) >> 8; }

// Tone curve on t in [0,1]: a logistic S-curve of slope factor 5 normalised to keep 0 and 1,
// then contrast about mid-grey, clamped to [0,1].
inline float bw_tone(double t, double contrast) {
  const double k = 5.0;
  auto logistic = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  double lo = logistic(-k / 2), hi = logistic(k / 2);
  double s = (logistic(k * (t - 0.5)) - lo) / (hi - lo);
  double c = 0.5 + contrast * (s - 0.5);
  return float(std::min(1.0, std::max(0.0, c)));
}
inline std::vector<float> bw_tone_table(double contrast) {
  std::vector<float> lut(kBwGreyMax + 1);
  for (int i = 0; i <= kBwGreyMax; ++i) lut[i] = bw_tone(double(i) / kBwGreyMax, contrast);
  return lut;
}
// Highlights start to glow above this tone (the glow source is (t - kGlowKnee) / (1 - kGlowKnee)).
constexpr float kGlowKnee = 0.75f;

// Grain: a 32-bit hash of (x, y, seed) (multiply-xorshift, all arithmetic modulo 2^32), read as
// the sum of its two 16-bit halves, which is triangular noise in [-1, 1].
inline std::uint32_t grain_hash(std::uint32_t x, std::uint32_t y, std::uint32_t seed) {
  std::uint32_t h = x * 0x9E3779B1u + y * 0x85EBCA77u + seed * 0xC2B2AE3Du + 0x27D4EB2Fu;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  h *= 0x297A2D39u;
  h ^= h >> 15;
  return h;
}
inline float grain_noise(std::uint32_t h) { return float(int((h & 0xFFFFu) + (h >> 16)) - 65535) / 65535.0f; }

// ---- popart ----
// Every step is integer arithmetic (both paths are bit-exact): contrast and saturation factors
// in 1/256, posterise to `levels`, then the BT.709 luma of the posterised colour picks a band.
inline int fixed8(double factor) { return int(std::lround(factor * 256)); }
struct PopBand {
  int upper;  // bands cover luma <= upper
  std::uint8_t r, g, b;
};
// The palette: black, violet, deep sky blue, hot pink, lime green, yellow, white.
constexpr PopBand kPopPalette[] = {
    {39, 0, 0, 0},        {79, 138, 43, 226},  {119, 0, 191, 255},   {159, 255, 20, 147},
    {199, 50, 205, 50},   {234, 255, 228, 0},  {255, 255, 255, 255},
};
constexpr int kPopPaletteSize = int(sizeof(kPopPalette) / sizeof(kPopPalette[0]));
inline int pop_band(int luma) {
  int i = 0;
  while (kPopPalette[i].upper < luma) ++i;
  return i;
}

// ---- dither ----
// Gamma table: 255 * (v / 255) ^ gamma, rounded.
inline std::vector<std::uint8_t> gamma_table(double gamma) {
  std::vector<std::uint8_t> lut(256);
  for (int v = 0; v < 256; ++v) lut[v] = std::uint8_t(std::lround(255.0 * std::pow(v / 255.0, gamma)));
  return lut;
}
// One error share of Floyd-Steinberg in integers: floor((weight * error + 8) / 16), i.e. the
// weight/16 share rounded half up, also for negative errors (an arithmetic shift is a floor).
inline int fs_share(int weight, int error) { return (weight * error + 8) >> 4; }
// Sample value plus incoming error, clamped to 0..255; >= 128 is white (255), else black (0).
constexpr int kFsThreshold = 128;

// Bayer matrices, n = 2, 4, 8: entry (x, y) in 0..n*n-1. A sample v is black when
// 2 * v * n * n < (2 * entry + 1) * 256 (threshold at the entry's centre).
inline int bayer_entry(int n, int x, int y) {
  // The classic recursion M(2n) = [4M+0, 4M+2; 4M+3, 4M+1]: the lowest bits of (x, y) pick the
  // most significant base-4 digit, from the 2x2 matrix [0 2; 3 1].
  int v = 0;
  for (int bit = 1; bit < n; bit *= 2) {
    int xi = (x & bit) ? 1 : 0, yi = (y & bit) ? 1 : 0;
    v = v * 4 + 2 * (xi ^ yi) + yi;
  }
  return v;
}

// ---- reduced-resolution Gaussian blur (blurred background, bw glow) ----
// The image is padded at the right and bottom by repeating its last column/row up to a multiple
// of `factor`, reduced by the mean of factor x factor blocks, blurred there with sigma / factor
// (kernel radius ceil(3 sigma'), mirrored border without repeating the edge: OpenCV's
// BORDER_REFLECT_101), and enlarged bilinearly (pixel centres aligned, edges clamped) to the
// padded size; the top-left corner of the photo's size is the result.
inline int blur_factor(double sigma) { return std::max(1, int(std::floor(sigma / 2.5))); }
inline int gaussian_ksize(double sigma) { return 2 * int(std::ceil(3 * sigma)) + 1; }

// ---- the parameters, read from a map resolved against effect_parameters() ----
struct Settings {
  Background background;
  double bw_contrast, bw_detail, bw_detail_sigma, bw_glow, bw_glow_sigma, bw_grain;
  std::uint32_t bw_seed;
  double pop_contrast, pop_saturation;
  int pop_levels;
  bool dither_fs;
  int dither_cell, dither_bayer;
  double dither_gamma, dither_edge;
};

inline Settings read_settings(const CallParams& p) {
  Settings s;
  s.background = parse_background(p.get_string("background", "transparent"));
  s.bw_contrast = p.get_float("bw_contrast", 1.15);
  s.bw_detail = p.get_float("bw_detail", 0.6);
  s.bw_detail_sigma = p.get_float("bw_detail_sigma", 2.0);
  s.bw_glow = p.get_float("bw_glow", 0.15);
  s.bw_glow_sigma = p.get_float("bw_glow_sigma", 8.0);
  s.bw_grain = p.get_float("bw_grain", 0.04);
  s.bw_seed = std::uint32_t(p.get_int("bw_seed", 0));
  s.pop_contrast = p.get_float("popart_contrast", 1.6);
  s.pop_saturation = p.get_float("popart_saturation", 1.8);
  s.pop_levels = int(p.get_int("popart_levels", 4));
  std::string method = p.get_string("dither_method", "floyd-steinberg");
  if (method != "floyd-steinberg" && method != "bayer")
    throw Error(ErrorCode::InvalidArgument,
                "effects: dither_method '" + method + "' is not one of floyd-steinberg, bayer");
  s.dither_fs = method == "floyd-steinberg";
  s.dither_cell = int(p.get_int("dither_cell", 2));
  s.dither_bayer = int(p.get_int("dither_bayer", 4));
  if (s.dither_bayer != 2 && s.dither_bayer != 4 && s.dither_bayer != 8)
    throw Error(ErrorCode::InvalidArgument,
                "effects: dither_bayer " + std::to_string(s.dither_bayer) + " is not one of 2, 4, 8");
  s.dither_gamma = p.get_float("dither_gamma", 0.8);
  s.dither_edge = p.get_float("dither_edge", 0.3);
  return s;
}

}  // namespace inpaint::detail::fx
