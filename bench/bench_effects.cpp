// Times the photo effects (OpenCV path) on a 12 MP photo with an elliptical soft alpha: each
// effect alone, all four in one call (and its shared part), against two anchors measured in the
// same process: cv::cvtColor(RGB2GRAY) + cv::GaussianBlur 5x5, and the PNG encode (level 1) of
// one 12 MP RGBA output (the service encodes four).
// Usage: bench_effects [IMAGE] [runs=5] [threads=2] [background=transparent]
//   IMAGE: a photo (bench/make_photo.py's photo12mp.jpg); one smaller than 4032x3024 is tiled with
//   alternating flips up to that size (photo-like entropy without cv2 in Python); "-" or none: a
//   synthetic 4032x3024 image.
// Prints one JSON object of medians (ms) after one warm-up run each.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "bench_util.hpp"
#include "inpaint/effects.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"

using namespace inpaint;

namespace {

Image synthetic_photo(int w, int h) {
  // Smooth gradients plus fine texture, so neither a flat image nor pure noise.
  Image img = Image::uninitialized(w, h, 3);
  std::uint32_t s = 12345;
  for (int y = 0; y < h; ++y) {
    std::uint8_t* p = img.data() + std::size_t(y) * img.stride();
    for (int x = 0; x < w; ++x, p += 3) {
      s = s * 1664525u + 1013904223u;
      int n = int(s >> 28) - 8;
      p[0] = std::uint8_t(std::clamp(int(128 + 100 * std::sin(x * 0.003) + n), 0, 255));
      p[1] = std::uint8_t(std::clamp(int(128 + 100 * std::cos(y * 0.004) + n), 0, 255));
      p[2] = std::uint8_t(std::clamp(int((x + y) * 255 / (w + h)) + n, 0, 255));
    }
  }
  return img;
}

// An ellipse filling most of the frame with an 8 px soft edge.
Image elliptical_alpha(int w, int h) {
  cv::Mat a(h, w, CV_8UC1, cv::Scalar(0));
  cv::ellipse(a, cv::Point(w / 2, h / 2), cv::Size(w * 3 / 8, h * 3 / 8), 0, 0, 360, cv::Scalar(255), -1);
  cv::GaussianBlur(a, a, cv::Size(17, 17), 4);
  return Image::copy_of({a.data, w, h, 1, a.step[0]});
}

// Tiles src over 4032x3024, flipping every other tile so that tiles meet without seams.
Image tile_to_12mp(const Image& src) {
  const int w = 4032, h = 3024;
  cv::Mat s(src.height(), src.width(), CV_8UC3, const_cast<std::uint8_t*>(src.data()));
  cv::Mat out(h, w, CV_8UC3);
  for (int ty = 0, y = 0; y < h; ++ty, y += s.rows)
    for (int tx = 0, x = 0; x < w; ++tx, x += s.cols) {
      cv::Mat t;
      int code = (tx % 2) + 2 * (ty % 2);  // 0 none, 1 horizontal, 2 vertical, 3 both
      if (code == 0) t = s;
      else cv::flip(s, t, code == 1 ? 1 : code == 2 ? 0 : -1);
      cv::Rect r(x, y, std::min(s.cols, w - x), std::min(s.rows, h - y));
      t(cv::Rect(0, 0, r.width, r.height)).copyTo(out(r));
    }
  return Image::copy_of({out.data, w, h, 3, out.step[0]});
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  std::string background = argc > 4 ? argv[4] : "transparent";
  try {
    Image rgb;
    std::string source = "synthetic";
    if (argc > 1 && std::string(argv[1]) != "-") {
      auto bytes = read_file(argv[1]);
      rgb = decode_image(bytes.data(), bytes.size()).rgb;
      source = argv[1];
      if (rgb.width() < 4032 || rgb.height() < 3024) {
        rgb = tile_to_12mp(rgb);
        source += " (tiled)";
      }
    } else {
      rgb = synthetic_photo(4032, 3024);
    }
    Image alpha = elliptical_alpha(rgb.width(), rgb.height());
    EffectsOptions options;
    options.threads = threads;
    options.params.set("background", background);

    std::printf("{\"image\": \"%s\", \"width\": %d, \"height\": %d, \"runs\": %d, \"threads\": %d, "
                "\"cv_threads\": %d, \"background\": \"%s\"",
                source.c_str(), rgb.width(), rgb.height(), runs, threads, cv::getNumThreads(), background.c_str());
    for (Effect e : {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither}) {
      double ms = bench::median_ms(runs, [&] { render_effects(rgb, alpha, {e}, options); });
      std::printf(", \"%s_ms\": %.1f", effect_name(e), ms);
    }
    options.params.set("dither_method", std::string("bayer"));
    std::printf(", \"dither_bayer_ms\": %.1f",
                bench::median_ms(runs, [&] { render_effects(rgb, alpha, {Effect::Dither}, options); }));
    options.params = {{"background", background}};
    const std::vector<Effect> all = {Effect::Color, Effect::BlackWhite, Effect::PopArt, Effect::Dither};
    std::vector<double> shared, total;
    EffectsResult last;
    for (int i = 0; i <= runs; ++i) {
      double start = bench::now_ms();
      last = render_effects(rgb, alpha, all, options);
      if (i) {
        total.push_back(bench::now_ms() - start);
        shared.push_back(last.shared_ms);
      }
    }
    std::printf(", \"all_four_ms\": %.1f, \"all_four_shared_ms\": %.1f", bench::median(total), bench::median(shared));

    cv::Mat m(rgb.height(), rgb.width(), CV_8UC3, rgb.data());
    double anchor = bench::median_ms(runs, [&] {
      cv::Mat g, b;
      cv::cvtColor(m, g, cv::COLOR_RGB2GRAY);
      cv::GaussianBlur(g, b, cv::Size(5, 5), 0);
    });
    std::printf(", \"anchor_gray_blur5_ms\": %.1f", anchor);
    const Image& out = last.images[1].image;  // bw
    Image out_rgb = Image::uninitialized(out.width(), out.height(), 3);
    Image out_alpha = Image::uninitialized(out.width(), out.height(), 1);
    if (out.channels() == 4) {
      for (std::size_t i = 0, n = std::size_t(out.width()) * out.height(); i < n; ++i) {
        std::memcpy(out_rgb.data() + i * 3, out.data() + i * 4, 3);
        out_alpha.data()[i] = out.data()[i * 4 + 3];
      }
    } else {
      out_rgb = out;
    }
    EncodeOptions png{ImageFormat::Png, 90, 1};
    std::size_t bytes = 0;
    double encode = bench::median_ms(runs, [&] {
      bytes = encode_image(out_rgb, png, out.channels() == 4 ? out_alpha.view() : ImageView{}).size();
    });
    std::printf(", \"png1_encode_one_output_ms\": %.1f, \"png1_bytes\": %zu", encode, bytes);
    double encode_photo = bench::median_ms(runs, [&] { bytes = encode_image(rgb, png, alpha).size(); });
    std::printf(", \"png1_encode_colour_rgba_ms\": %.1f, \"png1_colour_bytes\": %zu}\n", encode_photo, bytes);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_effects: %s\n", e.what());
    return 1;
  }
  return 0;
}
