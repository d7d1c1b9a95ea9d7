// HostTensor, safetensors (every rule of the format), ids and specs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "inpaint/inpaint.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace inpaint;

namespace {

const DType kAllDTypes[] = {DType::Bool, DType::U8,  DType::I8,      DType::U16,     DType::I16,     DType::U32,
                            DType::I32,  DType::U64, DType::I64,     DType::F16,     DType::BF16,    DType::F32,
                            DType::F64,  DType::F8_E4M3, DType::F8_E5M2, DType::F8_E8M0};

HostTensor counting(DType dtype, const Shape& shape, int seed = 0) {
  HostTensor t = HostTensor::allocate(dtype, shape);
  for (std::size_t i = 0; i < t.nbytes(); ++i) t.mutable_data()[i] = std::uint8_t(i * 31 + seed);
  return t;
}

Encoding sample_encoding() {
  Encoding e;
  e.metadata.model_id = "sam-test";
  e.metadata.model_checksum = "abc123";
  e.metadata.preprocessing = "resize=64";
  e.metadata.dtype = "BF16";
  e.metadata.original_width = 640;
  e.metadata.original_height = 480;
  e.metadata.created_at = 1764000000;
  e.metadata.extra["note"] = "ünïcode ✓";
  e.tensors["image_embed"] = counting(DType::BF16, {1, 4, 8, 8}, 1);
  e.tensors["high_res_0"] = counting(DType::F32, {1, 2, 16, 16}, 2);
  e.tensors["flags"] = counting(DType::Bool, {3}, 3);
  return e;
}

std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

// A safetensors file from a header given as JSON text and a data section.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string parse_error(const std::string& bytes) {
  try {
    parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), nullptr);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Decode) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "parsed without an error";
  return "";
}

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/inpaint_st_XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace

TEST(Tensor, DTypesHaveNamesAndSizes) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
    EXPECT_GT(dtype_size(d), 0u);
  }
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::F8_E4M3), 1u);
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  try {
    parse_dtype("F7");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BF16"), std::string::npos);
  }
}

TEST(Tensor, SizesAreOverflowChecked) {
  EXPECT_EQ(HostTensor::byte_size(DType::BF16, {1, 256, 288, 288}), 2u * 256 * 288 * 288);
  EXPECT_EQ(HostTensor::byte_size(DType::F32, {}), 4u);  // a scalar
  EXPECT_EQ(HostTensor::byte_size(DType::F32, {0, 5}), 0u);
  EXPECT_THROW(HostTensor::byte_size(DType::F64, {1ll << 40, 1ll << 30}), Error);
  EXPECT_THROW(HostTensor::byte_size(DType::U8, {-1}), Error);
}

TEST(Tensor, SharedOrWrappedTensorsAreReadOnly) {
  HostTensor t = HostTensor::allocate(DType::F32, {2});
  t.mutable_data()[0] = 1;
  HostTensor copy = t;
  EXPECT_THROW(t.mutable_data(), Error);  // another holder would see the write
  float value = 3;
  HostTensor wrapped = HostTensor::wrap(DType::F32, {1}, &value, nullptr);
  EXPECT_EQ(wrapped.data(), reinterpret_cast<const std::uint8_t*>(&value));
  EXPECT_THROW(wrapped.mutable_data(), Error);
}

TEST(Safetensors, RoundTripsEveryDtypeAndTheMetadata) {
  Encoding e = sample_encoding();
  for (DType d : kAllDTypes) e.tensors[std::string("t_") + dtype_name(d)] = counting(d, {3, 5}, int(d));
  e.tensors["empty"] = HostTensor::allocate(DType::F16, {0, 4});
  e.tensors["scalar"] = counting(DType::F64, {});
  std::vector<std::uint8_t> bytes = to_safetensors(e);
  EXPECT_EQ(bytes.size(), safetensors_size(e));
  auto owner = std::make_shared<std::vector<std::uint8_t>>(bytes);
  Encoding back = parse_safetensors(owner->data(), owner->size(), owner);
  ASSERT_EQ(back.tensors.size(), e.tensors.size());
  for (const auto& [name, t] : e.tensors) {
    const HostTensor& b = back.tensor(name);
    EXPECT_EQ(b.dtype(), t.dtype()) << name;
    EXPECT_EQ(b.shape(), t.shape()) << name;
    ASSERT_EQ(b.nbytes(), t.nbytes()) << name;
    EXPECT_EQ(0, std::memcmp(b.data(), t.data(), t.nbytes())) << name;
    EXPECT_EQ(std::uintptr_t(b.data() - owner->data()) % dtype_size(b.dtype()), 0u) << name << " is misaligned";
  }
  EXPECT_EQ(back.metadata.model_id, "sam-test");
  EXPECT_EQ(back.metadata.model_checksum, "abc123");
  EXPECT_EQ(back.metadata.preprocessing, "resize=64");
  EXPECT_EQ(back.metadata.dtype, "BF16");
  EXPECT_EQ(back.metadata.original_width, 640);
  EXPECT_EQ(back.metadata.original_height, 480);
  EXPECT_EQ(back.metadata.created_at, 1764000000);
  EXPECT_EQ(back.metadata.format_version, kEncodingFormatVersion);
  EXPECT_EQ(back.metadata.extra.at("note"), "ünïcode ✓");
  EXPECT_EQ(to_safetensors(back), bytes);  // deterministic: the same bytes again
}

