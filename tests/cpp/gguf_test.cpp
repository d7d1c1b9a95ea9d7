// The GGUF reader (every rule of the format, every cut point of a file), the read-only memory
// map and map_safetensors. The GGUF files are made here byte by byte.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include "core/files.hpp"
#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"
#include "store/gguf.hpp"
#include "store/safetensors.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace inpaint;
using namespace inpaint::detail;
using inpaint::test::code_of;

namespace {

// ------------------------------------------------------------------ a GGUF writer of our own

std::string le(std::uint64_t v, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) out += char((v >> (8 * k)) & 0xff);
  return out;
}
std::string u32(std::uint32_t v) { return le(v, 4); }
std::string u64(std::uint64_t v) { return le(v, 8); }
std::string gstr(const std::string& s) { return u64(s.size()) + s; }
std::string f32_bytes(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  return u32(b);
}
std::string f64_bytes(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, 8);
  return u64(b);
}

// One metadata entry: key, value type, value bytes.
std::string entry(const std::string& key, std::uint32_t type, const std::string& value) {
  return gstr(key) + u32(type) + value;
}
// An array value (without its own type id): element type, count, elements.
std::string array(std::uint32_t type, std::uint64_t count, const std::string& elements) {
  return u32(type) + u64(count) + elements;
}

struct TensorSpec {
  TensorSpec(std::string n, std::uint32_t t, std::vector<std::uint64_t> dims, std::string bytes)
      : name(std::move(n)), type(t), ne(std::move(dims)), data(std::move(bytes)) {}
  std::string name;
  std::uint32_t type = 0;
  std::vector<std::uint64_t> ne;  // innermost first, as in the file
  std::string data;
  std::optional<std::uint64_t> offset;  // else where the tensor belongs
};

struct FileSpec {
  std::string magic = "GGUF";
  std::uint32_t version = 3;
  std::vector<std::string> entries;
  std::vector<TensorSpec> tensors;
  std::size_t alignment = 32;  // for the layout; write general.alignment as an entry too
  std::optional<std::uint64_t> tensor_count, entry_count;
  bool pad_last = false;  // pad the last tensor's data to the alignment
};

std::size_t padded(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

std::string build(const FileSpec& spec) {
  std::string out = spec.magic + u32(spec.version) + u64(spec.tensor_count.value_or(spec.tensors.size())) +
                    u64(spec.entry_count.value_or(spec.entries.size()));
  for (const std::string& e : spec.entries) out += e;
  std::uint64_t offset = 0;
  for (const TensorSpec& t : spec.tensors) {
    out += gstr(t.name) + u32(std::uint32_t(t.ne.size()));
    for (std::uint64_t n : t.ne) out += u64(n);
    out += u32(t.type) + u64(t.offset.value_or(offset));
    offset = padded(offset + t.data.size(), spec.alignment);
  }
  out.resize(padded(out.size(), spec.alignment), '\0');
  for (std::size_t k = 0; k < spec.tensors.size(); ++k) {
    out += spec.tensors[k].data;
    if (k + 1 < spec.tensors.size() || spec.pad_last) out.resize(padded(out.size(), spec.alignment), '\0');
  }
  return out;
}

std::string counting(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t k = 0; k < n; ++k) s[k] = char(k * 13 + seed);
  return s;
}

// Q8_0 rows of `row` elements: blocks of an fp16 scale and 32 int8 values.
std::string q8_0(std::size_t rows, std::size_t row, int seed) { return counting(rows * (row / 32) * 34, seed); }

const std::vector<TensorSpec> kTensors = {
    {"img_in.bias", 0, {3}, counting(12, 1)},
    {"img_in.weight", 1, {4, 2}, counting(16, 2)},
    {"time_in.weight", 30, {2, 3, 2}, counting(24, 3)},
    {"double_blocks.0.img_attn.qkv.weight", 8, {64, 3}, q8_0(3, 64, 4)},
};

