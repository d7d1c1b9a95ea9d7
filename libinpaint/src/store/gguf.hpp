#pragma once
// GGUF (ggml's model file format, versions 2 and 3, little-endian), read-only: the metadata and
// where each tensor's bytes are, checked as strictly as the safetensors reader. Only the tensor
// types that our diffusion weights use are accepted (F32, F16, BF16, Q8_0); converting them is
// the torch backend's work. Internal; exported for the torch backend.
//
// Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 metadata count; the
// metadata (string key, u32 value type, value); the tensor infos (string name, u32 n_dims,
// u64 ne[n_dims] innermost first, u32 ggml type, u64 offset into the data section); padding to
// the alignment (general.alignment, else 32); the data, each tensor padded to the alignment.
// Strings are a u64 byte count and the bytes (no NUL).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "inpaint/export.hpp"

namespace inpaint::detail {

// The ggml tensor types this reader accepts; the values are ggml's type ids.
enum class GgufType : std::uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };

// ggml's name of any type id ("F32", "Q4_K", "IQ2_XXS", ...); "unknown" for an id ggml never used.
INPAINT_CXX_API const char* gguf_type_name(std::uint32_t type);

// Q8_0 stores rows (the innermost dimension, ne[0]) in blocks of 32 elements, each block an
// fp16 scale d and 32 int8 q (value = d * q): 34 bytes.
constexpr std::int64_t kGgufQ8_0BlockElements = 32;
constexpr std::size_t kGgufQ8_0BlockBytes = 34;

// Metadata value types; the values are the file's type ids.
enum class GgufValueType : std::uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};

// "u8", "i32", "f32", "bool", "string", "array", ...; "unknown" otherwise.
INPAINT_CXX_API const char* gguf_value_type_name(std::uint32_t type);

// One metadata value. Which member holds it depends on type:
//   U8, U16, U32, U64, Bool (0 or 1): u;  I8, I16, I32, I64: i;  F32, F64: f (exact);  String: s;
//   Array: element_type and count; the elements are in `strings` (arrays of strings), `items`
//   (arrays of arrays) or, for numbers and bools, `raw` (count elements in the file's
//   little-endian encoding), so that a long array of numbers costs its own bytes. at() gives
//   any element as a value.
struct INPAINT_CXX_API GgufValue {
  GgufValueType type = GgufValueType::U8;
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  GgufValueType element_type = GgufValueType::U8;
  std::uint64_t count = 0;
  std::vector<std::string> strings;
  std::vector<GgufValue> items;
  std::vector<std::uint8_t> raw;

  // Element index of an array; Error(InvalidArgument) when this is not an array or index is
  // out of range.
  GgufValue at(std::size_t index) const;
};

struct GgufTensorInfo {
  std::string name;
  GgufType type = GgufType::F32;
  // PyTorch order, outermost first: the file's ne reversed. Every dimension is at least 1.
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;  // of its bytes in the data section, a multiple of the alignment
  const std::uint8_t* data = nullptr;  // into the parsed bytes (kept alive by GgufFile::owner)
  std::size_t nbytes = 0;  // Q8_0: rows * (shape.back() / 32) * 34; others: elements * 2 or 4
};

struct INPAINT_CXX_API GgufFile {
  std::uint32_t version = 3;
  std::size_t alignment = 32;
  std::size_t data_start = 0;  // byte of the file where the data section starts
  std::map<std::string, GgufValue> metadata;
  std::vector<GgufTensorInfo> tensors;  // in file order, which is data order
  std::map<std::string, std::size_t> index;  // tensor name -> its position in tensors
  std::shared_ptr<const void> owner;    // keeps the bytes that the tensors point into

  // The tensor of that name, or null.
  const GgufTensorInfo* find(const std::string& name) const;
  // The metadata value of that key, or null.
  const GgufValue* value(const std::string& key) const;
};

// Parses size bytes (kept alive by owner, which the file holds) and checks every rule of the
// format: a version other than 2 or 3, a truncation anywhere, an unknown value or tensor type
// (named), duplicate keys or tensor names, n_dims outside 1..4, a dimension of 0, a size that
// overflows, a Q8_0 row length that is not a multiple of 32, a general.alignment that is not a
// u32 and a non-zero multiple of 8, tensors that are not back to back in file order (each at
// the previous one's end rounded up to the alignment) or that run past the end of the bytes.
// Every violation is Error(Decode) naming origin (when not empty) and the key or tensor.
// Counts are checked against the bytes left before anything is allocated for them.
INPAINT_CXX_API GgufFile parse_gguf(const std::uint8_t* bytes, std::size_t size, std::shared_ptr<const void> owner,
                                    const std::string& origin);

// parse_gguf over a read-only memory map of path (map_file: Error(Io) for a missing or
// unreadable path, a FIFO, a directory, ...; the SIGBUS caveat of MappedFile applies), which
// the file owns. origin is path.
INPAINT_CXX_API GgufFile read_gguf(const std::string& path, MapAdvice advice = MapAdvice::Normal);

}  // namespace inpaint::detail
