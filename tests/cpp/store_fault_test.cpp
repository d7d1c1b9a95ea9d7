// The stores under faults: a server that speaks RESP but not Redis, poisoned chunk manifests,
// a server killed or stopped in the middle of a call, files that are not files, files truncated
// under a reader, a full disk, and two processes sharing one small directory store.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "inpaint/inpaint.hpp"
#include "redis_server.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace inpaint;
using Clock = std::chrono::steady_clock;
using inpaint::test::code_of;

namespace {

Encoding make_encoding(std::size_t floats, int seed) {
  Encoding e;
  e.metadata.model_id = "sam-fault";
  HostTensor t = HostTensor::allocate(DType::F32, {std::int64_t(floats)});
  auto* values = reinterpret_cast<float*>(t.mutable_data());
  for (std::size_t i = 0; i < floats; ++i) values[i] = float(seed) + float(i % 1000) * 0.25f;
  e.tensors["image_embed"] = t;
  return e;
}

bool same(const Encoding& a, const Encoding& b) {
  const HostTensor &x = a.tensor("image_embed"), &y = b.tensor("image_embed");
  return x.nbytes() == y.nbytes() && std::memcmp(x.data(), y.data(), x.nbytes()) == 0;
}

long ms_since(Clock::time_point start) {
  return long(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

class TempDir {
 public:
  explicit TempDir(const std::string& base = "/tmp") {
    std::string name = base + "/inpaint_fault_XXXXXX";
    path_ = ::mkdtemp(name.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind(".tmp-", 0) == 0) out.push_back(entry.path().filename());
  return out;
}

// Runs body in a forked child and returns how it ended: "exit N" or "signal N (NAME)". For
// what could kill the test binary (SIGBUS) or must not touch it (a file-size limit).
std::string in_child(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "exit " + std::to_string(WEXITSTATUS(status));
}

// ---------------------------------------------------------------- a RESP server that is not Redis

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }

// Answers each command with reply(args); "" means "as an empty Redis would". Counts the
// commands by name. One connection at a time, on a thread; stopped by the destructor.
class FakeRedis {
 public:
  using Reply = std::function<std::string(const std::vector<std::string>&)>;
  explicit FakeRedis(Reply reply) : reply_(std::move(reply)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 4) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("fake redis: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeRedis() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  std::string spec(const std::string& query = "") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "?prefix=t:&timeout_ms=500&retry_ms=0" + query;
  }
  int count(const std::string& command) {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_[command];
  }

 private:
  static std::string normal(const std::vector<std::string>& a) {
    const std::string& c = a[0];
    if (c == "SET" || c == "SELECT") return "+OK\r\n";
    if (c == "GET") return "$-1\r\n";
    if (c == "GETRANGE") return "$0\r\n\r\n";
    if (c == "EXISTS" || c == "DEL" || c == "STRLEN") return ":0\r\n";
    if (c == "SCAN") return "*2\r\n" + bulk("0") + "*0\r\n";
    return "-ERR unknown command\r\n";
  }

  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  void serve() {
    while (wait_readable(listener_)) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string in;
      char buffer[65536];
      while (wait_readable(fd)) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        in.append(buffer, std::size_t(n));
        std::vector<std::string> args;
        while (parse(in, args)) {
          {
            std::lock_guard<std::mutex> lock(mutex_);
            ++counts_[args[0]];
          }
          std::string out = reply_(args);
          if (out.empty()) out = normal(args);
          if (::write(fd, out.data(), out.size()) < 0) break;
        }
      }
      ::close(fd);
    }
  }

  // One "*N\r\n$len\r\narg\r\n..." command off the front of in, when it is all there.
  static bool parse(std::string& in, std::vector<std::string>& args) {
    args.clear();
    if (in.empty() || in[0] != '*') return false;
    std::size_t pos = in.find("\r\n");
    if (pos == std::string::npos) return false;
    int n = std::stoi(in.substr(1, pos - 1));
    pos += 2;
    for (int i = 0; i < n; ++i) {
      std::size_t end = in.find("\r\n", pos);
      if (end == std::string::npos) return false;
      std::size_t len = std::stoul(in.substr(pos + 1, end - pos - 1));
      if (in.size() < end + 2 + len + 2) return false;
      args.push_back(in.substr(end + 2, len));
      pos = end + 2 + len + 2;
    }
    in.erase(0, pos);
    return true;
  }

  Reply reply_;
  int listener_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, int> counts_;
};

// A real Redis: raw RESP, for values redis-cli cannot pass (newlines, binary).
void raw_set(int port, const std::string& key, const std::string& value) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(std::uint16_t(port));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string command = "*3\r\n" + bulk("SET") + bulk(key) + bulk(value);
  ASSERT_EQ(::write(fd, command.data(), command.size()), ssize_t(command.size()));
  char reply[16] = {};
  ASSERT_GT(::read(fd, reply, sizeof reply - 1), 0);
  ::close(fd);
  ASSERT_EQ(std::string(reply), "+OK\r\n");
}

}  // namespace