// Metadata of every value type.
std::vector<std::string> every_value() {
  return {
      entry("v.u8", 0, le(200, 1)),
      entry("v.i8", 1, le(std::uint8_t(-5), 1)),
      entry("v.u16", 2, le(60000, 2)),
      entry("v.i16", 3, le(std::uint16_t(-30000), 2)),
      entry("v.u32", 4, u32(4000000000u)),
      entry("v.i32", 5, u32(std::uint32_t(-2000000000))),
      entry("v.f32", 6, f32_bytes(1.5f)),
      entry("v.bool", 7, le(1, 1)),
      entry("general.architecture", 8, gstr("flux")),
      entry("v.i32s", 9, array(5, 3, u32(1) + u32(std::uint32_t(-2)) + u32(3))),
      entry("v.u64", 10, u64(1ull << 40)),
      entry("v.i64", 11, u64(std::uint64_t(-(1ll << 40)))),
      entry("v.f64", 12, f64_bytes(-2.25)),
      entry("v.strings", 9, array(8, 2, gstr("a") + gstr("bc"))),
      entry("v.nested", 9, array(9, 2, array(0, 2, "\x01\x02") + array(8, 1, gstr("x")))),
      entry("v.bools", 9, array(7, 2, std::string("\x00\x01", 2))),
      entry("v.empty", 9, array(6, 0, "")),
  };
}

std::string valid_file() {
  FileSpec spec;
  spec.entries = every_value();
  spec.tensors = kTensors;
  return build(spec);
}

GgufFile parse(const std::string& bytes, const std::string& origin = "test.gguf") {
  return parse_gguf(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), nullptr, origin);
}

// The Decode message of parsing bytes; a failure when they parse or fail otherwise.
std::string parse_error(const std::string& bytes) {
  // An exact-size copy, so that a sanitizer sees any read past the end.
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
  try {
    parse_gguf(copy.data(), copy.size(), nullptr, "bad.gguf");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Decode) << e.what();
    EXPECT_NE(std::string(e.what()).find("'bad.gguf': gguf: "), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "parsed without an error";
  return "";
}

// text holds part (text is evaluated once: it may be a parse_error call).
#define EXPECT_HAS(text, part)                                        \
  do {                                                                \
    const std::string has_text_ = (text);                             \
    EXPECT_NE(has_text_.find(part), std::string::npos) << has_text_; \
  } while (0)

FileSpec one_tensor(TensorSpec t) {
  FileSpec spec;
  spec.tensors = {std::move(t)};
  return spec;
}

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/inpaint_gguf_XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

}  // namespace

// ------------------------------------------------------------------ what a valid file holds

TEST(Gguf, ReadsEveryTensorTypeWithItsShapeReversed) {
  const std::string bytes = valid_file();
  GgufFile file = parse(bytes);
  EXPECT_EQ(file.version, 3u);
  EXPECT_EQ(file.alignment, 32u);
  EXPECT_EQ(file.data_start % 32, 0u);
  ASSERT_EQ(file.tensors.size(), kTensors.size());
  const std::vector<std::vector<std::int64_t>> shapes = {{3}, {2, 4}, {2, 3, 2}, {3, 64}};
  const GgufType types[] = {GgufType::F32, GgufType::F16, GgufType::BF16, GgufType::Q8_0};
  std::uint64_t offset = 0;
  for (std::size_t k = 0; k < kTensors.size(); ++k) {
    const GgufTensorInfo& t = file.tensors[k];
    EXPECT_EQ(t.name, kTensors[k].name);
    EXPECT_EQ(t.type, types[k]);
    EXPECT_EQ(t.shape, shapes[k]);
    EXPECT_EQ(t.offset, offset);
    EXPECT_EQ(t.nbytes, kTensors[k].data.size());
    EXPECT_EQ(t.data, reinterpret_cast<const std::uint8_t*>(bytes.data()) + file.data_start + t.offset);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data), t.nbytes), kTensors[k].data);
    EXPECT_EQ(file.find(t.name), &t);
    offset = padded(offset + t.nbytes, 32);
  }
  EXPECT_EQ(file.tensors[3].nbytes, 3u * 2 * 34);  // 3 rows of 2 Q8_0 blocks
  EXPECT_EQ(file.find("missing"), nullptr);
}

