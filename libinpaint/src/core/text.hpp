#pragma once
// Outside text inside messages: one line, valid UTF-8, bounded length. Internal only.
#include <cstddef>
#include <string>
#include <string_view>

namespace inpaint::detail {

// The text with control characters and bytes that are not UTF-8 written as \xNN (so a message
// stays one printable line and converts to a Python str), cut at max_bytes with a note of how
// much was left out. Printable text up to max_bytes comes back unchanged.
std::string printable(std::string_view text, std::size_t max_bytes = 1000);

// printable() in single quotes, cut at 100 bytes: how an input is echoed back to its sender.
std::string quoted(std::string_view text, std::size_t max_bytes = 100);

}  // namespace inpaint::detail
