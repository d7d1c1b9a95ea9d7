#include "inpaint/error.hpp"

#include "core/text.hpp"
#include "inpaint/version.hpp"

namespace inpaint {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::Decode: return "decode";
    case ErrorCode::TooLarge: return "too_large";
    case ErrorCode::Io: return "io";
    case ErrorCode::UnknownModel: return "unknown_model";
    case ErrorCode::Parse: return "parse";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Internal: return "internal";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::Timeout: return "timeout";
  }
  return "unknown";
}

// Messages often carry outside text (paths, keys, reasons from decoders): keep every one a
// single printable line of valid UTF-8 (Python turns it into a str) and of bounded length.
Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error(detail::printable(message, 2000)), code_(code) {}

ForeignError::~ForeignError() = default;

const char* version() noexcept { return INPAINT_VERSION_STRING; }

}  // namespace inpaint
