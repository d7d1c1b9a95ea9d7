// The shared tier: Redis through hiredis. Values are the safetensors bytes, binary-safe; a value
// above chunk_bytes (Redis refuses values over 512 MB) is stored as chunk keys plus a small
// manifest under the id's key, written last so that a reader never sees half of one.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <string_view>

#include "core/spec_syntax.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/store.hpp"
#include "store/redis_manifest.hpp"
#include "store/safetensors.hpp"
#include "store/stats.hpp"

namespace inpaint {

namespace {

using Clock = std::chrono::steady_clock;
using ReplyPtr = std::shared_ptr<redisReply>;

using detail::kManifestMagic;
using detail::kMaxChunkBytes;
using detail::kMaxValueBytes;
using detail::kMinChunkBytes;
using detail::Manifest;
using detail::parse_decimal;
using detail::parse_manifest;

// "integer 7", "status 'OK'", "array of 3", ...: a reply as a message names it.
std::string describe(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING: return "bulk string " + detail::quoted({r.str, r.len});
    case REDIS_REPLY_STATUS: return "status " + detail::quoted({r.str, r.len});
    case REDIS_REPLY_ERROR: return "error " + detail::quoted({r.str, r.len});
    case REDIS_REPLY_INTEGER: return "integer " + std::to_string(r.integer);
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_ARRAY: return "array of " + std::to_string(r.elements);
    default: return "reply type " + std::to_string(r.type);
  }
}


// The RESP form of a command whose last argument is appended by the caller, so a large value
// is copied once, straight into the command buffer.
std::string resp_prefix(const std::vector<std::string>& args, std::size_t value_size, std::size_t argc_total) {
  std::string out = "*" + std::to_string(argc_total) + "\r\n";
  for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  out += "$" + std::to_string(value_size) + "\r\n";
  return out;
}

class RedisStore final : public EncodingStore {
 public:
  explicit RedisStore(RedisStoreOptions options) : o_(std::move(options)) {
    if (o_.host.empty()) throw Error(ErrorCode::InvalidArgument, "redis store: host is empty");
    if (o_.port <= 0 || o_.port > 65535) throw Error(ErrorCode::InvalidArgument, "redis store: port must be 1..65535");
    if (o_.db < 0) throw Error(ErrorCode::InvalidArgument, "redis store: db must be >= 0");
    if (o_.ttl_s < 0) throw Error(ErrorCode::InvalidArgument, "redis store: ttl must be >= 0");
    if (o_.timeout_ms <= 0) throw Error(ErrorCode::InvalidArgument, "redis store: timeout_ms must be > 0");
    if (o_.retry_ms < 0) throw Error(ErrorCode::InvalidArgument, "redis store: retry_ms must be >= 0");
    if (o_.chunk_bytes < kMinChunkBytes || o_.chunk_bytes > kMaxChunkBytes)
      throw Error(ErrorCode::InvalidArgument, "redis store: chunk must be 1KiB..512MiB");
  }

  ~RedisStore() override {
    if (context_) redisFree(context_);
  }

  std::string spec() const override {
    std::string s = "redis://" + o_.host + ":" + std::to_string(o_.port) + "/" + std::to_string(o_.db) +
                    "?prefix=" + (o_.prefix.empty() ? "" : detail::spec_value(o_.prefix, "&|"));
    if (o_.ttl_s) s += "&ttl=" + std::to_string(o_.ttl_s);
    return s + "&timeout_ms=" + std::to_string(o_.timeout_ms) + "&retry_ms=" + std::to_string(o_.retry_ms) +
           "&chunk=" + std::to_string(o_.chunk_bytes);
  }

  bool exists(const std::string& id) override {
    const std::string key = key_of(id);
    return detail::counted(stats_, [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      return integer(command({"EXISTS", key}), "EXISTS " + key) > 0;
    });
  }

  std::optional<Encoding> get(const std::string& id) override {
    const std::string key = key_of(id);
    return detail::counted(stats_, [&]() -> std::optional<Encoding> {
      std::lock_guard<std::mutex> lock(mutex_);
      ReplyPtr reply = command({"GET", key});
      if (reply->type == REDIS_REPLY_NIL) {
        stats_.miss();
        return std::nullopt;
      }
      if (reply->type != REDIS_REPLY_STRING) unexpected("GET " + key, *reply);
      try {
        std::optional<Manifest> manifest = parse_manifest(reply->str, reply->len);
        std::optional<Encoding> encoding = manifest ? read_chunks(key, *manifest) : parse(reply);
        if (encoding) stats_.hit();
        else stats_.miss();
        return encoding;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::Decode) throw;
        stats_.corrupt();
        stats_.miss();
        std::cerr << "inpaint: store: removing corrupt encoding " << key << ": " << e.what() << std::endl;
        remove_locked(key);
        return std::nullopt;
      }
    });
  }

