// Masks: decode_mask on encoded bytes, or raw pixels for a small random mask, then the
// OpenCV clean-up (threshold, open, close, islands, holes, dilate), bounds and feathering.
//
// Input: 7 option bytes, then either (mode bit 0 set) width-1, height-1 and raw pixels of a
// mask up to 64x64, or (bit clear) PNG/JPEG bytes for decode_mask.
#include <algorithm>
#include <cstdint>

#include "fuzz_common.hpp"
#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 7) return 0;
  inpaint::MaskCleanOptions o;
  o.threshold = std::min<int>(data[0], 254);
  o.open_radius = data[1] % 5;
  o.close_radius = data[2] % 5;
  o.dilate_px = data[3] % 17;
  o.min_island_area = data[4] * 2;
  o.min_hole_area = data[5] * 2;
  const int feather = (data[6] >> 1) % 17;
  const bool raw = data[6] & 1;
  data += 7;
  size -= 7;

  inpaint::Image mask;
  if (raw) {
    if (size < 2) return 0;
    int w = data[0] % 64 + 1, h = data[1] % 64 + 1;
    mask = inpaint::Image(w, h, 1);
    std::copy_n(data + 2, std::min<std::size_t>(size - 2, mask.size_bytes()), mask.data());
  } else {
    inpaint::DecodeOptions options;
    options.max_pixels = 256 * 256;  // small masks: the morphology is the point, not big decodes
    if (!fuzz::accepts([&] { mask = inpaint::decode_mask(data, size, options); })) return 0;
    fuzz::check(mask.channels() == 1, "decode_mask gave more than one channel");
  }

  inpaint::Image clean = inpaint::clean_mask(mask, o);  // valid options: must not throw
  fuzz::check(clean.width() == mask.width() && clean.height() == mask.height() && clean.channels() == 1,
              "clean_mask changed the size");
  for (std::size_t i = 0; i < clean.size_bytes(); ++i)
    fuzz::check(clean.data()[i] == 0 || clean.data()[i] == 255, "clean_mask result is not binary");
  inpaint::MaskBox box = inpaint::mask_bounds(clean);
  if (!box.empty())
    fuzz::check(box.x >= 0 && box.y >= 0 && box.x + box.width <= clean.width() && box.y + box.height <= clean.height(),
                "mask_bounds outside the image");
  inpaint::Image weights = inpaint::feather_mask(clean, feather);
  fuzz::check(weights.width() == clean.width() && weights.height() == clean.height(), "feather_mask changed the size");
  for (std::size_t i = 0; i < clean.size_bytes(); ++i)
    if (clean.data()[i] == 255) fuzz::check(weights.data()[i] == 255, "feather_mask weakened a hole pixel");
  return 0;
}
