// Tiers, fastest first: a hit is copied up to the tiers above it; writes go through to all.
// A tier that fails (Redis down, a full disk) is skipped and counted in its stats; the call
// fails only when no tier could serve it.
#include <set>

#include "inpaint/error.hpp"
#include "inpaint/store.hpp"
#include "store/stats.hpp"

namespace inpaint {

namespace {

class TieredStore final : public EncodingStore {
 public:
  explicit TieredStore(std::vector<std::unique_ptr<EncodingStore>> tiers) : tiers_(std::move(tiers)) {
    if (tiers_.empty()) throw Error(ErrorCode::InvalidArgument, "tiered store: no tiers");
    for (const auto& t : tiers_)
      if (!t) throw Error(ErrorCode::InvalidArgument, "tiered store: a tier is null");
    skips_ = std::make_unique<detail::StatsCounter[]>(tiers_.size());
  }

  std::string spec() const override {
    std::string s;
    for (const auto& t : tiers_) s += (s.empty() ? "" : "|") + t->spec();
    return s;
  }

  bool exists(const std::string& id) override {
    validate_encoding_id(id);
    bool any_answered = false;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      try {
        if (tiers_[i]->exists(id)) return true;
        any_answered = true;
      } catch (const Error& e) {
        skip(i, e);
      }
    }
    if (!any_answered) fail_all("exists");
    return false;
  }

  std::optional<Encoding> get(const std::string& id) override {
    validate_encoding_id(id);
    bool any_answered = false;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      std::optional<Encoding> found;
      try {
        found = tiers_[i]->get(id);
        any_answered = true;
      } catch (const Error& e) {
        skip(i, e);
        continue;
      }
      if (!found) continue;
      for (std::size_t above = 0; above < i; ++above) {
        try {
          tiers_[above]->put(id, *found);
        } catch (const Error& e) {
          skip(above, e);  // promotion is an optimisation; the hit stands
        }
      }
      stats_.hit();
      return found;
    }
    if (!any_answered) fail_all("get");
    stats_.miss();
    return std::nullopt;
  }

  void put(const std::string& id, const Encoding& encoding) override {
    validate_encoding_id(id);
    std::size_t stored = 0;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      try {
        tiers_[i]->put(id, encoding);
        ++stored;
      } catch (const Error& e) {
        skip(i, e);
      }
    }
    if (!stored) fail_all("put");
    stats_.put();
  }

  bool remove(const std::string& id) override {
    validate_encoding_id(id);
    bool removed = false, any_answered = false;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      try {
        removed = tiers_[i]->remove(id) || removed;
        any_answered = true;
      } catch (const Error& e) {
        skip(i, e);
      }
    }
    if (!any_answered) fail_all("remove");
    if (removed) stats_.removed();
    return removed;
  }

  std::vector<std::string> ids() override {
    std::set<std::string> all;
    bool any_answered = false;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      try {
        for (auto& id : tiers_[i]->ids()) all.insert(std::move(id));
        any_answered = true;
      } catch (const Error& e) {
        skip(i, e);
      }
    }
    if (!any_answered) fail_all("ids");
    return {all.begin(), all.end()};
  }

  // The last tier's usage: it holds everything the tiers above hold (writes go through).
  StoreUsage usage() override { return tiers_.back()->usage(); }
  std::uint64_t capacity() const override { return tiers_.back()->capacity(); }

  // Each tier's hits and misses are its own; its errors and last_error count the times this
  // store skipped it. errors at the top level is the sum of the skips.
  StoreStats stats() const override {
    StoreStats s = stats_.snapshot(spec());
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      StoreStats tier = tiers_[i]->stats();
      StoreStats skipped = skips_[i].snapshot(tier.spec);
      tier.errors = skipped.errors;
      tier.last_error = skipped.last_error;
      s.errors += skipped.errors;
      if (!skipped.last_error.empty()) s.last_error = skipped.last_error;
      s.tiers.push_back(std::move(tier));
    }
    return s;
  }

 private:
  // The latest failure of one call, for the error when every tier failed.
  struct Failure {
    ErrorCode code = ErrorCode::Unavailable;
    std::string message;
  };

  void skip(std::size_t tier, const Error& e) {
    if (e.code() == ErrorCode::InvalidArgument) throw;  // the caller's mistake, not the tier's
    skips_[tier].error(e.what());
    failure_ = {e.code(), e.what()};
  }

  [[noreturn]] void fail_all(const char* operation) {
    throw Error(failure_.code, std::string("tiered store: ") + operation + " failed on every tier (last: " + failure_.message + ")");
  }

  std::vector<std::unique_ptr<EncodingStore>> tiers_;
  std::unique_ptr<detail::StatsCounter[]> skips_;
  detail::StatsCounter stats_;
  static thread_local Failure failure_;
};

thread_local TieredStore::Failure TieredStore::failure_;

}  // namespace

std::unique_ptr<EncodingStore> make_tiered_store(std::vector<std::unique_ptr<EncodingStore>> tiers) {
  return std::make_unique<TieredStore>(std::move(tiers));
}

}  // namespace inpaint