// A server answering with reply types Redis never gives for a command: every call fails at once
// with Unavailable naming the command and the reply, and never loops (SCAN).
TEST(RedisFaults, RepliesOfTheWrongTypeAreUnavailableNamingTheType) {
  struct Case {
    std::string command, reply, needle;
    std::function<void(EncodingStore&)> call;
  } cases[] = {
      {"SCAN", ":5\r\n", "SCAN 0: unexpected reply (integer 5)", [](EncodingStore& s) { s.ids(); }},
      {"SCAN", "+OK\r\n", "SCAN 0: unexpected reply (status 'OK')", [](EncodingStore& s) { s.ids(); }},
      {"SCAN", "*2\r\n:0\r\n*0\r\n", "SCAN 0 (the cursor): unexpected reply (integer 0)", [](EncodingStore& s) { s.ids(); }},
      {"SCAN", "*2\r\n" + bulk("-1") + "*0\r\n", "(the cursor): unexpected reply (bulk string '-1')",
       [](EncodingStore& s) { s.ids(); }},
      {"SCAN", "*2\r\n" + bulk("7") + "*0\r\n", "returned cursor 7 twice", [](EncodingStore& s) { s.ids(); }},
      {"SCAN", "*2\r\n" + bulk("0") + ":3\r\n", "(the keys): unexpected reply (integer 3)", [](EncodingStore& s) { s.ids(); }},
      {"SCAN", "*2\r\n" + bulk("0") + "*1\r\n:3\r\n", "(a key): unexpected reply (integer 3)",
       [](EncodingStore& s) { s.ids(); }},
      {"GET", "*1\r\n" + bulk("x"), "GET t:a: unexpected reply (array of 1)", [](EncodingStore& s) { s.get("a"); }},
      {"GET", ":1\r\n", "GET t:a: unexpected reply (integer 1)", [](EncodingStore& s) { s.get("a"); }},
      {"EXISTS", bulk("1"), "EXISTS t:a: unexpected reply (bulk string '1')", [](EncodingStore& s) { s.exists("a"); }},
      {"EXISTS", ":-1\r\n", "EXISTS t:a: unexpected reply (integer -1)", [](EncodingStore& s) { s.exists("a"); }},
      {"SET", "$-1\r\n", "SET t:a: unexpected reply (nil)", [](EncodingStore& s) { s.put("a", make_encoding(10, 1)); }},
      {"SET", ":1\r\n", "SET t:a: unexpected reply (integer 1)", [](EncodingStore& s) { s.put("a", make_encoding(10, 1)); }},
      {"GETRANGE", ":0\r\n", "GETRANGE t:a: unexpected reply (integer 0)",
       [](EncodingStore& s) { s.put("a", make_encoding(10, 1)); }},
      {"DEL", "+OK\r\n", "DEL t:a: unexpected reply (status 'OK')", [](EncodingStore& s) { s.remove("a"); }},
      {"STRLEN", "+big\r\n", "unexpected reply (status 'big')", [](EncodingStore& s) { s.usage(); }},
  };
  for (const Case& c : cases) {
    int calls = 0;
    FakeRedis fake([&](const std::vector<std::string>& args) -> std::string {
      if (args[0] == "SCAN" && c.command == "STRLEN") return "*2\r\n" + bulk("0") + "*1\r\n" + bulk("t:a");
      if (args[0] != c.command) return "";
      // Never for ever: after 50 a looping client gets an error, which this test tells apart.
      return ++calls > 50 ? "-ERR too many calls\r\n" : c.reply;
    });
    auto store = open_store(fake.spec());
    std::string message;
    auto started = Clock::now();
    EXPECT_EQ(code_of([&] { c.call(*store); }, &message), ErrorCode::Unavailable) << c.reply << ": " << message;
    EXPECT_NE(message.find(c.needle), std::string::npos) << "got: " << message << "\nexpected: " << c.needle;
    EXPECT_NE(message.find("redis 127.0.0.1:"), std::string::npos) << message;
    EXPECT_LE(fake.count(c.command), 2) << c.command << " " << c.reply;
    EXPECT_LT(ms_since(started), 2000);
  }
}

