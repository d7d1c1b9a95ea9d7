// The stores: memory LRU, the shared directory (crashing and racing writers), Redis (a real
// server, stopped and restarted mid-run) and tiers.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "inpaint/inpaint.hpp"
#include "redis_server.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace inpaint;

namespace {

using inpaint::test::code_of;

Encoding make_encoding(std::size_t floats, int seed, const std::string& model = "sam-test") {
  Encoding e;
  e.metadata.model_id = model;
  e.metadata.dtype = "F32";
  HostTensor t = HostTensor::allocate(DType::F32, {1, std::int64_t(floats)});
  auto* values = reinterpret_cast<float*>(t.mutable_data());
  for (std::size_t i = 0; i < floats; ++i) values[i] = float(seed) + float(i) * 0.5f;
  e.tensors["image_embed"] = t;
  return e;
}

int seed_of(const Encoding& e) { return int(reinterpret_cast<const float*>(e.tensor("image_embed").data())[0]); }

bool same(const Encoding& a, const Encoding& b) {
  const HostTensor &x = a.tensor("image_embed"), &y = b.tensor("image_embed");
  return x.shape() == y.shape() && x.nbytes() == y.nbytes() && std::memcmp(x.data(), y.data(), x.nbytes()) == 0 &&
         a.metadata.model_id == b.metadata.model_id;
}

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/inpaint_store_XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void set_age(const std::string& path, int seconds_ago) {
  timespec times[2];
  times[0].tv_sec = times[1].tv_sec = ::time(nullptr) - seconds_ago;
  times[0].tv_nsec = times[1].tv_nsec = 0;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

}  // namespace

// ---------------------------------------------------------------- memory

TEST(MemoryStore, LeastRecentlyUsedGoesFirstWithinTheByteBound) {
  auto store = make_memory_store(3 * 4000);  // three 1000-float encodings
  for (int i = 0; i < 3; ++i) store->put("e" + std::to_string(i), make_encoding(1000, i));
  EXPECT_EQ(store->usage().entries, 3u);
  EXPECT_EQ(store->usage().bytes, 12000u);
  ASSERT_TRUE(store->get("e0"));  // e1 is now the oldest
  store->put("e3", make_encoding(1000, 3));
  EXPECT_FALSE(store->exists("e1"));
  EXPECT_TRUE(store->exists("e0") && store->exists("e2") && store->exists("e3"));
  EXPECT_EQ(store->stats().evictions, 1u);
  EXPECT_EQ(code_of([&] { store->put("big", make_encoding(4000, 0)); }), ErrorCode::TooLarge);
  EXPECT_EQ(seed_of(*store->get("e3")), 3);
  EXPECT_TRUE(store->remove("e3"));
  EXPECT_FALSE(store->remove("e3"));
  EXPECT_FALSE(store->get("e3"));
  StoreStats s = store->stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.puts, 4u);
  EXPECT_EQ(code_of([&] { store->get("../x"); }), ErrorCode::InvalidArgument);
}

TEST(MemoryStore, HitsShareTheBuffersAndThreadsMayRace) {
  auto store = make_memory_store(1 << 20);
  Encoding e = make_encoding(100, 7);
  store->put("x", e);
  EXPECT_EQ(store->get("x")->tensor("image_embed").data(), e.tensor("image_embed").data());  // no copy
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        std::string id = "k" + std::to_string((i + t) % 20);
        store->put(id, make_encoding(100, (i + t) % 20));
        if (auto got = store->get(id); got && seed_of(*got) != (i + t) % 20) ++wrong;
        store->remove("k" + std::to_string(i % 20));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
}

// ---------------------------------------------------------------- directory

TEST(DirectoryStore, StoresFilesAndEvictsTheLeastRecentlyUsed) {
  TempDir dir;
  auto size = safetensors_size(make_encoding(1000, 0));
  auto store = open_store("dir:path=" + dir.path() + ",capacity=" + std::to_string(3 * size) + ",fsync=0");
  for (int i = 0; i < 3; ++i) store->put("e" + std::to_string(i), make_encoding(1000, i));
  for (int i = 0; i < 3; ++i) set_age(dir / ("e" + std::to_string(i) + ".safetensors"), 100 - i);
  ASSERT_TRUE(store->get("e0"));  // refreshed: e1 is the oldest now
  store->put("e3", make_encoding(1000, 3));
  EXPECT_EQ(store->ids(), (std::vector<std::string>{"e0", "e2", "e3"}));
  EXPECT_EQ(store->usage().bytes, 3 * size);
  EXPECT_EQ(store->stats().evictions, 1u);
  EXPECT_TRUE(same(*store->get("e3"), make_encoding(1000, 3)));
  // Another store (another process, as far as it knows) on the same directory sees them.
  auto other = make_directory_store(dir.path(), 0);
  EXPECT_TRUE(other->exists("e2"));
  EXPECT_TRUE(other->remove("e2"));
  EXPECT_FALSE(store->get("e2"));
  EXPECT_EQ(code_of([&] { store->put("../escape", make_encoding(1, 0)); }), ErrorCode::InvalidArgument);
  EXPECT_FALSE(fs::exists(dir / "../escape.safetensors"));
  EXPECT_EQ(code_of([&] { store->put("huge", make_encoding(4000, 0)); }), ErrorCode::TooLarge);
}