  void put(const std::string& id, const Encoding& encoding) override {
    const std::string key = key_of(id);
    detail::counted(stats_, [&] {
      detail::SafetensorsLayout layout = detail::safetensors_layout(encoding);
      if (layout.total > kMaxValueBytes)
        throw Error(ErrorCode::TooLarge, "redis store: encoding '" + id + "' is " + std::to_string(layout.total) +
                                             " bytes, more than the limit of " + std::to_string(kMaxValueBytes));
      std::lock_guard<std::mutex> lock(mutex_);
      std::optional<Manifest> old = manifest_of(key);
      if (layout.total <= o_.chunk_bytes) {
        set_value(key, layout);
      } else {
        write_chunked(key, layout);
      }
      if (old) delete_chunks(key, *old);
      stats_.put();
    });
  }

  bool remove(const std::string& id) override {
    const std::string key = key_of(id);
    return detail::counted(stats_, [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      bool removed = remove_locked(key);
      if (removed) stats_.removed();
      return removed;
    });
  }

  std::vector<std::string> ids() override {
    return detail::counted(stats_, [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<std::string> out;
      for (const std::string& key : scan_keys())
        if (std::optional<std::string> id = id_of(key)) out.push_back(*id);
      std::sort(out.begin(), out.end());
      return out;
    });
  }

  StoreUsage usage() override {
    return detail::counted(stats_, [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      StoreUsage u;
      for (const std::string& key : scan_keys()) {
        if (id_of(key)) ++u.entries;
        u.bytes += std::uint64_t(integer(command({"STRLEN", key}), "STRLEN " + detail::printable(key, 100)));
      }
      return u;
    });
  }

  std::uint64_t capacity() const override { return 0; }
  StoreStats stats() const override { return stats_.snapshot(spec()); }

 private:
  std::string key_of(const std::string& id) const {
    validate_encoding_id(id);
    return o_.prefix + id;
  }

  // The id under a key SCAN returned; nothing for chunks ('#' is not allowed in an id) and for
  // anything a server should not have returned for our pattern.
  std::optional<std::string> id_of(const std::string& key) const {
    if (key.compare(0, o_.prefix.size(), o_.prefix) != 0) return std::nullopt;
    std::string id = key.substr(o_.prefix.size());
    try {
      validate_encoding_id(id);
    } catch (const Error&) {
      return std::nullopt;
    }
    return id;
  }

  std::string where() const { return "redis " + o_.host + ":" + std::to_string(o_.port); }

  // A reply a Redis server never gives to that command (a proxy or a server that only speaks
  // RESP): the server is not one this store can use, so it is Unavailable like a dead one, and
  // the connection is dropped.
  [[noreturn]] void unexpected(const std::string& what, const redisReply& reply) {
    lost(what + ": unexpected reply (" + describe(reply) + ")");
  }

  [[noreturn]] void lost(const std::string& what) {
    std::string message = where() + ": " + what;
    if (context_) {
      redisFree(context_);
      context_ = nullptr;
    }
    last_failure_ = message;
    retry_after_ = Clock::now() + std::chrono::milliseconds(o_.retry_ms);
    throw Error(ErrorCode::Unavailable, message);
  }

  redisContext* connection() {
    if (context_) return context_;
    if (Clock::now() < retry_after_)
      throw Error(ErrorCode::Unavailable, last_failure_ + " (not retrying for up to " + std::to_string(o_.retry_ms) + " ms)");
    timeval tv{o_.timeout_ms / 1000, (o_.timeout_ms % 1000) * 1000};
    context_ = redisConnectWithTimeout(o_.host.c_str(), o_.port, tv);
    if (!context_) lost("cannot allocate a connection");
    if (context_->err) lost(std::string("cannot connect: ") + context_->errstr);
    if (redisSetTimeout(context_, tv) != REDIS_OK) lost("cannot set the I/O timeout");
    if (o_.db != 0) {
      const std::string what = "SELECT " + std::to_string(o_.db);
      ReplyPtr reply = exchange(format({"SELECT", std::to_string(o_.db)}), what);
      if (reply->type == REDIS_REPLY_ERROR) lost(what + ": " + detail::quoted({reply->str, reply->len}));
      expect_ok(reply, what);
    }
    return context_;
  }

  static std::string format(const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
  }

