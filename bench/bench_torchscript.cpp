// The torchscript model's cost around a tiny module: per-call time at given sizes, the first
// call at a new size against a repeat, and resident memory over many calls with varying sizes.
// Usage: bench_torchscript MODEL.pt [REPS] [CALLS]   (prints one JSON object)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

namespace {

using bench::median;
using bench::now_ms;

double rss_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return double(resident) * double(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// Minor page faults so far: each is a fresh page the kernel had to hand over (bench/RESULTS.md).
long minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

struct Input {
  inpaint::Image image, mask;
};

Input make_input(int w, int h) {
  Input in{inpaint::Image(w, h, 3), inpaint::Image(w, h, 1)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = in.image.data() + (std::size_t(y) * w + x) * 3;
      p[0] = std::uint8_t(x * 7 + y), p[1] = std::uint8_t(y * 3), p[2] = std::uint8_t(x ^ y);
      in.mask.data()[std::size_t(y) * w + x] = (x > w / 4 && x < w / 2 && y > h / 4 && y < h / 2) ? 255 : 0;
    }
  return in;
}

double call_ms(const inpaint::InpaintModel& model, const Input& in) {
  inpaint::InpaintRequest r;
  r.image = in.image.view();
  r.mask = in.mask.view();
  double t = now_ms();
  model.inpaint(r);
  return now_ms() - t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_torchscript MODEL.pt [REPS] [CALLS]\n";
    return 2;
  }
  int reps = argc > 2 ? std::stoi(argv[2]) : 20;
  int calls = argc > 3 ? std::stoi(argv[3]) : 3000;
  auto model = inpaint::default_registry().create(std::string("torchscript:device=cpu,path=") + argv[1]);
  std::string json = "{\"load_ms\": " + std::to_string(model->load_info().load_ms);
  for (int side : {512, 2048}) {
    Input in = make_input(side, side);
    call_ms(*model, in);
    std::vector<double> t;
    long faults = minor_faults();
    for (int i = 0; i < reps; ++i) t.push_back(call_ms(*model, in));
    faults = minor_faults() - faults;
    json += ", \"call_" + std::to_string(side) + "_ms\": " + std::to_string(median(t));
    json += ", \"faults_" + std::to_string(side) + "\": " + std::to_string(double(faults) / reps);
  }
  // A size this process has not seen, twice: the first call must not cost much more.
  Input fresh = make_input(1001, 703);
  double first = call_ms(*model, fresh), second = call_ms(*model, fresh);
  json += ", \"new_size_first_ms\": " + std::to_string(first) + ", \"new_size_second_ms\": " + std::to_string(second);
  // Resident memory over many calls at sizes that keep changing, sampled every tenth of the run:
  // growth that is a cache filling up flattens, a leak keeps its slope to the end.
  json += ", \"rss_calls\": " + std::to_string(calls) + ", \"rss_mb\": [" + std::to_string(rss_mb());
  for (int i = 1; i <= calls; ++i) {
    Input in = make_input(200 + (i * 37) % 400, 150 + (i * 53) % 300);
    call_ms(*model, in);
    if (i % std::max(1, calls / 10) == 0) json += ", " + std::to_string(rss_mb());
  }
  json += "]";
  // The same with four threads sharing the model, as a service's request threads do: glibc gives
  // threads their own malloc arenas, so memory may grow with the thread count (not with calls).
  constexpr int kThreads = 4;
  json += ", \"rss_threads\": " + std::to_string(kThreads) + ", \"rss_threads_mb\": [" + std::to_string(rss_mb());
  for (int round = 0; round < 10; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = t; i < calls / 10; i += kThreads) {
          int k = round * (calls / 10) + i + 1;
          Input in = make_input(200 + (k * 37) % 400, 150 + (k * 53) % 300);
          call_ms(*model, in);
        }
      });
    for (auto& thread : threads) thread.join();
    json += ", " + std::to_string(rss_mb());
  }
  json += "]}";
  std::cout << json << std::endl;
  return 0;
}
