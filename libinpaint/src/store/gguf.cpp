// GGUF read, with the rules of ggml's own reader (src/gguf.cpp) and a few more: every read is
// bounded by the bytes left, and every count is checked against them before anything is
// allocated for it.
#include "store/gguf.hpp"

#include <cstring>
#include <limits>

#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/tensor.hpp"

namespace inpaint::detail {

namespace {

constexpr std::uint64_t kMaxStringBytes = std::uint64_t(1) << 30;   // ggml's limit too
constexpr std::uint64_t kMaxArrayElements = std::uint64_t(1) << 30;  // ggml's limit too
constexpr int kMaxArrayDepth = 8;
constexpr int kMaxDims = 4;  // GGML_MAX_DIMS
constexpr std::size_t kDefaultAlignment = 32;
// No data section is larger (offsets and sizes are refused beyond it, so sums cannot overflow).
constexpr std::uint64_t kMaxDataBytes = std::uint64_t(1) << 62;
// The fewest bytes a tensor info (a one-byte name, one dimension) and a metadata entry (an
// empty key, a one-byte value) take: the counts cannot ask for more than the bytes left hold.
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
constexpr std::uint64_t kMinEntryBytes = 8 + 4 + 1;

const char* const kAlignmentKey = "general.alignment";

// Bytes of one element of a value type; 0 for strings and arrays (variable).
std::size_t scalar_size(std::uint32_t type) {
  switch (GgufValueType(type)) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::Bool: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    default: return 0;
  }
}

std::uint64_t little_endian(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < n; ++k) v |= std::uint64_t(p[k]) << (8 * k);
  return v;
}

// A scalar from its little-endian bytes (n = scalar_size(type)); bool bytes are checked by the reader.
GgufValue scalar_value(GgufValueType type, const std::uint8_t* p) {
  GgufValue v;
  v.type = type;
  std::uint64_t bits = little_endian(p, scalar_size(std::uint32_t(type)));
  switch (type) {
    case GgufValueType::I8: v.i = std::int8_t(bits); break;
    case GgufValueType::I16: v.i = std::int16_t(bits); break;
    case GgufValueType::I32: v.i = std::int32_t(bits); break;
    case GgufValueType::I64: v.i = std::int64_t(bits); break;
    case GgufValueType::F32: {
      float x;
      std::uint32_t b = std::uint32_t(bits);
      std::memcpy(&x, &b, 4);
      v.f = x;
      break;
    }
    case GgufValueType::F64: std::memcpy(&v.f, &bits, 8); break;
    default: v.u = bits; break;  // U8, U16, U32, U64, Bool
  }
  return v;
}

std::uint64_t round_up(std::uint64_t n, std::uint64_t alignment) {
  std::uint64_t rest = n % alignment;
  return rest == 0 ? n : n + (alignment - rest);  // callers keep n far below 2^64 - alignment
}

class Parser {
 public:
  Parser(const std::uint8_t* bytes, std::size_t size, const std::string& origin)
      : bytes_(bytes), size_(size), origin_(origin) {}

  GgufFile parse(std::shared_ptr<const void> owner);

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorCode::Decode, (origin_.empty() ? "" : quoted(origin_, 300) + ": ") + "gguf: " + message);
  }
  std::uint64_t left() const { return size_ - pos_; }

  // n bytes of `what` at the current position, or a truncation error.
  const std::uint8_t* take(std::uint64_t n, const std::string& what) {
    if (n > left())
      fail("the file ends in " + what + ": it needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
           ", the file has " + std::to_string(size_));
    const std::uint8_t* p = bytes_ + pos_;
    pos_ += std::size_t(n);
    return p;
  }
  std::uint32_t u32(const std::string& what) { return std::uint32_t(little_endian(take(4, what), 4)); }
  std::uint64_t u64(const std::string& what) { return little_endian(take(8, what), 8); }
  std::string string(const std::string& what) {
    std::uint64_t n = u64("the length of " + what);
    if (n > kMaxStringBytes)
      fail(what + " is " + std::to_string(n) + " bytes long, more than the limit of " + std::to_string(kMaxStringBytes));
    const std::uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), std::size_t(n));
  }

  GgufValue value(std::uint32_t type, const std::string& what, int depth);
  GgufValue array(const std::string& what, int depth);
  void tensor_info(GgufFile& file, std::size_t index, std::uint64_t& expected_offset);

  const std::uint8_t* bytes_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& origin_;
};