TEST(DirectoryStore, ACorruptFileIsAMissRemovedAndCounted) {
  TempDir dir;
  auto store = make_directory_store(dir.path(), 0, false);
  store->put("good", make_encoding(100, 1));
  std::vector<std::uint8_t> bytes = to_safetensors(make_encoding(100, 1));
  std::ofstream(dir / "truncated.safetensors", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 50);
  std::ofstream(dir / "empty.safetensors").close();
  std::ofstream(dir / "garbage.safetensors") << "\xff\xff\xff\xff\xff\xff\xff\xffnot safetensors";
  for (const char* id : {"truncated", "empty", "garbage"}) {
    EXPECT_FALSE(store->get(id)) << id;
    EXPECT_FALSE(fs::exists(dir / (std::string(id) + ".safetensors"))) << id;
  }
  EXPECT_EQ(store->stats().corrupt, 3u);
  EXPECT_EQ(store->stats().misses, 3u);
  EXPECT_TRUE(store->get("good"));
}

TEST(DirectoryStore, StaleTemporaryFilesAreCleanedAndNeverListed) {
  TempDir dir;
  auto store = make_directory_store(dir.path(), 1 << 20, false);
  std::ofstream(dir / ".tmp-dead.safetensors.1.2.3") << "partial";
  std::ofstream(dir / ".tmp-live.safetensors.1.2.4") << "partial";
  set_age(dir / ".tmp-dead.safetensors.1.2.3", 3600);
  // Old files that only look like temporary files: not the writer's scheme
  // (.tmp-NAME.PID.COUNTER.RANDOM), so not the store's to remove.
  for (const char* name : {".tmp-notes.txt", ".tmp-x.safetensors.1.2", ".tmp-.1.2.3", ".tmp-y.safetensors.1.2.x"}) {
    std::ofstream(dir / name) << "someone else's";
    set_age(dir / name, 3600);
  }
  EXPECT_TRUE(store->ids().empty());
  store->put("a", make_encoding(10, 0));  // the eviction scan removes what dead writers left
  EXPECT_FALSE(fs::exists(dir / ".tmp-dead.safetensors.1.2.3"));
  EXPECT_TRUE(fs::exists(dir / ".tmp-live.safetensors.1.2.4"));
  for (const char* name : {".tmp-notes.txt", ".tmp-x.safetensors.1.2", ".tmp-.1.2.3", ".tmp-y.safetensors.1.2.x"})
    EXPECT_TRUE(fs::exists(dir / name)) << name;
}

TEST(DirectoryStore, AWriterKilledMidWriteLeavesNoPartialFile) {
  TempDir dir;
  Encoding big = make_encoding(16 << 20, 5);  // 64 MB: long enough to kill in the middle
  for (int attempt = 0; attempt < 3; ++attempt) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        make_directory_store(dir.path(), 0, true)->put("victim", big);
      } catch (...) {
      }
      ::_exit(0);
    }
    // Kill as soon as the temporary file has some bytes in it.
    bool seen = false;
    for (int i = 0; i < 20000 && !seen; ++i) {
      for (const auto& entry : fs::directory_iterator(dir.path())) {
        std::error_code ec;
        if (entry.path().filename().string().rfind(".tmp-", 0) == 0 && fs::file_size(entry.path(), ec) > 0) seen = true;
      }
      if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    EXPECT_TRUE(seen);
    // Whatever happened, the id is absent or whole.
    auto reader = make_directory_store(dir.path(), 0);
    if (auto got = reader->get("victim")) EXPECT_TRUE(same(*got, big));
    EXPECT_EQ(reader->stats().corrupt, 0u);
    reader->remove("victim");
  }
}

