#pragma once
// Test clips written at test time with libavformat/libavcodec (no video files in the tree):
// RGB frames encoded with a chosen encoder into a chosen container, at caller-given timestamps
// (for variable frame rates), optionally tagged with a rotation.
#include <cstdint>
#include <string>
#include <vector>

#include "inpaint/image.hpp"

namespace inpaint::test {

struct VideoWriteOptions {
  std::string encoder = "mpeg4";  // a libavcodec encoder: mpeg4, mjpeg, ffv1, libx264, ...
  std::string format;             // a muxer ("mp4", "matroska", "avi"); empty: from the file name
  int time_base_num = 1, time_base_den = 30;  // the unit of pts
  std::vector<std::int64_t> pts;  // per frame; empty: 0, 1, 2, ...
  std::int64_t frame_duration = 1;  // in the unit of pts, for packets the encoder gives none
  int gop = 10;                   // frames from one key frame to the next
  int max_b_frames = 0;
  bool closed_gop = true;         // false: B-frames before a key frame may refer to the group before
  int quality = 2;                // qscale (mpeg4, mjpeg) or crf (libx264): lower is better
  std::string pix_fmt;            // empty: the encoder's usual (yuv420p, yuvj420p for mjpeg, bgr0 for ffv1)
  bool bt709 = false;             // YUV written with the BT.709 matrix (and tagged so); else BT.601
  // A display matrix made by av_display_rotation_set(angle): players (FFmpeg's autorotate) turn
  // the stored frames clockwise by angle degrees. 0: none.
  double rotation = 0;
  bool faststart = false;         // mp4: the index (moov) before the frames
};

// Throws std::runtime_error when FFmpeg refuses. Zero frames writes a stream without packets.
void write_video(const std::string& path, const std::vector<Image>& frames, const VideoWriteOptions& options = {},
                 int width = 0, int height = 0);

// Whether this libavcodec has the encoder (libx264 is optional in FFmpeg builds).
bool have_encoder(const std::string& name);

}  // namespace inpaint::test