GgufValue Parser::value(std::uint32_t type, const std::string& what, int depth) {
  if (type > std::uint32_t(GgufValueType::F64)) fail(what + " has unknown value type " + std::to_string(type));
  if (GgufValueType(type) == GgufValueType::String) {
    GgufValue v;
    v.type = GgufValueType::String;
    v.s = string(what);
    return v;
  }
  if (GgufValueType(type) == GgufValueType::Array) return array(what, depth + 1);
  const std::uint8_t* p = take(scalar_size(type), what);
  if (GgufValueType(type) == GgufValueType::Bool && *p > 1)
    fail(what + " is a bool of value " + std::to_string(*p) + ", not 0 or 1");
  return scalar_value(GgufValueType(type), p);
}

GgufValue Parser::array(const std::string& what, int depth) {
  if (depth > kMaxArrayDepth) fail(what + " nests arrays deeper than " + std::to_string(kMaxArrayDepth) + " levels");
  GgufValue v;
  v.type = GgufValueType::Array;
  std::uint32_t type = u32("the element type of " + what);
  if (type > std::uint32_t(GgufValueType::F64)) fail(what + " is an array of unknown value type " + std::to_string(type));
  v.element_type = GgufValueType(type);
  v.count = u64("the element count of " + what);
  const std::string elements = std::string(" element") + (v.count == 1 ? "" : "s");
  if (v.count > kMaxArrayElements)
    fail(what + " has " + std::to_string(v.count) + elements + ", more than the limit of " + std::to_string(kMaxArrayElements));
  // Each element takes at least this many bytes of the file: a scalar its size, a string its
  // length, an array its element type and count.
  std::uint64_t least = scalar_size(type) ? scalar_size(type) : v.element_type == GgufValueType::String ? 8 : 12;
  if (v.count * least > left())
    fail("the file ends in " + what + ": " + std::to_string(v.count) + " " + gguf_value_type_name(type) + elements +
         " need at least " + std::to_string(v.count * least) + " bytes at offset " + std::to_string(pos_) +
         ", the file has " + std::to_string(size_));
  if (scalar_size(type)) {
    const std::uint8_t* p = take(v.count * least, what);
    if (v.element_type == GgufValueType::Bool)
      for (std::uint64_t k = 0; k < v.count; ++k)
        if (p[k] > 1) fail(what + "[" + std::to_string(k) + "] is a bool of value " + std::to_string(p[k]) + ", not 0 or 1");
    v.raw.assign(p, p + v.count * least);
  } else if (v.element_type == GgufValueType::String) {
    v.strings.reserve(std::size_t(v.count));
    for (std::uint64_t k = 0; k < v.count; ++k) v.strings.push_back(string(what + "[" + std::to_string(k) + "]"));
  } else {
    v.items.reserve(std::size_t(v.count));
    for (std::uint64_t k = 0; k < v.count; ++k) v.items.push_back(array(what + "[" + std::to_string(k) + "]", depth + 1));
  }
  return v;
}

