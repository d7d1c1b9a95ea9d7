// Regression tests for what the fuzz targets (fuzz/) found, and for the pure parsers split out
// so that they could be fuzzed. Each finding's input is also in fuzz/corpus/<target>/.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/model.hpp"
#include "inpaint/prompt.hpp"
#include "inpaint/store.hpp"
#include "store/redis_manifest.hpp"
#include "store/store_spec.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using inpaint::ErrorCode;
using inpaint::test::code_of;
using Kind = inpaint::detail::StoreTierSpec::Kind;

TEST(StoreSpecParse, ReadsEveryTierWithoutOpeningIt) {
  const fs::path dir = fs::temp_directory_path() / ("inpaint-spec-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto tiers = inpaint::detail::parse_store_spec("memory:capacity=2KiB|dir:path=" + dir.string() +
                                                 ",capacity=10GB,fsync=0|redis://cache:6380/3?prefix=p:&ttl=60");
  ASSERT_EQ(tiers.size(), 3u);
  EXPECT_EQ(tiers[0].kind, Kind::Memory);
  EXPECT_EQ(tiers[0].capacity, 2048u);
  EXPECT_EQ(tiers[1].kind, Kind::Directory);
  EXPECT_EQ(tiers[1].path, dir.string());
  EXPECT_EQ(tiers[1].capacity, 10'000'000'000u);
  EXPECT_FALSE(tiers[1].fsync);
  EXPECT_EQ(tiers[2].kind, Kind::Redis);
  EXPECT_EQ(tiers[2].redis.host, "cache");
  EXPECT_EQ(tiers[2].redis.port, 6380);
  EXPECT_EQ(tiers[2].redis.db, 3);
  EXPECT_EQ(tiers[2].redis.prefix, "p:");
  EXPECT_EQ(tiers[2].redis.ttl_s, 60);
  EXPECT_FALSE(fs::exists(dir)) << "parsing must not create the directory";
}

TEST(StoreSpecParse, AMalformedLaterTierOpensNothing) {
  // open_store parses the whole spec first: the dir tier must not be created when the next
  // tier is a typo.
  const fs::path dir = fs::temp_directory_path() / ("inpaint-spec-typo-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  EXPECT_EQ(code_of([&] { inpaint::open_store("dir:path=" + dir.string() + "|memroy:capacity=1MB"); }), ErrorCode::Parse);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(code_of([&] { inpaint::detail::parse_store_spec("memory|"); }), ErrorCode::Parse);
  EXPECT_EQ(code_of([&] { inpaint::detail::parse_store_spec("dir:capacity=1MB"); }), ErrorCode::InvalidArgument);
}

TEST(RedisManifest, ReadsWhatTheWriterWrites) {
  const std::string text = inpaint::detail::kManifestMagic + "1234567890\n3\n600000000\n";
  auto m = inpaint::detail::parse_manifest(text.data(), text.size());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->token, "1234567890");
  EXPECT_EQ(m->count, 3u);
  EXPECT_EQ(m->total, 600000000u);
  const std::string encoding = "\x10\0\0\0\0\0\0\0{}";
  EXPECT_FALSE(inpaint::detail::parse_manifest(encoding.data(), encoding.size()));
}

TEST(RedisManifest, RefusesWhatNoWriterWrites) {
  // fuzz_redis_manifest: istream >> took any bytes for the token (corpus:
  // regression-token-bytes), "-1" as 2^64-1 chunks, and counts no total could fill; a reader
  // then reserved `total` bytes and built a `count`-long DEL.
  auto code = [](const std::string& body) {
    const std::string text = inpaint::detail::kManifestMagic + body;
    return code_of([&] { inpaint::detail::parse_manifest(text.data(), text.size()); });
  };
  EXPECT_EQ(code("43\xff\xff\xff\xff\n1\n1024\n"), ErrorCode::Decode);
  EXPECT_EQ(code("42\n-1\n1024\n"), ErrorCode::Decode);
  EXPECT_EQ(code("42\n0\n1024\n"), ErrorCode::Decode);
  EXPECT_EQ(code("42\n18446744073709551615\n1024\n"), ErrorCode::Decode);  // more chunks than KiBs
  EXPECT_EQ(code("42\n1\n536870913\n"), ErrorCode::Decode);               // one chunk above 512 MiB
  EXPECT_EQ(code("42\n1\n99999999999999999999\n"), ErrorCode::Decode);   // above 2^64
  EXPECT_EQ(code("42\n1\n1024\nextra"), ErrorCode::Decode);
  EXPECT_EQ(code("42 1 1024"), ErrorCode::Decode);
  // fuzz_redis_manifest (regression-long-token): 30 digits with leading zeros fit 64 bits.
  EXPECT_EQ(code("000000000000000014699009709021\n3\n60000\n"), ErrorCode::Decode);
  EXPECT_EQ(code("42\n2\n536870913\n"), ErrorCode{0});  // one byte more than one chunk may hold: two
}

TEST(JsonReaders, ANumberTooLargeForADoubleIsAParseError) {
  // fuzz_json (corpus: regression-number-overflow): nlohmann throws out_of_range, not
  // parse_error, for 5e308; it escaped parse_scene_labels and PromptTable::from_json as a
  // non-library exception.
  EXPECT_EQ(code_of([] { inpaint::parse_scene_labels(R"({"surface": "grass", "confidence": 5e308})"); }),
            ErrorCode::Parse);
  EXPECT_EQ(code_of([] { inpaint::PromptTable::from_json(R"({"surfaces": {"grass": "x"}, "n": -1e999})"); }),
            ErrorCode::Parse);
  EXPECT_EQ(code_of([] { inpaint::ModelVariants::from_json(R"({"a": 1e400})"); }), ErrorCode::Parse);
}

TEST(MaskBounds, FeatheringKeepsEveryHolePixelWhateverItsShape) {
  // fuzz_mask (corpus: regression-boundingrect): cv::boundingRect on this 3x2 hole returned
  // 1x3, so feather_mask (and the pipeline's hole region) lost the pixel at (1, 3).
  inpaint::Image mask(4, 8, 1);
  for (auto [x, y] : {std::pair{0, 2}, {0, 3}, {1, 3}, {0, 4}}) mask.data()[y * 4 + x] = 255;
  for (int feather : {0, 1, 3}) {
    inpaint::Image weights = inpaint::feather_mask(mask, feather);
    for (int i = 0; i < 32; ++i) {
      if (mask.data()[i] == 255) {
        EXPECT_EQ(weights.data()[i], 255) << "pixel " << i << ", feather " << feather;
      }
    }
  }
  // The same through clean-up: nothing to open, close or drop; the hole is kept whole.
  inpaint::MaskCleanOptions o;
  o.open_radius = o.close_radius = o.dilate_px = 0;
  o.min_island_area = o.min_hole_area = 0;
  inpaint::Image clean = inpaint::clean_mask(mask, o);
  EXPECT_EQ(std::vector<std::uint8_t>(clean.data(), clean.data() + 32),
            std::vector<std::uint8_t>(mask.data(), mask.data() + 32));
}

TEST(PngDecode, AFailureWithoutAReasonFromStbIsADecodeError) {
  // fuzz_capi_run (corpus: fuzz_image_decode/regression-stb-no-reason.png): stb_image fails this
  // 32x24 PNG without setting stbi_failure_reason(), and the null was appended to the message
  // (strlen(nullptr): a crash).
  const std::vector<std::uint8_t> png = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
      0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x18, 0x08, 0x00, 0x00, 0x00, 0x00, 0xbe, 0xe8, 0x00,
      0x00, 0xa0, 0x38, 0x00, 0x15, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x18, 0x05, 0x68,
      0xe0, 0x3f, 0x12, 0x18, 0xc9, 0x0a, 0x46, 0x34, 0x00, 0x00, 0xf7, 0x35, 0x5f, 0xa1, 0x24, 0x4a,
      0x05, 0xe3, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  std::string message;
  EXPECT_EQ(code_of([&] { inpaint::decode_mask(png.data(), png.size()); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("corrupt PNG"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { inpaint::decode_image(png.data(), png.size()); }), ErrorCode::Decode);
}

TEST(PngDecode, AnEmptyFirstIdatChunkIsADecodeErrorNotAnAbort) {
  // fuzz_image_decode (corpus: regression-stb-empty-idat.png): stb_image copies a zero-length
  // first IDAT with memcpy(NULL, p, 0), which the sanitized build aborted on. A minimal 7x9 grey
  // PNG whose only IDAT is empty (stb does not check CRCs: they are zero here).
  const std::vector<std::uint8_t> png = {
      0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',                               // signature
      0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 7, 0, 0, 0, 9, 8, 0, 0, 0, 0, 0, 0, 0, 0,  // IHDR
      0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0,                                // empty IDAT
      0, 0, 0, 0, 'I', 'E', 'N', 'D', 0, 0, 0, 0};
  EXPECT_EQ(code_of([&] { inpaint::decode_image(png.data(), png.size()); }), ErrorCode::Decode);
  EXPECT_EQ(code_of([&] { inpaint::decode_mask(png.data(), png.size()); }), ErrorCode::Decode);
}

TEST(PngDecode, AChunkLongerThanTheFileIsRefusedBeforeStbAllocatesIt) {
  // fuzz_image_decode, fuzz_mask (corpus: regression-png-huge-idat.png): an IDAT claiming
  // 0x7fffffff bytes in a 61-byte file made stb allocate 2 GiB before noticing the data was
  // missing. The length is checked against the file first.
  const std::vector<std::uint8_t> png = {
      0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
      0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 7, 0, 0, 0, 9, 8, 0, 0, 0, 0, 0, 0, 0, 0,
      0x7f, 0xff, 0xff, 0xff, 'I', 'D', 'A', 'T', 0x78, 0xda, 0x63, 0x60, 0, 0, 0, 0,
      0, 0, 0, 0, 'I', 'E', 'N', 'D', 0, 0, 0, 0};
  std::string message;
  EXPECT_EQ(code_of([&] { inpaint::decode_image(png.data(), png.size()); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("claims 2147483647 bytes"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { inpaint::decode_mask(png.data(), png.size()); }), ErrorCode::Decode);
  // A well-formed PNG still decodes: the check walks to IEND.
  inpaint::Image grey(3, 2, 1);
  auto encoded = inpaint::encode_image(grey, {inpaint::ImageFormat::Png});
  EXPECT_EQ(inpaint::decode_image(encoded.data(), encoded.size()).rgb.width(), 3);
}
