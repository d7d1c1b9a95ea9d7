// The `grabcut` segmenter: OpenCV GrabCut (Rother et al. 2004) for box and point prompts, so
// segmentation works with no model file. Its "encoding" is the image at the working size: all
// GrabCut needs, and cheap to keep in a store like a real model's features.
#include <opencv2/core.hpp>
#include <opencv2/core/version.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "core/cv_bridge.hpp"
#include "core/seeded_rng.hpp"
#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "segment/builtin.hpp"

namespace inpaint::detail {

namespace {

constexpr const char* kModelId = "grabcut";
constexpr const char* kChecksum = "opencv-" CV_VERSION;  // the result depends on OpenCV's code only
constexpr const char* kTensor = "image";
// Smaller images give the colour models too few pixels to mean anything.
constexpr int kMinSide = 8;
// OpenCV's colour models have 5 components seeded by k-means, which needs a pixel per component.
constexpr int kGmmComponents = 5;
// A fixed seed for GrabCut's k-means, so a prompt gives the same mask every time.
constexpr std::uint64_t kSeed = 0x9E3779B97F4A7C15ull;

Error invalid(const std::string& message) { return Error(ErrorCode::InvalidArgument, "grabcut: " + message); }

// The long side scaled down to max_side (never up); both sides rounded, at least 1.
cv::Size working_size(int width, int height, int max_side) {
  int long_side = std::max(width, height);
  if (long_side <= max_side) return {width, height};
  double scale = double(max_side) / long_side;
  return {std::max(1, int(std::lround(width * scale))), std::max(1, int(std::lround(height * scale)))};
}

// One of OpenCV's GrabCut colour models (the 1x65 double Mat it fills: 5 weights, 5 means,
// 5 covariances), evaluated as its own code does (the (2 pi)^-3/2 factor cancels in ratios).
class ColourModel {
 public:
  explicit ColourModel(const cv::Mat& model) {
    const double* weights = model.ptr<double>(0);
    const double* means = weights + kGmmComponents;
    const double* covs = means + 3 * kGmmComponents;
    for (int k = 0; k < kGmmComponents; ++k) {
      Component& c = components_[k];
      c.weight = weights[k];
      if (c.weight <= 0) continue;
      c.mean = cv::Vec3d(means + 3 * k);
      cv::Matx33d cov(covs + 9 * k);
      c.norm = c.weight / std::sqrt(std::max(cv::determinant(cov), 1e-300));
      c.inverse = cov.inv();
    }
  }
  double density(const cv::Vec3b& colour) const {
    double sum = 0;
    cv::Vec3d x(colour[0], colour[1], colour[2]);
    for (const Component& c : components_) {
      if (c.weight <= 0) continue;
      cv::Vec3d d = x - c.mean;
      sum += c.norm * std::exp(-0.5 * d.dot(c.inverse * d));
    }
    return sum;
  }

