#pragma once
// The key=value list syntax of spec strings (documented at ModelSpec in inpaint/registry.hpp),
// shared by model and segmenter specs and the store specs so that quoting, key and value rules
// and their messages are the same everywhere. Internal only.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace inpaint::detail {

// True for a key ModelSpec accepts: [A-Za-z0-9_.-]+.
bool valid_spec_key(std::string_view key);

// Reads key=value items from text[pos], separated by `separator`, until the end of text or a
// byte of `stops` outside a quoted value; pos is left there. At least one item is required.
// Throws Error(Parse) with a message that starts with `subject` and gives positions in text.
std::map<std::string, std::string> parse_spec_pairs(std::string_view text, std::size_t& pos, char separator,
                                                    std::string_view stops, const std::string& subject);

// value as a spec writes it: in single quotes (with ' and \ escaped) when it holds a byte of
// `specials` or starts with a quote, else as it is. parse_spec_pairs reads it back unchanged
// when `specials` holds its separator and stops.
std::string spec_value(std::string_view value, std::string_view specials = ",");

}  // namespace inpaint::detail
