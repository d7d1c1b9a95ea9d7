// stb_image / stb_image_write against libjpeg-turbo (through the library) on the same photo,
// and the library's PNG encoder (libpng used directly) against OpenCV's cv::imencode at the
// same zlib level; medians of N runs: the measurements behind the codec choices in
// libinpaint/src/image/codec.cpp. Prints one JSON line.
// Usage: bench_codecs PHOTO.jpg [runs=7]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

namespace {

using bench::median_ms;

void append(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PHOTO.jpg [runs]\n", argv[0]);
    return 2;
  }
  int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  auto bytes = inpaint::read_file(argv[1]);
  inpaint::DecodedImage decoded = inpaint::decode_image(bytes.data(), bytes.size());
  const auto& rgb = decoded.rgb;

  double turbo_decode = median_ms(runs, [&] { inpaint::decode_image(bytes.data(), bytes.size()); });
  double stb_decode = median_ms(runs, [&] {
    int w, h, c;
    stbi_image_free(stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c, 3));
  });
  double turbo_encode = median_ms(runs, [&] { inpaint::encode_image(rgb, {inpaint::ImageFormat::Jpeg, 90}); });
  double stb_encode = median_ms(runs, [&] {
    std::vector<unsigned char> out;
    stbi_write_jpg_to_func(append, &out, rgb.width(), rgb.height(), 3, rgb.data(), 90);
  });
  std::printf("{\"width\": %d, \"height\": %d, \"runs\": %d, \"decode_turbojpeg\": %.1f, \"decode_stb\": %.1f, "
              "\"encode_turbojpeg_q90\": %.1f, \"encode_stb_q90\": %.1f, \"stb_over_turbo_decode\": %.2f, "
              "\"stb_over_turbo_encode\": %.2f",
              rgb.width(), rgb.height(), runs, turbo_decode, stb_decode, turbo_encode, stb_encode,
              stb_decode / turbo_decode, stb_encode / turbo_encode);

  // PNG: OpenCV gets the BGR copy it wants, made outside the timing. Both drive the same
  // libpng with its default filters at the given zlib level, so the sizes should match too.
  // libpng_over_opencv is the median of the per-round ratios.
  cv::Mat bgr(rgb.height(), rgb.width(), CV_8UC3);
  for (std::size_t i = 0; i < rgb.size_bytes(); i += 3) {
    bgr.data[i] = rgb.data()[i + 2];
    bgr.data[i + 1] = rgb.data()[i + 1];
    bgr.data[i + 2] = rgb.data()[i];
  }
  for (int level : {1, 6}) {
    inpaint::EncodeOptions options;
    options.format = inpaint::ImageFormat::Png;
    options.png_compression = level;
    std::vector<std::uint8_t> ours, theirs;
    // One of each per round after a warm-up round, which goes first alternating: on a shared
    // machine the load changes over seconds, and each round's ratio compares the two under
    // the same load.
    auto time_ours = [&] {
      double start = bench::now_ms();
      ours = inpaint::encode_image(rgb, options);
      return bench::now_ms() - start;
    };
    auto time_opencv = [&] {
      double start = bench::now_ms();
      cv::imencode(".png", bgr, theirs, {cv::IMWRITE_PNG_COMPRESSION, level});
      return bench::now_ms() - start;
    };
    std::vector<double> ours_ms, opencv_ms, ratios;
    for (int i = 0; i <= runs; ++i) {
      double a, b;
      if (i % 2) {
        a = time_ours();
        b = time_opencv();
      } else {
        b = time_opencv();
        a = time_ours();
      }
      if (i == 0) continue;
      ours_ms.push_back(a);
      opencv_ms.push_back(b);
      ratios.push_back(a / b);
    }
    std::string l = std::to_string(level);
    std::printf(", \"png%s_libpng\": %.1f, \"png%s_opencv\": %.1f, \"png%s_libpng_over_opencv\": %.3f, "
                "\"png%s_bytes\": %zu, \"png%s_opencv_bytes\": %zu",
                l.c_str(), bench::median(ours_ms), l.c_str(), bench::median(opencv_ms), l.c_str(),
                bench::median(ratios), l.c_str(), ours.size(), l.c_str(), theirs.size());
  }
  std::printf("}\n");
}
