// Store specs: "memory:...", "dir:...", "redis://..." and "|"-separated tiers.
#include <cctype>
#include <cstring>
#include <limits>
#include <map>

#include "core/spec_syntax.hpp"
#include "core/text.hpp"
#include "store/store_spec.hpp"

#include "inpaint/error.hpp"

namespace inpaint {

namespace {

[[noreturn]] void parse_error(const std::string& spec, const std::string& why) {
  throw Error(ErrorCode::Parse, "store spec " + detail::quoted(spec) + ": " + why);
}

// Takes the keys a store knows, and refuses the rest (a typo must not pass silently).
class Keys {
 public:
  Keys(std::string spec, std::map<std::string, std::string> pairs) : spec_(std::move(spec)), pairs_(std::move(pairs)) {}

  std::optional<std::string> take(const std::string& key) {
    known_ += (known_.empty() ? "" : ", ") + key;
    auto it = pairs_.find(key);
    if (it == pairs_.end()) return std::nullopt;
    std::string value = it->second;
    pairs_.erase(it);
    return value;
  }

  long long integer(const std::string& key, long long fallback, long long min_value, long long max_value) {
    auto value = take(key);
    if (!value) return fallback;
    std::size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(*value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value->size() || n < min_value || n > max_value)
      throw Error(ErrorCode::InvalidArgument, "store spec " + detail::quoted(spec_) + ": " + key + " must be an integer in " +
                                                  std::to_string(min_value) + ".." + std::to_string(max_value) +
                                                  ", got " + detail::quoted(*value));
    return n;
  }

  std::uint64_t bytes(const std::string& key, std::uint64_t fallback) {
    auto value = take(key);
    if (!value) return fallback;
    try {
      return parse_byte_size(*value);
    } catch (const Error& e) {
      throw Error(ErrorCode::InvalidArgument, "store spec " + detail::quoted(spec_) + ": " + key + ": " + e.what());
    }
  }

  void finish() const {
    if (pairs_.empty()) return;
    std::string unknown;
    for (const auto& [key, value] : pairs_) unknown += (unknown.empty() ? "" : ", ") + key;
    throw Error(ErrorCode::InvalidArgument,
                "store spec " + detail::quoted(spec_) + ": unknown key(s) " + unknown + " (it takes " + known_ + ")");
  }

 private:
  std::string spec_;
  std::map<std::string, std::string> pairs_;
  std::string known_;
};

// Everything of a spec is parsed by one reader moving through it, so that a quoted value may
// hold '|', '&' and ',' (detail::parse_spec_pairs skips them inside quotes).
struct Reader {
  const std::string& spec;
  std::size_t pos = 0;

  bool at_tier_end() const { return pos >= spec.size() || spec[pos] == '|'; }
  // The text up to the first of `ends` (or the tier's end).
  std::string until(const char* ends) {
    std::size_t start = pos;
    while (!at_tier_end() && std::strchr(ends, spec[pos]) == nullptr) ++pos;
    return spec.substr(start, pos - start);
  }
  std::map<std::string, std::string> pairs(char separator) {
    return detail::parse_spec_pairs(spec, pos, separator, "|", "store spec " + detail::quoted(spec));
  }
};

detail::StoreTierSpec parse_redis(Reader& in) {
  // redis://[host][:port][/db][?key=value&...]
  const std::string& spec = in.spec;
  in.pos += 8;
  std::string authority = in.until("/?"), db;
  if (!in.at_tier_end() && spec[in.pos] == '/') {
    ++in.pos;
    db = in.until("?");
  }
  std::map<std::string, std::string> query;
  if (!in.at_tier_end()) {  // at '?'
    ++in.pos;
    if (!in.at_tier_end()) query = in.pairs('&');
  }
  RedisStoreOptions o;
  if (authority.find('@') != std::string::npos) parse_error(spec, "passwords in the URL are not supported");
  std::string port;
  if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
  }
  if (!authority.empty()) o.host = authority;
  Keys keys(spec, std::move(query));
  auto number = [&](const std::string& text, const char* what, long long max_value) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 9 ||
        std::stoll(text) > max_value)
      parse_error(spec, std::string(what) + " must be a number up to " + std::to_string(max_value) + ", got " + detail::quoted(text));
    return int(std::stoll(text));
  };
  if (!port.empty()) o.port = number(port, "the port", 65535);
  if (!db.empty()) o.db = number(db, "the database", 1000000);
  if (auto prefix = keys.take("prefix")) o.prefix = *prefix;
  o.ttl_s = int(keys.integer("ttl", o.ttl_s, 0, std::numeric_limits<int>::max()));
  o.timeout_ms = int(keys.integer("timeout_ms", o.timeout_ms, 1, 3'600'000));
  o.retry_ms = int(keys.integer("retry_ms", o.retry_ms, 0, 3'600'000));
  o.chunk_bytes = keys.bytes("chunk", o.chunk_bytes);
  keys.finish();
  detail::StoreTierSpec tier;
  tier.kind = detail::StoreTierSpec::Kind::Redis;
  tier.redis = o;
  return tier;
}

