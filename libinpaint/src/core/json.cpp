#include "core/json.hpp"

#include <cstring>
#include <set>
#include <vector>

#include "core/text.hpp"

namespace inpaint::detail {

using nlohmann::json;

namespace {

// Thrown from the parse callback to stop at the first violation.
struct Refused {
  std::string reason;
};

// nlohmann's messages look like "[json.exception.parse_error.101] parse error at line 1,
// column 3: syntax error while parsing value - invalid literal; last read: '...'": keep the
// reason, drop the prefix and the echoed input.
std::string reason_of(const json::parse_error& e) {
  std::string text = e.what();
  auto colon = text.find(": ");
  if (colon != std::string::npos) text = text.substr(colon + 2);
  auto last_read = text.find("; last read");
  if (last_read != std::string::npos) text = text.substr(0, last_read);
  return printable(text, 200);
}

}  // namespace

json parse_json(std::string_view text, const std::string& what, ErrorCode code) {
  auto fail = [&](const std::string& reason) -> json { throw Error(code, what + " is not valid UTF-8 JSON: " + reason); };
  if (const void* nul = std::memchr(text.data(), 0, text.size()))
    return fail("a NUL byte at offset " + std::to_string(static_cast<const char*>(nul) - text.data()));
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) throw Refused{"nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second) {
      throw Refused{"an object has the key " + detail::quoted(parsed.get<std::string>()) + " twice"};
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const Refused& refused) {
    return fail(refused.reason);
  } catch (const json::parse_error& e) {
    return fail(reason_of(e) + " (byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception& e) {
    return fail(printable(e.what(), 200));
  }
}

}  // namespace inpaint::detail