 private:
  struct Component {
    double weight = 0, norm = 0;
    cv::Vec3d mean;
    cv::Matx33d inverse;
  };
  Component components_[kGmmComponents];
};

// The score: over the pixels GrabCut decided itself (those it started as "probably" one side),
// the mean posterior, under its final colour models, of the side each pixel ended on. Colours
// that the models separate cleanly give ~1; an object whose colours are also the background's
// gives ~0.5 or less (the smoothness term overruled the colours).
double colour_agreement(const cv::Mat& image, const cv::Mat& gc_mask, const cv::Mat& object, const cv::Mat& bgd_model,
                        const cv::Mat& fgd_model) {
  ColourModel bgd(bgd_model), fgd(fgd_model);
  double sum = 0;
  std::size_t count = 0;
  for (int y = 0; y < image.rows; ++y) {
    const cv::Vec3b* pixel = image.ptr<cv::Vec3b>(y);
    const std::uint8_t* label = gc_mask.ptr<std::uint8_t>(y);
    const std::uint8_t* out = object.ptr<std::uint8_t>(y);
    for (int x = 0; x < image.cols; ++x) {
      if (label[x] != cv::GC_PR_BGD && label[x] != cv::GC_PR_FGD) continue;
      double f = fgd.density(pixel[x]), b = bgd.density(pixel[x]);
      if (f + b <= 0) continue;  // far from every component of both: no evidence either way
      sum += (out[x] ? f : b) / (f + b);
      ++count;
    }
  }
  return count ? sum / double(count) : 1.0;  // nothing undecided: the prompt fixed every pixel
}

// Keeps the 8-connected foreground components holding a positive click; without clicks (a box
// alone) the largest. GrabCut leaves specks of object-coloured background, which no prompt asked for.
cv::Mat keep_prompted_components(const cv::Mat& foreground, const std::vector<cv::Point>& clicks) {
  cv::Mat labels, stats, centroids;
  int n = cv::connectedComponentsWithStats(foreground, labels, stats, centroids, 8, CV_32S);
  std::vector<bool> keep(n, false);
  if (clicks.empty()) {
    int best = 0;
    for (int i = 1; i < n; ++i)
      if (best == 0 || stats.at<int>(i, cv::CC_STAT_AREA) > stats.at<int>(best, cv::CC_STAT_AREA)) best = i;
    if (best) keep[best] = true;
  } else {
    for (const cv::Point& p : clicks) keep[labels.at<int>(p)] = true;
    keep[0] = false;  // a click that ended on background
  }
  cv::Mat out(foreground.size(), CV_8UC1);
  for (int y = 0; y < out.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    std::uint8_t* o = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < out.cols; ++x) o[x] = keep[l[x]] ? 255 : 0;
  }
  return out;
}

void validate_prompt(const SegmentPrompt& prompt, int width, int height) {
  if (!prompt.concepts.empty()) throw invalid("concept prompts are not supported (capabilities().concepts is empty)");
  if (!prompt.mask_input.empty()) throw invalid("mask_input is not supported: refine with more points instead");
  if (prompt.multimask) throw invalid("multimask is not supported: GrabCut gives one mask");
  if (prompt.points.empty() && !prompt.box) throw invalid("empty prompt: give a box or at least one point");
  for (std::size_t i = 0; i < prompt.points.size(); ++i) {
    const PointPrompt& p = prompt.points[i];
    std::string name = "point " + std::to_string(i);
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) throw invalid(name + " has a non-finite coordinate");
    if (p.x < 0 || p.y < 0 || p.x >= width || p.y >= height)
      throw invalid(name + " (" + std::to_string(p.x) + ", " + std::to_string(p.y) + ") lies outside the " +
                    std::to_string(width) + "x" + std::to_string(height) + " image");
  }
  bool positive = std::any_of(prompt.points.begin(), prompt.points.end(), [](const PointPrompt& p) { return p.positive; });
  if (prompt.box) {
    const BoxPrompt& b = *prompt.box;
    if (!std::isfinite(b.x0) || !std::isfinite(b.y0) || !std::isfinite(b.x1) || !std::isfinite(b.y1))
      throw invalid("box has a non-finite coordinate");
    if (!(b.x1 > b.x0 && b.y1 > b.y0)) throw invalid("box needs x1 > x0 and y1 > y0");
    if (b.x1 <= 0 || b.y1 <= 0 || b.x0 >= width || b.y0 >= height)
      throw invalid("box lies wholly outside the " + std::to_string(width) + "x" + std::to_string(height) + " image");
  } else if (!positive) {
    throw invalid("negative points alone say nothing about the object: add a positive point or a box");
  }
}

class GrabCutSegmenter final : public Segmenter {
 public:
  GrabCutSegmenter(int iterations, int max_side, double radius)
      : iterations_(iterations), max_side_(max_side), radius_(radius) {}

  std::string spec() const override {
    ModelSpec s{kModelId, {{"iterations", std::to_string(iterations_)}, {"max_side", std::to_string(max_side_)}}};
    if (radius_ > 0) s.params["radius"] = format_number(radius_);
    return s.str();
  }
  std::string model_id() const override { return kModelId; }
  SegmenterCapabilities capabilities() const override {
    SegmenterCapabilities c;
    c.points = c.boxes = true;
    return c;
  }