// An error reply is the server's text: at most 100 bytes of it, control characters escaped.
TEST(RedisFaults, ErrorRepliesAreQuotedShortAndEscaped) {
  std::string hostile = "ERR \x1b[31m" + std::string(5000, 'z');
  FakeRedis fake([&](const std::vector<std::string>& args) -> std::string {
    return args[0] == "GET" ? "-" + hostile + "\r\n" : "";
  });
  auto store = open_store(fake.spec());
  std::string message;
  EXPECT_EQ(code_of([&] { store->get("a"); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("GET t:a: 'ERR \\x1b[31mzzz"), std::string::npos) << message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
  EXPECT_LT(message.size(), 200u) << message;
}

// ---------------------------------------------------------------- poisoned manifests

class RedisFaultTest : public ::testing::Test {
 protected:
  test::RedisServer server;
  std::string spec(const std::string& query = "") const { return server.url() + "?prefix=t:&timeout_ms=300&retry_ms=0" + query; }
};

// A manifest that breaks a rule is a miss, logged and removed, never an allocation of what it
// claims or a std::bad_alloc / length_error.
TEST_F(RedisFaultTest, PoisonedManifestsAreMissesNeverHugeAllocations) {
  auto store = open_store(spec("&chunk=1KiB"));
  const Encoding e = make_encoding(2000, 5);  // 8 KB: 8 chunks of 1 KiB and a short one
  const std::uint64_t total = safetensors_size(e), count = (total + 1023) / 1024;
  const std::string n = std::to_string(count), size = std::to_string(total);
  using Make = std::function<std::string(const std::string& token)>;
  auto manifest = [](std::string c, std::string t, std::string tail = "") -> Make {
    return [=](const std::string& token) { return "INPAINT-CHUNKS\n" + token + "\n" + c + "\n" + t + "\n" + tail; };
  };
  struct Case {
    Make value;
    std::string needle;  // "": a plain miss (a chunk is missing, as when it expired)
  } cases[] = {
      {manifest("-1", size), "unsigned decimals"},
      {manifest(n, "-5"), "unsigned decimals"},
      {manifest(n, "18446744073709551615"), "exceeds the limit"},
      {manifest(n, "99999999999999999999999"), "unsigned decimals"},  // past 64 bits
      {manifest("0", size), "count is 0"},
      {manifest(" " + n, size), "unsigned decimals"},
      {manifest(n + "x", size), "unsigned decimals"},
      {manifest("+" + n, size), "unsigned decimals"},
      {manifest(n, size, "junk"), "trailing bytes"},
      {[&](const std::string& token) { return "INPAINT-CHUNKS\n" + token + "\n" + n + "\n" + size; }, "three lines"},
      {[](const std::string&) { return std::string("INPAINT-CHUNKS\n\x01\x02\n1\n2\n"); }, "token must be"},
      {manifest(n, "5000000000"), "exceeds the limit"},
      {manifest("1000000000000", size), "cannot hold"},
      {manifest("1", "4000000000"), "cannot hold"},  // 4 GB in one chunk
      {manifest(std::to_string(count - 1), size), "not the manifest's"},  // fewer chunks than written
      {manifest(n, std::to_string(total + 1)), "not the manifest's"},
      {manifest(n, std::to_string(total - 1)), "past the manifest's total"},
      {manifest(n, size), ""},  // whole, but chunk 3 is deleted below
  };
  for (const Case& c : cases) {
    store->put("a", e);  // fresh chunks under a fresh token
    const std::string real = server.cli("GET t:a");
    ASSERT_EQ(real.rfind("INPAINT-CHUNKS\n", 0), 0u) << real;
    const std::string token = real.substr(15, real.find('\n', 15) - 15);
    const std::string value = c.value(token);
    raw_set(server.port(), "t:a", value);
    if (c.needle.empty()) ASSERT_EQ(server.cli("DEL t:a#" + token + ".3"), "1");
    std::uint64_t corrupt = store->stats().corrupt;
    testing::internal::CaptureStderr();
    std::optional<Encoding> got;
    EXPECT_NO_THROW(got = store->get("a")) << value;
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_FALSE(got) << value;
    if (c.needle.empty()) {
      EXPECT_EQ(store->stats().corrupt, corrupt) << value;
      continue;
    }
    EXPECT_EQ(store->stats().corrupt, corrupt + 1) << value;
    EXPECT_NE(log.find("removing corrupt encoding t:a"), std::string::npos) << log;
    EXPECT_NE(log.find(c.needle), std::string::npos) << "got: " << log << "expected: " << c.needle;
    EXPECT_LT(log.size(), 300u) << log;
    EXPECT_EQ(log.find('\x01'), std::string::npos) << log;
    EXPECT_EQ(server.cli("EXISTS t:a"), "0") << value;
  }
  store->put("a", e);
  auto back = store->get("a");
  ASSERT_TRUE(back);
  EXPECT_TRUE(same(*back, e));
}

// ---------------------------------------------------------------- timeouts

TEST_F(RedisFaultTest, ATimeoutSaysSoNamingTheOperationAndWaitsOnce) {
  auto store = open_store(server.url() + "?prefix=t:&timeout_ms=250&retry_ms=0");
  store->put("a", make_encoding(100, 1));
  server.pause();
  std::string message;
  auto started = Clock::now();
  EXPECT_EQ(code_of([&] { store->get("a"); }, &message), ErrorCode::Unavailable);
  long waited = ms_since(started);
  EXPECT_NE(message.find("redis 127.0.0.1:" + std::to_string(server.port()) + ": GET t:a: no reply within 250 ms (timeout)"),
            std::string::npos)
      << message;
  EXPECT_GE(waited, 200);
  EXPECT_LT(waited, 450);  // one timeout: no second try against a server that is there but slow
  EXPECT_EQ(code_of([&] { store->put("b", make_encoding(100, 2)); }, &message), ErrorCode::Unavailable);
  EXPECT_NE(message.find("t:b: no reply within 250 ms (timeout)"), std::string::npos) << message;
  server.resume();
  EXPECT_TRUE(store->get("a"));
}

// ---------------------------------------------------------------- Redis killed or stopped mid-call

// Redis with an append-only file (acknowledged writes survive SIGKILL), killed at varied
// moments of a chunked write, restarted: the value read back is always the whole old or the
// whole new one (the new one when the write was acknowledged), never a miss or a mix.
TEST(RedisKill, AWriteKilledMidwayLeavesTheOldOrTheNewValueWhole) {
  TempDir dir(fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp");  // fsync per write costs nothing there
  test::RedisServer server({"--appendonly", "yes", "--appendfsync", "always", "--dir", dir.path()});
  const std::string spec = server.url() + "?prefix=t:&timeout_ms=1000&retry_ms=0&chunk=1KiB";
  const Encoding old_value = make_encoding(50000, 1), new_value = make_encoding(50000, 2);  // 200 KB: 196 chunks
  auto timer = open_store(spec);
  auto started = Clock::now();
  timer->put("probe", new_value);
  const long write_us = long(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  std::mt19937 random(7);
  const int runs = 20;
  int failed_writes = 0, saw_new = 0;
  for (int run = 0; run < runs; ++run) {
    auto store = open_store(spec);
    store->put("v", old_value);
    std::atomic<bool> acknowledged{false};
    std::string error;
    std::thread writer([&] {
      try {
        store->put("v", new_value);
        acknowledged = true;
      } catch (const Error& e) {
        error = e.what();
        EXPECT_EQ(e.code(), ErrorCode::Unavailable) << e.what();
      }
    });
    // Anywhere in the write, and now and then just after it.
    std::this_thread::sleep_for(std::chrono::microseconds(random() % std::uint32_t(2 * write_us + 1)));
    server.stop();  // SIGKILL
    writer.join();
    if (!acknowledged) {
      ++failed_writes;
      EXPECT_NE(error.find("redis 127.0.0.1:"), std::string::npos) << error;
    }
    server.start();
    std::optional<Encoding> got;
    for (int i = 0; i < 50 && !got; ++i) {  // the server may still be loading its file
      try {
        got = open_store(spec)->get("v");
        break;
      } catch (const Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    ASSERT_TRUE(got) << "run " << run << ": a miss after a kill";
    const bool is_new = same(*got, new_value);
    EXPECT_TRUE(is_new || same(*got, old_value)) << "run " << run << ": a torn value";
    if (acknowledged) EXPECT_TRUE(is_new) << "run " << run << ": an acknowledged write was lost";
    saw_new += is_new;
  }
  std::printf("[ fault    ] redis SIGKILL during a %ld us chunked write, %d runs: %d writes failed (Unavailable), %d read "
              "the new value, %d the old one, 0 torn, 0 lost\n",
              write_us, runs, failed_writes, saw_new, runs - saw_new);
}

// Killed while readers read a chunked value: each read returns the whole value or fails.
TEST(RedisKill, AReadKilledMidwayReturnsTheWholeValueOrAnError) {
  test::RedisServer server;
  const std::string spec = server.url() + "?prefix=t:&timeout_ms=1000&retry_ms=0&chunk=1KiB";
  const Encoding value = make_encoding(50000, 3);
  std::mt19937 random(11);
  int reads = 0, errors = 0;
  for (int run = 0; run < 20; ++run) {
    open_store(spec)->put("v", value);
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      auto store = open_store(spec);
      while (!stop) {
        try {
          std::optional<Encoding> got = store->get("v");
          ++reads;
          EXPECT_TRUE(got && same(*got, value)) << "run " << run << ": a torn or missing value while the server ran";
        } catch (const Error& e) {
          ++errors;
          EXPECT_EQ(e.code(), ErrorCode::Unavailable) << e.what();
          return;
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(5000 + random() % 40000));
    server.stop();
    stop = true;
    reader.join();
    server.start();
  }
  EXPECT_GT(reads, 0);
  std::printf("[ fault    ] redis SIGKILL during chunked reads, 20 runs: %d whole reads, %d reads failed (Unavailable), 0 torn\n",
              reads, errors);
}

// A stopped server (SIGSTOP) under tiers: the other tiers serve at once, a miss waits one
// timeout, then the retry window skips Redis without waiting; after SIGCONT it serves again.
TEST_F(RedisFaultTest, AStoppedServerCostsOneTimeoutAndTheOtherTiersServe) {
  for (const std::string& top : {std::string("memory:capacity=10MB|"), std::string()}) {
    TempDir dir;
    const std::string tiers = top + "dir:path=" + dir.path() + ",fsync=0|" + server.url() + "?prefix=t:&timeout_ms=200&retry_ms=1000";
    open_store(tiers)->put("a", make_encoding(1000, 1));
    auto tiered = open_store(tiers);
    EXPECT_FALSE(tiered->get("warm"));  // connected: a timeout on a used connection is what could be retried
    server.pause();
    auto started = Clock::now();
    auto hit = tiered->get("a");
    const long hit_ms = ms_since(started);
    EXPECT_TRUE(hit && same(*hit, make_encoding(1000, 1))) << tiers;
    EXPECT_LT(hit_ms, 100) << "the directory tier answers before Redis is asked";
    started = Clock::now();
    EXPECT_FALSE(tiered->get("absent"));  // Redis times out: a miss, not an error
    const long miss_ms = ms_since(started);
    EXPECT_GE(miss_ms, 150);
    EXPECT_LT(miss_ms, 350) << "one timeout, not two";
    started = Clock::now();
    tiered->put("b", make_encoding(1000, 2));  // within the retry window: Redis skipped at once
    EXPECT_FALSE(tiered->get("absent2"));
    const long window_ms = ms_since(started);
    EXPECT_LT(window_ms, 100);
    std::printf("[ fault    ] redis SIGSTOP under %s: hit from the directory %ld ms, miss %ld ms (timeout_ms=200), "
                "put + miss in the retry window %ld ms\n",
                top.empty() ? "dir|redis" : "memory|dir|redis", hit_ms, miss_ms, window_ms);
    StoreStats s = tiered->stats();
    EXPECT_GE(s.tiers.back().errors, 3u);
    EXPECT_NE(s.tiers.back().last_error.find("not retrying"), std::string::npos) << s.tiers.back().last_error;
    server.resume();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    tiered->put("c", make_encoding(1000, 3));
    EXPECT_EQ(server.cli("EXISTS t:c"), "1");
    server.cli("FLUSHALL");
  }
}

// ---------------------------------------------------------------- directory store: not files

namespace {

// A FIFO, a directory, a socket and a device (a link to /dev/null) named ID.safetensors.
void plant_non_files(const TempDir& dir, int* sock) {
  ASSERT_EQ(::mkfifo((dir / "fifo.safetensors").c_str(), 0600), 0);
  fs::create_directory(dir / "subdir.safetensors");
  fs::create_symlink("/dev/null", dir / "device.safetensors");
  *sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = dir / "sock.safetensors";
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(*sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
}

// Runs body on a thread; if it is still running after 3 s it must be waiting for a FIFO's
// writer: open the FIFO for writing so that it (and the test) ends. Milliseconds it took.
long unblocked(const std::string& fifo, const std::function<void()>& body) {
  std::atomic<bool> done{false};
  auto started = Clock::now();
  std::thread thread([&] {
    body();
    done = true;
  });
  while (!done && ms_since(started) < 3000) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  long took = ms_since(started);
  if (!done) ::close(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK));
  thread.join();
  return took;
}

const std::pair<std::string, std::string> kNonFiles[] = {
    {"fifo", "a FIFO"}, {"subdir", "a directory"}, {"device", "a device"}, {"sock", "a socket"}};

}  // namespace

// Not files under an id's file name: a miss at once (never a wait for a FIFO writer), logged,
// counted and removed where unlink can; read_safetensors says what it is (Decode).
TEST(DirectoryFaults, NonRegularFilesAreMissesAndNeverBlock) {
  TempDir dir, other;
  int sock = -1, other_sock = -1;
  plant_non_files(dir, &sock);
  plant_non_files(other, &other_sock);
  auto store = make_directory_store(dir.path(), 0, false);
  for (const auto& [id, kind] : kNonFiles) {
    EXPECT_FALSE(store->exists(id)) << id;
    std::optional<Encoding> got;
    std::string message;
    EXPECT_LT(unblocked(dir / "fifo.safetensors", [&, id = id] { got = store->get(id); }), 1000) << id << " blocked get";
    EXPECT_FALSE(got) << id;
    ErrorCode code{};
    EXPECT_LT(unblocked(other / "fifo.safetensors",
                        [&, id = id] { code = code_of([&] { read_safetensors(other / (id + ".safetensors")); }, &message); }),
              1000)
        << id << " blocked read_safetensors";
    EXPECT_EQ(code, ErrorCode::Decode) << message;
    EXPECT_NE(message.find("not a regular file (" + kind + ")"), std::string::npos) << message;
  }
  ::close(sock);
  ::close(other_sock);
  EXPECT_EQ(store->stats().corrupt, 4u);
  EXPECT_FALSE(fs::exists(dir / "fifo.safetensors"));  // removed like a corrupt file
  EXPECT_TRUE(store->ids().empty());
}

// ---------------------------------------------------------------- truncated under a reader

// The tensors of a hit outlive the file: another process truncating it (or renaming another
// file over it) must not kill the reader with SIGBUS when it touches them.
TEST(DirectoryFaults, AFileTruncatedOrReplacedUnderAHitIsNoSigbus) {
  TempDir dir;
  auto store = make_directory_store(dir.path(), 0, false);
  const Encoding e = make_encoding(4 << 20, 6);  // 16 MB
  store->put("e", e);
  std::string ended = in_child([&] {
    std::optional<Encoding> hit = store->get("e");
    if (!hit) return 2;
    if (::truncate((dir / "e.safetensors").c_str(), 0) != 0) return 3;
    return same(*hit, e) ? 0 : 4;  // touches every byte
  });
  EXPECT_EQ(ended, "exit 0");
  store->put("e", e);
  ended = in_child([&] {
    std::optional<Encoding> hit = store->get("e");
    if (!hit) return 2;
    auto other = make_directory_store(dir.path(), 0, false);
    other->put("e", make_encoding(1000, 7));  // renamed over it
    if (::truncate((dir / "e.safetensors").c_str(), 10) != 0) return 3;
    return same(*hit, e) ? 0 : 4;
  });
  EXPECT_EQ(ended, "exit 0");
  EXPECT_FALSE(store->get("e"));  // the truncated file: corrupt, a miss
  EXPECT_EQ(store->stats().corrupt, 1u);
}

// ---------------------------------------------------------------- a full disk

// A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) stands for a full disk: the put fails with
// Io naming the entry and the cause, leaves no temporary file, and the entries are intact.
TEST(DirectoryFaults, AFullDiskLeavesNoPartialFileAndKeepsTheEntries) {
  TempDir dir;
  auto store = make_directory_store(dir.path(), 0, true);
  const Encoding keep = make_encoding(50000, 1), big = make_encoding(500000, 2);  // 200 KB, 2 MB
  store->put("keep", keep);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  std::string ended = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{1 << 20, 1 << 20};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
    std::string report;
    for (const char* id : {"big", "keep"}) {  // a new entry, and one replacing "keep"
      std::string message;
      ErrorCode code = code_of([&] { store->put(id, big); }, &message);
      report += std::to_string(int(code)) + " " + message + "\n";
    }
    return ::write(pipe_fds[1], report.data(), report.size()) == ssize_t(report.size()) ? 0 : 3;
  });
  ::close(pipe_fds[1]);
  char buffer[4096] = {};
  std::string report(buffer, std::size_t(std::max<ssize_t>(0, ::read(pipe_fds[0], buffer, sizeof buffer - 1))));
  ::close(pipe_fds[0]);
  ASSERT_EQ(ended, "exit 0");
  for (const char* id : {"big", "keep"}) {
    std::string line = report.substr(0, report.find('\n'));
    report.erase(0, line.size() + 1);
    EXPECT_EQ(line.rfind(std::to_string(int(ErrorCode::Io)) + " ", 0), 0u) << line;
    EXPECT_NE(line.find("cannot store '" + dir / id + ".safetensors'"), std::string::npos) << line;
    EXPECT_NE(line.find("File too large"), std::string::npos) << line;
    EXPECT_NE(line.find("temporary file removed"), std::string::npos) << line;
  }
  EXPECT_TRUE(temp_files(dir.path()).empty());
  EXPECT_FALSE(store->exists("big"));
  auto got = store->get("keep");
  ASSERT_TRUE(got);
  EXPECT_TRUE(same(*got, keep));
}

// write_safetensors goes through the library's one atomic writer: its errors name the file
// asked for, never the temporary file (which is gone), for a failure to create the file and
// for a full disk; what is at the path is left as it was, and no FIFO is ever replaced.
TEST(SafetensorsFaults, WriteErrorsNameTheFileAndLeaveNothing) {
  TempDir dir;
  const Encoding small = make_encoding(1000, 1), big = make_encoding(500000, 2);  // 4 KB, 2 MB
  std::string message;
  const std::string missing = dir / "no/such/dir/e.safetensors";
  EXPECT_EQ(code_of([&] { write_safetensors(missing, small); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("cannot write '" + missing + "': No such file or directory"), std::string::npos) << message;
  EXPECT_EQ(message.find(".tmp-"), std::string::npos) << message;

  const std::string path = dir / "e.safetensors";
  write_safetensors(path, small);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  std::string ended = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{1 << 20, 1 << 20};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
    std::string text;
    ErrorCode code = code_of([&] { write_safetensors(path, big); }, &text);
    text = std::to_string(int(code)) + " " + text;
    return ::write(pipe_fds[1], text.data(), text.size()) == ssize_t(text.size()) ? 0 : 3;
  });
  ::close(pipe_fds[1]);
  char buffer[4096] = {};
  std::string report(buffer, std::size_t(std::max<ssize_t>(0, ::read(pipe_fds[0], buffer, sizeof buffer - 1))));
  ::close(pipe_fds[0]);
  ASSERT_EQ(ended, "exit 0");
  EXPECT_EQ(report.rfind(std::to_string(int(ErrorCode::Io)) + " ", 0), 0u) << report;
  EXPECT_NE(report.find("cannot write '" + path + "': File too large (nothing was written, temporary file removed)"),
            std::string::npos) << report;
  EXPECT_EQ(report.find(".tmp-"), std::string::npos) << report;
  EXPECT_TRUE(temp_files(dir.path()).empty());
  EXPECT_TRUE(same(read_safetensors(path), small));  // the earlier file, whole

  const std::string fifo = dir / "fifo.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(code_of([&] { write_safetensors(fifo, small); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find("is a FIFO: refusing to replace it"), std::string::npos) << message;
  struct stat st {};
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

// ---------------------------------------------------------------- two processes, one small store

namespace {

// An encoding that says who wrote it: its content follows from (id, writer, seq), all in its
// metadata, so a reader can rebuild the exact bytes and tell a whole value from a mix.
Encoding soak_encoding(int id, int writer, int seq) {
  Encoding e;
  e.metadata.model_id = "soak-" + std::to_string(id);
  e.metadata.extra["writer"] = std::to_string(writer);
  e.metadata.extra["seq"] = std::to_string(seq);
  HostTensor t = HostTensor::allocate(DType::U32, {50000});  // 200 KB
  auto* v = reinterpret_cast<std::uint32_t*>(t.mutable_data());
  for (std::uint32_t i = 0; i < 50000; ++i) v[i] = (std::uint32_t(id) * 2654435761u) ^ (std::uint32_t(writer) << 28) ^ (std::uint32_t(seq) * 40503u) ^ i;
  e.tensors["x"] = t;
  return e;
}

bool soak_valid(const Encoding& got, int id) {
  if (got.metadata.model_id != "soak-" + std::to_string(id)) return false;
  auto w = got.metadata.extra.find("writer"), s = got.metadata.extra.find("seq");
  if (w == got.metadata.extra.end() || s == got.metadata.extra.end() || !got.tensors.count("x")) return false;
  Encoding expected = soak_encoding(id, std::stoi(w->second), std::stoi(s->second));
  const HostTensor &a = got.tensor("x"), &b = expected.tensor("x");
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

std::uint64_t entry_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename();
    if (name.rfind(".tmp-", 0) == 0) continue;
    std::uint64_t size = entry.file_size(ec);
    if (!ec) total += size;
  }
  return total;
}

}  // namespace

// Two processes put and get 40 ids of 200 KB in a 3 MB directory store for
// INPAINT_SOAK_SECONDS (10): every hit holds exactly what some writer wrote for that id, no
// process fails, and the bytes on disk stay within the capacity plus the two entries being
// written.
TEST(DirectoryFaults, TwoProcessesWritingAndEvictingOneSmallStore) {
  const char* env = std::getenv("INPAINT_SOAK_SECONDS");
  const double seconds = env ? std::atof(env) : 10.0;
  const std::uint64_t capacity = 3000000;
  TempDir dir;
  const std::uint64_t entry = safetensors_size(soak_encoding(0, 0, 0));
  struct Counts {
    std::uint64_t puts, gets, hits, misses, evictions, corrupt, mismatches, errors;
  };
  int pipes[2][2];
  pid_t pids[2];
  for (int w = 0; w < 2; ++w) {
    ASSERT_EQ(::pipe(pipes[w]), 0);
    pids[w] = ::fork();
    if (pids[w] == 0) {
      Counts c{};
      auto store = make_directory_store(dir.path(), capacity, false);
      std::mt19937 random(unsigned(w + 1));
      auto until = Clock::now() + std::chrono::milliseconds(long(seconds * 1000));
      for (int seq = 0; Clock::now() < until; ++seq) {
        int id = int(random() % 40);
        try {
          if (random() % 2) {
            store->put(std::to_string(id), soak_encoding(id, w, seq));
          } else {
            ++c.gets;
            std::optional<Encoding> got = store->get(std::to_string(id));
            if (got && !soak_valid(*got, id)) ++c.mismatches;
          }
        } catch (const std::exception& e) {
          ++c.errors;
          std::fprintf(stderr, "writer %d: %s\n", w, e.what());
        }
      }
      StoreStats s = store->stats();
      c.puts = s.puts, c.hits = s.hits, c.misses = s.misses, c.evictions = s.evictions, c.corrupt = s.corrupt;
      ::_exit(::write(pipes[w][1], &c, sizeof c) == ssize_t(sizeof c) ? 0 : 3);
    }
    ::close(pipes[w][1]);
  }
  std::uint64_t peak = 0, samples = 0;
  int status[2] = {}, running = 2;
  while (running > 0) {
    peak = std::max(peak, entry_bytes(dir.path()));
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (int w = 0; w < 2; ++w)
      if (pids[w] > 0 && ::waitpid(pids[w], &status[w], WNOHANG) == pids[w]) pids[w] = 0, --running;
  }
  Counts total{};
  for (int w = 0; w < 2; ++w) {
    EXPECT_TRUE(WIFEXITED(status[w]) && WEXITSTATUS(status[w]) == 0) << "writer " << w << " ended with status " << status[w];
    Counts c{};
    ASSERT_EQ(::read(pipes[w][0], &c, sizeof c), ssize_t(sizeof c)) << "writer " << w << " died";
    ::close(pipes[w][0]);
    total.puts += c.puts, total.gets += c.gets, total.hits += c.hits, total.misses += c.misses;
    total.evictions += c.evictions, total.corrupt += c.corrupt, total.mismatches += c.mismatches, total.errors += c.errors;
  }
  const std::uint64_t final_bytes = entry_bytes(dir.path());
  std::printf("[ fault    ] soak %.0f s, 2 processes, capacity %llu, entries %llu B: puts %llu, gets %llu, hits %llu, misses %llu, "
              "evictions %llu, corrupt %llu, mismatches %llu, errors %llu; on disk peak %llu (%llu samples), final %llu\n",
              seconds, (unsigned long long)capacity, (unsigned long long)entry, (unsigned long long)total.puts,
              (unsigned long long)total.gets, (unsigned long long)total.hits, (unsigned long long)total.misses,
              (unsigned long long)total.evictions, (unsigned long long)total.corrupt, (unsigned long long)total.mismatches,
              (unsigned long long)total.errors, (unsigned long long)peak, (unsigned long long)samples,
              (unsigned long long)final_bytes);
  EXPECT_EQ(total.mismatches, 0u);
  EXPECT_EQ(total.corrupt, 0u);
  EXPECT_EQ(total.errors, 0u);
  EXPECT_EQ(total.hits + total.misses, total.gets);
  EXPECT_GT(total.hits, 0u);
  EXPECT_GT(total.evictions, 0u);
  EXPECT_LE(peak, capacity + 2 * entry);
  EXPECT_LE(final_bytes, capacity + entry);
  EXPECT_TRUE(temp_files(dir.path()).empty());
}
