// The `saliency` matter: background removal with no model file. At a small working size it
// (1) models the background by the colours along the top, left and right edges (k-means in Lab;
// not the bottom, where a standing subject is usually cut off), (2) scores each pixel by its
// colour distance to the nearest of those colours, weighted towards the centre, (3) seeds GrabCut
// with that score (high: object, low: background, those edges: surely background unless they
// score high) and (4) softens the binary result into a matte. It assumes
// what phone photos of a pet or a person usually are: one subject, standing out in colour from
// the surroundings that reach the frame's edges. README "Background removal" gives its measured
// agreement with a trained network.
#include <opencv2/core.hpp>
#include <opencv2/core/version.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "core/cv_bridge.hpp"
#include "core/seeded_rng.hpp"
#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "matte/builtin.hpp"

namespace inpaint::detail {
namespace {

constexpr int kBorderClusters = 6;
constexpr std::uint64_t kSeed = 0x51A11E7C0FFEEull;  // k-means and GrabCut draw from cv::theRNG()
// Below this many pixels a side there is nothing to separate: the whole image is the object.
constexpr int kMinSide = 8;

cv::Size working_size(int width, int height, int max_side) {
  int long_side = std::max(width, height);
  if (long_side <= max_side) return {width, height};
  double scale = double(max_side) / long_side;
  return {std::max(1, int(std::lround(width * scale))), std::max(1, int(std::lround(height * scale)))};
}

// Colour distance of every pixel to the nearest of the border's colour clusters, times a
// centre prior, scaled to [0, 1].
cv::Mat border_contrast(const cv::Mat& lab, int border) {
  std::vector<cv::Vec3f> samples;
  for (int y = 0; y < lab.rows; ++y) {
    const cv::Vec3f* row = lab.ptr<cv::Vec3f>(y);
    bool edge_row = y < border;  // the top; the bottom is left out (see above)
    for (int x = 0; x < lab.cols; ++x)
      if (edge_row || x < border || x >= lab.cols - border) samples.push_back(row[x]);
  }
  int k = std::min<int>(kBorderClusters, int(samples.size()));
  cv::Mat labels, centres;
  cv::kmeans(cv::Mat(samples).reshape(1), k, labels, cv::TermCriteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 10, 0.5),
             2, cv::KMEANS_PP_CENTERS, centres);
  cv::Mat score(lab.size(), CV_32F);
  double cx = (lab.cols - 1) / 2.0, cy = (lab.rows - 1) / 2.0;
  double sigma2 = 2 * std::pow(0.45 * std::hypot(lab.cols, lab.rows) / 2, 2);
  for (int y = 0; y < lab.rows; ++y) {
    const cv::Vec3f* row = lab.ptr<cv::Vec3f>(y);
    float* out = score.ptr<float>(y);
    for (int x = 0; x < lab.cols; ++x) {
      float best = 1e30f;
      for (int c = 0; c < k; ++c) {
        const float* m = centres.ptr<float>(c);
        float d0 = row[x][0] - m[0], d1 = row[x][1] - m[1], d2 = row[x][2] - m[2];
        best = std::min(best, d0 * d0 + d1 * d1 + d2 * d2);
      }
      double centre = std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / sigma2);
      out[x] = float(std::sqrt(best) * centre);
    }
  }
  cv::normalize(score, score, 0, 1, cv::NORM_MINMAX);
  return score;
}

// Keeps the foreground components at least a tenth the size of the largest one: specks that
// GrabCut let through are dropped, a second subject is kept.
cv::Mat keep_main_components(const cv::Mat& binary) {
  cv::Mat labels, stats, centroids;
  int n = cv::connectedComponentsWithStats(binary, labels, stats, centroids, 8, CV_32S);
  int largest = 0;
  for (int i = 1; i < n; ++i) largest = std::max(largest, stats.at<int>(i, cv::CC_STAT_AREA));
  cv::Mat keep = cv::Mat::zeros(binary.size(), CV_8U);
  for (int i = 1; i < n; ++i)
    if (stats.at<int>(i, cv::CC_STAT_AREA) * 10 >= largest) keep.setTo(255, labels == i);
  return keep;
}

class SaliencyMatter final : public Matter {
 public:
  SaliencyMatter(int max_side, int iterations, double softness)
      : max_side_(max_side), iterations_(iterations), softness_(softness) {}

