// Decoding and encoding. JPEG goes through libjpeg-turbo's TurboJPEG API (decode 1.3x and
// encode 7x faster than stb at 12 MP, see bench/RESULTS.md); PNG is decoded by stb_image and
// encoded by libpng directly (OpenCV's imgcodecs, which wraps the same libpng, costs 139
// shared libraries and ~120 ms of process start-up on Debian).
#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <opencv2/imgproc.hpp>

#include "core/cv_bridge.hpp"
#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"

// stb returns NULL both for bad data and for a failed allocation, and some of its allocation
// failures set no reason: its allocations go through these so that out of memory is told apart.
namespace {
thread_local bool g_stb_out_of_memory = false;
void* stb_malloc(std::size_t size) {
  void* p = std::malloc(size);
  if (!p && size) g_stb_out_of_memory = true;
  return p;
}
void* stb_realloc(void* old, std::size_t size) {
  void* p = std::realloc(old, size);
  if (!p && size) g_stb_out_of_memory = true;
  return p;
}
}  // namespace
#define STBI_MALLOC(size) stb_malloc(size)
#define STBI_REALLOC(old, size) stb_realloc(old, size)
#define STBI_FREE(p) std::free(p)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 20)
#include <stb/stb_image.h>

namespace inpaint {

namespace {

struct TjHandle {
  tjhandle handle;
  explicit TjHandle(bool compress) : handle(compress ? tjInitCompress() : tjInitDecompress()) {
    if (!handle) throw Error(ErrorCode::Internal, std::string("libjpeg-turbo: ") + tjGetErrorStr());
  }
  ~TjHandle() { tjDestroy(handle); }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
};

bool is_jpeg(const std::uint8_t* b, std::size_t n) { return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
bool is_png(const std::uint8_t* b, std::size_t n) {
  static const std::uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(b, sig, 8) == 0;
}

void check_dimensions(const char* kind, int width, int height, const DecodeOptions& options) {
  if (width <= 0 || height <= 0)
    throw Error(ErrorCode::Decode, std::string(kind) + " header has zero width or height (" +
                                       std::to_string(width) + "x" + std::to_string(height) + ")");
  std::uint64_t pixels = std::uint64_t(width) * std::uint64_t(height);
  if (pixels > options.max_pixels)
    throw Error(ErrorCode::TooLarge, std::string(kind) + " is " + std::to_string(width) + "x" +
                                         std::to_string(height) + " = " + std::to_string(pixels) +
                                         " pixels, above the limit of " +
                                         std::to_string(options.max_pixels) + " (max_pixels)");
}

struct Header {
  ImageFormat format;
  int width, height;
  bool grey_jpeg;
};

// Format and stored size from the header alone, checked against the pixel limit.
Header read_header(const std::uint8_t* bytes, std::size_t size, const DecodeOptions& options) {
  if (options.max_pixels > kMaxPixelsCeiling)
    throw Error(ErrorCode::InvalidArgument, "max_pixels must be at most " + std::to_string(kMaxPixelsCeiling) +
                                                ", got " + std::to_string(options.max_pixels) +
                                                " (a negative number converted to unsigned?)");
  if (bytes == nullptr || size == 0) throw Error(ErrorCode::Decode, "image data is empty (0 bytes)");
  if (is_jpeg(bytes, size)) {
    TjHandle tj(false);
    int width = 0, height = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj.handle, bytes, static_cast<unsigned long>(size), &width, &height, &subsamp,
                            &colorspace) != 0)
      throw Error(ErrorCode::Decode, std::string("corrupt JPEG header: ") + tjGetErrorStr2(tj.handle));
    // libjpeg-turbo reports 0x0 rather than failing when the data ends before the frame header.
    if (width == 0 && height == 0) throw Error(ErrorCode::Decode, "truncated JPEG: the data ends before the frame header");
    check_dimensions("JPEG", width, height, options);
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
      throw Error(ErrorCode::Decode, "CMYK JPEGs are not supported; convert to RGB first");
    return {ImageFormat::Jpeg, width, height, colorspace == TJCS_GRAY};
  }
  if (is_png(bytes, size)) {
    if (size > std::size_t(INT32_MAX)) throw Error(ErrorCode::TooLarge, "PNG file is larger than 2 GiB");
    // Read the size from IHDR ourselves: stb refuses huge headers with a vaguer message.
    static const std::uint8_t ihdr[4] = {'I', 'H', 'D', 'R'};
    if (size < 24 || std::memcmp(bytes + 12, ihdr, 4) != 0)
      throw Error(ErrorCode::Decode, "corrupt PNG: the IHDR header chunk is missing or truncated");
    auto be32 = [&](std::size_t at) {
      return std::uint32_t(bytes[at]) << 24 | std::uint32_t(bytes[at + 1]) << 16 | std::uint32_t(bytes[at + 2]) << 8 | bytes[at + 3];
    };
    std::uint32_t width = be32(16), height = be32(20);
    if (width > INT32_MAX || height > INT32_MAX)
      throw Error(ErrorCode::Decode, "corrupt PNG header: width or height above 2^31");
    check_dimensions("PNG", int(width), int(height), options);
    return {ImageFormat::Png, int(width), int(height), false};
  }
  throw Error(ErrorCode::Decode, "not a PNG or JPEG image (unrecognised signature)");
}

// A photo that passed max_pixels can still need more memory than the process may take (a
// container's limit, RLIMIT_AS): say so with the numbers instead of letting std::bad_alloc out.
Error out_of_memory(const Header& header) {
  std::uint64_t megabytes = std::uint64_t(header.width) * std::uint64_t(header.height) * 4 / 1000000 + 1;
  return Error(ErrorCode::TooLarge, std::string(header.format == ImageFormat::Png ? "PNG" : "JPEG") + " of " +
                                        std::to_string(header.width) + "x" + std::to_string(header.height) +
                                        ": out of memory while decoding (about " + std::to_string(megabytes) +
                                        " MB needed); lower max_pixels or allow the process more memory");
}

// stb grows its IDAT buffer to a chunk's declared length before reading the chunk, so a PNG
// of a few hundred bytes claiming a 2 GiB IDAT made it allocate 2 GiB (fuzz_image_decode). A
// chunk longer than the bytes left is truncation: refuse it before stb sees it.
void check_png_chunk_lengths(const std::uint8_t* bytes, std::size_t size) {
  std::size_t pos = 8;  // after the signature
  while (size - pos >= 8) {
    std::uint32_t length = std::uint32_t(bytes[pos]) << 24 | std::uint32_t(bytes[pos + 1]) << 16 |
                           std::uint32_t(bytes[pos + 2]) << 8 | bytes[pos + 3];
    if (length > size - pos - 8)
      throw Error(ErrorCode::Decode, "truncated or corrupt PNG: a chunk claims " + std::to_string(length) +
                                         " bytes but only " + std::to_string(size - pos - 8) + " are left");
    if (std::memcmp(bytes + pos + 4, "IEND", 4) == 0) return;
    pos += 8 + length;
    if (size - pos < 4) return;  // no CRC: stb reports the truncation
    pos += 4;
  }
}

// Decoded pixels as stored: 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels.
Image decode_pixels(const Header& header, const std::uint8_t* bytes, std::size_t size) {
  if (header.format == ImageFormat::Jpeg) {
    TjHandle tj(false);
    Image out = Image::uninitialized(header.width, header.height, header.grey_jpeg ? 1 : 3);
    // STOPONWARNING turns "premature end of data" into an error: a truncated file must not
    // come back as a half-grey image.
    if (tjDecompress2(tj.handle, bytes, static_cast<unsigned long>(size), out.data(), header.width, 0, header.height,
                      header.grey_jpeg ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
      throw Error(ErrorCode::Decode, std::string("truncated or corrupt JPEG: ") + tjGetErrorStr2(tj.handle));
    return out;
  }
  check_png_chunk_lengths(bytes, size);
  int width = 0, height = 0, channels = 0;
  // stb keeps its last reason per thread and some failures (a reserved deflate block type) set
  // none: clear it so that a reason is this call's or absent, never a stale or null string.
  stbi__g_failure_reason = nullptr;
  g_stb_out_of_memory = false;
  stbi_uc* pixels = stbi_load_from_memory(bytes, int(size), &width, &height, &channels, 0);
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    if (g_stb_out_of_memory || (reason && std::strcmp(reason, "outofmem") == 0)) throw out_of_memory(header);
    throw Error(ErrorCode::Decode, std::string("truncated or corrupt PNG: ") +
                                       (reason && *reason ? reason : "the compressed image data is invalid"));
  }
  return Image::adopt(pixels, width, height, channels, [](std::uint8_t* p) { stbi_image_free(p); });
}

Image decode_raw(const std::uint8_t* bytes, std::size_t size, const DecodeOptions& options) {
  Header header = read_header(bytes, size, options);
  try {
    return decode_pixels(header, bytes, size);
  } catch (const std::bad_alloc&) {
    throw out_of_memory(header);
  }
}

// ---- PNG encoding through libpng.
// libpng reports an error by calling our error function, which must not return: it longjmps
// back to the setjmp in write_png_rows. Only plain data crosses that jump: PngState below, and
// no frame in between (libpng's, png_append's at the point it calls png_error, write_png_rows')
// holds an object with a destructor, so no destructor is skipped.
struct PngState {
  std::vector<std::uint8_t>* out;
  bool out_of_memory;  // an allocation failed: told apart from a libpng error
  char message[200];   // libpng's reason
};

[[noreturn]] void png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

// libpng would print warnings to stderr; none of them changes a pixel of what it writes.
void png_on_warning(png_structp, png_const_charp) {}

// libpng's and zlib's allocations come here so that running out of memory is recognised.
png_voidp png_on_malloc(png_structp png, png_alloc_size_t size) {
  void* p = std::malloc(size);
  if (!p) static_cast<PngState*>(png_get_mem_ptr(png))->out_of_memory = true;
  return p;
}
void png_on_free(png_structp, png_voidp p) { std::free(p); }

void png_append(png_structp png, png_bytep data, std::size_t size) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  bool failed = false;
  try {
    state->out->insert(state->out->end(), data, data + size);
  } catch (...) {  // std::bad_alloc or length_error; no C++ exception may unwind through libpng
    failed = true;
  }
  // After the catch block has ended: longjmp out of a handler would leave the exception alive.
  if (failed) {
    state->out_of_memory = true;
    png_error(png, "out of memory for the encoded bytes");
  }
}

// The output is a vector: there is nothing to flush (libpng's default would fflush() io_ptr).
void png_flush_nothing(png_structp) {}

// Writes the whole PNG; false when libpng raised an error (its reason is in the PngState).
// interleaved: a row buffer of width * (channels + 1) bytes when alpha is given, else unused.
bool write_png_rows(png_structp png, png_infop info, const ImageView& image, const ImageView& alpha, int level,
                    std::uint8_t* interleaved) {
  if (setjmp(png_jmpbuf(png))) return false;
  // libpng refuses widths and heights above 10^6 unless told otherwise; PNG allows 2^31 - 1.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_set_compression_level(png, level);
  // At the fast levels the filter heuristic costs more than it saves: trying all five filters on
  // every row made 12 MP RGBA cut-outs 1.7x slower to encode at level 1 than the Up filter alone,
  // for files 0-3% smaller (bench/RESULTS.md, issue 12). Level 0 stores: no filter at all.
  if (level <= 2) png_set_filter(png, PNG_FILTER_TYPE_BASE, level == 0 ? PNG_FILTER_NONE : PNG_FILTER_UP);
  // libpng's own default for image data is Z_FILTERED, which on photos made level 6 files 10%
  // larger and 20% slower than zlib's default strategy (what OpenCV's encoder, used before, set).
  png_set_compression_strategy(png, Z_DEFAULT_STRATEGY);
  const bool has_alpha = !alpha.empty();  // a separate alpha plane, interleaved here
  const bool with_alpha = has_alpha || image.channels == 2 || image.channels == 4;
  const bool grey = image.channels <= 2;
  const int colour = grey ? (with_alpha ? PNG_COLOR_TYPE_GRAY_ALPHA : PNG_COLOR_TYPE_GRAY)
                          : (with_alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB);
  png_set_IHDR(png, info, png_uint_32(image.width), png_uint_32(image.height), 8, colour, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const int c = image.channels;
  for (int y = 0; y < image.height; ++y) {
    if (!has_alpha) {
      png_write_row(png, image.row(y));  // any stride: libpng copies the row
      continue;
    }
    const std::uint8_t* src = image.row(y);
    const std::uint8_t* a = alpha.row(y);
    std::uint8_t* dst = interleaved;
    for (int x = 0; x < image.width; ++x) {
      for (int k = 0; k < c; ++k) *dst++ = *src++;
      *dst++ = a[x];
    }
    png_write_row(png, interleaved);
  }
  png_write_end(png, nullptr);
  return true;
}

Error png_out_of_memory(const ImageView& image) {
  return Error(ErrorCode::TooLarge, "PNG of " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                                        ": out of memory while encoding; allow the process more memory");
}

// 8-bit grey, grey+alpha, RGB or RGBA; level is zlib's 0 (stored) .. 9 (smallest).
std::vector<std::uint8_t> encode_png(const ImageView& image, const ImageView& alpha, int level) {
  std::vector<std::uint8_t> out, interleaved;
  try {
    if (!alpha.empty()) interleaved.resize(std::size_t(image.width) * std::size_t(image.channels + 1));
  } catch (const std::bad_alloc&) {
    throw png_out_of_memory(image);
  }
  PngState state{&out, false, {}};
  png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &state, png_on_error, png_on_warning, &state,
                                              png_on_malloc, png_on_free);
  if (!png) throw png_out_of_memory(image);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &state, png_append, png_flush_nothing);  // can only warn, never longjmp
  bool written = info && write_png_rows(png, info, image, alpha, level, interleaved.data());
  png_destroy_write_struct(&png, &info);  // frees everything libpng and zlib allocated, also after an error
  if (!written) {
    if (!info || state.out_of_memory) throw png_out_of_memory(image);
    throw Error(ErrorCode::Internal, std::string("PNG encoding failed: ") + state.message);
  }
  return out;
}

}  // namespace