detail::StoreTierSpec parse_one(Reader& in) {
  const std::string& spec = in.spec;
  if (in.at_tier_end()) parse_error(spec, "a tier is empty");
  if (spec.compare(in.pos, 8, "redis://") == 0) return parse_redis(in);
  std::string name = in.until(":");
  std::map<std::string, std::string> pairs;
  if (!in.at_tier_end()) {  // at ':'
    ++in.pos;
    if (!in.at_tier_end()) pairs = in.pairs(',');
  }
  Keys keys(spec, std::move(pairs));
  detail::StoreTierSpec tier;
  if (name == "memory") {
    tier.capacity = keys.bytes("capacity", 1ull << 30);
    keys.finish();
    return tier;
  }
  if (name == "dir") {
    auto path = keys.take("path");
    tier.kind = detail::StoreTierSpec::Kind::Directory;
    tier.capacity = keys.bytes("capacity", 0);
    tier.fsync = keys.integer("fsync", 1, 0, 1) != 0;
    keys.finish();
    if (!path) throw Error(ErrorCode::InvalidArgument, "store spec " + detail::quoted(spec) + ": dir needs path=DIRECTORY");
    tier.path = *path;
    return tier;
  }
  parse_error(spec, "unknown store " + detail::quoted(name) + " (known: memory:..., dir:path=..., redis://...)");
}

std::unique_ptr<EncodingStore> open_tier(const detail::StoreTierSpec& tier) {
  switch (tier.kind) {
    case detail::StoreTierSpec::Kind::Memory: return make_memory_store(tier.capacity);
    case detail::StoreTierSpec::Kind::Directory: return make_directory_store(tier.path, tier.capacity, tier.fsync);
    case detail::StoreTierSpec::Kind::Redis: return make_redis_store(tier.redis);
  }
  throw Error(ErrorCode::Internal, "store spec: unknown tier kind");
}

}  // namespace

std::uint64_t parse_byte_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  static const std::pair<const char*, std::uint64_t> kUnits[] = {
      {"", 1},          {"B", 1},           {"KB", 1000},          {"MB", 1000'000},       {"GB", 1000'000'000},
      {"TB", 1000'000'000'000}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}};
  for (const auto& [name, scale] : kUnits) {
    if (unit != name || digits == 0 || digits > 18) continue;
    std::uint64_t value = std::stoull(text.substr(0, digits));
    if (value > std::numeric_limits<std::uint64_t>::max() / scale) break;
    return value * scale;
  }
  throw Error(ErrorCode::InvalidArgument,
              "size " + detail::quoted(text) + " must be a number with an optional unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB");
}

std::vector<detail::StoreTierSpec> detail::parse_store_spec(const std::string& spec) {
  if (spec.empty()) throw Error(ErrorCode::Parse, "store spec is empty");
  std::vector<StoreTierSpec> tiers;
  Reader in{spec};
  while (true) {
    tiers.push_back(parse_one(in));
    if (in.pos >= spec.size()) break;
    ++in.pos;  // the '|' between tiers
  }
  return tiers;
}

std::unique_ptr<EncodingStore> open_store(const std::string& spec) {
  // The whole spec is parsed before anything opens: a typo in the last tier must not leave a
  // directory created by the first.
  std::vector<detail::StoreTierSpec> parsed = detail::parse_store_spec(spec);
  if (parsed.size() == 1) return open_tier(parsed[0]);
  std::vector<std::unique_ptr<EncodingStore>> tiers;
  for (const detail::StoreTierSpec& tier : parsed) tiers.push_back(open_tier(tier));
  return make_tiered_store(std::move(tiers));
}

}  // namespace inpaint