TEST(Gguf, ReadsMetadataOfEveryValueType) {
  GgufFile file = parse(valid_file());
  EXPECT_EQ(file.metadata.size(), every_value().size());
  auto v = [&](const std::string& key) -> const GgufValue& {
    const GgufValue* value = file.value(key);
    if (!value) throw std::runtime_error("no " + key);
    return *value;
  };
  EXPECT_EQ(v("v.u8").type, GgufValueType::U8);
  EXPECT_EQ(v("v.u8").u, 200u);
  EXPECT_EQ(v("v.i8").i, -5);
  EXPECT_EQ(v("v.u16").u, 60000u);
  EXPECT_EQ(v("v.i16").i, -30000);
  EXPECT_EQ(v("v.u32").u, 4000000000u);
  EXPECT_EQ(v("v.i32").type, GgufValueType::I32);
  EXPECT_EQ(v("v.i32").i, -2000000000);
  EXPECT_EQ(v("v.f32").f, 1.5);
  EXPECT_EQ(v("v.bool").type, GgufValueType::Bool);
  EXPECT_EQ(v("v.bool").u, 1u);
  EXPECT_EQ(v("general.architecture").s, "flux");
  EXPECT_EQ(v("v.u64").u, 1ull << 40);
  EXPECT_EQ(v("v.i64").i, -(1ll << 40));
  EXPECT_EQ(v("v.f64").f, -2.25);
  const GgufValue& ints = v("v.i32s");
  EXPECT_EQ(ints.type, GgufValueType::Array);
  EXPECT_EQ(ints.element_type, GgufValueType::I32);
  ASSERT_EQ(ints.count, 3u);
  EXPECT_EQ(ints.raw.size(), 12u);
  EXPECT_EQ(ints.at(1).type, GgufValueType::I32);
  EXPECT_EQ(ints.at(1).i, -2);
  EXPECT_EQ(ints.at(2).i, 3);
  EXPECT_EQ(code_of([&] { ints.at(3); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { v("v.u8").at(0); }), ErrorCode::InvalidArgument);
  const GgufValue& strings = v("v.strings");
  EXPECT_EQ(strings.strings, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(strings.at(1).s, "bc");
  const GgufValue& nested = v("v.nested");
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(nested.at(0).element_type, GgufValueType::U8);
  EXPECT_EQ(nested.at(0).at(1).u, 2u);
  EXPECT_EQ(nested.at(1).at(0).s, "x");
  EXPECT_EQ(v("v.bools").at(0).u, 0u);
  EXPECT_EQ(v("v.bools").at(1).u, 1u);
  EXPECT_EQ(v("v.empty").count, 0u);
  EXPECT_EQ(v("v.empty").element_type, GgufValueType::F32);
  EXPECT_EQ(file.value("missing"), nullptr);
}

TEST(Gguf, FollowsACustomAlignment) {
  FileSpec spec;
  spec.entries = {entry("general.alignment", 4, u32(64))};
  spec.tensors = kTensors;
  spec.alignment = 64;
  const std::string bytes = build(spec);
  GgufFile file = parse(bytes);
  EXPECT_EQ(file.alignment, 64u);
  EXPECT_EQ(file.data_start % 64, 0u);
  for (const GgufTensorInfo& t : file.tensors) {
    EXPECT_EQ(t.offset % 64, 0u) << t.name;
    EXPECT_EQ(std::size_t(t.data - reinterpret_cast<const std::uint8_t*>(bytes.data())) % 64, 0u) << t.name;
  }
  EXPECT_EQ(file.tensors[1].offset, 64u);  // 12 bytes padded to 64
  // The same tensors laid out for 32 do not follow an alignment of 64.
  spec.alignment = 32;
  EXPECT_HAS(parse_error(build(spec)), "not a multiple of the alignment 64");
}

TEST(Gguf, AcceptsVersion2AndNoTensors) {
  FileSpec spec;
  spec.version = 2;
  spec.tensors = kTensors;
  EXPECT_EQ(parse(build(spec)).version, 2u);
  // No tensors: the data section may start past the end of the file.
  FileSpec empty;
  empty.entries = {entry("general.architecture", 8, gstr("flux"))};
  GgufFile file = parse(build(empty).substr(0, 24 + empty.entries[0].size()));
  EXPECT_TRUE(file.tensors.empty());
  // Trailing padding after the last tensor is fine too.
  spec.pad_last = true;
  EXPECT_EQ(parse(build(spec)).tensors.size(), kTensors.size());
}

// ------------------------------------------------------------------ every bad input

TEST(Gguf, EveryCutPointIsADecodeError) {
  const std::string bytes = valid_file();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + std::ptrdiff_t(n));
    std::string message;
    EXPECT_EQ(code_of([&] { parse_gguf(prefix.data(), prefix.size(), nullptr, "cut.gguf"); }, &message),
              ErrorCode::Decode)
        << "cut at " << n;
    EXPECT_HAS(message, "gguf: ");
  }
  EXPECT_EQ(code_of([] { parse_gguf(nullptr, 0, nullptr, ""); }), ErrorCode::Decode);
}

