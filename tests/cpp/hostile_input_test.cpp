// Inputs a hostile or broken client sends, each kind found by a hostile-input run against the
// CLI and the Python module: every one must be a clear error, never a crash, a hang, a
// destroyed file or a message nobody can act on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "inpaint/inpaint.hpp"
#include "test_util.hpp"

namespace inpaint {
namespace {

using test::code_of;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/inpaint-hostile-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    DIR* dir = opendir(path_.c_str());
    while (dirent* e = readdir(dir))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
    closedir(dir);
    return out;
  }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<std::uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

// A zlib stream whose first deflate block has the reserved type 3: stb fails on it without
// setting a reason.
std::vector<std::uint8_t> png_with_reserved_deflate_block() {
  return test::png_with_idat(4, 4, 2, {0x78, 0x01, 0x07, 0x00, 0x00, 0x00});
}

// A message a person can act on: one line, no control characters, not an echo of the input.
void expect_readable(const std::string& message, std::size_t max_length = 2100) {
  EXPECT_FALSE(message.empty());
  EXPECT_LE(message.size(), max_length) << message.substr(0, 200);
  for (unsigned char c : message) EXPECT_TRUE(c >= 0x20 && c != 0x7F) << "control character " << int(c) << " in " << message;
}

// Runs body on another thread and fails (instead of hanging the suite) when it blocks.
void expect_returns_within(std::chrono::seconds limit, const std::function<void()>& body) {
  auto done = std::async(std::launch::async, body);
  ASSERT_EQ(done.wait_for(limit), std::future_status::ready) << "blocked for " << limit.count() << " s";
  done.get();
}

std::string safetensors_with_header(const std::string& header) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((header.size() >> (8 * i)) & 0xff);
  return out + header;
}

Encoding parse(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), nullptr);
}

// ---------------------------------------------------------------- crashes

