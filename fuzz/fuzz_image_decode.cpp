// decode_image: PNG through stb_image (grey, grey+alpha, RGB, RGBA, 16-bit, palette,
// interlaced), JPEG through libjpeg-turbo, then the EXIF orientation.
#include <cstdint>

#include "fuzz_common.hpp"
#include "inpaint/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inpaint::DecodeOptions options;
  // 1 MP keeps a run fast under ASan; above it the header check refuses before any allocation,
  // so a decompression bomb shows up as -rss_limit_mb or -timeout only if that check fails.
  options.max_pixels = 1'000'000;
  inpaint::DecodedImage image;
  if (!fuzz::accepts([&] { image = inpaint::decode_image(data, size, options); })) return 0;
  // What the header promised is what came out: probe and decode must agree.
  inpaint::ImageInfo info = inpaint::probe_image(data, size, options);
  fuzz::check(image.rgb.channels() == 3, "decode_image: rgb is not 3 channels");
  fuzz::check(image.rgb.width() == info.width && image.rgb.height() == info.height,
              "decode_image and probe_image disagree on the size");
  fuzz::check(image.exif_orientation == info.exif_orientation, "decode_image and probe_image disagree on orientation");
  if (!image.alpha.empty())
    fuzz::check(image.alpha.channels() == 1 && image.alpha.width() == image.rgb.width() &&
                    image.alpha.height() == image.rgb.height(),
                "decode_image: alpha is not one channel of the image's size");
  // Touch every pixel, so that ASan sees a short buffer.
  unsigned sum = 0;
  for (std::size_t i = 0; i < image.rgb.size_bytes(); ++i) sum += image.rgb.data()[i];
  for (std::size_t i = 0; i < image.alpha.size_bytes(); ++i) sum += image.alpha.data()[i];
  volatile unsigned sink = sum;
  (void)sink;
  return 0;
}