TEST(Gguf, RefusesAnotherMagicOrVersion) {
  FileSpec spec;
  spec.magic = "GGML";
  EXPECT_HAS(parse_error(build(spec)), "not a GGUF file");
  spec.magic = "GGUF";
  for (std::uint32_t version : {0u, 1u, 4u}) {
    spec.version = version;
    EXPECT_HAS(parse_error(build(spec)), "version " + std::to_string(version) + " is not supported (only 2 and 3 are)");
  }
  spec.version = 0x03000000;  // version 3 written big-endian
  EXPECT_HAS(parse_error(build(spec)), "big-endian");
}

TEST(Gguf, RefusesAnUnsupportedTensorTypeByName) {
  EXPECT_HAS(parse_error(build(one_tensor({"w", 12, {256}, std::string(144, '\0')}))),
             "tensor 'w' has type Q4_K (12), which is not supported");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 2, {32}, std::string(18, '\0')}))), "Q4_0 (2)");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 1000, {32}, ""}))), "unknown (1000)");
  EXPECT_STREQ(gguf_type_name(39), "MXFP4");
  EXPECT_STREQ(gguf_type_name(30), "BF16");
  EXPECT_STREQ(gguf_type_name(40), "unknown");
}

TEST(Gguf, RefusesAQ8_0RowThatIsNotWholeBlocks) {
  std::string message = parse_error(build(one_tensor({"w", 8, {48, 2}, std::string(68, '\0')})));
  EXPECT_HAS(message, "tensor 'w' of type Q8_0 has rows of 48 elements, not a multiple of its block size 32");
}

TEST(Gguf, RefusesTensorsThatAreNotBackToBack) {
  FileSpec spec;
  spec.tensors = {kTensors[0], kTensors[1]};
  spec.tensors[1].offset = 36;
  EXPECT_HAS(parse_error(build(spec)), "tensor 'img_in.weight' starts at offset 36 of the data, not a multiple of the alignment 32");
  spec.tensors[1].offset = 64;
  EXPECT_HAS(parse_error(build(spec)), "starts at offset 64 of the data, expected 32 (a gap after the previous tensor)");
  spec.tensors[1].offset = 0;
  EXPECT_HAS(parse_error(build(spec)), "starts at offset 0 of the data, expected 32 (it overlaps the previous tensor)");
  spec.tensors = {kTensors[0]};
  spec.tensors[0].offset = 32;
  EXPECT_HAS(parse_error(build(spec)), "tensor 'img_in.bias' starts at offset 32 of the data, expected 0");
}

