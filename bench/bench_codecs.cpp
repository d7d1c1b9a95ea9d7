// stb_image / stb_image_write against libjpeg-turbo (through the library) on the same photo,
// medians of N runs: the measurement behind the codec choice in libinpaint/src/image/codec.cpp.
// Usage: bench_codecs PHOTO.jpg [runs=7]
#include <algorithm>
#include <chrono>
#include <cstdio>
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
              "\"stb_over_turbo_encode\": %.2f}\n",
              rgb.width(), rgb.height(), runs, turbo_decode, stb_decode, turbo_encode, stb_encode,
              stb_decode / turbo_decode, stb_encode / turbo_encode);
}
