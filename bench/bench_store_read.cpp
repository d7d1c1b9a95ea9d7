// What copy-on-read costs (issue 10): loading a 16 MB encoding from the page cache with
// read_safetensors (pread into one buffer, what the directory store now does) against the map
// it replaced (open, mmap with MAP_POPULATE, parse in place), interleaved in one process,
// medians of N runs, each load followed by a pass that reads one byte per 4 KiB page.
// Usage: bench_store_read DIR [runs=101]
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

namespace {

// The former directory-store read: the tensors point into a private map of the file.
inpaint::Encoding map_safetensors(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  ::fstat(fd, &st);
  std::size_t size = std::size_t(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) std::abort();
  std::shared_ptr<const void> owner(map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return inpaint::parse_safetensors(static_cast<const std::uint8_t*>(map), size, owner);
}

unsigned touch(const inpaint::Encoding& e) {
  unsigned sum = 0;
  for (const auto& [name, t] : e.tensors)
    for (std::size_t i = 0; i < t.nbytes(); i += 4096) sum += t.data()[i];
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_store_read DIR [runs=101]\n");
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/e16.safetensors";
  const int runs = argc > 2 ? std::atoi(argv[2]) : 101;
  inpaint::Encoding e;
  inpaint::HostTensor t = inpaint::HostTensor::allocate(inpaint::DType::F32, {1, 256, 128, 128});  // 16.8 MB
  for (std::size_t i = 0; i < t.nbytes(); ++i) t.mutable_data()[i] = std::uint8_t(i * 2654435761u >> 24);
  e.tensors["image_embed"] = t;
  inpaint::write_safetensors(path, e);
  const std::size_t bytes = inpaint::safetensors_size(e);

  std::vector<double> mapped, copied, mapped_touch, copied_touch;
  unsigned sink = 0;
  for (int i = 0; i <= runs; ++i) {  // interleaved, so both see the same load on the machine
    double start = bench::now_ms();
    inpaint::Encoding a = map_safetensors(path);
    double loaded = bench::now_ms();
    sink += touch(a);
    double touched = bench::now_ms();
    inpaint::Encoding b = inpaint::read_safetensors(path);
    double loaded_b = bench::now_ms();
    sink += touch(b);
    double touched_b = bench::now_ms();
    if (i == 0) continue;  // warm-up
    mapped.push_back(loaded - start);
    mapped_touch.push_back(touched - start);
    copied.push_back(loaded_b - touched);
    copied_touch.push_back(touched_b - touched);
  }
  double m = bench::median(mapped), c = bench::median(copied);
  double mt = bench::median(mapped_touch), ct = bench::median(copied_touch);
  std::printf("{\"bytes\": %zu, \"runs\": %d, \"map_ms\": %.3f, \"read_ms\": %.3f, \"read_over_map\": %.2f, "
              "\"map_touch_ms\": %.3f, \"read_touch_ms\": %.3f, \"read_touch_over_map_touch\": %.2f, "
              "\"read_gb_s\": %.2f, \"sink\": %u}\n",
              bytes, runs, m, c, c / m, mt, ct, ct / mt, double(bytes) / c / 1e6, sink & 1);
  ::unlink(path.c_str());
  return 0;
}