  // Sends one command and reads its reply. The socket's timeout bounds each read and write; one
  // that runs out says so (hiredis would only say "Resource temporarily unavailable").
  ReplyPtr exchange(const std::string& resp, const std::string& what) {
    timed_out_ = false;
    if (redisAppendFormattedCommand(context_, resp.data(), resp.size()) != REDIS_OK) lost(what + ": " + context_->errstr);
    for (int done = 0; !done;)
      if (redisBufferWrite(context_, &done) != REDIS_OK) failed(what, "could not send the command");
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || !raw) failed(what, "no reply");
    return ReplyPtr(static_cast<redisReply*>(raw), freeReplyObject);
  }

  [[noreturn]] void failed(const std::string& what, const char* stage) {
    const int error = errno;  // hiredis leaves the failed read's or write's errno
    if (context_->err == REDIS_ERR_IO && (error == EAGAIN || error == EWOULDBLOCK)) {
      timed_out_ = true;
      lost(what + ": " + stage + " within " + std::to_string(o_.timeout_ms) + " ms (timeout)");
    }
    lost(what + ": " + (context_->errstr[0] ? context_->errstr : stage));
  }

  // One command; a server error reply becomes Error(Io) with its message. A connection that
  // dies under a command (the server restarted since the last call) is replaced once right
  // away: every command here is idempotent, so sending it again is safe. Not after a timeout:
  // that server is there but slow, and waiting for it twice would double the caller's wait.
  ReplyPtr run(const std::string& resp, const std::string& what) {
    const bool reused = context_ != nullptr;
    ReplyPtr reply;
    try {
      connection();
      reply = exchange(resp, what);
    } catch (const Error& e) {
      if (!reused || e.code() != ErrorCode::Unavailable || timed_out_) throw;
      retry_after_ = {};
      connection();
      reply = exchange(resp, what);
    }
    if (reply->type == REDIS_REPLY_ERROR)
      throw Error(ErrorCode::Io, where() + ": " + what + ": " + detail::quoted({reply->str, reply->len}));
    return reply;
  }

  ReplyPtr command(const std::vector<std::string>& args) { return run(format(args), args[0] + " " + (args.size() > 1 ? args[1] : "")); }

  long long integer(const ReplyPtr& reply, const std::string& what) {
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) unexpected(what, *reply);
    return reply->integer;
  }

  void expect_ok(const ReplyPtr& reply, const std::string& what) {
    if (reply->type != REDIS_REPLY_STATUS || std::string_view(reply->str, reply->len) != "OK") unexpected(what, *reply);
  }

  std::string set_suffix() const {
    if (!o_.ttl_s) return "";
    std::string ttl = std::to_string(o_.ttl_s);
    return "$2\r\nEX\r\n$" + std::to_string(ttl.size()) + "\r\n" + ttl + "\r\n";
  }

  void set_bytes(const std::string& key, const std::uint8_t* data, std::size_t size) {
    std::string resp = resp_prefix({"SET", key}, size, o_.ttl_s ? 5 : 3);
    resp.reserve(resp.size() + size + 64);
    resp.append(reinterpret_cast<const char*>(data), size);
    resp += "\r\n" + set_suffix();
    expect_ok(run(resp, "SET " + key), "SET " + key);
  }

  void set_value(const std::string& key, const detail::SafetensorsLayout& layout) {
    std::string resp = resp_prefix({"SET", key}, layout.total, o_.ttl_s ? 5 : 3);
    resp.reserve(resp.size() + layout.total + 64);
    resp += layout.head;
    for (const HostTensor* t : layout.tensors) resp.append(reinterpret_cast<const char*>(t->data()), t->nbytes());
    resp += "\r\n" + set_suffix();
    expect_ok(run(resp, "SET " + key), "SET " + key);
  }

  std::string chunk_key(const std::string& key, const std::string& token, std::uint64_t i) const {
    return key + "#" + token + "." + std::to_string(i);
  }

  void write_chunked(const std::string& key, const detail::SafetensorsLayout& layout) {
    std::vector<std::uint8_t> bytes;
    bytes.reserve(layout.total);
    bytes.insert(bytes.end(), layout.head.begin(), layout.head.end());
    for (const HostTensor* t : layout.tensors) bytes.insert(bytes.end(), t->data(), t->data() + t->nbytes());
    static thread_local std::mt19937_64 random{std::random_device{}()};
    Manifest m;
    m.token = std::to_string(random());
    m.total = bytes.size();
    m.count = (m.total + o_.chunk_bytes - 1) / o_.chunk_bytes;
    for (std::uint64_t i = 0; i < m.count; ++i) {
      std::size_t begin = std::size_t(i * o_.chunk_bytes);
      set_bytes(chunk_key(key, m.token, i), bytes.data() + begin, std::min<std::size_t>(o_.chunk_bytes, bytes.size() - begin));
    }
    std::string text = kManifestMagic + m.token + "\n" + std::to_string(m.count) + "\n" + std::to_string(m.total) + "\n";
    set_bytes(key, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }

  std::optional<Manifest> manifest_of(const std::string& key) {
    ReplyPtr head = command({"GETRANGE", key, "0", "255"});
    if (head->type != REDIS_REPLY_STRING) unexpected("GETRANGE " + key, *head);
    try {
      return parse_manifest(head->str, head->len);
    } catch (const Error&) {
      return std::nullopt;
    }
  }

  void delete_chunks(const std::string& key, const Manifest& m) {
    for (std::uint64_t first = 0; first < m.count; first += 1000) {  // commands of a bounded size
      std::vector<std::string> args = {"DEL"};
      for (std::uint64_t i = first; i < std::min(m.count, first + 1000); ++i) args.push_back(chunk_key(key, m.token, i));
      integer(run(format(args), "DEL chunks of " + key), "DEL chunks of " + key);
    }
  }

  bool remove_locked(const std::string& key) {
    std::optional<Manifest> m = manifest_of(key);
    bool removed = integer(command({"DEL", key}), "DEL " + key) > 0;
    if (m) delete_chunks(key, *m);
    return removed;
  }

  static Encoding parse(const ReplyPtr& reply) {
    // The tensors point into the reply's string, which the reply (kept by the tensors) owns.
    return parse_safetensors(reinterpret_cast<const std::uint8_t*>(reply->str), reply->len, reply);
  }

  // The chunks never add up to more than the manifest's total (bounded by parse_manifest), so
  // the buffer is allocated once; a missing chunk is a miss (expired or replaced meanwhile).
  std::optional<Encoding> read_chunks(const std::string& key, const Manifest& m) {
    auto bytes = std::make_shared<std::vector<std::uint8_t>>();
    bytes->reserve(m.total);
    for (std::uint64_t i = 0; i < m.count; ++i) {
      const std::string chunk = chunk_key(key, m.token, i);
      ReplyPtr part = command({"GET", chunk});
      if (part->type == REDIS_REPLY_NIL) return std::nullopt;
      if (part->type != REDIS_REPLY_STRING) unexpected("GET " + chunk, *part);
      if (part->len == 0 || part->len > m.total - bytes->size())
        throw Error(ErrorCode::Decode, "redis: chunk " + std::to_string(i) + " of " + key + " is " + std::to_string(part->len) +
                                           " bytes: empty or past the manifest's total of " + std::to_string(m.total));
      bytes->insert(bytes->end(), part->str, part->str + part->len);
    }
    if (bytes->size() != m.total)
      throw Error(ErrorCode::Decode, "redis: the " + std::to_string(m.count) + " chunks of " + key + " hold " +
                                         std::to_string(bytes->size()) + " bytes, not the manifest's " + std::to_string(m.total));
    return parse_safetensors(bytes->data(), bytes->size(), bytes);
  }

  std::vector<std::string> scan_keys() {
    std::string pattern;
    for (char c : o_.prefix) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
      pattern += c;
    }
    pattern += '*';
    // A reply is [cursor, [key, ...]]. Redis' cursors only move forwards (in bit-reversed
    // order), so one seen twice means a server that would keep this loop going for ever.
    std::vector<std::string> keys;
    std::set<std::string> seen;
    std::string cursor = "0";
    do {
      const std::string what = "SCAN " + cursor;
      ReplyPtr reply = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) unexpected(what, *reply);
      const redisReply& next = *reply->element[0];
      const redisReply& batch = *reply->element[1];
      std::uint64_t number = 0;
      if (next.type != REDIS_REPLY_STRING || !parse_decimal({next.str, next.len}, number))
        unexpected(what + " (the cursor)", next);
      if (batch.type != REDIS_REPLY_ARRAY) unexpected(what + " (the keys)", batch);
      cursor.assign(next.str, next.len);
      if (cursor != "0" && !seen.insert(cursor).second) lost(what + ": the server returned cursor " + cursor + " twice");
      for (std::size_t i = 0; i < batch.elements; ++i) {
        const redisReply& key = *batch.element[i];
        if (key.type != REDIS_REPLY_STRING) unexpected(what + " (a key)", key);
        keys.emplace_back(key.str, key.len);
      }
    } while (cursor != "0");
    return keys;
  }

  const RedisStoreOptions o_;
  std::mutex mutex_;  // one connection; calls take turns on it
  redisContext* context_ = nullptr;
  Clock::time_point retry_after_{};
  bool timed_out_ = false;  // the last exchange ran out of time
  std::string last_failure_;
  detail::StatsCounter stats_;
};

}  // namespace

std::unique_ptr<EncodingStore> make_redis_store(const RedisStoreOptions& options) {
  return std::make_unique<RedisStore>(options);
}

}  // namespace inpaint
