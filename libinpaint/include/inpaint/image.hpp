#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint {

// A non-owning view of an 8-bit interleaved image. Colour images are RGB (or RGBA),
// masks are single-channel with 255 = hole, 0 = keep. stride is in bytes (0 = packed).
struct ImageView {
  const std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 0;
  std::size_t stride = 0;

  std::size_t row_bytes() const { return stride ? stride : std::size_t(width) * channels; }
  const std::uint8_t* row(int y) const { return data + std::size_t(y) * row_bytes(); }
  bool empty() const { return data == nullptr || width <= 0 || height <= 0; }
};

// An owning, packed 8-bit image. Cheap to move; copies copy the pixels.
class INPAINT_CXX_API Image {
 public:
  Image() = default;
  Image(int width, int height, int channels);  // zero-filled
  // Pixels left uninitialised, for buffers that are written whole right away.
  static Image uninitialized(int width, int height, int channels);
  static Image copy_of(const ImageView& view);
  // Takes ownership of a packed buffer that release() frees (e.g. a decoder's malloc'd pixels).
  static Image adopt(std::uint8_t* pixels, int width, int height, int channels, void (*release)(std::uint8_t*));
  Image(const Image& other);
  Image& operator=(const Image& other);
  Image(Image&&) noexcept = default;
  Image& operator=(Image&&) noexcept = default;

  int width() const { return width_; }
  int height() const { return height_; }
  int channels() const { return channels_; }
  std::size_t stride() const { return std::size_t(width_) * channels_; }
  std::size_t size_bytes() const { return stride() * height_; }
  bool empty() const { return !pixels_; }
  std::uint8_t* data() { return pixels_.get(); }
  const std::uint8_t* data() const { return pixels_.get(); }
  ImageView view() const { return {pixels_.get(), width_, height_, channels_, stride()}; }
  operator ImageView() const { return view(); }

 private:
  static void release_new(std::uint8_t* p) { delete[] p; }
  std::unique_ptr<std::uint8_t[], void (*)(std::uint8_t*)> pixels_{nullptr, &Image::release_new};
  int width_ = 0, height_ = 0, channels_ = 0;
};

enum class ImageFormat { Png, Jpeg };

// The format a file name asks for (.png, .jpg, .jpeg; case-insensitive); throws for others.
INPAINT_CXX_API ImageFormat format_from_path(const std::string& path);

// The largest max_pixels accepted (2^40): anything above is almost always a negative number
// that was converted to unsigned, and would mean "no limit" by accident.
constexpr std::uint64_t kMaxPixelsCeiling = std::uint64_t(1) << 40;

struct DecodeOptions {
  // Refuse images whose header claims more pixels than this, before allocating (at most
  // kMaxPixelsCeiling). PNGs above 1 GiB of decoded pixels (about 350 MP of RGB) cannot be
  // decoded whatever this says.
  std::uint64_t max_pixels = 100'000'000;
  // Rotate/flip JPEGs upright according to their EXIF orientation tag.
  bool apply_exif_orientation = true;
};

struct DecodedImage {
  Image rgb;           // 3 channels, upright
  Image alpha;         // 1 channel, empty when the source had no alpha
  int exif_orientation = 1;  // 1..8 as read from the file (1 when absent)
  double decode_ms = 0;      // entropy decoding and colour conversion
  double orient_ms = 0;      // applying the EXIF orientation
};

struct ImageInfo {
  int width = 0, height = 0;  // as displayed: after the EXIF orientation when it is applied
  ImageFormat format = ImageFormat::Png;
  int exif_orientation = 1;
};

// Reads only the header (no pixel is decoded): format, size, orientation. Throws like
// decode_image for unreadable headers and for sizes above options.max_pixels.
INPAINT_CXX_API ImageInfo probe_image(const std::uint8_t* bytes, std::size_t size, const DecodeOptions& options = {});

// Decodes PNG or JPEG bytes (8 or 16 bit, grey, grey+alpha, RGB, RGBA) to RGB plus optional alpha.
INPAINT_CXX_API DecodedImage decode_image(const std::uint8_t* bytes, std::size_t size,
                                          const DecodeOptions& options = {});
// Decodes a mask: any image, reduced to one channel (luma, or alpha for grey+alpha/RGBA
// masks whose colour is constant). The values are returned as stored; threshold with clean_mask.
INPAINT_CXX_API Image decode_mask(const std::uint8_t* bytes, std::size_t size,
                                  const DecodeOptions& options = {});

struct EncodeOptions {
  ImageFormat format = ImageFormat::Jpeg;
  int quality = 90;  // JPEG quality 1..100
  int png_compression = 1;  // zlib level 0..9; 1 is fast and within a few % of 9 on photos
                            // (levels 1-2 use the Up filter only, 3-9 libpng's per-row choice)
};

// Encodes an RGB (3) or grey (1) image; with a non-empty alpha view the PNG gets 4 (or 2)
// channels. RGBA (4) and grey+alpha (2) images carry their own alpha (PNG only, no alpha view).
// JPEG has no alpha: passing one is an error.
INPAINT_CXX_API std::vector<std::uint8_t> encode_image(const ImageView& image,
                                                       const EncodeOptions& options,
                                                       const ImageView& alpha = {});

// Rotates/flips an image by an EXIF orientation value (1..8) so that it displays upright.
INPAINT_CXX_API Image apply_orientation(const ImageView& image, int orientation);

// Returns the EXIF orientation (1..8) of JPEG bytes, or 1 when absent or unreadable.
INPAINT_CXX_API int read_exif_orientation(const std::uint8_t* bytes, std::size_t size);

// Resizes so that the long side is long_side pixels (area averaging down, cubic up).
INPAINT_CXX_API Image resize_long_side(const ImageView& image, int long_side);

// Reads a whole regular file; throws Error(Io) naming the path when it cannot, also for a
// directory, a FIFO, a socket or a device (which never blocks the call).
INPAINT_CXX_API std::vector<std::uint8_t> read_file(const std::string& path);
// Throws Error(Io) unless path names a regular file that can be opened for reading; for paths
// handed to a reader that would block on a FIFO (model files, checksummed files).
INPAINT_CXX_API void require_regular_file(const std::string& path);
// Writes bytes to a temporary file beside path and renames it over path, so a reader never
// sees a partial file and a failure leaves nothing behind. No fsync: the rename is atomic for
// readers, not durable across a power cut (outputs can be made again; the store fsyncs).
// Refuses (Error(Io)) to replace anything but a regular file: a device, a directory, a FIFO.
INPAINT_CXX_API void write_file_atomic(const std::string& path, const std::uint8_t* bytes,
                                       std::size_t size);

// One file of a set written together.
struct FileOutput {
  std::string path;
  const std::uint8_t* bytes = nullptr;
  std::size_t size = 0;
};
// Writes every file or none: all are written to temporary files beside their paths first and
// renamed into place only once every one was written. A failure (a full disk, a file size
// limit) removes the temporary files and leaves the paths as they were.
INPAINT_CXX_API void write_files_atomic(const std::vector<FileOutput>& files);

// A path with the name a caller knows it by ("--out", "out_path"), for messages.
struct NamedPath {
  std::string name;
  std::string path;
};
// Checks, before any work, that writing the outputs destroys nothing: each output must be a
// regular file or not exist yet (never a device, directory or FIFO: Error(Io)), its directory
// writable (Error(Io)), and no output may be the same file as an input or another output (also
// through another spelling, a link or a symbolic link: Error(InvalidArgument) naming both).
INPAINT_CXX_API void check_output_paths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs);

}  // namespace inpaint
