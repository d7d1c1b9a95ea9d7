#pragma once
// Clicks and a box as SAM-family decoders take them, shared by the sam segmenter and the
// sam2video sessions. Defined in sam.cpp. Not a public header.
#include <optional>
#include <string>
#include <vector>

#include "inpaint/segment.hpp"

namespace inpaint::detail {

constexpr int kSamMaxPoints = 64;

// Error(InvalidArgument), prefixed with who ("sam: "), for more than kSamMaxPoints points, a
// point or box that is not finite, a point outside [0,width]x[0,height], a box with x1 < x0 or
// y1 < y0 or wholly outside. picture names the picture in messages ("image", "frame").
void check_sam_prompt(const std::vector<PointPrompt>& points, const std::optional<BoxPrompt>& box, int width,
                      int height, const char* picture, const std::string& who);

// point_coords / point_labels (flattened): the points scaled by (sx, sy) with labels 1/0, then the
// box's corners clipped to the picture (labels 2, 3), or without a box one padding point (0,0) -1.
void sam_point_inputs(const std::vector<PointPrompt>& points, const std::optional<BoxPrompt>& box, int width,
                      int height, double sx, double sy, std::vector<float>& coords, std::vector<float>& labels);

}  // namespace inpaint::detail
