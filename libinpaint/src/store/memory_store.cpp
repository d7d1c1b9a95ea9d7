// The in-process tier: an LRU map bounded in bytes. A hit hands out the stored tensors'
// shared buffers, so it costs a few allocations and no copy of the data.
#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>

#include "inpaint/error.hpp"
#include "inpaint/store.hpp"
#include "store/stats.hpp"

namespace inpaint {

namespace {

class MemoryStore final : public EncodingStore {
 public:
  explicit MemoryStore(std::uint64_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw Error(ErrorCode::InvalidArgument, "memory store: capacity must be > 0");
  }

  std::string spec() const override { return "memory:capacity=" + std::to_string(capacity_); }

  bool exists(const std::string& id) override {
    validate_encoding_id(id);
    std::lock_guard<std::mutex> lock(mutex_);
    return index_.count(id) != 0;
  }

  std::optional<Encoding> get(const std::string& id) override {
    validate_encoding_id(id);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(id);
    if (it == index_.end()) {
      stats_.miss();
      return std::nullopt;
    }
    order_.splice(order_.begin(), order_, it->second);  // most recently used first
    stats_.hit();
    return it->second->encoding;
  }

  void put(const std::string& id, const Encoding& encoding) override {
    validate_encoding_id(id);
    std::uint64_t size = encoding.nbytes();
    if (size > capacity_)
      throw Error(ErrorCode::TooLarge, "memory store: encoding '" + id + "' is " + std::to_string(size) +
                                           " bytes, more than the capacity of " + std::to_string(capacity_));
    std::lock_guard<std::mutex> lock(mutex_);
    erase_locked(id);
    order_.push_front(Entry{id, encoding, size});
    index_[id] = order_.begin();
    bytes_ += size;
    while (bytes_ > capacity_) {
      erase_locked(order_.back().id);
      stats_.evicted();
    }
    stats_.put();
  }

  bool remove(const std::string& id) override {
    validate_encoding_id(id);
    std::lock_guard<std::mutex> lock(mutex_);
    bool found = erase_locked(id);
    if (found) stats_.removed();
    return found;
  }

  std::vector<std::string> ids() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const Entry& e : order_) out.push_back(e.id);
    std::sort(out.begin(), out.end());
    return out;
  }

  StoreUsage usage() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return {index_.size(), bytes_};
  }

  std::uint64_t capacity() const override { return capacity_; }
  StoreStats stats() const override { return stats_.snapshot(spec()); }

 private:
  struct Entry {
    std::string id;
    Encoding encoding;
    std::uint64_t size;
  };

  bool erase_locked(const std::string& id) {
    auto it = index_.find(id);
    if (it == index_.end()) return false;
    bytes_ -= it->second->size;
    order_.erase(it->second);
    index_.erase(it);
    return true;
  }

  const std::uint64_t capacity_;
  std::mutex mutex_;
  std::list<Entry> order_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::uint64_t bytes_ = 0;
  detail::StatsCounter stats_;
};

}  // namespace

EncodingStore::~EncodingStore() = default;

std::unique_ptr<EncodingStore> make_memory_store(std::uint64_t capacity_bytes) {
  return std::make_unique<MemoryStore>(capacity_bytes);
}

}  // namespace inpaint
