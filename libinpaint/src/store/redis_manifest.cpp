// The Redis store's chunk manifest parser (see redis_manifest.hpp).
#include "store/redis_manifest.hpp"

#include <cstring>

#include "inpaint/error.hpp"

namespace inpaint::detail {

namespace {

[[noreturn]] void malformed(const std::string& why) {
  throw Error(ErrorCode::Decode, "redis: malformed chunk manifest: " + why);
}

// One line of 1..20 decimal digits ending in '\n', as the writer prints a std::uint64_t.
// (istream >> would take any bytes for the token and "-1" for a count.)
std::uint64_t number_line(const char*& p, const char* end, const char* what, std::string* text = nullptr) {
  const char* start = p;
  std::uint64_t value = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    unsigned digit = unsigned(*p - '0');
    if (value > (UINT64_MAX - digit) / 10) malformed(std::string(what) + " does not fit 64 bits");
    value = value * 10 + digit;
    ++p;
  }
  if (p - start > 20) malformed(std::string(what) + " is longer than 20 digits");
  if (p == start || p == end || *p != '\n') malformed(std::string(what) + " must be a decimal number on its own line");
  if (text) text->assign(start, p);
  ++p;
  return value;
}

}  // namespace

std::optional<Manifest> parse_manifest(const char* data, std::size_t size) {
  if (size < kManifestMagic.size() || std::memcmp(data, kManifestMagic.data(), kManifestMagic.size()) != 0)
    return std::nullopt;
  const char* p = data + kManifestMagic.size();
  const char* end = data + size;
  Manifest m;
  number_line(p, end, "the token", &m.token);
  m.count = number_line(p, end, "the chunk count");
  m.total = number_line(p, end, "the total size");
  if (p != end) malformed("bytes after the total size");
  // Readers reserve `total` bytes and name `count` chunk keys: accept only what a writer can
  // produce, chunks of 1 KiB (the smallest chunk option) to 512 MiB (Redis' cap on a value).
  constexpr std::uint64_t kMinChunk = 1024, kMaxChunk = 512ull << 20;
  if (m.count == 0) malformed("no chunks");
  if (m.count > m.total / kMinChunk + (m.total % kMinChunk != 0) ||
      m.total / kMaxChunk + (m.total % kMaxChunk != 0) > m.count)
    malformed(std::to_string(m.count) + " chunks cannot hold " + std::to_string(m.total) +
              " bytes in chunks of 1 KiB to 512 MiB");
  return m;
}

}  // namespace inpaint::detail
