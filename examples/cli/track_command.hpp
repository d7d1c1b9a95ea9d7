#pragma once
// `inpaint track`: video segmentation from the command line. Objects are prompted on some frames
// (--point, --box, --mask), their masks propagated through the clip and written one PNG per frame
// per object.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "inpaint/model.hpp"
#include "inpaint/video.hpp"

struct TrackArgs {
  std::string video, model, out_dir, store, direction = "forward";
  std::vector<std::string> points, boxes, masks;  // F:..., in the order given
  std::int64_t start = -1, max_frames = 0;
  std::int64_t max_pixels = inpaint::VideoLimits{}.max_pixels;
  double fps = 0, timeout = 0;
  bool json = false;
};

CLI::App* add_track_command(CLI::App& app, TrackArgs& args);

// Runs `inpaint track`; control (Ctrl-C, --timeout) stops the propagation between frames.
int run_track_command(const TrackArgs& args, inpaint::RunControl& control);
