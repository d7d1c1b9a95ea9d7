// Store spec strings, parsed without opening anything (detail::parse_store_spec): memory,
// dir and redis:// tiers separated by "|"; and parse_byte_size on its own.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "inpaint/store.hpp"
#include "store/store_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<inpaint::detail::StoreTierSpec> tiers;
  if (fuzz::accepts([&] { tiers = inpaint::detail::parse_store_spec(text); })) {
    fuzz::check(!tiers.empty(), "a store spec parsed to no tier");
    for (const auto& tier : tiers) {
      if (tier.kind == inpaint::detail::StoreTierSpec::Kind::Directory)
        fuzz::check(!tier.path.empty(), "a dir tier without a path");
      if (tier.kind == inpaint::detail::StoreTierSpec::Kind::Redis)
        fuzz::check(!tier.redis.host.empty() && tier.redis.port >= 0 && tier.redis.port <= 65535 &&
                        tier.redis.db >= 0 && tier.redis.timeout_ms >= 1 && tier.redis.retry_ms >= 0 &&
                        tier.redis.ttl_s >= 0,
                    "a redis tier with values outside their documented ranges");
    }
  }
  std::uint64_t bytes = 0;
  if (fuzz::accepts([&] { bytes = inpaint::parse_byte_size(text); }))
    fuzz::check(!text.empty() && text.size() <= 21, "parse_byte_size accepted an implausible text");
  (void)bytes;
  return 0;
}
