// SAM's two-step mask postprocessing, separable and fused with the threshold (see sam_mask.hpp).
#include "segment/sam_mask.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <opencv2/core.hpp>

#include "inpaint/error.hpp"

namespace inpaint::detail {

namespace {

// One axis of a bilinear resize from in_size to out_size with half-pixel centres, as PyTorch's
// upsample_bilinear2d(align_corners=False) computes it: src = (dst + 0.5) * in/out - 0.5,
// clamped at 0; the two taps and the weight of the second. Only the first `count` outputs.
struct Axis {
  std::vector<int> i0, i1;
  std::vector<float> w1;
};

Axis make_axis(int in_size, int out_size, int count) {
  Axis a;
  a.i0.resize(std::size_t(count));
  a.i1.resize(std::size_t(count));
  a.w1.resize(std::size_t(count));
  const float scale = float(in_size) / float(out_size);
  for (int d = 0; d < count; ++d) {
    float src = std::max(scale * (float(d) + 0.5f) - 0.5f, 0.0f);
    int i0 = std::min(int(src), in_size - 1);
    a.i0[std::size_t(d)] = i0;
    a.i1[std::size_t(d)] = i0 + (i0 < in_size - 1 ? 1 : 0);
    a.w1[std::size_t(d)] = src - float(i0);
  }
  return a;
}

// out[x] = src row resized along x.
inline void resize_row(const float* src, const Axis& ax, float* out, int count) {
  for (int x = 0; x < count; ++x) {
    float w1 = ax.w1[std::size_t(x)];
    out[x] = (1.0f - w1) * src[ax.i0[std::size_t(x)]] + w1 * src[ax.i1[std::size_t(x)]];
  }
}

}  // namespace

Image sam_logits_to_mask(const float* logits, const SamGeometry& g, float threshold, MaskBox* box) {
  if (!logits || g.size <= 0 || g.orig_width <= 0 || g.orig_height <= 0 || g.input_width <= 0 ||
      g.input_height <= 0 || g.input_width > g.size || g.input_height > g.size)
    throw Error(ErrorCode::InvalidArgument, "sam: inconsistent mask geometry");
  const int L = kSamLowRes, cw = g.input_width, ch = g.input_height, W = g.orig_width, H = g.orig_height;

  // Step 1: 256x256 -> S x S, only the crop's rows and columns: rows first (256 wide), then columns.
  Axis ax1 = make_axis(L, g.size, cw), ay1 = make_axis(L, g.size, ch);
  std::vector<float> crop(std::size_t(cw) * std::size_t(ch));
  {
    std::vector<float> row(static_cast<std::size_t>(L));
    for (int y = 0; y < ch; ++y) {
      const float* a = logits + std::size_t(ay1.i0[std::size_t(y)]) * L;
      const float* b = logits + std::size_t(ay1.i1[std::size_t(y)]) * L;
      float w1 = ay1.w1[std::size_t(y)], w0 = 1.0f - w1;
      for (int x = 0; x < L; ++x) row[std::size_t(x)] = w0 * a[x] + w1 * b[x];
      resize_row(row.data(), ax1, crop.data() + std::size_t(y) * cw, cw);
    }
  }

  // Step 2: crop -> W x H, computed only where the result can exceed the threshold: a bilinear
  // blend never exceeds the larger of its two taps, so columns and rows whose taps are all at or
  // below it are 0 without arithmetic (most of a photo, for a typical object).
  Axis ax2 = make_axis(cw, W, W), ay2 = make_axis(ch, H, H);
  // Per crop row, the output columns [lo, hi) that read a crop value above the threshold.
  std::vector<int> lo(std::size_t(ch), W), hi(std::size_t(ch), 0);
  cv::parallel_for_(cv::Range(0, ch), [&](const cv::Range& r) {
    for (int y = r.start; y < r.end; ++y) {
      const float* row = crop.data() + std::size_t(y) * cw;
      int c0 = 0, c1 = cw - 1;
      while (c0 < cw && !(row[c0] > threshold)) ++c0;
      if (c0 == cw) continue;
      while (!(row[c1] > threshold)) --c1;
      // Taps are non-decreasing in x: the first output reading c0 as its second tap, the last
      // reading c1 as its first.
      lo[std::size_t(y)] = int(std::lower_bound(ax2.i1.begin(), ax2.i1.end(), c0) - ax2.i1.begin());
      hi[std::size_t(y)] = int(std::upper_bound(ax2.i0.begin(), ax2.i0.end(), c1) - ax2.i0.begin());
    }
  });
  // An output row blends crop rows y and y + 1, so each crop row is resized over its own span and
  // its neighbours' (the values there are needed for the blend even when at or below threshold).
  std::vector<float> wide(std::size_t(W) * std::size_t(ch));
  cv::parallel_for_(cv::Range(0, ch), [&](const cv::Range& r) {
    for (int y = r.start; y < r.end; ++y) {
      int from = lo[std::size_t(y)], to = hi[std::size_t(y)];
      for (int n : {y - 1, y + 1})
        if (n >= 0 && n < ch) from = std::min(from, lo[std::size_t(n)]), to = std::max(to, hi[std::size_t(n)]);
      const float* src = crop.data() + std::size_t(y) * cw;
      float* out = wide.data() + std::size_t(y) * W;
      for (int x = from; x < to; ++x) {
        float w1 = ax2.w1[std::size_t(x)];
        out[x] = (1.0f - w1) * src[ax2.i0[std::size_t(x)]] + w1 * src[ax2.i1[std::size_t(x)]];
      }
    }
  });
  Image mask = Image::uninitialized(W, H, 1);
  std::vector<int> first(std::size_t(H), W), last(std::size_t(H), -1);
  cv::parallel_for_(cv::Range(0, H), [&](const cv::Range& r) {
    for (int y = r.start; y < r.end; ++y) {
      const int ya = ay2.i0[std::size_t(y)], yb = ay2.i1[std::size_t(y)];
      const int from = std::min(lo[std::size_t(ya)], lo[std::size_t(yb)]);
      const int to = std::max(hi[std::size_t(ya)], hi[std::size_t(yb)]);
      std::uint8_t* out = mask.data() + std::size_t(y) * W;
      if (from >= to) {
        std::memset(out, 0, std::size_t(W));
        continue;
      }
      const float* a = wide.data() + std::size_t(ya) * W;
      const float* b = wide.data() + std::size_t(yb) * W;
      float w1 = ay2.w1[std::size_t(y)], w0 = 1.0f - w1;
      std::memset(out, 0, std::size_t(from));
      for (int x = from; x < to; ++x) out[x] = (w0 * a[x] + w1 * b[x]) > threshold ? 255 : 0;
      std::memset(out + to, 0, std::size_t(W - to));
      const std::uint8_t* f = std::find(out + from, out + to, std::uint8_t(255));
      if (f != out + to) {
        first[std::size_t(y)] = int(f - out);
        const std::uint8_t* l = out + to - 1;
        while (*l == 0) --l;
        last[std::size_t(y)] = int(l - out);
      }
    }
  });
  if (box) {
    int x0 = W, x1 = 0, y0 = H, y1 = 0;
    for (int y = 0; y < H; ++y) {
      if (last[std::size_t(y)] < 0) continue;
      x0 = std::min(x0, first[std::size_t(y)]);
      x1 = std::max(x1, last[std::size_t(y)] + 1);
      y0 = std::min(y0, y);
      y1 = y + 1;
    }
    *box = x1 > x0 ? MaskBox{x0, y0, x1 - x0, y1 - y0} : MaskBox{};
  }
  return mask;
}

}  // namespace inpaint::detail
