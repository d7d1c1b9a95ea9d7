// The Redis store's chunk manifest (detail::parse_manifest): what a reader finds under an id
// whose value was split. A manifest is used to reserve `total` bytes and to name `count`
// chunk keys, so an accepted one must be one a writer can produce: count >= 1, every chunk
// between 1 KiB (the smallest chunk option) and 512 MiB (Redis' cap on one value), so
// ceil(total / 512 MiB) <= count <= ceil(total / 1 KiB), and the token is the writer's decimal
// random number.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "store/redis_manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<inpaint::detail::Manifest> manifest;
  if (!fuzz::accepts([&] { manifest = inpaint::detail::parse_manifest(reinterpret_cast<const char*>(data), size); }))
    return 0;
  if (!manifest) return 0;  // not a manifest: an encoding's bytes
  const std::uint64_t count = manifest->count, total = manifest->total;
  fuzz::check(count >= 1, "a manifest with no chunk");
  fuzz::check(count <= (total + 1023) / 1024, "a manifest with more chunks than 1 KiB chunks of its total");
  fuzz::check(total / (512ull << 20) + (total % (512ull << 20) != 0) <= count,
              "a manifest whose chunks would exceed 512 MiB each");
  fuzz::check(!manifest->token.empty() && manifest->token.size() <= 20 &&
                  manifest->token.find_first_not_of("0123456789") == std::string::npos,
              "a manifest token that is not the writer's decimal number");
  return 0;
}
