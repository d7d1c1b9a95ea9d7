#include "test_util.hpp"

#include <cstring>

namespace inpaint::test {

namespace {
std::uint32_t crc32(const std::uint8_t* data, std::size_t n) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(std::uint8_t(v >> s));
}
}  // namespace

std::vector<std::uint8_t> png_header_only(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  put_be32(out, 13);
  std::size_t type_at = out.size();
  for (char c : {'I', 'H', 'D', 'R'}) out.push_back(std::uint8_t(c));
  put_be32(out, width);
  put_be32(out, height);
  for (std::uint8_t b : {8, 2, 0, 0, 0}) out.push_back(b);  // 8-bit RGB, deflate, no filter, no interlace
  put_be32(out, crc32(out.data() + type_at, out.size() - type_at));
  return out;
}

namespace {
void put_chunk(std::vector<std::uint8_t>& out, const char* type, const std::vector<std::uint8_t>& data) {
  put_be32(out, std::uint32_t(data.size()));
  std::size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_be32(out, crc32(out.data() + type_at, out.size() - type_at));
}
}  // namespace

std::vector<std::uint8_t> png_with_idat(std::uint32_t width, std::uint32_t height, std::uint8_t colour_type,
                                        const std::vector<std::uint8_t>& idat) {
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  for (std::uint8_t b : {std::uint8_t(8), colour_type, std::uint8_t(0), std::uint8_t(0), std::uint8_t(0)}) ihdr.push_back(b);
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IDAT", idat);
  put_chunk(out, "IEND", {});
  return out;
}

std::vector<std::uint8_t> with_exif_orientation(const std::vector<std::uint8_t>& jpeg, int orientation, bool le) {
  auto u16 = [&](std::vector<std::uint8_t>& v, unsigned x) {
    if (le) { v.push_back(std::uint8_t(x)); v.push_back(std::uint8_t(x >> 8)); }
    else { v.push_back(std::uint8_t(x >> 8)); v.push_back(std::uint8_t(x)); }
  };
  auto u32 = [&](std::vector<std::uint8_t>& v, std::uint32_t x) {
    if (le) { u16(v, x & 0xFFFF); u16(v, x >> 16); } else { u16(v, x >> 16); u16(v, x & 0xFFFF); }
  };
  std::vector<std::uint8_t> tiff;
  tiff.push_back(le ? 'I' : 'M');
  tiff.push_back(le ? 'I' : 'M');
  u16(tiff, 42);
  u32(tiff, 8);
  u16(tiff, 2);  // two entries: a harmless one first, so the parser must walk the IFD
  u16(tiff, 0x010F); u16(tiff, 2); u32(tiff, 4); tiff.insert(tiff.end(), {'a', 'c', 'm', 0});
  u16(tiff, 0x0112); u16(tiff, 3); u32(tiff, 1); u16(tiff, unsigned(orientation)); u16(tiff, 0);
  u32(tiff, 0);
  std::vector<std::uint8_t> app1 = {0xFF, 0xE1};
  std::size_t length = 2 + 6 + tiff.size();
  app1.push_back(std::uint8_t(length >> 8));
  app1.push_back(std::uint8_t(length));
  app1.insert(app1.end(), {'E', 'x', 'i', 'f', 0, 0});
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  std::vector<std::uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

}  // namespace inpaint::test
