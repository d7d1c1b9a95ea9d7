#pragma once
// Timing helpers shared by the benchmarks: medians, with the first run discarded as warm-up.
#include <algorithm>
#include <chrono>
#include <vector>

namespace bench {

inline double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Median milliseconds of `runs` calls of f after one warm-up call.
template <class F>
double median_ms(int runs, F&& f) {
  std::vector<double> times;
  for (int i = 0; i <= runs; ++i) {
    double start = now_ms();
    f();
    if (i) times.push_back(now_ms() - start);
  }
  return median(times);
}

}  // namespace bench