  Encoding encode(const ImageView& image, const RunControl* control) const override {
    check_run(control, "grabcut encode");
    if (image.empty() || image.channels != 3) throw invalid("image must be a non-empty RGB (3-channel) image");
    cv::Size size = working_size(image.width, image.height, max_side_);
    if (size.width < kMinSide || size.height < kMinSide)
      throw invalid("image " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                    " is too small for GrabCut: it needs at least " + std::to_string(kMinSide) + " pixels a side" +
                    " (after scaling the long side to max_side=" + std::to_string(max_side_) + ")");
    cv::Mat scaled;  // continuous, owned: the tensor copies it as it is
    if (size == cv::Size(image.width, image.height))
      as_mat(image).copyTo(scaled);
    else
      cv::resize(as_mat(image), scaled, size, 0, 0, cv::INTER_AREA);
    Encoding e;
    e.metadata.model_id = kModelId;
    e.metadata.model_checksum = kChecksum;
    e.metadata.preprocessing = preprocessing();
    e.metadata.dtype = dtype_name(DType::U8);
    e.metadata.image_sha256 = pixel_sha256(image);
    e.metadata.original_width = image.width;
    e.metadata.original_height = image.height;
    e.metadata.created_at = std::int64_t(std::time(nullptr));
    e.tensors[kTensor] = HostTensor::copy_of(DType::U8, {size.height, size.width, 3}, scaled.data);
    return e;
  }

  void check_encoding(const Encoding& e) const override {
    const EncodingMetadata& m = e.metadata;
    if (m.model_id != kModelId) throw invalid("encoding was made by model '" + m.model_id + "', not grabcut");
    if (m.model_checksum != kChecksum)
      throw invalid("encoding was made with " + m.model_checksum + ", this is " + kChecksum);
    if (m.preprocessing != preprocessing())
      throw invalid("encoding's preprocessing is '" + m.preprocessing + "', this segmenter's is '" + preprocessing() + "'");
    if (m.original_width <= 0 || m.original_height <= 0) throw invalid("encoding's original size is missing");
    auto it = e.tensors.find(kTensor);
    if (it == e.tensors.end()) throw invalid("encoding has no '" + std::string(kTensor) + "' tensor");
    cv::Size size = working_size(m.original_width, m.original_height, max_side_);
    Shape expected{size.height, size.width, 3};
    if (it->second.dtype() != DType::U8 || it->second.shape() != expected)
      throw invalid("encoding's image tensor is " + std::string(dtype_name(it->second.dtype())) + " " +
                    shape_text(it->second.shape()) + ", expected U8 " + shape_text(expected) + " for a " +
                    std::to_string(m.original_width) + "x" + std::to_string(m.original_height) + " image");
  }