  std::string spec() const override {
    ModelSpec s{"saliency", {}};
    s.params["max_side"] = std::to_string(max_side_);
    s.params["iterations"] = std::to_string(iterations_);
    char soft[32];
    std::snprintf(soft, sizeof soft, "%g", softness_);
    s.params["softness"] = soft;
    return s.str();
  }
  // The result depends on OpenCV's code and these settings only.
  std::string model_id() const override { return spec() + ";opencv-" CV_VERSION; }

  MattePrediction predict(const ImageView& rgb, const RunControl* control) const override {
    if (rgb.empty() || rgb.channels != 3) throw Error(ErrorCode::InvalidArgument, "saliency: the photo must be a non-empty RGB image");
    check_run(control, "saliency");
    MattePrediction out;
    Stopwatch watch;
    cv::Size size = working_size(rgb.width, rgb.height, max_side_);
    cv::Mat small;
    cv::resize(as_mat(rgb), small, size, 0, 0, cv::INTER_AREA);
    out.preprocess_ms = watch.lap();
    cv::Mat map;
    if (size.width < kMinSide || size.height < kMinSide) {
      map = cv::Mat(size, CV_32F, cv::Scalar(1.0));
    } else {
      map = separate(small, control);
    }
    out.model_ms = watch.lap();
    out.map = HostTensor::copy_of(DType::F32, {map.rows, map.cols}, map.data);
    return out;
  }

 private:
  cv::Mat separate(const cv::Mat& small, const RunControl* control) const {
    SeededRng seeded(kSeed);
    cv::Mat lab, unit;
    small.convertTo(unit, CV_32F, 1.0 / 255);
    cv::cvtColor(unit, lab, cv::COLOR_RGB2Lab);
    cv::GaussianBlur(lab, lab, cv::Size(3, 3), 0);
    int border = std::max(1, std::min(small.rows, small.cols) / 20);
    cv::Mat score = border_contrast(lab, border);
    cv::Mat score8;
    score.convertTo(score8, CV_8U, 255.0);
    // A named Mat: a temporary one binds as a fixed-size output, which OpenCV refuses to resize.
    cv::Mat thresholded;
    double otsu = cv::threshold(score8, thresholded, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
    // GrabCut's seeds: probably object above Otsu's threshold, surely object well above it,
    // surely background on the border where the score is low, probably background elsewhere.
    cv::Mat mask(small.size(), CV_8U, cv::Scalar(cv::GC_PR_BGD));
    mask.setTo(cv::GC_PR_FGD, score8 > otsu);
    mask.setTo(cv::GC_FGD, score8 > std::min(254.0, otsu + 0.6 * (255 - otsu)));
    cv::Mat edge = cv::Mat::ones(small.size(), CV_8U) * 255;
    edge(cv::Rect(border, border, std::max(0, small.cols - 2 * border), std::max(0, small.rows - border))).setTo(0);
    mask.setTo(cv::GC_BGD, edge & (score8 <= otsu));
    cv::Mat binary;
    int object = cv::countNonZero(mask == cv::GC_PR_FGD) + cv::countNonZero(mask == cv::GC_FGD);
    if (object > 0 && object < mask.rows * mask.cols) {
      check_run(control, "saliency");
      cv::Mat bgd, fgd;
      cv::grabCut(small, mask, cv::Rect(), bgd, fgd, iterations_, cv::GC_INIT_WITH_MASK);
      binary = ((mask == cv::GC_FGD) | (mask == cv::GC_PR_FGD));
    } else {
      binary = score8 > otsu;
    }
    cv::Mat kept = keep_main_components(binary), map;
    kept.convertTo(map, CV_32F, 1.0 / 255);
    if (softness_ > 0) cv::GaussianBlur(map, map, cv::Size(), softness_);
    return map;
  }

  int max_side_, iterations_;
  double softness_;
};

}  // namespace

std::unique_ptr<Matter> make_saliency_matter(const ModelSpec& spec) {
  SpecReader reader(spec);
  int max_side = reader.get_int("max_side", 320, 64, 2048);
  int iterations = reader.get_int("iterations", 4, 1, 20);
  double softness = reader.get_double("softness", 1.5, 0, 16);
  reader.finish();
  return std::make_unique<SaliencyMatter>(max_side, iterations, softness);
}

}  // namespace inpaint::detail
