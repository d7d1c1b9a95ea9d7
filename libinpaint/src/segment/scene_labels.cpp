// The scene labeller: which surface lies around an object, from concept masks, as the
// scene-labels JSON that the prompt builder reads.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "core/cv_bridge.hpp"
#include "inpaint/error.hpp"
#include "inpaint/segment.hpp"
#include "mask/mask_ops.hpp"

namespace inpaint {

namespace {

Error invalid(const std::string& message) { return Error(ErrorCode::InvalidArgument, "label_scene: " + message); }

// How a second surface reads after "with" in the detail phrase ("grass with fallen leaves").
std::string detail_phrase(const std::string& label) {
  static const std::map<std::string, std::string> phrases = {
      {"grass", "patches of grass"},   {"concrete", "patches of concrete"}, {"wood", "wooden boards"},
      {"sand", "patches of sand"},     {"gravel", "scattered gravel"},      {"leaves", "fallen leaves"},
      {"tile", "tiles"},               {"water", "puddles"},
  };
  auto it = phrases.find(label);
  return it == phrases.end() ? label : it->second;
}

// Position in surface_labels(); labels outside it come after, by name.
std::size_t surface_rank(const std::string& label) {
  const auto& known = surface_labels();
  return std::size_t(std::find(known.begin(), known.end(), label) - known.begin());
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

const std::vector<std::string>& surface_labels() {
  static const std::vector<std::string> labels = {"grass", "concrete", "wood", "sand", "gravel", "leaves", "tile", "water"};
  return labels;
}

SceneLabelling label_scene(const std::vector<SegmentMask>& concept_masks, const ImageView& object_mask,
                           const LabelOptions& options) {
  if (options.ring_width < 1) throw invalid("ring_width must be at least 1");
  if (!(options.detail_ratio > 0 && options.detail_ratio <= 1)) throw invalid("detail_ratio must be within (0, 1]");
  if (!(options.min_coverage >= 0 && options.min_coverage <= 1)) throw invalid("min_coverage must be within 0..1");
  if (object_mask.empty() || object_mask.channels != 1) throw invalid("object_mask must be a non-empty one-channel image");
  for (std::size_t i = 0; i < concept_masks.size(); ++i) {
    const SegmentMask& m = concept_masks[i];
    std::string name = "concept mask " + std::to_string(i);
    if (m.label.empty()) throw invalid(name + " has no label");
    if (m.mask.channels() != 1 || m.mask.width() != object_mask.width || m.mask.height() != object_mask.height)
      throw invalid(name + " ('" + m.label + "') must be one channel of the object mask's size " +
                    std::to_string(object_mask.width) + "x" + std::to_string(object_mask.height));
    if (!(m.score >= 0 && m.score <= 1)) throw invalid(name + " ('" + m.label + "') has a score outside 0..1");
  }
  MaskBox bounds = mask_bounds(object_mask);
  if (bounds.empty()) throw invalid("object_mask holds no object pixel (> 127)");

  SceneLabelling out;
  out.labels.labeled_at = utc_now();
  out.labels.confidence = 0.0;

  // Only the object's box grown by the ring can hold ring pixels: a small object in a large
  // photo costs what its surroundings cost.
  const cv::Rect frame(0, 0, object_mask.width, object_mask.height);
  cv::Rect roi = cv::Rect(bounds.x - options.ring_width, bounds.y - options.ring_width,
                          bounds.width + 2 * options.ring_width, bounds.height + 2 * options.ring_width) & frame;
  cv::Mat object = detail::as_mat(object_mask)(roi) > 127;
  cv::Mat ring;
  // Pixels beyond the border count as absent (OpenCV's default for dilation), so the ring is
  // clipped at the border rather than wrapped or mirrored.
  cv::dilate(object, ring, detail::ellipse_kernel(options.ring_width));
  ring &= ~object;
  const int ring_pixels = cv::countNonZero(ring);

  // Per label: each ring pixel counts the best score among that label's instances covering it.
  std::map<std::string, cv::Mat> best;
  for (const SegmentMask& m : concept_masks) {
    cv::Mat& b = best[m.label];
    if (b.empty()) b = cv::Mat::zeros(roi.size(), CV_32F);
    cv::Mat instance = cv::Mat::zeros(roi.size(), CV_32F);
    instance.setTo(m.score, detail::as_mat(m.mask.view())(roi) > 127);
    cv::max(b, instance, b);
  }
  for (const auto& [label, b] : best)
    out.coverage.push_back({label, ring_pixels ? cv::mean(b, ring)[0] : 0.0});
  std::sort(out.coverage.begin(), out.coverage.end(), [](const SurfaceCoverage& a, const SurfaceCoverage& b) {
    if (a.coverage != b.coverage) return a.coverage > b.coverage;
    std::size_t ra = surface_rank(a.label), rb = surface_rank(b.label);
    return ra != rb ? ra < rb : a.label < b.label;
  });

  if (out.coverage.empty()) return out;
  const SurfaceCoverage& first = out.coverage[0];
  // An empty ring (the object fills the image) or too little labelled ground: no surface.
  if (!(first.coverage > 0) || first.coverage < options.min_coverage) return out;
  double second = out.coverage.size() > 1 ? out.coverage[1].coverage : 0.0;
  double total = 0;
  for (const SurfaceCoverage& c : out.coverage) total += c.coverage;
  out.labels.surface = first.label;
  // The dominant surface's share of the ring; overlapping concept masks (shares summing past 1)
  // are normalised so that a doubly-claimed ring cannot make the pick look certain.
  out.labels.confidence = std::clamp(first.coverage / std::max(1.0, total), 0.0, 1.0);
  if (second > 0 && second >= options.detail_ratio * first.coverage)
    out.labels.detail = first.label + " with " + detail_phrase(out.coverage[1].label);
  return out;
}

std::string scene_labels_json(const SceneLabels& labels) {
  nlohmann::json j = {{"surface", labels.surface}, {"detail", labels.detail}, {"labeledAt", labels.labeled_at}};
  j["confidence"] = labels.confidence ? nlohmann::json(*labels.confidence) : nlohmann::json(nullptr);
  // Labels come from callers: bytes that are not UTF-8 are replaced rather than thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace inpaint
