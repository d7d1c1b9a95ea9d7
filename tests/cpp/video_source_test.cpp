// VideoSource: clips written at test time (video_writer), frame directories, and hostile inputs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "inpaint/video.hpp"
#include "test_util.hpp"
#include "video_writer.hpp"

namespace fs = std::filesystem;
using namespace inpaint;
using inpaint::test::code_of;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "inpaint-video-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path) / name).string(); }
};

constexpr int kW = 128, kH = 96;

// Frame i of a test clip: smooth gradients (lossy codecs keep them), a per-frame blue level and
// a bright square whose place moves, so every frame is told apart from its neighbours.
Image clip_frame(int i, int w = kW, int h = kH) {
  Image img(w, h, 3);
  const int x0 = (i * 7) % (w - 20), y0 = (i * 5) % (h - 20);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = img.data() + (std::size_t(y) * w + x) * 3;
      const bool square = x >= x0 && x < x0 + 20 && y >= y0 && y < y0 + 20;
      p[0] = square ? 240 : std::uint8_t(30 + x * 180 / (w - 1));
      p[1] = square ? 240 : std::uint8_t(40 + y * 160 / (h - 1));
      p[2] = square ? 240 : std::uint8_t(20 + (i * 23) % 200);
    }
  return img;
}

std::vector<Image> clip(int n, int w = kW, int h = kH) {
  std::vector<Image> frames;
  for (int i = 0; i < n; ++i) frames.push_back(clip_frame(i, w, h));
  return frames;
}

double mean_abs_diff(const ImageView& a, const ImageView& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.channels, b.channels);
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 1e9;
  double sum = 0;
  for (int y = 0; y < a.height; ++y) {
    const std::uint8_t* pa = a.row(y);
    const std::uint8_t* pb = b.row(y);
    for (std::size_t i = 0; i < std::size_t(a.width) * a.channels; ++i) sum += std::abs(int(pa[i]) - int(pb[i]));
  }
  return sum / (double(a.width) * a.height * a.channels);
}

bool same_pixels(const Image& a, const Image& b) {
  return a.width() == b.width() && a.height() == b.height() && a.channels() == b.channels() &&
         std::equal(a.data(), a.data() + a.size_bytes(), b.data());
}

// The index of the original frame closest to `decoded`.
int closest(const std::vector<Image>& originals, const Image& decoded) {
  int best = -1;
  double best_diff = 1e18;
  for (std::size_t i = 0; i < originals.size(); ++i) {
    const double d = mean_abs_diff(originals[i], decoded);
    if (d < best_diff) {
      best_diff = d;
      best = int(i);
    }
  }
  return best;
}