TEST(DirectoryStore, RacingWritersOfOneIdLeaveOneWholeFile) {
  TempDir dir;
  std::vector<pid_t> children;
  for (int w = 0; w < 4; ++w) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = make_directory_store(dir.path(), 0, false);
      for (int i = 0; i < 20; ++i) store->put("shared", make_encoding(20000 + 1000 * w, w));
      ::_exit(0);
    }
    children.push_back(child);
  }
  // A reader meanwhile never sees a partial file.
  auto reader = make_directory_store(dir.path(), 0);
  int reads = 0;
  for (int i = 0; i < 200; ++i)
    if (auto got = reader->get("shared")) {
      ++reads;
      int w = seed_of(*got);
      EXPECT_TRUE(same(*got, make_encoding(20000 + 1000 * w, w)));
    }
  for (pid_t c : children) {
    int status = 0;
    ::waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(reader->stats().corrupt, 0u);
  auto got = reader->get("shared");
  ASSERT_TRUE(got);
  int w = seed_of(*got);
  EXPECT_TRUE(same(*got, make_encoding(20000 + 1000 * w, w)));
  EXPECT_EQ(reader->ids(), std::vector<std::string>{"shared"});
}

// ---------------------------------------------------------------- Redis

class RedisStoreTest : public ::testing::Test {
 protected:
  test::RedisServer server;
  std::string spec(const std::string& query = "") const { return server.url() + "?prefix=t:&timeout_ms=300&retry_ms=0" + query; }
};

TEST_F(RedisStoreTest, RoundTripsBinaryValuesWithPrefixAndTtl) {
  auto store = open_store(spec("&ttl=100"));
  Encoding e = make_encoding(5000, 3);
  e.tensors["zeros"] = HostTensor::allocate(DType::U8, {64});  // NUL bytes in the value
  EXPECT_FALSE(store->get("a"));
  store->put("a", e);
  EXPECT_TRUE(store->exists("a"));
  auto got = store->get("a");
  ASSERT_TRUE(got);
  EXPECT_TRUE(same(*got, e));
  EXPECT_EQ(got->tensor("zeros").nbytes(), 64u);
  int ttl = std::stoi(server.cli("TTL t:a"));
  EXPECT_GT(ttl, 90);
  EXPECT_LE(ttl, 100);
  auto other_prefix = open_store(server.url() + "?prefix=u:");
  EXPECT_FALSE(other_prefix->exists("a"));
  EXPECT_EQ(store->ids(), std::vector<std::string>{"a"});
  EXPECT_EQ(store->usage().bytes, safetensors_size(e));
  EXPECT_TRUE(store->remove("a"));
  EXPECT_FALSE(store->exists("a"));
  EXPECT_EQ(store->stats().hits, 1u);
  EXPECT_EQ(store->stats().misses, 1u);
}

TEST_F(RedisStoreTest, LargeValuesAreSplitIntoChunks) {
  auto store = open_store(spec("&chunk=4KiB&ttl=50"));
  Encoding e = make_encoding(10000, 9);  // 40 KB: 10 chunks
  store->put("big", e);
  EXPECT_EQ(server.cli("--scan --pattern 't:big#*' | wc -l"), "10");
  std::string chunk = server.cli("--scan --pattern 't:big#*' | head -1");
  EXPECT_GT(std::stoi(server.cli("TTL " + chunk)), 0) << chunk;  // chunks expire with the manifest
  EXPECT_EQ(store->ids(), std::vector<std::string>{"big"});
  EXPECT_TRUE(same(*store->get("big"), e));
  store->put("big", make_encoding(8000, 4));  // replacing drops the old chunks
  EXPECT_EQ(server.cli("--scan --pattern 't:big#*' | wc -l"), "8");
  EXPECT_EQ(seed_of(*store->get("big")), 4);
  EXPECT_TRUE(store->remove("big"));
  EXPECT_EQ(server.cli("DBSIZE"), "0");
}

TEST_F(RedisStoreTest, ACorruptValueIsAMissAndRemoved) {
  auto store = open_store(spec());
  server.cli("SET t:bad garbage");
  EXPECT_FALSE(store->get("bad"));
  EXPECT_EQ(store->stats().corrupt, 1u);
  EXPECT_EQ(server.cli("EXISTS t:bad"), "0");
}

TEST_F(RedisStoreTest, ADeadServerIsUnavailableUntilItReturns) {
  auto store = open_store(spec());
  store->put("a", make_encoding(100, 1));
  server.stop();
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of([&] { store->get("a"); }), ErrorCode::Unavailable);
  EXPECT_EQ(code_of([&] { store->put("b", make_encoding(100, 2)); }), ErrorCode::Unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_GE(store->stats().errors, 2u);
  EXPECT_NE(store->stats().last_error.find("127.0.0.1"), std::string::npos);
  server.start();  // empty again: persistence is off
  EXPECT_FALSE(store->get("a"));
  store->put("a", make_encoding(100, 3));
  EXPECT_EQ(seed_of(*store->get("a")), 3);
}

