// The encoding store against its anchors, medians of N runs, for a SAM3-sized encoding (three
// BF16 maps [1,256,288,288], [1,256,144,144], [1,256,72,72]: 55.7 MB) and a SAM1-sized one
// (F32 [1,256,64,64]: 4 MiB):
//   local load  vs open + read() of the same file from the page cache (into a ready buffer);
//   local save  (fsync=0: to the page cache) in GB/s and vs write() of the same bytes to a new
//               file, and with fsync;
//   memory hit  in microseconds;
//   Redis get/put vs a plain hiredis GET/SET of the same bytes on the same server.
// Usage: bench_store DIR REDIS_PORT [runs=15]   (bench/run_store_bench.sh starts the server)
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

namespace {

using bench::median_ms;
using bench::now_ms;


inpaint::HostTensor random_tensor(inpaint::DType dtype, const inpaint::Shape& shape, unsigned seed) {
  inpaint::HostTensor t = inpaint::HostTensor::allocate(dtype, shape);
  std::uint32_t x = seed * 2654435761u + 1;
  std::uint8_t* p = t.mutable_data();
  for (std::size_t i = 0; i < t.nbytes(); ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = std::uint8_t(x);
  }
  return t;
}

// Sums one byte per 4 KiB page: what touching the loaded data costs at the least.
std::uint64_t touch(const inpaint::Encoding& e) {
  std::uint64_t sum = 0;
  for (const auto& [name, t] : e.tensors)
    for (std::size_t i = 0; i < t.nbytes(); i += 4096) sum += t.data()[i];
  return sum;
}

void read_file_into(const std::string& path, std::vector<std::uint8_t>& buffer) {
  int fd = ::open(path.c_str(), O_RDONLY);
  std::size_t done = 0;
  while (done < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + done, buffer.size() - done);
    if (n <= 0) break;
    done += std::size_t(n);
  }
  ::close(fd);
}

redisReply* must(void* reply, const char* what) {
  auto* r = static_cast<redisReply*>(reply);
  if (!r || r->type == REDIS_REPLY_ERROR) {
    std::fprintf(stderr, "redis %s failed\n", what);
    std::exit(1);
  }
  return r;
}