Image resized(const Image& img, int w, int h) {
  Image out(w, h, 3);
  const cv::Mat in(img.height(), img.width(), CV_8UC3, const_cast<std::uint8_t*>(img.data()), img.stride());
  cv::Mat o(h, w, CV_8UC3, out.data(), out.stride());
  cv::resize(in, o, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return out;
}

Image rotated(const Image& img, int code) {
  const cv::Mat in(img.height(), img.width(), CV_8UC3, const_cast<std::uint8_t*>(img.data()), img.stride());
  cv::Mat r;
  cv::rotate(in, r, code);
  Image out(r.cols, r.rows, 3);
  cv::Mat o(r.rows, r.cols, CV_8UC3, out.data(), out.stride());
  r.copyTo(o);
  return out;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void truncate_half(const std::string& path) {
  const auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
}

std::uint64_t frame_bytes(int w = kW, int h = kH) { return std::uint64_t(w) * h * 3; }

}  // namespace

// ---- what open reports

TEST(VideoSource, Mp4CountSizeFpsTimestamps) {
  TempDir dir;
  const std::string path = dir.file("clip.mp4");
  test::write_video(path, clip(25));
  auto src = VideoSource::open(path);
  const VideoInfo& info = src->info();
  EXPECT_EQ(info.path, path);
  EXPECT_NE(info.format.find("mp4"), std::string::npos) << info.format;
  EXPECT_EQ(info.codec, "mpeg4");
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  EXPECT_EQ(info.frame_count, 25);
  EXPECT_NEAR(info.fps, 30.0, 1e-6);
  EXPECT_FALSE(info.variable_frame_rate);
  ASSERT_EQ(info.timestamps_ms.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_NEAR(info.timestamps_ms[i], i * 1000.0 / 30, 1e-6);
  EXPECT_EQ(info.content_id.size(), 64u);
  EXPECT_EQ(src->frames_decoded(), 0u) << "open must not decode";
}

TEST(VideoSource, Mp4WithBFramesKeepsPresentationOrder) {
  TempDir dir;
  const std::string path = dir.file("b.mp4");
  const auto frames = clip(30);
  test::VideoWriteOptions o;
  o.max_b_frames = 2;
  test::write_video(path, frames, o);
  auto src = VideoSource::open(path);
  EXPECT_EQ(src->info().frame_count, 30);
  EXPECT_NEAR(src->info().fps, 30.0, 1e-6);
  EXPECT_FALSE(src->info().variable_frame_rate);
  for (int i = 0; i < 30; ++i) EXPECT_NEAR(src->info().timestamps_ms[i], i * 1000.0 / 30, 1e-6);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(closest(frames, *src->frame(i)), i) << "frame " << i;
}

TEST(VideoSource, MkvMillisecondTimeBaseIsNotVariable) {
  TempDir dir;
  const std::string path = dir.file("clip.mkv");
  test::write_video(path, clip(20));  // matroska keeps milliseconds: 0, 33, 67, 100, ...
  auto src = VideoSource::open(path);
  const VideoInfo& info = src->info();
  EXPECT_EQ(info.format, "matroska,webm");
  EXPECT_EQ(info.frame_count, 20);
  EXPECT_FALSE(info.variable_frame_rate);
  EXPECT_NEAR(info.fps, 30.0, 0.1);
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(info.timestamps_ms[i], i * 1000.0 / 30, 1.0);
}

TEST(VideoSource, LosslessFramesAreExact) {
  TempDir dir;
  const std::string path = dir.file("lossless.mkv");
  const auto frames = clip(12);
  test::VideoWriteOptions o;
  o.encoder = "ffv1";  // bgr0: RGB in, RGB out
  test::write_video(path, frames, o);
  auto src = VideoSource::open(path);
  EXPECT_EQ(src->info().codec, "ffv1");
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(same_pixels(*src->frame(i), frames[i])) << "frame " << i;
}

TEST(VideoSource, LossyFramesAreClose) {
  TempDir dir;
  const auto frames = clip(12);
  struct Case {
    std::string name, encoder, pix_fmt;
    bool bt709;
  };
  std::vector<Case> cases = {{"a.mp4", "mpeg4", "", false},
                             {"b.mp4", "mpeg4", "", true},
                             {"c.avi", "mjpeg", "", false},      // full range (yuvj420p)
                             {"d.mkv", "ffv1", "yuv444p", true}};  // YUV without loss: only the matrix
  if (test::have_encoder("libx264")) cases.push_back({"e.mp4", "libx264", "", true});
  for (const Case& c : cases) {
    const std::string path = dir.file(c.name);
    test::VideoWriteOptions o;
    o.encoder = c.encoder;
    o.pix_fmt = c.pix_fmt;
    o.bt709 = c.bt709;
    test::write_video(path, frames, o);
    auto src = VideoSource::open(path);
    ASSERT_EQ(src->info().frame_count, 12) << c.name;
    for (int i = 0; i < 12; ++i) {
      const double d = mean_abs_diff(*src->frame(i), frames[i]);
      EXPECT_LT(d, c.encoder == "ffv1" ? 1.5 : 4.0) << c.name << " frame " << i;
    }
  }
}

TEST(VideoSource, ScaledFrames) {
  TempDir dir;
  const std::string path = dir.file("clip.mkv");
  const auto frames = clip(6);
  test::VideoWriteOptions o;
  o.encoder = "ffv1";
  test::write_video(path, frames, o);
  auto src = VideoSource::open(path);
  auto small = src->frame(3, 64, 48);
  ASSERT_EQ(small->width(), 64);
  ASSERT_EQ(small->height(), 48);
  ASSERT_EQ(small->channels(), 3);
  EXPECT_LT(mean_abs_diff(*small, resized(frames[3], 64, 48)), 2.0);
  auto large = src->frame(3, 200, 150);
  EXPECT_EQ(large->width(), 200);
  EXPECT_EQ(large->height(), 150);
  // The native size asked for by its numbers is the same cached frame as 0 x 0.
  auto native = src->frame(3);
  EXPECT_EQ(src->frame(3, kW, kH).get(), native.get());
  EXPECT_EQ(code_of([&] { src->frame(3, 64, 0); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { src->frame(3, 0, 48); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { src->frame(3, -1, 48); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { src->frame(3, 16385, 48); }), ErrorCode::InvalidArgument);
}

// ---- access patterns

TEST(VideoSource, ForwardBackwardAndRandomAccessAgree) {
  TempDir dir;
  const std::string path = dir.file("b.mp4");
  test::VideoWriteOptions o;
  o.max_b_frames = 2;
  o.closed_gop = false;  // B-frames before a key frame refer to the group before it
  o.gop = 8;
  test::write_video(path, clip(30), o);
  VideoSourceOptions none;
  none.cache_bytes = 0;  // every call decodes
  auto forward = VideoSource::open(path, none);
  std::vector<std::shared_ptr<const Image>> reference;
  for (int i = 0; i < 30; ++i) reference.push_back(forward->frame(i));
  auto backward = VideoSource::open(path, none);
  for (int i = 29; i >= 0; --i) EXPECT_TRUE(same_pixels(*backward->frame(i), *reference[i])) << "frame " << i;
  auto random = VideoSource::open(path, none);
  for (int i : {17, 3, 29, 0, 8, 7, 9, 22, 15, 16, 1}) EXPECT_TRUE(same_pixels(*random->frame(i), *reference[i])) << i;
}

TEST(VideoSource, SequentialForwardDecodesEachFrameOnce) {
  TempDir dir;
  const std::string path = dir.file("b.mp4");
  test::VideoWriteOptions o;
  o.max_b_frames = 2;
  o.gop = 8;
  test::write_video(path, clip(30), o);
  VideoSourceOptions none;
  none.cache_bytes = 0;
  auto src = VideoSource::open(path, none);
  for (int i = 0; i < 30; ++i) src->frame(i);
  EXPECT_EQ(src->frames_decoded(), 30u);
  // A frame ahead in the same group is reached by decoding on, not by a new seek.
  auto jump = VideoSource::open(path, none);
  jump->frame(0);
  jump->frame(5);
  EXPECT_EQ(jump->frames_decoded(), 6u);
}

TEST(VideoSource, BackwardWalkDecodesEachGroupOnceWhenTheCacheHoldsIt) {
  TempDir dir;
  const std::string path = dir.file("clip.mp4");
  test::VideoWriteOptions o;
  o.gop = 10;
  o.max_b_frames = 2;
  test::write_video(path, clip(40), o);
  VideoSourceOptions fits;
  fits.cache_bytes = frame_bytes() * 11;  // a group of 10 and one more
  auto src = VideoSource::open(path, fits);
  for (int i = 39; i >= 0; --i) src->frame(i);
  EXPECT_EQ(src->frames_decoded(), 40u);
  EXPECT_LE(src->cached_bytes(), src->cache_capacity());

  VideoSourceOptions tiny;
  tiny.cache_bytes = frame_bytes() * 2;
  auto small = VideoSource::open(path, tiny);
  for (int i = 39; i >= 0; --i) small->frame(i);
  EXPECT_GT(small->frames_decoded(), 100u) << "with no room for a group, each step decodes its group again";
}

TEST(VideoSource, CacheStaysWithinCapacity) {
  TempDir dir;
  const std::string path = dir.file("clip.mkv");
  test::write_video(path, clip(30));
  VideoSourceOptions options;
  options.cache_bytes = frame_bytes() * 5 + 17;
  auto src = VideoSource::open(path, options);
  EXPECT_EQ(src->cache_capacity(), options.cache_bytes);
  for (int i : {0, 29, 3, 14, 15, 16, 2, 28, 27, 26, 1, 0}) {
    src->frame(i);
    src->frame(i, 32, 24);
    EXPECT_LE(src->cached_bytes(), src->cache_capacity());
  }
  EXPECT_GT(src->cached_bytes(), 0u);
  src->set_cache_capacity(frame_bytes() * 2);
  EXPECT_LE(src->cached_bytes(), frame_bytes() * 2);
  src->set_cache_capacity(0);
  EXPECT_EQ(src->cached_bytes(), 0u);
  src->frame(4);
  EXPECT_EQ(src->cached_bytes(), 0u);
  src->set_cache_capacity(frame_bytes() * 4);
  auto a = src->frame(10);
  EXPECT_EQ(src->frame(10).get(), a.get()) << "a cached frame comes back as it is";
}

TEST(VideoSource, TwoThreadsReadCorrectFrames) {
  TempDir dir;
  const std::string path = dir.file("b.mp4");
  test::VideoWriteOptions o;
  o.max_b_frames = 2;
  o.gop = 6;
  test::write_video(path, clip(36), o);
  std::vector<std::shared_ptr<const Image>> reference;
  {
    auto ref = VideoSource::open(path);
    for (int i = 0; i < 36; ++i) reference.push_back(ref->frame(i));
  }
  VideoSourceOptions options;
  options.cache_bytes = frame_bytes() * 4;
  auto src = VideoSource::open(path, options);
  std::atomic<int> wrong{0};
  auto reader = [&](bool backward) {
    for (int round = 0; round < 3; ++round)
      for (int k = 0; k < 36; ++k) {
        const int i = backward ? 35 - k : (k * 7) % 36;
        if (!same_pixels(*src->frame(i), *reference[i])) ++wrong;
        if (round == 1 && !same_pixels(*src->frame(i, 64, 48), *src->frame(i, 64, 48))) ++wrong;
      }
  };
  std::thread a(reader, false), b(reader, true);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(VideoSource, CancelledControlStopsDecoding) {
  TempDir dir;
  const std::string path = dir.file("clip.mp4");
  test::write_video(path, clip(10));
  auto src = VideoSource::open(path);
  RunControl control;
  control.cancel();
  EXPECT_EQ(code_of([&] { src->frame(5, 0, 0, &control); }), ErrorCode::Cancelled);
  EXPECT_NE(src->frame(5), nullptr) << "usable after a cancelled call";
}

// ---- identity

TEST(VideoSource, ContentIdStableAndContentSensitive) {
  TempDir dir;
  test::write_video(dir.file("a.mp4"), clip(10));
  test::write_video(dir.file("b.mp4"), clip(10));
  auto other = clip(10);
  other[7] = clip_frame(2);
  test::write_video(dir.file("c.mp4"), other);
  const std::string a = VideoSource::open(dir.file("a.mp4"))->info().content_id;
  EXPECT_EQ(VideoSource::open(dir.file("a.mp4"))->info().content_id, a);
  EXPECT_EQ(VideoSource::open(dir.file("b.mp4"))->info().content_id, a) << "same frames, same encoder";
  EXPECT_NE(VideoSource::open(dir.file("c.mp4"))->info().content_id, a);
}

// ---- frame rates

TEST(VideoSource, VariableFrameRate) {
  TempDir dir;
  const std::string path = dir.file("vfr.mkv");
  test::VideoWriteOptions o;
  o.time_base_den = 1000;
  o.frame_duration = 33;
  o.pts = {0, 33, 67, 100, 200, 233, 267, 400, 433, 467};
  const auto frames = clip(10);
  test::write_video(path, frames, o);
  auto src = VideoSource::open(path);
  EXPECT_TRUE(src->info().variable_frame_rate);
  EXPECT_EQ(src->info().frame_count, 10);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(src->info().timestamps_ms[i], double(o.pts[i]), 1e-6);
  EXPECT_NEAR(src->info().fps, 10 / 0.500, 0.2);  // the last frame lasts the median 33 ms
  EXPECT_EQ(closest(frames, *src->frame(7)), 7);
  VideoSourceOptions strict;
  strict.limits.allow_variable_frame_rate = false;
  std::string message;
  EXPECT_EQ(code_of([&] { VideoSource::open(path, strict); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("variable frame rate"), std::string::npos) << message;
  // A constant rate passes the strict limit.
  test::write_video(dir.file("cfr.mkv"), clip(10));
  EXPECT_FALSE(VideoSource::open(dir.file("cfr.mkv"), strict)->info().variable_frame_rate);
}

TEST(VideoSource, SingleFrameUsesTheStreamRate) {
  TempDir dir;
  test::VideoWriteOptions o;
  o.time_base_den = 25;
  test::write_video(dir.file("one.mp4"), clip(1), o);
  auto src = VideoSource::open(dir.file("one.mp4"));
  EXPECT_EQ(src->info().frame_count, 1);
  EXPECT_NEAR(src->info().fps, 25.0, 0.5);
  EXPECT_EQ(src->info().timestamps_ms, std::vector<double>{0.0});
}

// ---- rotation

TEST(VideoSource, DisplayMatrixTurnsFramesUpright) {
  TempDir dir;
  const auto frames = clip(4);
  struct Case {
    double angle;  // av_display_rotation_set's
    int cv_code;   // what a player does to the stored frame
  };
  // A phone's portrait clip: stored sideways with av_display_rotation_get = -90 (ffprobe's
  // "rotation of -90"), that is av_display_rotation_set(90), shown turned clockwise.
  for (const Case& c : {Case{90, cv::ROTATE_90_CLOCKWISE}, Case{-90, cv::ROTATE_90_COUNTERCLOCKWISE},
                        Case{180, cv::ROTATE_180}}) {
    const std::string path = dir.file("rot" + std::to_string(int(c.angle)) + ".mov");
    test::VideoWriteOptions o;
    o.encoder = "ffv1";  // matroska keeps no display matrix; QuickTime does
    o.rotation = c.angle;
    test::write_video(path, frames, o);
    auto src = VideoSource::open(path);
    const Image expected = rotated(frames[2], c.cv_code);
    EXPECT_EQ(src->info().width, expected.width()) << c.angle;
    EXPECT_EQ(src->info().height, expected.height()) << c.angle;
    EXPECT_TRUE(same_pixels(*src->frame(2), expected)) << c.angle;
    auto scaled = src->frame(2, expected.width() / 2, expected.height() / 2);
    EXPECT_LT(mean_abs_diff(*scaled, resized(expected, expected.width() / 2, expected.height() / 2)), 2.0);
  }
}

// ---- limits

TEST(VideoSource, OverMaxPixelsRefusedBeforeDecoding) {
  TempDir dir;
  test::write_video(dir.file("clip.mp4"), clip(5));
  VideoSourceOptions options;
  options.limits.max_pixels = kW * kH - 1;
  std::string message;
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("clip.mp4"), options); }, &message), ErrorCode::TooLarge);
  EXPECT_NE(message.find("max_pixels"), std::string::npos) << message;
  options.limits.max_pixels = kW * kH;
  EXPECT_EQ(VideoSource::open(dir.file("clip.mp4"), options)->info().frame_count, 5);
}

TEST(VideoSource, OverMaxFramesRefused) {
  TempDir dir;
  test::write_video(dir.file("clip.mkv"), clip(30));
  VideoSourceOptions options;
  options.limits.max_frames = 10;
  std::string message;
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("clip.mkv"), options); }, &message), ErrorCode::TooLarge);
  EXPECT_NE(message.find("max_frames"), std::string::npos) << message;
  options.limits.max_frames = 30;
  EXPECT_EQ(VideoSource::open(dir.file("clip.mkv"), options)->info().frame_count, 30);
}

