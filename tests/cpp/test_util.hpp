#pragma once
// Generated test images (no files from elsewhere) and small test helpers.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inpaint/error.hpp"

#include "inpaint/image.hpp"

namespace inpaint::test {

// The code of the inpaint::Error that body throws (its message into *message). ErrorCode{0},
// which no error has, when nothing is thrown, so that no expectation can pass by accident.
inline ErrorCode code_of(const std::function<void()>& body, std::string* message = nullptr) {
  try {
    body();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode{0};
}

// A colourful, non-symmetric RGB image: every pixel differs from its neighbours.
inline Image pattern_rgb(int width, int height) {
  Image img(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = img.data() + (std::size_t(y) * width + x) * 3;
      p[0] = std::uint8_t((x * 7 + y * 3) & 255);
      p[1] = std::uint8_t((x * 2 + y * 11 + 40) & 255);
      p[2] = std::uint8_t(((x ^ y) * 5) & 255);
    }
  return img;
}

// A mask with a filled disc (255) of the given centre and radius.
inline Image disc_mask(int width, int height, int cx, int cy, int r, std::uint8_t value = 255) {
  Image m(width, height, 1);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) m.data()[std::size_t(y) * width + x] = value;
  return m;
}

// Intersection over union of two same-size masks, a pixel counting when above threshold; 1 when
// both are empty.
inline double iou(const Image& a, const Image& b, int threshold = 127) {
  std::size_t both = 0, either = 0;
  for (std::size_t i = 0; i < a.size_bytes(); ++i) {
    bool x = a.data()[i] > threshold, y = b.data()[i] > threshold;
    both += x && y;
    either += x || y;
  }
  return either ? double(both) / double(either) : 1.0;
}

inline std::uint8_t at(const Image& img, int x, int y, int c = 0) {
  return img.data()[(std::size_t(y) * img.width() + x) * img.channels() + c];
}

inline void set(Image& img, int x, int y, std::uint8_t v) {
  for (int c = 0; c < img.channels(); ++c) img.data()[(std::size_t(y) * img.width() + x) * img.channels() + c] = v;
}

// A PNG signature and IHDR chunk (valid CRC) claiming the given size, and nothing else.
std::vector<std::uint8_t> png_header_only(std::uint32_t width, std::uint32_t height);

// A PNG of the given size and colour type (0 grey, 2 RGB; 8 bits) whose one IDAT chunk holds
// `idat` as it is (valid chunk CRCs), then IEND: for handing decoders broken zlib streams.
std::vector<std::uint8_t> png_with_idat(std::uint32_t width, std::uint32_t height, std::uint8_t colour_type,
                                        const std::vector<std::uint8_t>& idat);

// JPEG bytes with an EXIF APP1 segment holding the orientation tag, inserted after SOI.
std::vector<std::uint8_t> with_exif_orientation(const std::vector<std::uint8_t>& jpeg, int orientation, bool little_endian);

}  // namespace inpaint::test
