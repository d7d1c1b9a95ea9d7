// Mask clean-up (OpenCV path), feathering and compositing.
#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "core/cv_bridge.hpp"
#include "inpaint/error.hpp"
#include "inpaint/mask.hpp"
#include "mask/mask_ops.hpp"

namespace inpaint {

namespace detail {

void validate(const MaskCleanOptions& o) {
  auto check = [](int value, int lo, int hi, const char* name) {
    if (value < lo || value > hi)
      throw Error(ErrorCode::InvalidArgument, std::string("mask clean-up: ") + name + " must be " +
                                                  std::to_string(lo) + ".." + std::to_string(hi) +
                                                  ", got " + std::to_string(value));
  };
  check(o.threshold, 0, 254, "threshold");
  check(o.open_radius, 0, 256, "open_radius");
  check(o.close_radius, 0, 256, "close_radius");
  check(o.dilate_px, 0, 1024, "dilate_px");
  check(o.min_island_area, 0, INT32_MAX, "min_island_area");
  check(o.min_hole_area, 0, INT32_MAX, "min_hole_area");
}

cv::Mat ellipse_kernel(int radius) {
  return cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius + 1, 2 * radius + 1));
}

namespace {

// Sets target to value on every component of `components` (non-zero pixels, 4- or
// 8-connected) smaller than min_area; with keep_border, components touching the border stay.
void overwrite_small_components(const cv::Mat& components, cv::Mat& target, int min_area, int connectivity,
                                uchar value, bool keep_border) {
  cv::Mat labels, stats, centroids;
  int n = cv::connectedComponentsWithStats(components, labels, stats, centroids, connectivity, CV_32S);
  for (int i = 1; i < n; ++i) {
    const int* s = stats.ptr<int>(i);
    cv::Rect box(s[cv::CC_STAT_LEFT], s[cv::CC_STAT_TOP], s[cv::CC_STAT_WIDTH], s[cv::CC_STAT_HEIGHT]);
    bool on_border = box.x == 0 || box.y == 0 || box.br().x == components.cols || box.br().y == components.rows;
    if (s[cv::CC_STAT_AREA] >= min_area || (keep_border && on_border)) continue;
    // A small component has a small box: visit only that.
    for (int y = box.y; y < box.br().y; ++y) {
      const int* l = labels.ptr<int>(y);
      uchar* t = target.ptr<uchar>(y);
      for (int x = box.x; x < box.br().x; ++x)
        if (l[x] == i) t[x] = value;
    }
  }
}

}  // namespace

}  // namespace detail