TEST(Gguf, RefusesATensorPastTheEnd) {
  std::string bytes = valid_file();
  bytes.pop_back();
  const std::size_t q8_begin = bytes.size() + 1 - 204;
  EXPECT_HAS(parse_error(bytes), "tensor 'double_blocks.0.img_attn.qkv.weight' runs past the end of the file: it needs 204 bytes at offset " +
                                     std::to_string(q8_begin) + ", the file has " + std::to_string(bytes.size()));
  // A tensor far larger than the file.
  FileSpec spec = one_tensor({"w", 0, {1ull << 40}, ""});
  EXPECT_HAS(parse_error(build(spec)), "runs past the end of the file: it needs 4398046511104 bytes");
}

TEST(Gguf, RefusesBadDimensions) {
  EXPECT_HAS(parse_error(build(one_tensor({"w", 0, {}, ""}))), "tensor 'w' has 0 dimensions, must have 1 to 4");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 0, {1, 1, 1, 1, 1}, "abcd"}))), "has 5 dimensions");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 0, {3, 0}, ""}))), "tensor 'w' has ne[1] = 0: an empty tensor");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 0, {1ull << 63}, ""}))), "more than 2^63 - 1");
  // Element counts and byte sizes that overflow.
  EXPECT_HAS(parse_error(build(one_tensor({"w", 0, {1ull << 32, 1ull << 32, 1ull << 32}, ""}))),
             "of shape [4294967296, 4294967296, 4294967296] has more than 2^63 - 1 elements");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 0, {1ull << 60, 2}, ""}))), "needs more than 2^62 bytes");
  EXPECT_HAS(parse_error(build(one_tensor({"w", 8, {1ull << 62, 1}, ""}))), "more than any file holds");
}

TEST(Gguf, RefusesDuplicates) {
  FileSpec spec;
  spec.tensors = {kTensors[0], kTensors[0]};
  EXPECT_HAS(parse_error(build(spec)), "tensor 'img_in.bias' appears twice");
  spec.tensors = {kTensors[0]};
  spec.entries = {entry("a", 4, u32(1)), entry("a", 8, gstr("x"))};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'a' appears twice");
  spec.entries.clear();
  spec.tensors[0].name = "";
  EXPECT_HAS(parse_error(build(spec)), "the name of tensor #0 is empty");
}

TEST(Gguf, RefusesHugeCountsAndLengths) {
  FileSpec spec;
  spec.tensor_count = 1ull << 60;
  EXPECT_HAS(parse_error(build(spec)), "1152921504606846976 tensors cannot fit in the 8 bytes left");
  spec.tensor_count.reset();
  spec.entry_count = ~0ull;
  EXPECT_HAS(parse_error(build(spec)), "18446744073709551615 metadata entries and 0 tensors cannot fit in the 8 bytes left");
  spec.entry_count.reset();
  // A string: over the limit, and within it but longer than the file.
  const std::string filler(64, '\0');  // so that the entry count fits the bytes left
  spec.entries = {u64(1ull << 40) + "key" + filler};
  EXPECT_HAS(parse_error(build(spec)), "the key of metadata entry #0 is 1099511627776 bytes long, more than the limit");
  spec.entries = {u64((1ull << 30) + 1) + filler};
  EXPECT_HAS(parse_error(build(spec)), "is 1073741825 bytes long");
  spec.entries = {entry("s", 8, u64(1000) + "abc")};
  EXPECT_HAS(parse_error(build(spec)), "the file ends in metadata 's': it needs 1000 bytes at offset");
  // Arrays: over the limit, and within it but longer than the file.
  spec.entries = {entry("a", 9, array(0, (1ull << 30) + 1, ""))};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'a' has 1073741825 elements, more than the limit of 1073741824");
  spec.entries = {entry("a", 9, array(10, 1ull << 29, "12345678"))};
  EXPECT_HAS(parse_error(build(spec)), "536870912 u64 elements need at least 4294967296 bytes");
  spec.entries = {entry("a", 9, array(8, 1ull << 29, ""))};
  EXPECT_HAS(parse_error(build(spec)), "536870912 string elements need at least");
  spec.entries = {entry("a", 9, array(9, 1ull << 29, ""))};
  EXPECT_HAS(parse_error(build(spec)), "536870912 array elements need at least");
}

