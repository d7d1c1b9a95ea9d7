// validate_encoding_id, against the rule it documents (1..128 characters of [A-Za-z0-9._-],
// no leading dot: ids become file names and Redis keys), and encoding_id, whose output must
// itself be a valid id.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "inpaint/encoding.hpp"

namespace {
bool documented_rule(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  for (unsigned char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bool accepted = fuzz::accepts([&] { inpaint::validate_encoding_id(text); });
  fuzz::check(accepted == documented_rule(text), "validate_encoding_id disagrees with its documented rule");
  if (accepted) fuzz::check(text != "." && text != ".." && text.find('/') == std::string::npos, "a path-like id passed");
  // Any (hash, model id) pair names a valid id: split the input at its first newline.
  auto nl = text.find('\n');
  std::string hash = text.substr(0, nl), model = nl == std::string::npos ? "m" : text.substr(nl + 1);
  std::string id;
  if (fuzz::accepts([&] { id = inpaint::encoding_id(hash, model); })) {
    fuzz::check(id.size() == 64, "encoding_id is not 64 hex digits");
    inpaint::validate_encoding_id(id);  // must not throw
  }
  return 0;
}
