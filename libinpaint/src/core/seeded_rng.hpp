#pragma once
// A fixed seed for OpenCV's thread-local RNG over a scope, for algorithms that draw from it
// (k-means, GrabCut's GMM start), so that the same input gives the same answer every time.
#include <opencv2/core.hpp>

#include <cstdint>

namespace inpaint::detail {

// Sets cv::theRNG() (thread-local) to `seed` and restores the caller's state on exit.
class SeededRng {
 public:
  explicit SeededRng(std::uint64_t seed) : saved_(cv::theRNG().state) { cv::theRNG().state = seed; }
  ~SeededRng() { cv::theRNG().state = saved_; }
  SeededRng(const SeededRng&) = delete;
  SeededRng& operator=(const SeededRng&) = delete;

 private:
  std::uint64_t saved_;
};

}  // namespace inpaint::detail