int read_exif_orientation(const std::uint8_t* bytes, std::size_t size) {
  if (!bytes || !is_jpeg(bytes, size)) return 1;
  auto u16 = [](const std::uint8_t* p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; };
  auto u32 = [](const std::uint8_t* p, bool le) {
    return le ? std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24
              : std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
  };
  std::size_t pos = 2;
  while (pos + 4 <= size && bytes[pos] == 0xFF) {
    std::uint8_t marker = bytes[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }  // fill byte
    if (marker == 0xDA || marker == 0xD9) break;  // image data starts: no EXIF after this
    std::size_t length = std::size_t(bytes[pos + 2]) << 8 | bytes[pos + 3];
    if (length < 2 || pos + 2 + length > size) break;
    const std::uint8_t* seg = bytes + pos + 4;
    std::size_t seg_len = length - 2;
    if (marker == 0xE1 && seg_len >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const std::uint8_t* tiff = seg + 6;
      std::size_t tiff_len = seg_len - 6;
      bool le = tiff[0] == 'I' && tiff[1] == 'I';
      if (!le && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
      if (u16(tiff + 2, le) != 42) return 1;
      std::uint32_t ifd = u32(tiff + 4, le);
      if (ifd > tiff_len || tiff_len - ifd < 2) return 1;
      unsigned entries = u16(tiff + ifd, le);
      for (unsigned i = 0; i < entries; ++i) {
        std::size_t entry = std::size_t(ifd) + 2 + std::size_t(i) * 12;
        if (entry + 12 > tiff_len) return 1;
        if (u16(tiff + entry, le) == 0x0112 && u16(tiff + entry + 2, le) == 3) {
          int value = u16(tiff + entry + 8, le);
          return value >= 1 && value <= 8 ? value : 1;
        }
      }
      return 1;
    }
    pos += 2 + length;
  }
  return 1;
}

ImageInfo probe_image(const std::uint8_t* bytes, std::size_t size, const DecodeOptions& options) {
  Header header = read_header(bytes, size, options);
  ImageInfo info{header.width, header.height, header.format, read_exif_orientation(bytes, size)};
  if (options.apply_exif_orientation && info.exif_orientation >= 5) std::swap(info.width, info.height);
  return info;
}

DecodedImage decode_image(const std::uint8_t* bytes, std::size_t size, const DecodeOptions& options) {
  detail::Stopwatch clock;
  Image raw = decode_raw(bytes, size, options);
  DecodedImage out;
  int c = raw.channels();
  if (c == 3) {
    out.rgb = std::move(raw);
  } else {
    cv::Mat src = detail::as_mat(raw);
    out.rgb = Image::uninitialized(raw.width(), raw.height(), 3);
    cv::Mat rgb = detail::as_mat(out.rgb);
    if (c == 1) cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB);
    if (c == 2 || c == 4) {
      out.alpha = Image::uninitialized(raw.width(), raw.height(), 1);
      cv::Mat alpha = detail::as_mat(out.alpha);
      if (c == 4) {
        cv::cvtColor(src, rgb, cv::COLOR_RGBA2RGB);
        cv::extractChannel(src, alpha, 3);
      } else {
        cv::Mat grey(src.size(), CV_8UC1);
        cv::Mat planes[] = {grey, alpha};
        cv::split(src, planes);
        cv::cvtColor(grey, rgb, cv::COLOR_GRAY2RGB);
      }
    }
  }
  out.decode_ms = clock.lap();
  if (options.apply_exif_orientation) {
    out.exif_orientation = read_exif_orientation(bytes, size);
    if (out.exif_orientation != 1) {
      out.rgb = apply_orientation(out.rgb, out.exif_orientation);
      if (!out.alpha.empty()) out.alpha = apply_orientation(out.alpha, out.exif_orientation);
    }
  }
  out.orient_ms = clock.lap();
  return out;
}

