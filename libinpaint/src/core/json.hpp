#pragma once
// Parsing JSON that comes from outside (labels, prompt tables, variants files, safetensors
// headers). Internal only.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "inpaint/error.hpp"

namespace inpaint::detail {

// Nesting deeper than this is refused while parsing: nothing we read nests beyond 4 levels, and
// printing or destroying a deeply nested value recurses once per level.
constexpr int kMaxJsonDepth = 32;

// Parses text as one JSON value, refusing what nlohmann would accept silently: a NUL byte (the
// parser stops there, so text after it was ignored), nesting deeper than kMaxJsonDepth, and an
// object key given twice. A failure throws Error(code) whose message starts with `what` (e.g.
// "labels file 'x.json'") and names the byte offset, never echoing the input.
nlohmann::json parse_json(std::string_view text, const std::string& what, ErrorCode code = ErrorCode::Parse);

}  // namespace inpaint::detail