void Parser::tensor_info(GgufFile& file, std::size_t index, std::uint64_t& expected_offset) {
  std::string name = string("the name of tensor #" + std::to_string(index));
  if (name.empty()) fail("the name of tensor #" + std::to_string(index) + " is empty");
  const std::string what = "tensor " + quoted(name);
  if (!file.index.emplace(name, index).second) fail(what + " appears twice");
  std::uint32_t n_dims = u32("the dimension count of " + what);
  if (n_dims < 1 || n_dims > kMaxDims)
    fail(what + " has " + std::to_string(n_dims) + " dimensions, must have 1 to " + std::to_string(kMaxDims));
  GgufTensorInfo info;
  info.name = name;
  info.shape.assign(n_dims, 0);
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    std::uint64_t ne = u64("the dimensions of " + what);
    if (ne == 0) fail(what + " has ne[" + std::to_string(d) + "] = 0: an empty tensor");
    if (ne > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      fail(what + " has ne[" + std::to_string(d) + "] = " + std::to_string(ne) + ", more than 2^63 - 1");
    info.shape[n_dims - 1 - d] = std::int64_t(ne);  // ne[0] is innermost: last in PyTorch order
  }
  std::uint32_t type = u32("the type of " + what);
  const std::string type_text = std::string(gguf_type_name(type)) + " (" + std::to_string(type) + ")";
  switch (GgufType(type)) {
    case GgufType::F32: case GgufType::F16: case GgufType::BF16: case GgufType::Q8_0: break;
    default: fail(what + " has type " + type_text + ", which is not supported (only F32, F16, BF16 and Q8_0 are)");
  }
  info.type = GgufType(type);
  info.offset = u64("the offset of " + what);

  std::uint64_t elements = 0;
  try {
    elements = HostTensor::element_count(info.shape);
  } catch (const Error&) {
    elements = std::numeric_limits<std::uint64_t>::max();
  }
  if (elements > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    fail(what + " of shape " + shape_text(info.shape) + " has more than 2^63 - 1 elements");
  std::uint64_t nbytes = 0;
  if (info.type == GgufType::Q8_0) {
    std::int64_t row = info.shape.back();
    if (row % kGgufQ8_0BlockElements != 0)
      fail(what + " of type Q8_0 has rows of " + std::to_string(row) + " elements, not a multiple of its block size " +
           std::to_string(kGgufQ8_0BlockElements));
    nbytes = elements / kGgufQ8_0BlockElements * kGgufQ8_0BlockBytes;  // < 2^58 blocks: times 34 fits
  } else {
    std::uint64_t element_bytes = info.type == GgufType::F32 ? 4 : 2;
    if (elements > kMaxDataBytes / element_bytes)
      fail(what + " of shape " + shape_text(info.shape) + " needs more than 2^62 bytes, more than any file holds");
    nbytes = elements * element_bytes;
  }

  if (info.offset % file.alignment != 0)
    fail(what + " starts at offset " + std::to_string(info.offset) + " of the data, not a multiple of the alignment " +
         std::to_string(file.alignment));
  if (info.offset != expected_offset)
    fail(what + " starts at offset " + std::to_string(info.offset) + " of the data, expected " +
         std::to_string(expected_offset) +
         (info.offset > expected_offset ? " (a gap after the previous tensor)" : " (it overlaps the previous tensor)"));
  // Past 2^62 no file could hold it: refused here so that the running sum cannot overflow.
  if (expected_offset > kMaxDataBytes || nbytes > kMaxDataBytes - expected_offset)
    fail(what + " needs " + std::to_string(nbytes) + " bytes at offset " + std::to_string(info.offset) +
         " of the data, more than any file holds");
  info.nbytes = std::size_t(nbytes);
  expected_offset = round_up(expected_offset + nbytes, file.alignment);
  file.tensors.push_back(std::move(info));
}

GgufFile Parser::parse(std::shared_ptr<const void> owner) {
  GgufFile file;
  const std::uint8_t* magic = take(4, "the magic");
  if (std::memcmp(magic, "GGUF", 4) != 0)
    fail("not a GGUF file: it starts with " + quoted(std::string(reinterpret_cast<const char*>(magic), 4)) +
         ", not 'GGUF'");
  file.version = u32("the version");
  if (file.version != 2 && file.version != 3) {
    if (file.version != 0 && (file.version & 0xffff) == 0)
      fail("version " + std::to_string(file.version) + " is " + std::to_string(file.version >> 24) +
           " read in the wrong byte order: big-endian files are not supported");
    fail("version " + std::to_string(file.version) + " is not supported (only 2 and 3 are)");
  }
  std::uint64_t tensor_count = u64("the tensor count");
  std::uint64_t entry_count = u64("the metadata count");
  if (tensor_count > left() / kMinTensorInfoBytes)
    fail(std::to_string(tensor_count) + " tensors cannot fit in the " + std::to_string(left()) +
         " bytes left (a tensor info takes at least " + std::to_string(kMinTensorInfoBytes) + ")");
  if (entry_count > (left() - tensor_count * kMinTensorInfoBytes) / kMinEntryBytes)
    fail(std::to_string(entry_count) + " metadata entries and " + std::to_string(tensor_count) +
         " tensors cannot fit in the " + std::to_string(left()) + " bytes left");

  for (std::uint64_t k = 0; k < entry_count; ++k) {
    std::string key = string("the key of metadata entry #" + std::to_string(k));
    const std::string what = "metadata " + quoted(key);
    if (file.metadata.count(key)) fail(what + " appears twice");
    std::uint32_t type = u32("the value type of " + what);
    file.metadata.emplace(key, value(type, what, 0));
  }
  if (const GgufValue* alignment = file.value(kAlignmentKey)) {
    if (alignment->type != GgufValueType::U32)
      fail(std::string("metadata '") + kAlignmentKey + "' has type " +
           gguf_value_type_name(std::uint32_t(alignment->type)) + ", must be u32");
    if (alignment->u == 0 || alignment->u % 8 != 0)
      fail(std::string("metadata '") + kAlignmentKey + "' is " + std::to_string(alignment->u) +
           ", must be a non-zero multiple of 8");
    file.alignment = std::size_t(alignment->u);
  } else {
    file.alignment = kDefaultAlignment;
  }

  file.tensors.reserve(std::size_t(tensor_count));
  std::uint64_t expected_offset = 0;
  for (std::uint64_t k = 0; k < tensor_count; ++k) tensor_info(file, std::size_t(k), expected_offset);

  // The data section may start past the end when there are no tensors (nothing is read there).
  const std::uint64_t data_start = round_up(pos_, file.alignment);
  file.data_start = std::size_t(data_start);
  for (GgufTensorInfo& info : file.tensors) {
    std::uint64_t begin = data_start + info.offset;  // both below 2^63
    if (begin > size_ || info.nbytes > size_ - begin)
      fail("tensor " + quoted(info.name) + " runs past the end of the file: it needs " + std::to_string(info.nbytes) +
           " bytes at offset " + std::to_string(begin) + ", the file has " + std::to_string(size_));
    info.data = bytes_ + begin;
  }
  file.owner = std::move(owner);
  return file;
}

}  // namespace