TEST(Hostile, PngThatFailsWithoutAReasonIsADecodeError) {
  auto png = png_with_reserved_deflate_block();
  for (int round = 0; round < 2; ++round) {  // the second time stb's previous reason is still set
    std::string message;
    EXPECT_EQ(code_of([&] { decode_image(png.data(), png.size()); }, &message), ErrorCode::Decode);
    EXPECT_NE(message.find("corrupt PNG: the compressed image data is invalid"), std::string::npos) << message;
    EXPECT_EQ(code_of([&] { decode_mask(png.data(), png.size()); }, &message), ErrorCode::Decode);
    EXPECT_NE(message.find("compressed image data is invalid"), std::string::npos) << message;
  }
  // After another PNG's failure, the reason must be this file's, not the earlier one's.
  auto truncated = test::png_header_only(4, 4);
  EXPECT_EQ(code_of([&] { decode_image(truncated.data(), truncated.size()); }), ErrorCode::Decode);
  std::string message;
  EXPECT_EQ(code_of([&] { decode_image(png.data(), png.size()); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("compressed image data is invalid"), std::string::npos) << message;
}

TEST(Hostile, DeeplyNestedSafetensorsHeaderIsADecodeError) {
  for (const std::string& open : {"[", "{\"a\":"}) {
    std::string header = "{\"x\":";
    for (int i = 0; i < 200000; ++i) header += open;
    std::string message;
    EXPECT_EQ(code_of([&] { parse(safetensors_with_header(header)); }, &message), ErrorCode::Decode);
    EXPECT_NE(message.find("nested deeper than"), std::string::npos) << message;
    expect_readable(message);
  }
  // Nesting within the limit inside a tensor entry is still checked as an entry.
  std::string message;
  EXPECT_EQ(code_of([&] { parse(safetensors_with_header(R"({"t":{"dtype":"F32","shape":[[[1]]],"data_offsets":[0,4]}})")); },
                    &message),
            ErrorCode::Decode);
  EXPECT_NE(message.find("non-negative integers"), std::string::npos) << message;
}

TEST(Hostile, DeeplyNestedLabelsAndTablesAreParseErrors) {
  std::string deep(100000, '[');
  EXPECT_EQ(code_of([&] { parse_scene_labels(deep); }), ErrorCode::Parse);
  EXPECT_EQ(code_of([&] { PromptTable::from_json("{\"surfaces\":" + deep); }), ErrorCode::Parse);
  EXPECT_EQ(code_of([&] { ModelVariants::from_json("{\"a\":" + deep, "test"); }), ErrorCode::Parse);
}

// ---------------------------------------------------------------- hangs

TEST(Hostile, NonRegularFilesAreRefusedWithoutBlocking) {
  TempDir dir;
  std::string fifo = dir / "fifo.png";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string message;
  expect_returns_within(std::chrono::seconds(10), [&] {
    EXPECT_EQ(code_of([&] { read_file(fifo); }, &message), ErrorCode::Io);
    EXPECT_NE(message.find("a FIFO, not a regular file"), std::string::npos) << message;
    EXPECT_EQ(code_of([&] { PromptTable::from_json_file(fifo); }), ErrorCode::Io);
    EXPECT_EQ(code_of([&] { ModelVariants::from_file(fifo); }), ErrorCode::Io);
    if (INPAINT_TEST_WITH_TORCH) {
      EXPECT_EQ(code_of([&] { default_registry().create("torchscript:path=" + fifo); }, &message), ErrorCode::Io);
      EXPECT_NE(message.find("FIFO"), std::string::npos) << message;
    }
  });
  EXPECT_EQ(code_of([&] { read_file(dir.path()); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("a directory, not a regular file"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { read_file("/dev/zero"); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("a character device"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { read_file(dir / "missing.png"); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("No such file"), std::string::npos) << message;
}

// ---------------------------------------------------------------- damage

TEST(Hostile, OutputsNeverReplaceDevicesFifosOrDirectories) {
  TempDir dir;
  std::string fifo = dir / "fifo.png";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::vector<std::string> targets = {fifo, dir.path()};
  // A character device node of our own (the same device as /dev/null), never the system's.
  std::string device = dir / "null.png";
  if (::geteuid() == 0 && mknod(device.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) targets.push_back(device);
  const std::vector<std::uint8_t> bytes = {1, 2, 3};
  for (const std::string& target : targets) {
    struct stat before {};
    ASSERT_EQ(stat(target.c_str(), &before), 0);
    std::string message;
    EXPECT_EQ(code_of([&] { write_file_atomic(target, bytes.data(), bytes.size()); }, &message), ErrorCode::Io)
        << target;
    EXPECT_NE(message.find("refusing to replace it"), std::string::npos) << message;
    EXPECT_EQ(code_of([&] { check_output_paths({}, {{"--out", target}}); }), ErrorCode::Io);
    struct stat after {};
    ASSERT_EQ(stat(target.c_str(), &after), 0);
    EXPECT_EQ(before.st_mode, after.st_mode) << target;
    EXPECT_EQ(before.st_ino, after.st_ino) << target;
  }
  std::vector<std::string> left = dir.names();
  EXPECT_EQ(left.size(), targets.size() - 1) << "a temporary file was left behind";
}

TEST(Hostile, AnOutputThatIsAnInputOrAnotherOutputIsRefused) {
  TempDir dir;
  std::string image = dir / "photo.png";
  write_bytes(image, {1, 2, 3});
  ASSERT_EQ(::link(image.c_str(), (dir / "hard.png").c_str()), 0);
  ASSERT_EQ(::symlink(image.c_str(), (dir / "soft.png").c_str()), 0);
  std::string message;
  for (const std::string& out : {image, dir.path() + "/./photo.png", dir.path() + "/../" +
                                     dir.path().substr(dir.path().rfind('/') + 1) + "/photo.png",
                                 dir / "hard.png", dir / "soft.png"}) {
    EXPECT_EQ(code_of([&] { check_output_paths({{"--image", image}, {"--mask", dir / "mask.png"}}, {{"--out", out}}); },
                      &message),
              ErrorCode::InvalidArgument) << out;
    EXPECT_NE(message.find("is the same file as --image"), std::string::npos) << message;
  }
  // Two outputs that do not exist yet, spelt differently.
  EXPECT_EQ(code_of([&] { check_output_paths({}, {{"--out", dir / "r.jpg"}, {"--preview", dir.path() + "//r.jpg"}}); },
                    &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("is the same file as --out"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { check_output_paths({{"--image", image}}, {{"--out", dir / "r.jpg"}, {"--preview", dir / "p.jpg"}}); }),
            ErrorCode{0});
  EXPECT_EQ(code_of([&] { check_output_paths({}, {{"--out", dir / "no/such/dir.jpg"}}); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("does not exist or is not writable"), std::string::npos) << message;
}

// Runs body in a child process with a resource limit (an address-space or file-size limit
// must not reach the test process itself); returns the child's exit status.
int in_child(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(120);  // a child stuck on a lock some other thread held at fork() ends, and fails
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    std::_Exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Hostile, AFullDiskLeavesNoneOfASetOfOutputs) {
  TempDir dir;
  std::string out = dir / "result.jpg", preview = dir / "preview.jpg";
  write_bytes(out, {9, 9, 9});  // an earlier result stays as it was
  int status = in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);  // past the limit, write() fails with EFBIG instead of a signal
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::vector<std::uint8_t> small(100, 1), large(10000, 2);
    std::string message;
    ErrorCode code = code_of([&] { write_files_atomic({{out, small.data(), small.size()}, {preview, large.data(), large.size()}}); },
                             &message);
    if (code != ErrorCode::Io) return 1;
    if (message.find("File too large") == std::string::npos || message.find("nothing was written") == std::string::npos)
      return 2;
    return 0;
  });
  EXPECT_EQ(status, 0);
  EXPECT_EQ(read_file(out), (std::vector<std::uint8_t>{9, 9, 9}));
  EXPECT_EQ(dir.names(), std::vector<std::string>{"result.jpg"}) << "a temporary file or a partial output was left";
}

// ---------------------------------------------------------------- wrong errors

#if defined(__SANITIZE_ADDRESS__)
#define INPAINT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INPAINT_ASAN 1
#endif
#endif

TEST(Hostile, OutOfMemoryIsTooLargeNotBadAlloc) {
#ifdef INPAINT_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot be used under it";
#else
  // 9000 x 9000 grey, highly compressible: a small file that needs 243 MB as RGB.
  Image grey(9000, 9000, 1);
  EncodeOptions png;
  png.format = ImageFormat::Png;
  std::vector<std::uint8_t> big = encode_image(grey.view(), png);
  Image mask_pixels(9000, 9000, 1);
  std::vector<std::uint8_t> mask = encode_image(mask_pixels.view(), png);
  auto model = default_registry().create("telea");
  for (int which = 0; which < 2; ++which) {
    int status = in_child([&] {
      // Room for what is mapped now plus 150 MB: the decode needs more.
      std::ifstream statm("/proc/self/statm");
      std::size_t pages = 0;
      statm >> pages;
      rlim_t bytes = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (rlim_t(150) << 20);
      rlimit limit{bytes, bytes};
      setrlimit(RLIMIT_AS, &limit);
      std::string message;
      ErrorCode code = code_of(
          [&] {
            if (which == 0) decode_image(big.data(), big.size());
            else run_pipeline(*model, big.data(), big.size(), mask.data(), mask.size(), PipelineOptions{});
          },
          &message);
      if (code != ErrorCode::TooLarge) return 10 + int(code);
      if (message.find("out of memory") == std::string::npos || message.find("9000x9000") == std::string::npos) return 3;
      return 0;
    });
    EXPECT_EQ(status, 0) << (which == 0 ? "decode_image" : "run_pipeline");
  }
#endif
}

// Encoding a PNG that needs more memory than the process may take (a container limit) is
// TooLarge naming the size, not std::bad_alloc and not a crash inside libpng: the failure
// comes out of libpng through its longjmp, and what it had allocated is freed.
TEST(Hostile, OutOfMemoryWhileEncodingAPngIsTooLarge) {
#ifdef INPAINT_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot be used under it";
#else
  // 4000 x 3000 RGB noise: 36 MB that level 0 stores as they are.
  Image photo = Image::uninitialized(4000, 3000, 3);
  std::uint32_t seed = 5;
  for (std::size_t i = 0; i < photo.size_bytes(); ++i) photo.data()[i] = std::uint8_t((seed = seed * 1664525u + 1013904223u) >> 24);
  int status = in_child([&] {
    // Room for what is mapped now plus 16 MB: the encoded bytes need 36 MB.
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    statm >> pages;
    rlim_t bytes = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (rlim_t(16) << 20);
    rlimit limit{bytes, bytes};
    setrlimit(RLIMIT_AS, &limit);
    std::string message;
    EncodeOptions png;
    png.format = ImageFormat::Png;
    png.png_compression = 0;
    for (int attempt = 0; attempt < 3; ++attempt) {  // the same each time: nothing leaked or left half-set
      ErrorCode code = code_of([&] { encode_image(photo.view(), png); }, &message);
      if (code != ErrorCode::TooLarge) return 10 + int(code);
      if (message.find("out of memory while encoding") == std::string::npos || message.find("4000x3000") == std::string::npos)
        return 3;
    }
    // A small image still encodes afterwards.
    Image small = Image(8, 8, 3);
    return encode_image(small.view(), png).empty() ? 4 : 0;
  });
  EXPECT_EQ(status, 0);
#endif
}

// ---------------------------------------------------------------- messages

TEST(Hostile, MessagesAreOnePrintableBoundedLine) {
  std::string hostile = "line one\nline two\r\x1b[31mred\x07";
  hostile += "\xff\xfe not UTF-8 \xed\xa0\x80 surrogate";
  hostile += std::string(20000, 'x');
  Error error(ErrorCode::Parse, hostile);
  std::string message = error.what();
  expect_readable(message);
  EXPECT_NE(message.find("line one\\x0aline two\\x0d\\x1b[31mred\\x07\\xff\\xfe not UTF-8 \\xed\\xa0\\x80 surrogate"),
            std::string::npos) << message;
  EXPECT_NE(message.find("more bytes)"), std::string::npos);
  // Valid UTF-8 passes unchanged.
  EXPECT_EQ(std::string(Error(ErrorCode::Parse, "gazon \xc3\xa9t\xc3\xa9 \xe2\x9c\x93").what()), "gazon \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");

  // Long and control-character inputs are cut and escaped where they are echoed.
  std::string long_spec = "telea:radius=" + std::string(20000, '9');
  std::string spec_message;
  EXPECT_NE(code_of([&] { default_registry().create(long_spec); }, &spec_message), ErrorCode{0});
  expect_readable(spec_message, 600);
  std::string table_message;
  EXPECT_EQ(code_of([&] { PromptTable::from_json("{\"" + std::string(20000, 'k') + "\n\": 1}"); }, &table_message),
            ErrorCode::Parse);
  expect_readable(table_message, 600);
  // A header that is not UTF-8 gets a message of its own, not an empty one.
  std::string header_message;
  EXPECT_EQ(code_of([&] { parse(safetensors_with_header("{\"\xff\xfe\":1}")); }, &header_message), ErrorCode::Decode);
  expect_readable(header_message);
  EXPECT_NE(header_message.find("not valid UTF-8 JSON"), std::string::npos) << header_message;
  // The JSON library's own prefix and its echo of the input are not passed on.
  std::string labels_message;
  EXPECT_EQ(code_of([&] { parse_scene_labels("{\"surface\": grass-and-" + std::string(5000, 'z') + "}"); }, &labels_message),
            ErrorCode::Parse);
  EXPECT_EQ(labels_message.find("json.exception"), std::string::npos) << labels_message;
  EXPECT_LT(labels_message.size(), 400u) << labels_message;
}

// ---------------------------------------------------------------- accepted when it should not be

TEST(Hostile, AbsurdPixelLimitsAreRefused) {
  auto png = test::png_header_only(4, 4);
  DecodeOptions options;
  options.max_pixels = std::uint64_t(-1);  // -1 converted to unsigned
  std::string message;
  EXPECT_EQ(code_of([&] { probe_image(png.data(), png.size(), options); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("max_pixels must be at most"), std::string::npos) << message;
  options.max_pixels = kMaxPixelsCeiling;
  EXPECT_EQ(code_of([&] { probe_image(png.data(), png.size(), options); }), ErrorCode{0});
}

TEST(Hostile, LabelConfidencesOutsideZeroToOneAreRefused) {
  for (const char* value : {"1.5", "-0.1", "1e308", "-1e-9"}) {
    std::string message;
    EXPECT_EQ(code_of([&] { parse_scene_labels(std::string("{\"surface\":\"grass\",\"confidence\":") + value + "}"); },
                      &message),
              ErrorCode::Parse) << value;
    EXPECT_NE(message.find("within 0..1"), std::string::npos) << message;
  }
  EXPECT_EQ(parse_scene_labels(R"({"surface":"grass","confidence":1})").confidence.value(), 1.0);
  EXPECT_EQ(parse_scene_labels(R"({"surface":"grass","confidence":0})").confidence.value(), 0.0);
}

TEST(Hostile, TextAfterANulByteIsRefused) {
  std::string labels = R"({"surface":"grass"})";
  labels += '\0';
  labels += R"({"surface":"sand"})";
  std::string message;
  EXPECT_EQ(code_of([&] { parse_scene_labels(labels); }, &message), ErrorCode::Parse);
  EXPECT_NE(message.find("a NUL byte at offset 19"), std::string::npos) << message;
  std::string header = R"({"__metadata__":{"a":"b"}})";
  header += '\0';
  header += "junk   ";
  EXPECT_EQ(code_of([&] { parse(safetensors_with_header(header)); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find("NUL byte"), std::string::npos) << message;
  // Spaces after the JSON are the reference's padding and stay accepted.
  EXPECT_EQ(code_of([&] { parse(safetensors_with_header(R"({"__metadata__":{"a":"b"}})" + std::string(6, ' '))); }),
            ErrorCode{0});
}

TEST(Hostile, DuplicateKeysAreRefusedEverywhere) {
  EXPECT_EQ(code_of([&] { parse_scene_labels(R"({"surface":"grass","surface":"sand"})"); }), ErrorCode::Parse);
  EXPECT_EQ(code_of([&] { ModelVariants::from_json(R"({"a":"telea","a":"ns"})", "test"); }), ErrorCode::Parse);
}

TEST(Hostile, IntegerMetadataThatDoesNotFitIsRefused) {
  auto with_metadata = [](const std::string& key, const std::string& value) {
    return safetensors_with_header("{\"__metadata__\":{\"" + key + "\":\"" + value + "\"}}");
  };
  for (const auto& pair : std::vector<std::pair<std::string, std::string>>{
           {"original_width", "4294967297"},
           {"original_height", "-1"},
           {"format_version", "99999999999999999999"},
           {"created_at", "99999999999999999999"}}) {
    const std::string& key = pair.first;  // named copies: clang 14 cannot capture structured bindings
    const std::string& value = pair.second;
    std::string message;
    EXPECT_EQ(code_of([&] { parse(with_metadata(key, value)); }, &message), ErrorCode::Decode) << key << "=" << value;
    EXPECT_NE(message.find("is outside"), std::string::npos) << message;
  }
  Encoding ok = parse(with_metadata("original_width", "2147483647"));
  EXPECT_EQ(ok.metadata.original_width, 2147483647);
}

}  // namespace
}  // namespace inpaint
