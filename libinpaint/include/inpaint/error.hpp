#pragma once
#include <stdexcept>
#include <string>

#include "inpaint/export.hpp"

namespace inpaint {

// Every failure inside the library is an inpaint::Error with one of these codes.
// The values are mirrored by the C API's inpaint_status and Python's exception classes.
enum class ErrorCode {
  InvalidArgument = 1,  // a parameter is out of range or inconsistent
  Decode = 2,           // bytes are not a readable image or safetensors file (empty, truncated, malformed)
  TooLarge = 3,         // an image exceeds the configured pixel limit
  Io = 4,               // a file cannot be read or written
  UnknownModel = 5,     // a model spec names nothing in the registry
  Parse = 6,            // malformed JSON or spec string
  Cancelled = 7,        // the caller asked to stop
  Internal = 8,         // a bug or an unexpected failure in a dependency
  // 9 is the C API's INPAINT_ERR_OUT_OF_MEMORY (std::bad_alloc inside C++).
  Unavailable = 10,     // a service (Redis) cannot be reached or stopped answering, or an
                        // optional backend (torch, inpaint/backend.hpp) cannot be loaded
  Timeout = 11,         // a bounded wait ran out: a run's deadline, a model's concurrency limit
};

INPAINT_CXX_API const char* error_code_name(ErrorCode code) noexcept;

class INPAINT_CXX_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// The base of exceptions that a user model (one written in another language, as Python models
// are) throws to carry its language's own error: the pipeline lets them through unchanged, where
// any other std::exception from a model becomes Error(Internal), so that the binding can raise
// the original error again.
class INPAINT_CXX_API ForeignError : public std::exception {
 public:
  ~ForeignError() override;
};

}  // namespace inpaint
