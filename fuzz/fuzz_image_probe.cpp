// probe_image: reads only the header (PNG IHDR, JPEG SOF, EXIF), never pixels.
#include <cstdint>

#include "fuzz_common.hpp"
#include "inpaint/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inpaint::DecodeOptions options;
  // Legit large headers are refused cheaply (TooLarge) instead of being reported as slow.
  options.max_pixels = 4'000'000;
  for (bool orient : {false, true}) {
    options.apply_exif_orientation = orient;
    inpaint::ImageInfo info;
    if (!fuzz::accepts([&] { info = inpaint::probe_image(data, size, options); })) continue;
    fuzz::check(info.width > 0 && info.height > 0, "probe_image gave a non-positive size");
    fuzz::check(std::uint64_t(info.width) * std::uint64_t(info.height) <= options.max_pixels,
                "probe_image accepted a size above max_pixels");
    fuzz::check(info.exif_orientation >= 1 && info.exif_orientation <= 8, "orientation outside 1..8");
  }
  return 0;
}
