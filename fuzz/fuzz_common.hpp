#pragma once
// Shared by the libFuzzer targets. An inpaint::Error is the library saying "bad input" and is
// an expected outcome; anything else escaping (std::bad_alloc, std::out_of_range, a nlohmann
// exception, a crash) reaches libFuzzer and is reported with the input that caused it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "inpaint/error.hpp"

namespace fuzz {

// Runs f; swallows inpaint::Error only. Returns true when f completed.
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const inpaint::Error&) {
    return false;
  }
}

// A broken property: print what and abort, so libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

}  // namespace fuzz
