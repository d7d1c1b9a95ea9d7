#pragma once
// Store specs parsed without opening anything, so that a spec can be checked (and fuzzed)
// without creating directories or connecting to Redis. open_store() parses, then opens.
#include <cstdint>
#include <string>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/store.hpp"

namespace inpaint::detail {

struct StoreTierSpec {
  enum class Kind { Memory, Directory, Redis };
  Kind kind = Kind::Memory;
  std::uint64_t capacity = 0;  // memory and dir (bytes; dir: 0 = unbounded)
  std::string path;            // dir
  bool fsync = true;           // dir
  RedisStoreOptions redis;     // redis
};

// One entry per "|"-separated tier, in order. Error(Parse) for a malformed spec,
// Error(InvalidArgument) for unknown keys or bad values, as open_store documents.
INPAINT_CXX_API std::vector<StoreTierSpec> parse_store_spec(const std::string& spec);

}  // namespace inpaint::detail