TEST(VideoSource, BadOptionsAndIndices) {
  TempDir dir;
  test::write_video(dir.file("clip.mp4"), clip(5));
  const std::string path = dir.file("clip.mp4");
  auto bad = [&](auto change) {
    VideoSourceOptions o;
    change(o);
    return code_of([&] { VideoSource::open(path, o); });
  };
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.fps = -1; }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.fps = std::nan(""); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.fps = INFINITY; }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.decode_threads = -1; }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.decode_threads = 65; }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.limits.max_pixels = 0; }), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad([](VideoSourceOptions& o) { o.limits.max_frames = 0; }), ErrorCode::InvalidArgument);
  VideoSourceOptions threads;
  threads.decode_threads = 3;
  auto src = VideoSource::open(path, threads);
  EXPECT_EQ(code_of([&] { src->frame(5); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { src->frame(-1); }), ErrorCode::InvalidArgument);
  EXPECT_NE(src->frame(4), nullptr);
}

// ---- hostile and broken files

TEST(VideoSource, NotVideos) {
  TempDir dir;
  std::string message;
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("missing.mp4")); }), ErrorCode::Io);
  ASSERT_EQ(mkfifo(dir.file("fifo.mp4").c_str(), 0600), 0);
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("fifo.mp4")); }), ErrorCode::Io);

  write_text(dir.file("text.mp4"), "this is not a video, just some text that happens to be named .mp4\n");
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("text.mp4")); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("text.mp4"), std::string::npos) << message;

  write_text(dir.file("empty.mp4"), "");
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("empty.mp4")); }), ErrorCode::Decode);

  EncodeOptions png;
  png.format = ImageFormat::Png;
  write_bytes(dir.file("image.mp4"), encode_image(clip_frame(0), png));
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("image.mp4")); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("not a video"), std::string::npos) << message;

  // A file whose name reads as an FFmpeg protocol is still only a file.
  write_text(dir.file("concat:x"), "not a video");
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("concat:x")); }), ErrorCode::Decode);
}

