// The Redis store's chunk manifest parser (see redis_manifest.hpp).
#include "store/redis_manifest.hpp"

#include <charconv>
#include <cstring>
#include <string_view>

#include "core/text.hpp"
#include "inpaint/error.hpp"

namespace inpaint::detail {

bool parse_decimal(std::string_view text, std::uint64_t& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

std::optional<Manifest> parse_manifest(const char* data, std::size_t size) {
  if (size < kManifestMagic.size() || std::memcmp(data, kManifestMagic.data(), kManifestMagic.size()) != 0)
    return std::nullopt;
  auto bad = [&](const std::string& rule) -> std::optional<Manifest> {
    throw Error(ErrorCode::Decode, "redis: malformed chunk manifest " + detail::quoted({data, size}) + ": " + rule);
  };
  std::string_view rest(data + kManifestMagic.size(), size - kManifestMagic.size());
  std::string_view lines[3];
  for (std::string_view& line : lines) {
    std::size_t end = rest.find('\n');
    if (end == std::string_view::npos) return bad("expected three lines: token, count, total");
    line = rest.substr(0, end);
    rest.remove_prefix(end + 1);
  }
  if (!rest.empty()) return bad("trailing bytes after the total");
  Manifest m;
  std::uint64_t token = 0;
  // The writer prints a 64-bit random number: at most 20 digits (it names the chunk keys).
  if (lines[0].size() > 20 || !parse_decimal(lines[0], token)) return bad("the token must be an unsigned decimal of up to 20 digits");
  if (!parse_decimal(lines[1], m.count) || !parse_decimal(lines[2], m.total))
    return bad("count and total must be unsigned decimals");
  m.token = std::string(lines[0]);
  if (m.count == 0) return bad("count is 0");
  if (m.total > kMaxValueBytes) return bad("total exceeds the limit of " + std::to_string(kMaxValueBytes) + " bytes");
  // Every chunk but the last holds the writer's chunk size, which is 1 KiB..512 MiB.
  if (m.count > (m.total + kMinChunkBytes - 1) / kMinChunkBytes || m.count < (m.total + kMaxChunkBytes - 1) / kMaxChunkBytes)
    return bad(std::to_string(m.count) + " chunks cannot hold " + std::to_string(m.total) + " bytes in chunks of 1 KiB..512 MiB");
  return m;
}

}  // namespace inpaint::detail
