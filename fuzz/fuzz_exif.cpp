// read_exif_orientation: walks JPEG markers to APP1 "Exif", then the TIFF IFD0 in either
// byte order, for tag 0x0112. (libFuzzer passes an exact-size heap copy, so a read past the
// end is an ASan report.)
#include <cstdint>

#include "fuzz_common.hpp"
#include "inpaint/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int orientation = inpaint::read_exif_orientation(data, size);
  fuzz::check(orientation >= 1 && orientation <= 8, "read_exif_orientation returned outside 1..8");
  return 0;
}
