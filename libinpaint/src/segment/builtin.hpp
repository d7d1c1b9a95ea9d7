#pragma once
// Factories of the built-in segmenters, called by create_segmenter().
#include <memory>

#include "inpaint/model.hpp"
#include "inpaint/segment.hpp"
#include "inpaint/video.hpp"

namespace inpaint::detail {
std::unique_ptr<Segmenter> make_grabcut_segmenter(const ModelSpec& spec);
// Loads the torch backend on first use and forwards to it (backends/loader.cpp).
std::unique_ptr<Segmenter> make_sam_segmenter(const ModelSpec& spec);
std::unique_ptr<VideoSegmenter> make_sam2video_segmenter(const ModelSpec& spec);  // likewise
}  // namespace inpaint::detail