MaskBox mask_bounds(const ImageView& mask, int threshold) {
  if (mask.empty() || mask.channels != 1)
    throw Error(ErrorCode::InvalidArgument, "mask must be a non-empty single-channel image");
  int x0 = mask.width, x1 = -1, y0 = -1, y1 = -1;
  for (int y = 0; y < mask.height; ++y) {
    const std::uint8_t* row = mask.row(y);
    // A branch-free maximum vectorises; most rows of a photo's mask hold no hole at all.
    std::uint8_t peak = 0;
    for (int x = 0; x < mask.width; ++x) peak = std::max(peak, row[x]);
    if (peak <= threshold) continue;
    int first = 0;
    while (row[first] <= threshold) ++first;
    int last = mask.width - 1;
    while (row[last] <= threshold) --last;
    if (y0 < 0) y0 = y;
    y1 = y;
    x0 = std::min(x0, first);
    x1 = std::max(x1, last);
  }
  if (y0 < 0) return {};
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

namespace detail {

cv::Mat MaskRegion::crop(const cv::Rect& other) const {
  cv::Mat out = cv::Mat::zeros(other.size(), CV_8UC1);
  cv::Rect overlap = rect & other;
  if (!overlap.empty()) mask(overlap - rect.tl()).copyTo(out(overlap - other.tl()));
  return out;
}

MaskRegion threshold_region(const ImageView& mask, int threshold) {
  MaskBox box = mask_bounds(mask, threshold);
  if (box.empty()) return {};
  MaskRegion region{cv::Rect(box.x, box.y, box.width, box.height), {}};
  cv::threshold(as_mat(mask)(region.rect), region.mask, threshold, 255, cv::THRESH_BINARY);
  return region;
}

MaskRegion clean_region(const ImageView& mask, const MaskCleanOptions& o, MaskBackend backend, const std::string& device) {
  validate(o);
  if (mask.empty() || mask.channels != 1)
    throw Error(ErrorCode::InvalidArgument, "clean_mask: mask must be a non-empty single-channel image, got " +
                                                std::to_string(mask.width) + "x" + std::to_string(mask.height) + "x" +
                                                std::to_string(mask.channels));
  MaskBox box = mask_bounds(mask, o.threshold);
  if (box.empty()) return {};
  // Opening and closing each erode and dilate once; dilation grows the hole; +2 keeps a ring of
  // background around the region so enclosed-hole detection sees the outside. Within this
  // margin the result equals whole-frame processing (tests/cpp/mask_test.cpp checks it).
  int reach = 2 * (o.open_radius + o.close_radius) + o.dilate_px + 2;
  MaskRegion region;
  region.rect = cv::Rect(box.x - reach, box.y - reach, box.width + 2 * reach, box.height + 2 * reach) &
                cv::Rect(0, 0, mask.width, mask.height);
  cv::Mat binary;
  cv::threshold(as_mat(mask)(region.rect), binary, o.threshold, 255, cv::THRESH_BINARY);
  if (backend == MaskBackend::Tensor) {
    region.mask = clean_binary_tensor(binary, o, device);
    return region;
  }
  if (o.open_radius > 0) cv::morphologyEx(binary, binary, cv::MORPH_OPEN, ellipse_kernel(o.open_radius));
  if (o.close_radius > 0) cv::morphologyEx(binary, binary, cv::MORPH_CLOSE, ellipse_kernel(o.close_radius));
  if (o.min_island_area > 1) overwrite_small_components(binary, binary, o.min_island_area, 8, 0, false);
  if (o.min_hole_area > 1) {
    cv::Mat background;
    cv::bitwise_not(binary, background);
    overwrite_small_components(background, binary, o.min_hole_area, 4, 255, true);
  }
  if (o.dilate_px > 0) cv::dilate(binary, binary, ellipse_kernel(o.dilate_px));
  region.mask = binary;
  return region;
}

std::vector<cv::Rect> region_boxes(const cv::Mat& hole, cv::Point offset, int margin, const cv::Size& frame) {
  cv::Mat labels, stats, centroids;
  int n = cv::connectedComponentsWithStats(hole, labels, stats, centroids, 8, CV_32S);
  std::vector<cv::Rect> boxes;
  for (int i = 1; i < n; ++i) {
    const int* s = stats.ptr<int>(i);
    boxes.push_back(cv::Rect(offset.x + s[cv::CC_STAT_LEFT] - margin, offset.y + s[cv::CC_STAT_TOP] - margin,
                             s[cv::CC_STAT_WIDTH] + 2 * margin, s[cv::CC_STAT_HEIGHT] + 2 * margin) &
                    cv::Rect(cv::Point(0, 0), frame));
  }
  for (bool merged = true; merged;) {
    merged = false;
    for (std::size_t i = 0; i < boxes.size() && !merged; ++i)
      for (std::size_t j = i + 1; j < boxes.size() && !merged; ++j)
        if ((boxes[i] & boxes[j]).area() > 0) {
          boxes[i] |= boxes[j];
          boxes.erase(boxes.begin() + std::ptrdiff_t(j));
          merged = true;
        }
  }
  return boxes;
}

cv::Rect nonzero_box(const cv::Mat& mask) {
  if (mask.type() != CV_8UC1) throw Error(ErrorCode::Internal, "nonzero_box: the mask must be CV_8UC1");
  if (mask.empty()) return {};
  MaskBox b = mask_bounds({mask.data, mask.cols, mask.rows, 1, mask.step[0]}, 0);
  return b.empty() ? cv::Rect() : cv::Rect(b.x, b.y, b.width, b.height);
}

MaskRegion tight(const MaskRegion& region) {
  if (region.empty()) return {};
  cv::Rect box = nonzero_box(region.mask);
  if (box.empty()) return {};
  return {box + region.rect.tl(), region.mask(box)};
}

MaskRegion feather_region(const MaskRegion& hole, int feather_px, const cv::Size& frame) {
  if (feather_px < 0 || feather_px > 1024)
    throw Error(ErrorCode::InvalidArgument, "feather must be 0..1024 px, got " + std::to_string(feather_px));
  if (hole.empty()) return {};
  if (feather_px == 0) return {hole.rect, hole.mask.clone()};
  int grow = feather_px + 1;
  MaskRegion out;
  out.rect = cv::Rect(hole.rect.x - grow, hole.rect.y - grow, hole.rect.width + 2 * grow, hole.rect.height + 2 * grow) &
             cv::Rect(cv::Point(0, 0), frame);
  cv::Mat src = hole.crop(out.rect);
  // sigma = feather/2 puts the tail of a (2*feather+1) kernel near zero; the max with the hole
  // keeps every hole pixel fully replaced. Zero borders: outside the image contributes nothing.
  cv::GaussianBlur(src, out.mask, cv::Size(2 * feather_px + 1, 2 * feather_px + 1), feather_px / 2.0, 0,
                   cv::BORDER_CONSTANT);
  cv::max(out.mask, src, out.mask);
  return out;
}

}  // namespace detail

namespace {
Image to_frame(const detail::MaskRegion& region, int width, int height) {
  Image out(width, height, 1);
  if (!region.empty()) region.mask.copyTo(detail::as_mat(out)(region.rect));
  return out;
}
}  // namespace

Image clean_mask(const ImageView& mask, const MaskCleanOptions& options, MaskBackend backend, const std::string& device) {
  return to_frame(detail::clean_region(mask, options, backend, device), mask.width, mask.height);
}

Image feather_mask(const ImageView& clean, int feather_px) {
  if (clean.empty() || clean.channels != 1) throw Error(ErrorCode::InvalidArgument, "feather_mask: mask must be one channel");
  auto region = detail::tight(detail::threshold_region(clean, 0));
  if (!region.empty()) region.mask = detail::as_mat(clean)(region.rect);  // keep the given values, not 255
  return to_frame(detail::feather_region(region, feather_px, {clean.width, clean.height}), clean.width, clean.height);
}

void composite(Image& base, const ImageView& fill, const ImageView& alpha, int x, int y) {
  if (base.channels() != 3 || fill.channels != 3 || alpha.channels != 1)
    throw Error(ErrorCode::InvalidArgument, "composite: base and fill must be RGB, alpha one channel");
  if (fill.width != alpha.width || fill.height != alpha.height || x < 0 || y < 0 ||
      x + fill.width > base.width() || y + fill.height > base.height())
    throw Error(ErrorCode::InvalidArgument, "composite: fill and alpha must match and lie inside the base image");
  for (int row = 0; row < fill.height; ++row) {
    std::uint8_t* out = base.data() + std::size_t(y + row) * base.stride() + std::size_t(x) * 3;
    const std::uint8_t* f = fill.row(row);
    const std::uint8_t* a = alpha.row(row);
    for (int col = 0; col < fill.width; ++col) {
      unsigned w = a[col];
      if (w == 0) continue;  // the original stays byte for byte
      for (int c = 0; c < 3; ++c) {
        unsigned o = out[3 * col + c], n = f[3 * col + c];
        out[3 * col + c] = std::uint8_t((o * (255 - w) + n * w + 127) / 255);
      }
    }
  }
}

}  // namespace inpaint