Image decode_mask(const std::uint8_t* bytes, std::size_t size, const DecodeOptions& options) {
  Image raw = decode_raw(bytes, size, options);
  Image mask;
  int c = raw.channels();
  if (c == 1) {
    mask = std::move(raw);
  } else {
    cv::Mat src = detail::as_mat(raw);
    mask = Image::uninitialized(raw.width(), raw.height(), 1);
    cv::Mat dst = detail::as_mat(mask);
    if (c == 3) {
      cv::cvtColor(src, dst, cv::COLOR_RGB2GRAY);
    } else {
      // Masks drawn as "paint on transparent" carry the hole in alpha; others in colour.
      cv::Mat colour, alpha;
      cv::extractChannel(src, alpha, c - 1);
      if (c == 4) cv::cvtColor(src, colour, cv::COLOR_RGBA2GRAY); else cv::extractChannel(src, colour, 0);
      double lo, hi;
      cv::minMaxLoc(colour, &lo, &hi);
      (lo == hi ? alpha : colour).copyTo(dst);
    }
  }
  if (options.apply_exif_orientation) {
    int orientation = read_exif_orientation(bytes, size);
    if (orientation != 1) mask = apply_orientation(mask, orientation);
  }
  return mask;
}

std::vector<std::uint8_t> encode_image(const ImageView& image, const EncodeOptions& options, const ImageView& alpha) {
  if (image.empty()) throw Error(ErrorCode::InvalidArgument, "encode: image is empty");
  if (image.channels < 1 || image.channels > 4)
    throw Error(ErrorCode::InvalidArgument, "encode: image must have 1 to 4 channels, got " + std::to_string(image.channels));
  const bool own_alpha = image.channels == 2 || image.channels == 4;  // grey+alpha, RGBA
  if (own_alpha && !alpha.empty())
    throw Error(ErrorCode::InvalidArgument, "encode: an image with its own alpha channel takes no separate alpha");
  if (own_alpha && options.format == ImageFormat::Jpeg)
    throw Error(ErrorCode::InvalidArgument, "JPEG has no alpha channel; encode as PNG");
  if (!alpha.empty() && (alpha.channels != 1 || alpha.width != image.width || alpha.height != image.height))
    throw Error(ErrorCode::InvalidArgument, "encode: alpha must be one channel of the image's size");
  if (options.format == ImageFormat::Jpeg) {
    if (options.quality < 1 || options.quality > 100)
      throw Error(ErrorCode::InvalidArgument, "JPEG quality must be 1..100, got " + std::to_string(options.quality));
    if (!alpha.empty()) throw Error(ErrorCode::InvalidArgument, "JPEG has no alpha channel; encode as PNG");
    TjHandle tj(true);
    unsigned char* jpeg = nullptr;
    unsigned long jpeg_size = 0;
    bool grey = image.channels == 1;
    if (tjCompress2(tj.handle, image.data, image.width, int(image.row_bytes()), image.height,
                    grey ? TJPF_GRAY : TJPF_RGB, &jpeg, &jpeg_size, grey ? TJSAMP_GRAY : TJSAMP_420,
                    options.quality, 0) != 0) {
      tjFree(jpeg);
      throw Error(ErrorCode::Internal, std::string("JPEG encoding failed: ") + tjGetErrorStr2(tj.handle));
    }
    std::vector<std::uint8_t> out(jpeg, jpeg + jpeg_size);
    tjFree(jpeg);
    return out;
  }
  if (options.png_compression < 0 || options.png_compression > 9)
    throw Error(ErrorCode::InvalidArgument, "PNG compression must be 0..9, got " + std::to_string(options.png_compression));
  return encode_png(image, alpha, options.png_compression);
}

}  // namespace inpaint
