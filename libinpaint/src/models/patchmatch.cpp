// Exemplar fill with PatchMatch (Barnes et al. 2009) inside a coarse-to-fine
// expectation-maximisation loop (Wexler et al. 2007):
//   E step: for every patch that touches the hole, find the most similar fully known patch
//           (random initialisation, propagation from neighbours, random search);
//   M step: every hole pixel becomes the weighted vote of the known pixels that the patches
//           covering it point at.
// Patches are compared in Lab plus the lightness gradient, so structure lines continue.
// Levels above a working-resolution cap only refine the upsampled field (one local pass), so
// the finest level is filled at full resolution without full-resolution search cost.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>
#include <random>
#include <vector>

#include "core/cv_bridge.hpp"
#include "inpaint/error.hpp"
#include "mask/mask_ops.hpp"
#include "models/builtin.hpp"
#include "models/patchmatch.hpp"

namespace inpaint::detail {

namespace {

constexpr int kChannels = 5;  // L, a, b, gradient x, gradient y
constexpr int kBands = 8;     // fixed, so the result does not depend on the number of cores
constexpr float kFar = std::numeric_limits<float>::max();

struct Level {
  int width = 0, height = 0;
  int radius = 0;               // patch radius at this level (smaller only when sources are scarce)
  cv::Mat rgb;                  // CV_32FC3, 0..255
  cv::Mat hole;                 // CV_8U, 1 = unknown
  cv::Mat source;               // CV_8U, 1 = a patch centred here is inside the image and fully known
  std::vector<float> features;  // kChannels floats per pixel
  std::vector<int> sources;     // indices of source centres, for random sampling
  std::vector<int> targets;     // indices of centres whose patch touches the hole, row-major
  std::vector<int> band_begin;  // first index into targets of each band, plus the end
  std::vector<cv::Point> match; // per pixel: source centre, or (-1, -1) for non-targets
  std::vector<float> cost;      // per pixel: mean squared feature distance of its match
  cv::Rect hole_box;            // bounding box of the hole
  float locality = 0;           // relative cost increase per squared pixel between target and source
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64: decorrelates per-band seeds
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Lab and scaled lightness gradients of `region` (grown by one pixel for the gradients).
void update_features(Level& level, const cv::Rect& region, float gradient_weight) {
  cv::Rect grown = cv::Rect(region.x - 1, region.y - 1, region.width + 2, region.height + 2) &
                   cv::Rect(0, 0, level.width, level.height);
  cv::Mat rgb01;
  level.rgb(grown).convertTo(rgb01, CV_32F, 1.0 / 255);
  cv::Mat lab, gx, gy;
  cv::cvtColor(rgb01, lab, cv::COLOR_RGB2Lab);
  cv::Mat planes[3];
  cv::split(lab, planes);
  cv::Sobel(planes[0], gx, CV_32F, 1, 0, 3, 0.25 * gradient_weight, 0, cv::BORDER_REPLICATE);
  cv::Sobel(planes[0], gy, CV_32F, 0, 1, 3, 0.25 * gradient_weight, 0, cv::BORDER_REPLICATE);
  for (int y = region.y; y < region.br().y; ++y) {
    int gy_row = y - grown.y;
    const float* l = lab.ptr<float>(gy_row);
    const float* dx = gx.ptr<float>(gy_row);
    const float* dy = gy.ptr<float>(gy_row);
    float* f = level.features.data() + (std::size_t(y) * level.width + region.x) * kChannels;
    for (int x = region.x; x < region.br().x; ++x, f += kChannels) {
      int gx_col = x - grown.x;
      f[0] = l[3 * gx_col];
      f[1] = l[3 * gx_col + 1];
      f[2] = l[3 * gx_col + 2];
      f[3] = dx[gx_col];
      f[4] = dy[gx_col];
    }
  }
}

// Mean squared feature distance between the patch at target centre c (clipped by the image)
// and the patch at source centre s (always inside). Gives up above `limit`.
float patch_cost(const Level& level, cv::Point c, cv::Point s, float limit) {
  const int r = level.radius, w = level.width;
  const int x0 = std::max(-r, -c.x), x1 = std::min(r, w - 1 - c.x);
  const int y0 = std::max(-r, -c.y), y1 = std::min(r, level.height - 1 - c.y);
  const int count = (x1 - x0 + 1) * (y1 - y0 + 1);
  const int run = (x1 - x0 + 1) * kChannels;
  // Locality scales the cost up with the distance between target and source: among similar
  // patches the nearby one wins, while an exact match (cost 0) wins wherever it is.
  const float dx = float(c.x - s.x), dy_ = float(c.y - s.y);
  const float scale = 1 + level.locality * (dx * dx + dy_ * dy_);
  const float budget = limit / scale * float(count);
  if (budget < 0) return kFar;
  float sum = 0;
  for (int dy = y0; dy <= y1; ++dy) {
    const float* t = level.features.data() + (std::size_t(c.y + dy) * w + c.x + x0) * kChannels;
    const float* q = level.features.data() + (std::size_t(s.y + dy) * w + s.x + x0) * kChannels;
    float row = 0;
    for (int k = 0; k < run; ++k) {
      float d = t[k] - q[k];
      row += d * d;
    }
    sum += row;
    if (sum > budget) return kFar;
  }
  return sum / float(count) * scale;
}

// Marks source centres for the level's radius; returns how many there are.
std::size_t find_sources(Level& level) {
  const int r = level.radius;
  level.source = cv::Mat::zeros(level.height, level.width, CV_8U);
  level.sources.clear();
  if (level.width <= 2 * r || level.height <= 2 * r) return 0;
  // A patch is fully known when the hole's dilation by the patch box misses its centre.
  cv::Mat reach;
  cv::dilate(level.hole, reach, cv::getStructuringElement(cv::MORPH_RECT, {2 * r + 1, 2 * r + 1}));
  for (int y = r; y < level.height - r; ++y) {
    const uchar* h = reach.ptr<uchar>(y);
    uchar* s = level.source.ptr<uchar>(y);
    for (int x = r; x < level.width - r; ++x)
      if (!h[x]) {
        s[x] = 1;
        level.sources.push_back(y * level.width + x);
      }
  }
  return level.sources.size();
}

void find_targets(Level& level) {
  const int r = level.radius;
  cv::Mat reach;
  cv::dilate(level.hole, reach, cv::getStructuringElement(cv::MORPH_RECT, {2 * r + 1, 2 * r + 1}));
  level.targets.clear();
  level.match.assign(std::size_t(level.width) * level.height, cv::Point(-1, -1));
  level.cost.assign(std::size_t(level.width) * level.height, kFar);
  level.band_begin.assign(kBands + 1, 0);
  int band = 0;
  for (int y = 0; y < level.height; ++y) {
    while (band < kBands && y >= level.height * (band + 1) / kBands) level.band_begin[++band] = int(level.targets.size());
    const uchar* row = reach.ptr<uchar>(y);
    for (int x = 0; x < level.width; ++x)
      if (row[x]) level.targets.push_back(y * level.width + x);
  }
  while (band < kBands) level.band_begin[++band] = int(level.targets.size());
  level.hole_box = detail::nonzero_box(level.hole);
}

cv::Point random_source(const Level& level, std::mt19937_64& rng) {
  int i = level.sources[std::uniform_int_distribution<std::size_t>(0, level.sources.size() - 1)(rng)];
  return {i % level.width, i / level.width};
}

bool is_source(const Level& level, cv::Point p) {
  return p.x >= 0 && p.y >= 0 && p.x < level.width && p.y < level.height && level.source.at<uchar>(p.y, p.x);
}

// One PatchMatch pass over the targets of one band: propagation from the neighbours already
// visited in this band, then random search around the best match with a halving radius.
void improve_band(Level& level, int band, bool forward, int search_radius, std::uint64_t seed) {
  std::mt19937_64 rng(mix(seed ^ mix(std::uint64_t(band) + 1)));
  const int begin = level.band_begin[band], end = level.band_begin[band + 1];
  const int step = forward ? -1 : 1;  // where the already-visited neighbours are
  const int band_top = level.height * band / kBands, band_bottom = level.height * (band + 1) / kBands;
  for (int n = 0; n < end - begin; ++n) {
    int index = level.targets[forward ? begin + n : end - 1 - n];
    cv::Point c(index % level.width, index / level.width);
    cv::Point& best = level.match[index];
    float& best_cost = level.cost[index];
    auto consider = [&](cv::Point s) {
      if (s == best || !is_source(level, s)) return;
      float cost = patch_cost(level, c, s, best_cost);
      if (cost < best_cost) {
        best_cost = cost;
        best = s;
      }
    };
    // Propagation: a neighbour's match shifted by one is likely a good match here.
    if (c.x + step >= 0 && c.x + step < level.width) {
      cv::Point m = level.match[index + step];
      if (m.x >= 0) consider({m.x - step, m.y});
    }
    int ny = c.y + step;
    if (ny >= band_top && ny < band_bottom) {
      cv::Point m = level.match[index + step * level.width];
      if (m.x >= 0) consider({m.x, m.y - step});
    }
    for (int radius = search_radius; radius >= 1; radius /= 2) {
      std::uniform_int_distribution<int> offset(-radius, radius);
      cv::Point s(std::clamp(best.x + offset(rng), 0, level.width - 1), std::clamp(best.y + offset(rng), 0, level.height - 1));
      consider(s);
    }
  }
}

void improve_field(Level& level, bool forward, int search_radius, std::uint64_t seed) {
  cv::parallel_for_(cv::Range(0, kBands), [&](const cv::Range& bands) {
    for (int b = bands.start; b < bands.end; ++b) improve_band(level, b, forward, search_radius, seed);
  }, kBands);
}

// Costs of the current matches; matches that are not sources (after upsampling) are redrawn.
void rescore(Level& level, std::mt19937_64& rng) {
  for (int index : level.targets) {
    cv::Point& m = level.match[index];
    if (!is_source(level, m)) m = random_source(level, rng);
  }
  cv::parallel_for_(cv::Range(0, int(level.targets.size())), [&](const cv::Range& range) {
    for (int i = range.start; i < range.end; ++i) {
      int index = level.targets[i];
      level.cost[index] = patch_cost(level, {index % level.width, index / level.width}, level.match[index], kFar);
    }
  });
}

// The vote for pixel (x, y): the mean of the pixels that the patches covering it point at,
// weighted by exp(-cost / 2 sigma^2) relative to the best of them (so no weight underflows).
// False when no matched patch covers the pixel.
bool vote_pixel(const Level& level, int x, int y, float sigma2, cv::Vec3f& value) {
  const int r = level.radius, w = level.width, h = level.height;
  const int y0 = std::max(y - r, 0), y1 = std::min(y + r, h - 1), x0 = std::max(x - r, 0), x1 = std::min(x + r, w - 1);
  float best = kFar;
  for (int cy = y0; cy <= y1; ++cy)
    for (int cx = x0; cx <= x1; ++cx) {
      std::size_t c = std::size_t(cy) * w + cx;
      if (level.match[c].x >= 0) best = std::min(best, level.cost[c]);
    }
  if (best == kFar) return false;
  cv::Vec3f sum(0, 0, 0);
  float weight = 0;
  for (int cy = y0; cy <= y1; ++cy)
    for (int cx = x0; cx <= x1; ++cx) {
      std::size_t c = std::size_t(cy) * w + cx;
      cv::Point m = level.match[c];
      if (m.x < 0 || level.cost[c] == kFar) continue;
      float wgt = std::exp(-(level.cost[c] - best) / (2 * sigma2));
      sum += wgt * level.rgb.at<cv::Vec3f>(m.y + y - cy, m.x + x - cx);
      weight += wgt;
    }
  value = sum / weight;
  return true;
}

// M step: each hole pixel becomes the weighted vote of the source pixels that the patches
// covering it point at; sigma^2 is the 75th percentile of the costs times `sharpness`.
// Returns sigma^2.
float vote(Level& level, double sharpness) {
  std::vector<float> costs;
  costs.reserve(level.targets.size());
  for (int index : level.targets) costs.push_back(level.cost[index]);
  float sigma2 = 1;
  if (!costs.empty()) {
    auto q = costs.begin() + std::ptrdiff_t(costs.size() * 3 / 4);
    std::nth_element(costs.begin(), q, costs.end());
    sigma2 = std::max(*q, 1e-3f);
  }
  sigma2 *= float(sharpness);
  const cv::Rect box = level.hole_box;
  cv::parallel_for_(cv::Range(box.y, box.br().y), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const uchar* hole = level.hole.ptr<uchar>(y);
      cv::Vec3f* out = level.rgb.ptr<cv::Vec3f>(y);
      for (int x = box.x; x < box.br().x; ++x)
        if (hole[x]) vote_pixel(level, x, y, sigma2, out[x]);
    }
  });
  return sigma2;
}

// What the copied patches say the known pixels right outside the hole should be: the same
// weighted vote as in the hole. Where it differs from the real pixels the fill would show a seam.
cv::Mat reconstruct_ring(const Level& level, const cv::Mat& ring, float sigma2) {
  cv::Mat out = level.rgb.clone();
  for (int y = 0; y < level.height; ++y) {
    const uchar* on_ring = ring.ptr<uchar>(y);
    for (int x = 0; x < level.width; ++x)
      if (on_ring[x]) vote_pixel(level, x, y, sigma2, out.at<cv::Vec3f>(y, x));
  }
  return out;
}

// Smooth interpolation of values known where weight is 1 (push-pull, Gortler et al. 1996): a
// membrane-like surface at the cost of two passes over an image pyramid.
cv::Mat push_pull(const cv::Mat& values, const cv::Mat& weight) {
  if (std::min(values.cols, values.rows) <= 2 || cv::countNonZero(weight) == int(weight.total())) return values.clone();
  cv::Mat weighted;
  cv::Mat w3;
  cv::merge(std::vector<cv::Mat>(3, weight), w3);
  cv::multiply(values, w3, weighted);
  cv::Size half((values.cols + 1) / 2, (values.rows + 1) / 2);
  cv::Mat coarse_sum, coarse_weight;
  cv::resize(weighted, coarse_sum, half, 0, 0, cv::INTER_AREA);
  cv::resize(weight, coarse_weight, half, 0, 0, cv::INTER_AREA);
  cv::Mat coarse_values(half, CV_32FC3, cv::Scalar::all(0)), coarse_w(half, CV_32F);
  for (int y = 0; y < half.height; ++y)
    for (int x = 0; x < half.width; ++x) {
      float cw = coarse_weight.at<float>(y, x);
      if (cw > 0) coarse_values.at<cv::Vec3f>(y, x) = coarse_sum.at<cv::Vec3f>(y, x) / cw;
      coarse_w.at<float>(y, x) = std::min(1.f, 4 * cw);  // one known child of four is enough
    }
  cv::Mat filled_coarse = push_pull(coarse_values, coarse_w), up;
  cv::resize(filled_coarse, up, values.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat out = values.clone();
  for (int y = 0; y < values.rows; ++y)
    for (int x = 0; x < values.cols; ++x) {
      float wt = weight.at<float>(y, x);
      out.at<cv::Vec3f>(y, x) = wt * values.at<cv::Vec3f>(y, x) + (1 - wt) * up.at<cv::Vec3f>(y, x);
    }
  return out;
}

// Gradient-domain seam removal: the fill keeps its own texture, and the difference between the
// real pixels around the hole and their reconstruction is spread smoothly over the hole.
void remove_seam(Level& level, float sigma2) {
  cv::Mat grown, ring;
  cv::dilate(level.hole, grown, cv::getStructuringElement(cv::MORPH_CROSS, {3, 3}));
  ring = grown - level.hole;
  if (cv::countNonZero(ring) == 0) return;
  cv::Mat reconstruction = reconstruct_ring(level, ring, sigma2);
  cv::Rect box = cv::Rect(level.hole_box.x - 1, level.hole_box.y - 1, level.hole_box.width + 2, level.hole_box.height + 2) &
                 cv::Rect(0, 0, level.width, level.height);
  cv::Mat difference(box.size(), CV_32FC3, cv::Scalar::all(0)), weight(box.size(), CV_32F, cv::Scalar(0));
  for (int y = 0; y < box.height; ++y)
    for (int x = 0; x < box.width; ++x)
      if (ring.at<uchar>(box.y + y, box.x + x)) {
        difference.at<cv::Vec3f>(y, x) = level.rgb.at<cv::Vec3f>(box.y + y, box.x + x) - reconstruction.at<cv::Vec3f>(box.y + y, box.x + x);
        weight.at<float>(y, x) = 1;
      }
  cv::Mat correction = push_pull(difference, weight);
  cv::Mat target = level.rgb(box);
  for (int y = 0; y < box.height; ++y)
    for (int x = 0; x < box.width; ++x)
      if (level.hole.at<uchar>(box.y + y, box.x + x)) target.at<cv::Vec3f>(y, x) += correction.at<cv::Vec3f>(y, x);
}

Level make_level(const cv::Mat& rgb, const cv::Mat& hole, int radius, double locality) {
  Level level;
  level.width = rgb.cols;
  level.height = rgb.rows;
  level.rgb = rgb;
  level.hole = hole;
  level.features.assign(std::size_t(level.width) * level.height * kChannels, 0.f);
  level.locality = float(locality) / float(level.width * level.width + level.height * level.height);
  // Where no whole patch is known (a thin strip of known pixels), shrink the patch until one
  // is: single pixels at worst.
  level.radius = radius;
  while (find_sources(level) == 0 && level.radius > 0) --level.radius;
  find_targets(level);
  return level;
}

}  // namespace

Image patchmatch_fill(const ImageView& image, const ImageView& mask, const PatchMatchParams& p,
                      const RunControl* control, PatchMatchField* field) {
  cv::Mat input = as_mat(image);
  cv::Mat hole0;
  cv::threshold(as_mat(mask), hole0, 127, 1, cv::THRESH_BINARY);
  Image out = Image::copy_of(image);
  if (cv::countNonZero(hole0) == 0) return out;
  if (cv::countNonZero(hole0) == int(hole0.total()))
    throw Error(ErrorCode::InvalidArgument, "patchmatch: the mask covers the whole image; nothing to copy from");

  // Pyramid: halve until the hole is a few patches across, the image is small, or known patches run out.
  const int radius = p.patch / 2;
  std::vector<cv::Mat> rgbs, holes;
  input.convertTo(rgbs.emplace_back(), CV_32F);
  holes.push_back(hole0);
  const int max_levels = p.levels > 0 ? p.levels : 12;
  while (int(rgbs.size()) < max_levels) {
    const cv::Mat& fine = holes.back();
    cv::Rect box = detail::nonzero_box(fine);
    if (std::max(box.width, box.height) <= 2 * p.patch || std::min(fine.cols, fine.rows) < 8 * p.patch) break;
    cv::Size half((fine.cols + 1) / 2, (fine.rows + 1) / 2);
    cv::Mat coarse_hole, coarse_rgb;
    // A coarse pixel is unknown when any of its fine pixels is: known stays truly known.
    cv::resize(fine * 255, coarse_hole, half, 0, 0, cv::INTER_AREA);
    cv::threshold(coarse_hole, coarse_hole, 0, 1, cv::THRESH_BINARY);
    cv::resize(rgbs.back(), coarse_rgb, half, 0, 0, cv::INTER_AREA);
    cv::Mat reach;
    cv::dilate(coarse_hole, reach, cv::getStructuringElement(cv::MORPH_RECT, {p.patch, p.patch}));
    if (cv::countNonZero(reach) > int(reach.total()) * 9 / 10) break;  // too little left to copy from
    rgbs.push_back(coarse_rgb);
    holes.push_back(coarse_hole);
  }

  const int coarsest = int(rgbs.size()) - 1;
  int total_steps = 0;
  for (int l = coarsest; l >= 0; --l) {
    bool refine_only = std::max(rgbs[l].cols, rgbs[l].rows) > p.max_search_side;
    total_steps += refine_only ? 1 : (l == coarsest ? 2 * p.iterations : p.iterations);
  }
  int steps_done = 0;
  auto step_done = [&] {
    ++steps_done;
    if (control) control->report("patchmatch iteration", double(steps_done) / total_steps);
  };

  Level previous;
  float last_sigma2 = 1;
  std::mt19937_64 rng(mix(p.seed));
  for (int l = coarsest; l >= 0; --l) {
    Level level = make_level(rgbs[l], holes[l], radius, p.locality);
    if (level.sources.empty())
      throw Error(ErrorCode::InvalidArgument, "patchmatch: no known pixel to copy from");
    const bool refine_only = std::max(level.width, level.height) > p.max_search_side;
    if (l == coarsest) {
      // Start from a smooth diffusion fill so the first patch comparisons have something to see.
      cv::Mat rgb8, filled;
      level.rgb.convertTo(rgb8, CV_8U);
      cv::inpaint(rgb8, level.hole, filled, 3, cv::INPAINT_TELEA);
      filled.convertTo(level.rgb, CV_32F);
      update_features(level, cv::Rect(0, 0, level.width, level.height), float(p.gradient_weight));
      for (int index : level.targets) level.match[index] = random_source(level, rng);
    } else {
      // The coarse result, upsampled, is the first guess of the hole; the field is upsampled with
      // its offsets kept, then the first vote brings back full-resolution texture.
      cv::Mat up;
      cv::resize(previous.rgb, up, {level.width, level.height}, 0, 0, cv::INTER_LINEAR);
      up.copyTo(level.rgb, level.hole);
      update_features(level, cv::Rect(0, 0, level.width, level.height), float(p.gradient_weight));
      for (int index : level.targets) {
        cv::Point c(index % level.width, index / level.width);
        cv::Point coarse(std::min(c.x / 2, previous.width - 1), std::min(c.y / 2, previous.height - 1));
        cv::Point m = previous.match[std::size_t(coarse.y) * previous.width + coarse.x];
        level.match[index] = m.x < 0 ? cv::Point(-1, -1) : cv::Point(2 * m.x + c.x - 2 * coarse.x, 2 * m.y + c.y - 2 * coarse.y);
      }
    }
    rescore(level, rng);
    if (l != coarsest) {
      vote(level, p.sharpness);
      update_features(level, level.hole_box, float(p.gradient_weight));
      rescore(level, rng);
    }
    const int full_radius = p.search_radius > 0 ? p.search_radius : std::max(level.width, level.height);
    const int iterations = refine_only ? 1 : (l == coarsest ? 2 * p.iterations : p.iterations);
    for (int it = 0; it < iterations; ++it) {
      std::uint64_t seed = mix(p.seed ^ mix(std::uint64_t(l) << 32 | std::uint64_t(it)));
      improve_field(level, it % 2 == 0, refine_only ? p.refine_radius : full_radius, seed);
      last_sigma2 = vote(level, p.sharpness);
      update_features(level, level.hole_box, float(p.gradient_weight));
      if (it + 1 < iterations) rescore(level, rng);
      step_done();
    }
    previous = std::move(level);
  }

  remove_seam(previous, last_sigma2);
  if (field) {
    field->radius = previous.radius;
    field->matches.clear();
    for (int index : previous.targets) {
      cv::Point m = previous.match[index];
      field->matches.push_back({index % previous.width, index / previous.width, m.x, m.y});
    }
  }
  // Only hole pixels change; the rest is the input byte for byte.
  cv::Mat result = as_mat(out), filled8;
  previous.rgb.convertTo(filled8, CV_8U);
  filled8.copyTo(result, hole0);
  return out;
}

namespace {

class PatchMatchModel final : public InpaintModel {
 public:
  explicit PatchMatchModel(const PatchMatchParams& params) : params_(params) {}