TEST(Safetensors, HeaderIsPaddedAndTensorsOrderedBySizeThenName) {
  std::vector<std::uint8_t> bytes = to_safetensors(sample_encoding());
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(bytes[i]) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
  EXPECT_EQ(header["high_res_0"]["data_offsets"][0], 0);  // F32 first
  EXPECT_EQ(header["image_embed"]["data_offsets"][0], 2048);  // then BF16
  EXPECT_EQ(header["flags"]["data_offsets"][0], 2048 + 512);  // then BOOL
  EXPECT_EQ(header["__metadata__"]["original_width"], "640");
}

TEST(Safetensors, FilesAreMappedNotCopied) {
  TempDir dir;
  std::string path = dir / "e.safetensors";
  write_safetensors(path, sample_encoding());
  Encoding e = read_safetensors(path);
  const HostTensor& a = e.tensor("image_embed");
  const HostTensor& b = e.tensor("high_res_0");
  EXPECT_EQ(a.owner(), b.owner());  // one map holds both
  EXPECT_EQ(a.data() - b.data(), 2048);
  fs::remove(path);  // the map outlives the name
  EXPECT_EQ(a.data()[0], counting(DType::BF16, {1}, 1).data()[0]);
}

TEST(Safetensors, EveryRuleViolationIsAClearError) {
  const std::string t8 = R"("dtype":"F32","shape":[2],"data_offsets":)";
  struct Case {
    std::string bytes, needle;
  } cases[] = {
      {"", "shorter than the 8-byte header length"},
      {std::string("\x05\x00\x00", 3), "shorter than the 8-byte header length"},
      {raw_file("", ""), "must be a JSON object"},
      {raw_file("{}", "").substr(0, 9), "points past the end"},
      {std::string(8, '\0') + "{}", "exceeds the limit"},  // its length is set below
      {raw_file("[1,2]", ""), "JSON object"},
      {raw_file("{\"a\":", ""), "not valid UTF-8 JSON"},
      {raw_file("{\"\xff\xfe\":1}", ""), "UTF-8"},
      {raw_file("{\"a\":{" + t8 + "[0,8]},\"a\":{" + t8 + "[0,8]}}", std::string(8, 'x')), "key 'a' twice"},
      {raw_file("{\"a\":{" + t8 + "[0,8]},\"b\":{" + t8 + "[16,24]}}", std::string(24, 'x')), "tensor 'b'"},
      {raw_file("{\"a\":{" + t8 + "[0,8]},\"b\":{" + t8 + "[4,12]}}", std::string(12, 'x')), "overlaps"},
      {raw_file("{\"a\":{" + t8 + "[4,12]}}", std::string(12, 'x')), "a hole before it"},
      {raw_file("{\"a\":{" + t8 + "[0,12]}}", std::string(12, 'x')), "needs 8"},
      {raw_file("{\"a\":{" + t8 + "[8,0]}}", std::string(8, 'x')), "end before they begin"},
      {raw_file("{\"a\":{" + t8 + "[0,8]}}", std::string(9, 'x')), "buffer end must equal the file length"},
      {raw_file("{\"a\":{" + t8 + "[0,8]}}", std::string(7, 'x')), "the tensors end at byte 8 of the data but the data is 7"},
      {raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", std::string(8, 'x')),
       "overflows 64 bits"},
      {raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, 'x')), "non-negative"},
      {raw_file(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x')), "unknown dtype 'Q4'"},
      {raw_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x')), "missing 'dtype'"},
      {raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", std::string(8, 'x')), "data_offsets must be"},
      {raw_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__.k must be a string"},
      {raw_file(R"({"__metadata__":{"original_width":"wide"}})", ""), "original_width must be an integer"},
  };
  // The 5th case claims a header one byte above the limit.
  std::uint64_t over = kMaxSafetensorsHeader + 1;
  for (int i = 0; i < 8; ++i) cases[4].bytes[i] = char((over >> (8 * i)) & 0xff);
  for (const Case& c : cases) {
    std::string message = parse_error(c.bytes);
    EXPECT_NE(message.find(c.needle), std::string::npos) << "got: " << message << "\nexpected: " << c.needle;
  }
  // The tensor named in the error is the offending one.
  EXPECT_NE(parse_error(cases[9].bytes).find("tensor 'b': data_offsets begin at 16, expected 8"), std::string::npos);
}

TEST(Safetensors, TruncatedAndEmptyFilesNameThePath) {
  TempDir dir;
  std::vector<std::uint8_t> good = to_safetensors(sample_encoding());
  std::string truncated = write_bytes(dir / "t.safetensors", std::string(good.begin(), good.end() - 100));
  std::string empty = write_bytes(dir / "e.safetensors", "");
  for (const std::string& path : {truncated, empty}) {
    try {
      read_safetensors(path);
      FAIL() << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Decode);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  try {
    read_safetensors(dir / "missing.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
  }
}

TEST(Safetensors, WriterRefusesReservedOrEmptyNames) {
  Encoding e;
  e.tensors["__metadata__"] = counting(DType::U8, {1});
  EXPECT_THROW(to_safetensors(e), Error);
  Encoding f;
  f.tensors[""] = counting(DType::U8, {1});
  EXPECT_THROW(to_safetensors(f), Error);
}

TEST(EncodingId, DependsOnPixelsGeometryAndModel) {
  Image a = test::pattern_rgb(32, 24), b = test::pattern_rgb(32, 24);
  EXPECT_EQ(encoding_id(a, "sam1"), encoding_id(b, "sam1"));
  EXPECT_NE(encoding_id(a, "sam1"), encoding_id(a, "sam2"));
  b.data()[5] ^= 1;
  EXPECT_NE(encoding_id(a, "sam1"), encoding_id(b, "sam1"));
  ImageView tall = a.view();
  tall.width = 24;
  tall.height = 32;  // the same bytes, another image
  tall.stride = 0;   // packed: rows of 24 pixels (a's stride would read 32 rows of 96 bytes past the end)
  EXPECT_NE(pixel_sha256(a), pixel_sha256(tall));
  // A strided view hashes its pixels, not the padding.
  Image padded(40, 24, 3);
  for (int y = 0; y < 24; ++y) std::memcpy(padded.data() + y * 120, a.data() + y * 96, 96);
  ImageView strided{padded.data(), 32, 24, 3, 120};
  EXPECT_EQ(pixel_sha256(strided), pixel_sha256(a));
  EXPECT_EQ(encoding_id(a, "m").size(), 64u);
  EXPECT_NO_THROW(validate_encoding_id(encoding_id(a, "m")));
  EXPECT_THROW(encoding_id(a, ""), Error);
}

TEST(EncodingId, CallerIdsAreValidated) {
  for (std::string good : std::vector<std::string>{"a", "img-1.v2_x", std::string(128, 'z'), "a..b"}) EXPECT_NO_THROW(validate_encoding_id(good)) << good;
  for (std::string bad : std::vector<std::string>{"", ".hidden", "..", "../etc/passwd", "a/b", "a b", "a\\b", std::string(129, 'z'), "é",
                          std::string("a\0b", 3), "a:b", "a#1"}) {
    try {
      validate_encoding_id(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    }
  }
}

TEST(StoreSpec, SizesAndErrors) {
  EXPECT_EQ(parse_byte_size("4096"), 4096u);
  EXPECT_EQ(parse_byte_size("512MB"), 512'000'000u);
  EXPECT_EQ(parse_byte_size("4MiB"), 4u << 20);
  EXPECT_EQ(parse_byte_size("10GB"), 10'000'000'000u);
  for (const char* bad : {"", "MB", "12XB", "-1", "1.5GB", "99999999999999999999"}) EXPECT_THROW(parse_byte_size(bad), Error) << bad;

  auto code_of = [](const std::string& spec) {
    try {
      open_store(spec);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;
  };
  EXPECT_EQ(code_of(""), ErrorCode::Parse);
  EXPECT_EQ(code_of("tape:x=1"), ErrorCode::Parse);
  EXPECT_EQ(code_of("memory:capacity"), ErrorCode::Parse);
  EXPECT_EQ(code_of("memory:capacity=1MB,capacity=2MB"), ErrorCode::Parse);
  EXPECT_EQ(code_of("memory:capacty=1MB"), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of("memory:capacity=lots"), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of("dir:capacity=1GB"), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of("redis://127.0.0.1:99999"), ErrorCode::Parse);
  EXPECT_EQ(code_of("redis://127.0.0.1:6379?ttl=-5"), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of("redis://127.0.0.1:6379?colour=red"), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of("memory:capacity=1MB||memory:capacity=1MB"), ErrorCode::Parse);

  auto store = open_store("memory:capacity=2MiB");
  EXPECT_EQ(store->capacity(), 2u << 20);
  EXPECT_EQ(store->spec(), "memory:capacity=2097152");
  auto redis = open_store("redis://10.0.0.1:6380/2?prefix=enc:&ttl=3600&timeout_ms=50");  // connects lazily
  EXPECT_EQ(redis->spec(), "redis://10.0.0.1:6380/2?prefix=enc:&ttl=3600&timeout_ms=50&retry_ms=1000&chunk=268435456");
}
