#pragma once
// Counters every store keeps, safe to bump from several threads.
#include <mutex>
#include <string>

#include "inpaint/store.hpp"

namespace inpaint::detail {

class StatsCounter {
 public:
  void hit() { bump(&StoreStats::hits); }
  void miss() { bump(&StoreStats::misses); }
  void put() { bump(&StoreStats::puts); }
  void removed() { bump(&StoreStats::removes); }
  void evicted(std::uint64_t n = 1) { bump(&StoreStats::evictions, n); }
  void corrupt() { bump(&StoreStats::corrupt); }
  void error(const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.errors;
    stats_.last_error = message;
  }
  StoreStats snapshot(const std::string& spec) const {
    std::lock_guard<std::mutex> lock(mutex_);
    StoreStats copy = stats_;
    copy.spec = spec;
    return copy;
  }

 private:
  void bump(std::uint64_t StoreStats::*field, std::uint64_t n = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.*field += n;
  }
  mutable std::mutex mutex_;
  StoreStats stats_;
};

// Runs a store operation, counting a failure (and rethrowing it).
template <class Body>
auto counted(StatsCounter& stats, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    stats.error(e.what());
    throw;
  }
}

}  // namespace inpaint::detail