TEST(VideoSource, TruncatedFiles) {
  TempDir dir;
  const auto frames = clip(30);
  // The index (moov) at the end: cut in half, there is none.
  test::write_video(dir.file("end.mp4"), frames);
  truncate_half(dir.file("end.mp4"));
  std::string message;
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("end.mp4")); }, &message), ErrorCode::Decode) << message;

  // The index first: it promises frames the file no longer holds.
  test::VideoWriteOptions fast;
  fast.faststart = true;
  test::write_video(dir.file("fast.mp4"), frames, fast);
  truncate_half(dir.file("fast.mp4"));
  EXPECT_EQ(code_of([&] { VideoSource::open(dir.file("fast.mp4")); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;

  // Matroska has no such index: what is left opens, or fails at open or at frame() with Decode.
  test::write_video(dir.file("cut.mkv"), frames);
  truncate_half(dir.file("cut.mkv"));
  std::shared_ptr<VideoSource> src;
  const ErrorCode at_open = code_of([&] { src = VideoSource::open(dir.file("cut.mkv")); });
  if (at_open == ErrorCode{0}) {
    EXPECT_LT(src->info().frame_count, 30);
    for (std::int64_t i = 0; i < src->info().frame_count; ++i) {
      const ErrorCode c = code_of([&] { src->frame(i); });
      EXPECT_TRUE(c == ErrorCode{0} || c == ErrorCode::Decode) << int(c);
    }
  } else {
    EXPECT_EQ(at_open, ErrorCode::Decode);
  }
}

TEST(VideoSource, CorruptedPacketFailsThatFrameWithDecode) {
  TempDir dir;
  const std::string path = dir.file("clip.avi");
  test::VideoWriteOptions o;
  o.encoder = "mjpeg";
  test::write_video(path, clip(10), o);
  // Garbage over the middle of the file: whatever frames it hits fail with Decode, never crash.
  std::vector<std::uint8_t> bytes = read_file(path);
  for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + bytes.size() / 6; ++i) bytes[i] = std::uint8_t(i * 31);
  write_bytes(path, bytes);
  std::shared_ptr<VideoSource> src;
  const ErrorCode at_open = code_of([&] { src = VideoSource::open(path); });
  ASSERT_TRUE(at_open == ErrorCode{0} || at_open == ErrorCode::Decode) << int(at_open);
  if (!src) return;
  for (std::int64_t i = 0; i < src->info().frame_count; ++i) {
    std::string message;
    const ErrorCode c = code_of([&] { src->frame(i); }, &message);
    EXPECT_TRUE(c == ErrorCode{0} || c == ErrorCode::Decode) << int(c) << " " << message;
  }
}

TEST(VideoSource, ZeroFrames) {
  TempDir dir;
  for (const char* name : {"none.mkv", "none.mp4"}) {
    test::write_video(dir.file(name), {}, {}, kW, kH);
    std::string message;
    EXPECT_EQ(code_of([&] { VideoSource::open(dir.file(name)); }, &message), ErrorCode::Decode) << name;
  }
}

// ---- frame directories

namespace {
void write_png(const std::string& path, const Image& img) {
  EncodeOptions png;
  png.format = ImageFormat::Png;
  write_bytes(path, encode_image(img, png));
}
}  // namespace

TEST(VideoSourceDirectory, NaturalOrderAndOtherFilesIgnored) {
  TempDir dir;
  const auto frames = clip(12);
  // Written out of order, with names that sort wrongly as plain text.
  for (int i : {10, 2, 0, 11, 1, 9, 3, 4, 5, 6, 7, 8})
    write_png(dir.file("f" + std::to_string(i) + ".png"), frames[std::size_t(i)]);
  write_text(dir.file("notes.txt"), "ignored");
  write_png(dir.file(".hidden.png"), clip_frame(20));
  fs::create_directory(dir.file("sub.png"));
  VideoSourceOptions options;
  options.fps = 24;
  auto src = VideoSource::open(dir.path, options);
  const VideoInfo& info = src->info();
  EXPECT_EQ(info.format, "directory");
  EXPECT_EQ(info.codec, "png");
  EXPECT_EQ(info.frame_count, 12);
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  EXPECT_EQ(info.fps, 24);
  EXPECT_FALSE(info.variable_frame_rate);
  for (int i = 0; i < 12; ++i) {
    EXPECT_NEAR(info.timestamps_ms[i], i * 1000.0 / 24, 1e-9);
    EXPECT_TRUE(same_pixels(*src->frame(i), frames[std::size_t(i)])) << "frame " << i;
  }
  EXPECT_LT(mean_abs_diff(*src->frame(5, 64, 48), resized(frames[5], 64, 48)), 1.0);
  EXPECT_EQ(src->frame(5, 256, 192)->width(), 256);
  EXPECT_EQ(code_of([&] { src->frame(12); }), ErrorCode::InvalidArgument);
  // fps 0: unknown, timestamps all 0.
  auto unknown = VideoSource::open(dir.path);
  EXPECT_EQ(unknown->info().fps, 0);
  EXPECT_EQ(unknown->info().timestamps_ms, std::vector<double>(12, 0.0));
  // content id: stable, and it changes with a frame.
  EXPECT_EQ(unknown->info().content_id, info.content_id);
  write_png(dir.file("f5.png"), clip_frame(30));
  EXPECT_NE(VideoSource::open(dir.path)->info().content_id, info.content_id);
}

TEST(VideoSourceDirectory, NaturalOrderDetails) {
  TempDir dir;
  const std::vector<std::string> expected = {"a1.jpg", "a2.png", "a02.JPEG", "a10.png", "b.png", "b1.png"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EncodeOptions e;
    e.format = expected[i].find(".png") != std::string::npos ? ImageFormat::Png : ImageFormat::Jpeg;
    e.quality = 95;
    write_bytes(dir.file(expected[i]), encode_image(clip_frame(int(i) * 3), e));
  }
  auto src = VideoSource::open(dir.path);
  EXPECT_EQ(src->info().codec, "jpeg");  // the first frame's
  std::vector<Image> originals;
  for (std::size_t i = 0; i < expected.size(); ++i) originals.push_back(clip_frame(int(i) * 3));
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(closest(originals, *src->frame(std::int64_t(i))), int(i));
}

TEST(VideoSourceDirectory, BadDirectories) {
  TempDir empty;
  write_text(empty.file("readme.txt"), "no frames here");
  std::string message;
  EXPECT_EQ(code_of([&] { VideoSource::open(empty.path); }, &message), ErrorCode::Decode);

  TempDir mixed;
  write_png(mixed.file("f1.png"), clip_frame(0));
  write_png(mixed.file("f2.png"), clip_frame(1, 64, 48));
  EXPECT_EQ(code_of([&] { VideoSource::open(mixed.path); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("f2.png"), std::string::npos) << message;

  TempDir broken;
  write_png(broken.file("f1.png"), clip_frame(0));
  write_text(broken.file("f2.png"), "not a png");
  EXPECT_EQ(code_of([&] { VideoSource::open(broken.path); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("f2.png"), std::string::npos) << message;

  TempDir many;
  for (int i = 0; i < 4; ++i) write_png(many.file("f" + std::to_string(i) + ".png"), clip_frame(i));
  VideoSourceOptions options;
  options.limits.max_frames = 3;
  EXPECT_EQ(code_of([&] { VideoSource::open(many.path, options); }, &message), ErrorCode::TooLarge);
  EXPECT_NE(message.find("max_frames"), std::string::npos) << message;
  options.limits.max_frames = 4;
  options.limits.max_pixels = kW * kH - 1;
  EXPECT_EQ(code_of([&] { VideoSource::open(many.path, options); }, &message), ErrorCode::TooLarge);
  EXPECT_NE(message.find("max_pixels"), std::string::npos) << message;
}

TEST(VideoSourceDirectory, CacheAndDecodeCount) {
  TempDir dir;
  for (int i = 0; i < 6; ++i) write_png(dir.file("f" + std::to_string(i) + ".png"), clip_frame(i));
  VideoSourceOptions options;
  options.cache_bytes = frame_bytes() * 3;
  auto src = VideoSource::open(dir.path, options);
  for (int i = 5; i >= 0; --i) src->frame(i);
  EXPECT_EQ(src->frames_decoded(), 6u);
  src->frame(0);
  src->frame(1);
  EXPECT_EQ(src->frames_decoded(), 6u);
  EXPECT_LE(src->cached_bytes(), src->cache_capacity());
  src->frame(5);
  EXPECT_EQ(src->frames_decoded(), 7u);
}
