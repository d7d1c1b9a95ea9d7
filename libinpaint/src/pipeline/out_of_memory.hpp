#pragma once
// One clear TooLarge error for every way a large photo runs out of memory. Internal only.
#include <opencv2/core.hpp>

#include <new>
#include <string>
#include <system_error>

#include "inpaint/error.hpp"

namespace inpaint::detail {

// A photo within max_pixels can still need more memory than the process may have (a container
// limit, RLIMIT_AS). std::bad_alloc and OpenCV's out-of-memory error become one clear TooLarge
// naming what was being done ("filling", "cutting out").
template <typename Work>
auto translating_out_of_memory(const char* doing, int width, int height, Work&& work) {
  auto fail = [&] {
    return Error(ErrorCode::TooLarge, std::string("out of memory while ") + doing + " a " + std::to_string(width) + "x" +
                                          std::to_string(height) +
                                          " photo; lower max_pixels or allow the process more memory");
  };
  try {
    return work();
  } catch (const std::bad_alloc&) {
    throw fail();
  } catch (const std::system_error& e) {
    // No memory left for a worker thread's stack.
    if (e.code() == std::errc::resource_unavailable_try_again) throw fail();
    throw Error(ErrorCode::Internal, std::string("system error: ") + e.what());
  } catch (const cv::Exception& e) {
    if (e.code == cv::Error::StsNoMem) throw fail();
    throw Error(ErrorCode::Internal, std::string("OpenCV: ") + e.what());
  }
}

}  // namespace inpaint::detail
