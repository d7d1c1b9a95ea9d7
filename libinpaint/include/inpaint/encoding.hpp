#pragma once
// Encodings (an image encoder's named feature tensors plus what makes them reusable), their
// safetensors form, and the ids that key them in a store.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/tensor.hpp"

namespace inpaint {

// The safetensors layout version written into every encoding's metadata.
constexpr int kEncodingFormatVersion = 1;

// What decides whether a stored encoding may be reused: the same model (id and weights
// checksum), the same preprocessing and the same image. Kept in safetensors' __metadata__.
struct EncodingMetadata {
  std::string model_id;        // e.g. "sam3-hiera-l"
  std::string model_checksum;  // e.g. the weights' sha256
  std::string preprocessing;   // e.g. "resize=1008,pad,norm=imagenet"
  std::string dtype;           // the features' dtype name, e.g. "BF16"
  std::string image_sha256;    // pixel_sha256() of the decoded image
  int original_width = 0, original_height = 0;
  std::int64_t created_at = 0;  // Unix seconds
  int format_version = kEncodingFormatVersion;
  std::map<std::string, std::string> extra;  // any other string pairs, kept as they are
};

// Thread-safety: a value type; copies share the tensors' immutable buffers, so copies may be
// used on different threads.
struct INPAINT_CXX_API Encoding {
  EncodingMetadata metadata;
  std::map<std::string, HostTensor> tensors;  // by name

  const HostTensor& tensor(const std::string& name) const;  // Error(InvalidArgument) naming the missing one
  std::size_t nbytes() const;                                // sum of the tensors' bytes
};

// ---- safetensors (https://github.com/huggingface/safetensors: 8-byte little-endian header
// length, JSON header, data). Tensors are written by decreasing element size, then by name, so
// the order is deterministic and every tensor is aligned to its element size; the header is
// padded with spaces to a multiple of 8 bytes.

constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

// The exact size of the serialized form.
INPAINT_CXX_API std::size_t safetensors_size(const Encoding& encoding);
INPAINT_CXX_API std::vector<std::uint8_t> to_safetensors(const Encoding& encoding);
// Parses bytes that `owner` keeps alive; the tensors point into them (no copy). Throws
// Error(Decode) naming the tensor and the rule for any violation of the format.
INPAINT_CXX_API Encoding parse_safetensors(const std::uint8_t* bytes, std::size_t size,
                                           std::shared_ptr<const void> owner);
// Reads the file into one buffer the tensors share (not a map: one truncated by another process
// would raise SIGBUS) and parses it; Error(Io) when it cannot be opened, Error(Decode) naming the
// path for a malformed file or one that is not a regular file (a FIFO is never waited on).
INPAINT_CXX_API Encoding read_safetensors(const std::string& path);
// Writes through a temporary file beside path that is flushed and renamed over it.
INPAINT_CXX_API void write_safetensors(const std::string& path, const Encoding& encoding);

// ---- ids

// SHA-256 (hex) of decoded pixels together with their width, height and channels.
INPAINT_CXX_API std::string pixel_sha256(const ImageView& pixels);
// The id of an image's encoding by one model: hex SHA-256 of the pixel hash and the model id.
INPAINT_CXX_API std::string encoding_id(const std::string& image_sha256, const std::string& model_id);
INPAINT_CXX_API std::string encoding_id(const ImageView& pixels, const std::string& model_id);
// Throws Error(InvalidArgument) unless id is 1..128 characters of [A-Za-z0-9._-] without a
// leading dot: what a caller may pass as an id (it becomes a file name and a Redis key).
INPAINT_CXX_API void validate_encoding_id(const std::string& id);

}  // namespace inpaint