TEST(Gguf, RefusesBadValues) {
  FileSpec spec;
  spec.entries = {entry("k", 13, "")};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'k' has unknown value type 13");
  spec.entries = {entry("k", 9, array(99, 0, ""))};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'k' is an array of unknown value type 99");
  spec.entries = {entry("k", 7, "\x02")};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'k' is a bool of value 2, not 0 or 1");
  spec.entries = {entry("k", 9, array(7, 2, "\x01\x05"))};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'k'[1] is a bool of value 5");
  // Arrays in arrays: 8 levels are fine, 9 are not.
  auto nested = [](int levels) {
    std::string value = array(0, 1, "\x07");
    for (int k = 1; k < levels; ++k) value = array(9, 1, value);
    return value;
  };
  spec.entries = {entry("k", 9, nested(8))};
  EXPECT_EQ(parse(build(spec)).value("k")->at(0).at(0).at(0).at(0).at(0).at(0).at(0).at(0).u, 7u);
  spec.entries = {entry("k", 9, nested(9))};
  EXPECT_HAS(parse_error(build(spec)), "nests arrays deeper than 8 levels");
}

TEST(Gguf, RefusesABadAlignment) {
  FileSpec spec;
  spec.tensors = {kTensors[0]};
  for (std::uint32_t alignment : {0u, 12u, 4u}) {
    spec.entries = {entry("general.alignment", 4, u32(alignment))};
    EXPECT_HAS(parse_error(build(spec)), "metadata 'general.alignment' is " + std::to_string(alignment) +
                                             ", must be a non-zero multiple of 8");
  }
  spec.entries = {entry("general.alignment", 5, u32(32))};
  EXPECT_HAS(parse_error(build(spec)), "metadata 'general.alignment' has type i32, must be u32");
  spec.entries = {entry("general.alignment", 4, u32(8))};
  spec.alignment = 8;
  EXPECT_EQ(parse(build(spec)).alignment, 8u);
}

TEST(Gguf, ReadGgufMapsTheFileAndNamesItInErrors) {
  TempDir dir;
  const std::string bytes = valid_file();
  const std::string path = write_bytes(dir / "model.gguf", bytes);
  GgufFile file = read_gguf(path);
  ASSERT_EQ(file.tensors.size(), kTensors.size());
  EXPECT_NE(file.owner, nullptr);
  const GgufTensorInfo* q = file.find("double_blocks.0.img_attn.qkv.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(q->data), q->nbytes), kTensors[3].data);
  // The map outlives the file's name.
  fs::remove(path);
  GgufFile copy = read_gguf(write_bytes(dir / "again.gguf", bytes));
  fs::remove(dir / "again.gguf");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(copy.tensors[0].data), 12), kTensors[0].data);

  std::string message;
  EXPECT_EQ(code_of([&] { read_gguf(write_bytes(dir / "cut.gguf", bytes.substr(0, 30))); }, &message), ErrorCode::Decode);
  EXPECT_HAS(message, "cut.gguf': gguf: 4 tensors cannot fit in the 6 bytes left");
  EXPECT_EQ(code_of([&] { read_gguf(dir / "missing.gguf"); }, &message), ErrorCode::Io);
  EXPECT_HAS(message, "missing.gguf");
  EXPECT_EQ(code_of([&] { read_gguf(dir / "empty.gguf"); }), ErrorCode::Io);
  EXPECT_EQ(code_of([&] { read_gguf(write_bytes(dir / "empty.gguf", "")); }), ErrorCode::Decode);
}