const char* gguf_type_name(std::uint32_t type) {
  // ggml's enum ggml_type (ggml.h); ids 4, 5, 31-33 and 36-38 were removed from ggml since.
  static const char* const names[] = {
      "F32",     "F16",      "Q4_0",     "Q4_1",   "Q4_2",   "Q4_3",       "Q5_0",       "Q5_1",
      "Q8_0",    "Q8_1",     "Q2_K",     "Q3_K",   "Q4_K",   "Q5_K",       "Q6_K",       "Q8_K",
      "IQ2_XXS", "IQ2_XS",   "IQ3_XXS",  "IQ1_S",  "IQ4_NL", "IQ3_S",      "IQ2_S",      "IQ4_XS",
      "I8",      "I16",      "I32",      "I64",    "F64",    "IQ1_M",      "BF16",       "Q4_0_4_4",
      "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",   "TQ2_0",  "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
  return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

const char* gguf_value_type_name(std::uint32_t type) {
  static const char* const names[] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

GgufValue GgufValue::at(std::size_t index) const {
  if (type != GgufValueType::Array)
    throw Error(ErrorCode::InvalidArgument, std::string("gguf: a ") + gguf_value_type_name(std::uint32_t(type)) +
                                                " value has no elements");
  if (index >= count)
    throw Error(ErrorCode::InvalidArgument, "gguf: element " + std::to_string(index) + " of an array of " +
                                                std::to_string(count));
  if (element_type == GgufValueType::String) {
    GgufValue v;
    v.type = GgufValueType::String;
    v.s = strings[index];
    return v;
  }
  if (element_type == GgufValueType::Array) return items[index];
  return scalar_value(element_type, raw.data() + index * scalar_size(std::uint32_t(element_type)));
}

const GgufTensorInfo* GgufFile::find(const std::string& name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

const GgufValue* GgufFile::value(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

GgufFile parse_gguf(const std::uint8_t* bytes, std::size_t size, std::shared_ptr<const void> owner,
                    const std::string& origin) {
  return Parser(bytes, size, origin).parse(std::move(owner));
}

GgufFile read_gguf(const std::string& path, MapAdvice advice) {
  std::shared_ptr<const MappedFile> map = map_file(path, advice);
  return parse_gguf(map->data, map->size, map, path);
}

}  // namespace inpaint::detail
