#pragma once
// Decoded frames kept by a VideoSource, least recently used dropped first, bounded by bytes.
// Internal only. Thread-safe: every method takes the cache's own lock.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include "inpaint/image.hpp"

namespace inpaint::detail {

struct FrameKey {
  std::int64_t index = 0;
  int width = 0, height = 0;  // the size asked for, after 0 x 0 was resolved to the frame's own
  bool operator<(const FrameKey& o) const {
    return std::tie(index, width, height) < std::tie(o.index, o.width, o.height);
  }
};

class FrameCache {
 public:
  explicit FrameCache(std::uint64_t capacity) : capacity_(capacity) {}

  // The frame, now the most recently used; null when it is not kept.
  std::shared_ptr<const Image> get(const FrameKey& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  bool contains(const FrameKey& key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return index_.count(key) != 0;
  }

  // Whether a frame of `bytes` could be kept at all (a frame larger than the capacity is not).
  bool fits(std::uint64_t bytes) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes <= capacity_;
  }

  // Keeps the frame as the most recently used, dropping the least recently used ones until it
  // fits; a frame larger than the whole capacity is not kept.
  void put(const FrameKey& key, std::shared_ptr<const Image> frame) {
    const std::uint64_t bytes = frame->size_bytes();
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > capacity_) return;
    auto it = index_.find(key);
    if (it != index_.end()) {
      bytes_ -= it->second->second->size_bytes();
      order_.erase(it->second);
      index_.erase(it);
    }
    order_.emplace_front(key, std::move(frame));
    index_[key] = order_.begin();
    bytes_ += bytes;
    shrink_locked();
  }

  std::uint64_t bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
  }
  std::uint64_t capacity() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return capacity_;
  }
  void set_capacity(std::uint64_t capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = capacity;
    shrink_locked();
  }

 private:
  void shrink_locked() {
    while (bytes_ > capacity_ && !order_.empty()) {
      bytes_ -= order_.back().second->size_bytes();
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  using Entry = std::pair<FrameKey, std::shared_ptr<const Image>>;
  mutable std::mutex mutex_;
  std::uint64_t capacity_ = 0;
  std::uint64_t bytes_ = 0;
  std::list<Entry> order_;  // most recently used first
  std::map<FrameKey, std::list<Entry>::iterator> index_;
};

}  // namespace inpaint::detail
