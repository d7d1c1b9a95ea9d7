#pragma once
// EncodingStore: where encodings are kept between requests. Four kinds: memory (LRU in
// bytes), a local directory (safetensors files, shared by processes), Redis, and a tiered list
// of those. Chosen by a spec string, like models:
//   memory:capacity=512MB
//   dir:path=/var/cache/enc,capacity=10GB[,fsync=0]
//   redis://127.0.0.1:6379/0?prefix=enc:&ttl=3600&timeout_ms=500&retry_ms=1000&chunk=256MB
//   memory:capacity=1GB|dir:path=/var/cache/enc|redis://cache:6379   (tiers, fastest first)
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inpaint/encoding.hpp"
#include "inpaint/export.hpp"

namespace inpaint {

struct StoreStats {
  std::string spec;            // the store's canonical spec
  std::uint64_t hits = 0, misses = 0, puts = 0, removes = 0;
  std::uint64_t evictions = 0;  // entries dropped to stay within capacity
  std::uint64_t corrupt = 0;    // unreadable entries found, removed and counted as misses
  std::uint64_t errors = 0;     // failed operations (a tiered store skipped this tier)
  std::string last_error;       // the latest failure's message, "" when none
  std::vector<StoreStats> tiers;  // a tiered store's tiers, in order; empty otherwise
};

struct StoreUsage {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// Thread-safety: every store may be used by any number of threads at once.
// Failures are Error(Io) (files, server error replies), Error(Unavailable) (a server that
// cannot be reached), Error(TooLarge) and Error(InvalidArgument) (a bad id).
class INPAINT_CXX_API EncodingStore {
 public:
  virtual ~EncodingStore();
  virtual std::string spec() const = 0;
  // Every id is checked with validate_encoding_id first (Error(InvalidArgument)).
  virtual bool exists(const std::string& id) = 0;
  // The encoding, or nothing for a miss (a corrupt entry is a miss, removed and counted).
  virtual std::optional<Encoding> get(const std::string& id) = 0;
  // Stores (or replaces) the encoding; an encoding larger than the whole capacity is refused
  // with Error(TooLarge).
  virtual void put(const std::string& id, const Encoding& encoding) = 0;
  // True when something was removed.
  virtual bool remove(const std::string& id) = 0;
  // The ids held, sorted (for tools; it walks the whole store).
  virtual std::vector<std::string> ids() = 0;
  virtual StoreUsage usage() = 0;
  // Bytes the store keeps at most; 0 when it sets no bound itself (Redis: its maxmemory).
  virtual std::uint64_t capacity() const = 0;
  virtual StoreStats stats() const = 0;
};

struct RedisStoreOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string prefix = "inpaint:enc:";
  int ttl_s = 0;               // 0: keys do not expire
  int timeout_ms = 1000;       // connect and each read/write
  int retry_ms = 1000;         // after a failure, calls fail fast for this long before reconnecting
  std::uint64_t chunk_bytes = 256ull << 20;  // values above this are split (Redis caps one at 512 MB)
};

INPAINT_CXX_API std::unique_ptr<EncodingStore> make_memory_store(std::uint64_t capacity_bytes);
// Creates the directory when missing. fsync: flush each file before the rename (crash safety).
INPAINT_CXX_API std::unique_ptr<EncodingStore> make_directory_store(const std::string& path,
                                                                    std::uint64_t capacity_bytes, bool fsync = true);
// Connects lazily: a server that is down makes calls fail with Error(Unavailable), not this.
INPAINT_CXX_API std::unique_ptr<EncodingStore> make_redis_store(const RedisStoreOptions& options);
// Reads go down the list and promote a hit to the tiers above; writes go to every tier. A tier
// that fails is skipped and counted; the call fails only when every tier fails. usage() and
// capacity() are the last tier's (it holds everything: writes go through).
INPAINT_CXX_API std::unique_ptr<EncodingStore> make_tiered_store(std::vector<std::unique_ptr<EncodingStore>> tiers);

// Opens a store from a spec (see the top of this file). Error(Parse) for a malformed spec,
// Error(InvalidArgument) for unknown keys or bad values.
INPAINT_CXX_API std::unique_ptr<EncodingStore> open_store(const std::string& spec);

// "512MB" (10^6), "4MiB" (2^20), "10GB", "1TiB", "4096" (bytes). Error(InvalidArgument) otherwise.
INPAINT_CXX_API std::uint64_t parse_byte_size(const std::string& text);

}  // namespace inpaint