void bench_encoding(const char* label, const inpaint::Encoding& encoding, const std::string& dir, int redis_port, int runs) {
  const std::string id = std::string("bench-") + label;
  const double mb = double(inpaint::safetensors_size(encoding)) / 1e6;

  // Local directory: save to the page cache, with fsync, and load.
  auto store = inpaint::open_store("dir:path=" + dir + ",fsync=0");
  auto synced = inpaint::open_store("dir:path=" + dir + "/synced");
  double save_ms = median_ms(runs, [&] { store->put(id, encoding); });
  double save_fsync_ms = median_ms(std::max(3, runs / 3), [&] { synced->put(id, encoding); });
  const std::string path = dir + "/" + id + ".safetensors";
  // The anchor for saving: the same bytes written to a new file with plain write() calls.
  std::vector<std::uint8_t> serialized = inpaint::to_safetensors(encoding);
  const std::string plain_path = dir + "/plain-" + id;
  double plain_write_ms = median_ms(runs, [&] {
    ::unlink(plain_path.c_str());
    int fd = ::open(plain_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::size_t done = 0;
    while (done < serialized.size()) {
      ssize_t n = ::write(fd, serialized.data() + done, serialized.size() - done);
      if (n <= 0) break;
      done += std::size_t(n);
    }
    ::close(fd);
  });
  ::unlink(plain_path.c_str());
  std::vector<std::uint8_t> buffer(std::size_t(mb * 1e6 + 0.5));
  double read_ms = median_ms(runs, [&] { read_file_into(path, buffer); });
  double load_ms = median_ms(runs, [&] { store->get(id); });
  std::uint64_t sink = 0;
  double read_touch_ms = median_ms(runs, [&] {
    read_file_into(path, buffer);
    for (std::size_t i = 0; i < buffer.size(); i += 4096) sink += buffer[i];
  });
  double load_touch_ms = median_ms(runs, [&] { sink += touch(*store->get(id)); });

  // Memory tier hit.
  auto memory = inpaint::open_store("memory:capacity=1GB");
  memory->put(id, encoding);
  double hit_ms = median_ms(std::max(runs, 1000), [&] { memory->get(id); });

  // Redis: the store against plain hiredis GET/SET of the same bytes.
  auto redis = inpaint::open_store("redis://127.0.0.1:" + std::to_string(redis_port) + "?prefix=bench:&timeout_ms=10000");
  double redis_put_ms = median_ms(runs, [&] { redis->put(id, encoding); });
  double redis_get_ms = median_ms(runs, [&] { redis->get(id); });
  std::vector<std::uint8_t> bytes = inpaint::to_safetensors(encoding);
  redisContext* c = redisConnect("127.0.0.1", redis_port);
  const std::string key = "plain:" + id;
  // redisCommandArgv: how a client sends binary values (it formats the command, then writes it).
  double plain_set_ms = median_ms(runs, [&] {
    const char* argv[] = {"SET", key.data(), reinterpret_cast<const char*>(bytes.data())};
    const std::size_t lengths[] = {3, key.size(), bytes.size()};
    freeReplyObject(must(redisCommandArgv(c, 3, argv, lengths), "SET"));
  });
  double plain_get_ms = median_ms(runs, [&] {
    const char* argv[] = {"GET", key.data()};
    const std::size_t lengths[] = {3, key.size()};
    freeReplyObject(must(redisCommandArgv(c, 2, argv, lengths), "GET"));
  });
  redisFree(c);

  std::printf(
      "{\"encoding\": \"%s\", \"mb\": %.2f, \"runs\": %d, "
      "\"read_ms\": %.3f, \"load_ms\": %.3f, \"load_speed_vs_read\": %.2f, "
      "\"read_touch_ms\": %.3f, \"load_touch_ms\": %.3f, \"load_touch_speed_vs_read_touch\": %.2f, "
      "\"save_ms\": %.3f, \"save_gb_s\": %.2f, \"plain_write_ms\": %.3f, \"save_speed_vs_write\": %.2f, \"save_fsync_ms\": %.3f, \"memory_hit_ms\": %.4f, "
      "\"redis_put_ms\": %.2f, \"plain_set_ms\": %.2f, \"put_over_set\": %.2f, "
      "\"redis_get_ms\": %.2f, \"plain_get_ms\": %.2f, \"get_over_get\": %.2f, \"sink\": %llu}\n",
      label, mb, runs, read_ms, load_ms, read_ms / load_ms, read_touch_ms, load_touch_ms, read_touch_ms / load_touch_ms,
      save_ms, mb / 1e3 / (save_ms / 1e3), plain_write_ms, plain_write_ms / save_ms, save_fsync_ms, hit_ms, redis_put_ms, plain_set_ms,
      redis_put_ms / plain_set_ms, redis_get_ms, plain_get_ms, redis_get_ms / plain_get_ms,
      static_cast<unsigned long long>(sink % 10));
  store->remove(id);
  synced->remove(id);
  redis->remove(id);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR REDIS_PORT [runs=15]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int port = std::atoi(argv[2]);
  const int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 15;
  using inpaint::DType;
  inpaint::Encoding sam3;
  sam3.metadata.model_id = "sam3";
  sam3.metadata.dtype = "BF16";
  sam3.tensors["backbone_fpn_0"] = random_tensor(DType::BF16, {1, 256, 288, 288}, 1);
  sam3.tensors["backbone_fpn_1"] = random_tensor(DType::BF16, {1, 256, 144, 144}, 2);
  sam3.tensors["backbone_fpn_2"] = random_tensor(DType::BF16, {1, 256, 72, 72}, 3);
  inpaint::Encoding sam1;
  sam1.metadata.model_id = "sam1";
  sam1.metadata.dtype = "F32";
  sam1.tensors["image_embeddings"] = random_tensor(DType::F32, {1, 256, 64, 64}, 4);
  bench_encoding("sam3", sam3, dir, port, runs);
  bench_encoding("sam1", sam1, dir, port, runs);
  return 0;
}
