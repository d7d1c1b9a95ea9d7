#include "core/text.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace inpaint::detail {

namespace {

// Length of the well-formed UTF-8 sequence at text[i] (1..4), or 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  std::uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  std::uint8_t second = byte(i + 1);
  if (lead == 0xE0 && second < 0xA0) return 0;   // overlong
  if (lead == 0xED && second >= 0xA0) return 0;  // UTF-16 surrogate
  if (lead == 0xF0 && second < 0x90) return 0;   // overlong
  if (lead == 0xF4 && second >= 0x90) return 0;  // above U+10FFFF
  return n;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 16);
  std::size_t i = 0;
  while (i < text.size() && out.size() < max_bytes) {
    auto c = static_cast<std::uint8_t>(text[i]);
    std::size_t n = utf8_length(text, i);
    if (n == 1 && c >= 0x20 && c != 0x7F) {
      out += char(c);
    } else if (n > 1) {
      out.append(text, i, n);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
      n = 1;
    }
    i += n;
  }
  if (i < text.size()) out += "... (" + std::to_string(text.size() - i) + " more bytes)";
  return out;
}

std::string quoted(std::string_view text, std::size_t max_bytes) { return "'" + printable(text, max_bytes) + "'"; }

}  // namespace inpaint::detail