TEST_F(RedisStoreTest, AHungServerTimesOutThenServesAgain) {
  auto store = open_store(server.url() + "?prefix=t:&timeout_ms=200&retry_ms=0");
  store->put("a", make_encoding(100, 1));
  server.pause();
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of([&] { store->get("a"); }), ErrorCode::Unavailable);
  auto waited = std::chrono::steady_clock::now() - started;
  server.resume();
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::seconds(2));  // the read timeout, plus one reconnect attempt
  EXPECT_EQ(seed_of(*store->get("a")), 1);
}

TEST_F(RedisStoreTest, RetryWindowFailsFastThenReconnects) {
  auto store = open_store(server.url() + "?prefix=t:&timeout_ms=300&retry_ms=300");
  server.stop();
  EXPECT_EQ(code_of([&] { store->exists("a"); }), ErrorCode::Unavailable);
  server.start();
  EXPECT_EQ(code_of([&] { store->exists("a"); }), ErrorCode::Unavailable);  // still within the window
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_FALSE(store->exists("a"));
}

// ---------------------------------------------------------------- tiers

TEST_F(RedisStoreTest, TiersPromoteWriteThroughAndSurviveRedisGoingAway) {
  TempDir dir;
  auto tiered = open_store("memory:capacity=1MB|dir:path=" + dir.path() + ",fsync=0|" + spec());
  auto redis = open_store(spec());
  auto disk = make_directory_store(dir.path(), 0);
  tiered->put("a", make_encoding(1000, 1));
  EXPECT_TRUE(redis->exists("a"));
  EXPECT_TRUE(disk->exists("a"));

  // Only in Redis: a hit there is promoted to the memory and directory tiers.
  redis->put("r", make_encoding(1000, 2));
  EXPECT_EQ(seed_of(*tiered->get("r")), 2);
  EXPECT_TRUE(disk->exists("r"));
  StoreStats s = tiered->stats();
  ASSERT_EQ(s.tiers.size(), 3u);
  EXPECT_EQ(s.tiers[0].misses, 1u);
  EXPECT_EQ(s.tiers[2].hits, 1u);
  EXPECT_EQ(seed_of(*tiered->get("r")), 2);
  EXPECT_EQ(tiered->stats().tiers[0].hits, 1u);  // now from memory

  // Redis stops in the middle of the run: everything still works from the other tiers.
  server.stop();
  EXPECT_EQ(seed_of(*tiered->get("a")), 1);
  tiered->put("b", make_encoding(1000, 3));
  disk->remove("a");
  EXPECT_TRUE(tiered->get("b"));
  EXPECT_FALSE(tiered->get("never"));  // a miss, not an error
  s = tiered->stats();
  EXPECT_GT(s.tiers[2].errors, 0u);
  EXPECT_NE(s.tiers[2].last_error.find("redis"), std::string::npos);
  EXPECT_EQ(s.tiers[0].errors, 0u);

  // It comes back (empty): the tiered store uses it again.
  server.start();
  tiered->put("c", make_encoding(1000, 4));
  EXPECT_TRUE(redis->exists("c"));
  std::uint64_t errors = tiered->stats().tiers[2].errors;
  EXPECT_FALSE(tiered->get("missing"));
  EXPECT_EQ(tiered->stats().tiers[2].errors, errors);
}

TEST(TieredStore, FailsOnlyWhenEveryTierFails) {
  TempDir dir;
  std::vector<std::unique_ptr<EncodingStore>> tiers;
  tiers.push_back(make_memory_store(1000));  // too small for the encoding
  tiers.push_back(make_directory_store(dir.path(), 0, false));
  auto tiered = make_tiered_store(std::move(tiers));
  tiered->put("x", make_encoding(1000, 1));  // memory refuses, the directory takes it
  EXPECT_EQ(tiered->stats().tiers[0].errors, 1u);
  EXPECT_TRUE(tiered->get("x"));

  std::vector<std::unique_ptr<EncodingStore>> dead;
  dead.push_back(open_store("redis://127.0.0.1:1?timeout_ms=100"));
  dead.push_back(make_memory_store(100));
  auto none = make_tiered_store(std::move(dead));
  EXPECT_EQ(code_of([&] { none->put("x", make_encoding(1000, 1)); }), ErrorCode::TooLarge);
  EXPECT_NO_THROW(none->ids());  // the memory tier answers
  EXPECT_EQ(code_of([&] { none->get("../x"); }), ErrorCode::InvalidArgument);
}