  SegmentResult segment(const Encoding& encoding, const SegmentPrompt& prompt, const RunControl* control) const override {
    check_encoding(encoding);
    const int width = encoding.metadata.original_width, height = encoding.metadata.original_height;
    validate_prompt(prompt, width, height);
    check_run(control, "grabcut");
    Stopwatch watch;
    const HostTensor& tensor = encoding.tensor(kTensor);
    const int w = int(tensor.shape()[1]), h = int(tensor.shape()[0]);
    // GrabCut reads the image only; the tensor's buffer is shared and stays untouched.
    cv::Mat image(h, w, CV_8UC3, const_cast<std::uint8_t*>(tensor.data()));
    const double sx = double(w) / width, sy = double(h) / height;

    // The starting labels. A box: outside is background for sure, inside probably object.
    // Points alone: everything probably background, GrabCut grows the object from the clicks.
    cv::Mat gc(h, w, CV_8UC1, cv::Scalar(prompt.box ? cv::GC_BGD : cv::GC_PR_BGD));
    if (prompt.box) {
      const BoxPrompt& b = *prompt.box;
      cv::Rect r(cv::Point(int(std::floor(b.x0 * sx)), int(std::floor(b.y0 * sy))),
                 cv::Point(int(std::ceil(b.x1 * sx)), int(std::ceil(b.y1 * sy))));
      gc(r & cv::Rect(0, 0, w, h)).setTo(cv::GC_PR_FGD);
    }
    // Clicks are certain, drawn in the order given so a later click overrides an earlier one.
    double radius = radius_ > 0 ? radius_ : 0.01 * std::max(width, height);
    int r = std::max(1, int(std::lround(radius * std::min(sx, sy))));
    std::vector<cv::Point> clicks;
    for (const PointPrompt& p : prompt.points) {
      cv::Point at(std::min(w - 1, int(p.x * sx)), std::min(h - 1, int(p.y * sy)));
      cv::circle(gc, at, r, cv::Scalar(p.positive ? cv::GC_FGD : cv::GC_BGD), cv::FILLED);
      if (p.positive) clicks.push_back(at);
    }
    int object_seeds = 0, background_seeds = 0;
    for (int y = 0; y < h; ++y)
      for (const std::uint8_t* v = gc.ptr<std::uint8_t>(y); v != gc.ptr<std::uint8_t>(y) + w; ++v)
        ++((*v & 1) ? object_seeds : background_seeds);  // GC_FGD and GC_PR_FGD are the odd labels
    if (background_seeds < kGmmComponents)
      throw invalid("the prompt leaves no background to learn from (the box covers the whole image?): "
                    "shrink the box or add negative points");
    if (object_seeds < kGmmComponents)
      throw invalid("the prompt marks fewer than " + std::to_string(kGmmComponents) +
                    " object pixels at the working size: enlarge the box or the click radius");

    cv::Mat bgd_model, fgd_model;
    {
      SeededRng seeded(kSeed);
      // One iteration per call (the models carry over in bgd/fgd_model, so this equals one call
      // with all iterations) lets a caller cancel or watch progress between iterations.
      for (int i = 0; i < iterations_; ++i) {
        cv::grabCut(image, gc, cv::Rect(), bgd_model, fgd_model, 1, i == 0 ? cv::GC_INIT_WITH_MASK : cv::GC_EVAL);
        if (control) control->report("grabcut", double(i + 1) / iterations_);
      }
    }
    SegmentResult result;
    result.decode_ms = watch.lap();

    cv::Mat foreground = (gc & 1) * 255;
    cv::Mat object = keep_prompted_components(foreground, clicks);
    SegmentMask mask;
    // An empty result found no object: whatever the colours say, it answers nothing.
    mask.score = cv::countNonZero(object) ? colour_agreement(image, gc, object, bgd_model, fgd_model) : 0.0;
    mask.mask = Image(width, height, 1);
    cv::Mat full = as_mat(mask.mask);
    if (object.size() == full.size()) {
      object.copyTo(full);
    } else {
      // Bilinear on the 0/255 mask, then the midpoint: smoother edges than nearest neighbour.
      cv::Mat up;
      cv::resize(object, up, full.size(), 0, 0, cv::INTER_LINEAR);
      cv::threshold(up, full, 127, 255, cv::THRESH_BINARY);
    }
    mask.box = mask_bounds(mask.mask);
    result.masks.push_back(std::move(mask));
    result.postprocess_ms = watch.lap();
    return result;
  }

 private:
  std::string preprocessing() const { return "grabcut:max_side=" + std::to_string(max_side_); }
  static std::string format_number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
  }

  int iterations_;
  int max_side_;
  double radius_;  // click radius in original-image pixels; 0: 1% of the long side
};

}  // namespace

std::unique_ptr<Segmenter> make_grabcut_segmenter(const ModelSpec& spec) {
  SpecReader reader(spec);
  int iterations = reader.get_int("iterations", 5, 1, 100);
  int max_side = reader.get_int("max_side", 1024, kMinSide, 16384);
  double radius = reader.get_double("radius", 0, 0, 1000);
  reader.finish();
  return std::make_unique<GrabCutSegmenter>(iterations, max_side, radius);
}

}  // namespace inpaint::detail