  std::string spec() const override {
    return "patchmatch:iterations=" + std::to_string(params_.iterations) + ",levels=" + std::to_string(params_.levels) +
           ",patch=" + std::to_string(params_.patch) + ",search=" + std::to_string(params_.search_radius) +
           ",seed=" + std::to_string(params_.seed);
  }

  // seed and iterations may change per call (a service retrying with another seed keeps one
  // loaded model); the spec's values are the defaults.
  std::vector<ParamSpec> parameters() const override {
    return {
        {"iterations", ParamType::Int, std::int64_t(params_.iterations), 1, kMaxIterations,
         "EM iterations per pyramid level (twice as many at the coarsest)"},
        {"seed", ParamType::Int, std::int64_t(params_.seed), 0, kMaxSeed,
         "random seed; the same seed and input give the same output"},
    };
  }

  Image inpaint(const InpaintRequest& request) const override {
    validate_request(request);
    PatchMatchParams params = params_;
    // A direct call (no pipeline) may carry no map, or unchecked values: the same ranges apply.
    CallParams call = resolve_params(parameters(), request.params, "model 'patchmatch'");
    params.iterations = int(call.get_int("iterations", params.iterations));
    params.seed = std::uint64_t(call.get_int("seed", std::int64_t(params.seed)));
    return patchmatch_fill(request.image, request.mask, params, request.control);
  }

  static constexpr int kMaxIterations = 50;
  static constexpr int kMaxSeed = INT32_MAX;

 private:
  PatchMatchParams params_;
};

}  // namespace

std::unique_ptr<InpaintModel> make_patchmatch(const ModelSpec& spec) {
  SpecReader reader(spec);
  PatchMatchParams p;
  p.patch = reader.get_int("patch", p.patch, 3, 15);
  if (p.patch % 2 == 0) throw Error(ErrorCode::InvalidArgument, "model 'patchmatch': patch must be odd, got " + std::to_string(p.patch));
  p.levels = reader.get_int("levels", p.levels, 0, 12);
  p.iterations = reader.get_int("iterations", p.iterations, 1, PatchMatchModel::kMaxIterations);
  p.search_radius = reader.get_int("search", p.search_radius, 0, 1 << 16);
  p.seed = std::uint64_t(reader.get_int("seed", int(p.seed), 0, PatchMatchModel::kMaxSeed));
  reader.finish();
  return std::make_unique<PatchMatchModel>(p);
}

}  // namespace inpaint::detail