// ------------------------------------------------------------------ map_file, map_safetensors

TEST(MapFile, MapsAFileReadOnly) {
  TempDir dir;
  const std::string bytes = counting(10000, 7);
  std::shared_ptr<const MappedFile> map = map_file(write_bytes(dir / "f.bin", bytes), MapAdvice::Sequential);
  ASSERT_EQ(map->size, bytes.size());
  EXPECT_EQ(std::memcmp(map->data, bytes.data(), bytes.size()), 0);
  EXPECT_EQ(map_file(dir / "f.bin", MapAdvice::WillNeed)->size, bytes.size());
  std::shared_ptr<const MappedFile> empty = map_file(write_bytes(dir / "empty", ""));
  EXPECT_EQ(empty->size, 0u);
  EXPECT_EQ(empty->data, nullptr);
}

TEST(MapFile, RefusesWhatIsNotARegularFile) {
  TempDir dir;
  std::string message;
  EXPECT_EQ(code_of([&] { map_file(dir / "missing"); }, &message), ErrorCode::Io);
  EXPECT_HAS(message, "missing': No such file or directory");
  EXPECT_EQ(code_of([&] { map_file(dir / ""); }, &message), ErrorCode::Io);
  EXPECT_HAS(message, "it is a directory");
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of([&] { map_file(fifo); }, &message), ErrorCode::Io);  // no writer: never waited on
  EXPECT_HAS(message, "it is a FIFO, not a regular file");
  EXPECT_EQ(code_of([&] { map_safetensors(fifo); }), ErrorCode::Io);
  EXPECT_EQ(code_of([&] { read_gguf(fifo); }), ErrorCode::Io);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(MapFile, MapSafetensorsReadsWhatWriteSafetensorsWrote) {
  TempDir dir;
  Encoding e;
  e.metadata.model_id = "flux-fill";
  e.metadata.extra["note"] = "mapped";
  HostTensor w = HostTensor::allocate(DType::BF16, {4, 8});
  for (std::size_t i = 0; i < w.nbytes(); ++i) w.mutable_data()[i] = std::uint8_t(i * 7);
  e.tensors["w"] = w;
  e.tensors["b"] = HostTensor::allocate(DType::F32, {3});
  const std::string path = dir / "weights.safetensors";
  write_safetensors(path, e);
  Encoding mapped = map_safetensors(path);
  fs::remove(path);  // the map keeps the file
  EXPECT_EQ(mapped.metadata.model_id, "flux-fill");
  EXPECT_EQ(mapped.metadata.extra.at("note"), "mapped");
  const HostTensor& t = mapped.tensor("w");
  EXPECT_EQ(t.dtype(), DType::BF16);
  EXPECT_EQ(t.shape(), (Shape{4, 8}));
  EXPECT_EQ(std::memcmp(t.data(), w.data(), w.nbytes()), 0);
  // The tensors own the map, not a copy.
  auto map = std::static_pointer_cast<const MappedFile>(t.owner());
  ASSERT_NE(map, nullptr);
  EXPECT_GE(t.data(), map->data);
  EXPECT_LE(t.data() + t.nbytes(), map->data + map->size);
  HostTensor kept = t;
  mapped = Encoding();
  EXPECT_EQ(std::memcmp(kept.data(), w.data(), w.nbytes()), 0);

  std::string message;
  EXPECT_EQ(code_of([&] { map_safetensors(write_bytes(dir / "bad.safetensors", "xyz")); }, &message), ErrorCode::Decode);
  EXPECT_HAS(message, "bad.safetensors': safetensors: file is 3 bytes");
  EXPECT_EQ(code_of([&] { map_safetensors(write_bytes(dir / "empty.safetensors", "")); }), ErrorCode::Decode);
  EXPECT_EQ(code_of([&] { map_safetensors(dir / "missing.safetensors"); }), ErrorCode::Io);
}
