#pragma once
// Views of library images as cv::Mat without copies. Internal only.
#include <opencv2/core.hpp>

#include "inpaint/image.hpp"

namespace inpaint::detail {

inline cv::Mat as_mat(const ImageView& v) {
  return cv::Mat(v.height, v.width, CV_8UC(v.channels), const_cast<std::uint8_t*>(v.data), v.row_bytes());
}
inline cv::Mat as_mat(Image& image) {
  return cv::Mat(image.height(), image.width(), CV_8UC(image.channels()), image.data(), image.stride());
}
inline Image image_from_mat(const cv::Mat& m) {
  cv::Mat packed = m;
  return Image::copy_of({packed.data, packed.cols, packed.rows, packed.channels(), packed.step[0]});
}

}  // namespace inpaint::detail
