// Spec strings: the key=value syntax with quoting, ModelSpec and SpecReader.
#include <algorithm>
#include <cmath>

#include "core/spec_syntax.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/registry.hpp"

namespace inpaint {

namespace detail {

namespace {

bool is_quote(char c) { return c == '\'' || c == '"'; }

[[noreturn]] void syntax_error(const std::string& subject, const std::string& why) {
  throw Error(ErrorCode::Parse, subject + ": " + why);
}

// The quoted value whose opening quote is at text[pos]; pos ends after the closing quote.
std::string read_quoted(std::string_view text, std::size_t& pos, const std::string& subject) {
  const char quote = text[pos];
  const std::size_t opened = pos++;
  std::string value;
  while (pos < text.size()) {
    char c = text[pos];
    if (c == quote) {
      ++pos;
      return value;
    }
    // Only \\ and \<quote> are escapes, so a Windows path inside quotes needs no doubling.
    if (c == '\\' && pos + 1 < text.size() && (text[pos + 1] == quote || text[pos + 1] == '\\')) ++pos;
    value += text[pos++];
  }
  syntax_error(subject, std::string("the ") + quote + " opened at position " + std::to_string(opened) + " is never closed");
}

}  // namespace

bool valid_spec_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

std::map<std::string, std::string> parse_spec_pairs(std::string_view text, std::size_t& pos, char separator,
                                                    std::string_view stops, const std::string& subject) {
  auto ends_value = [&](std::size_t i) { return i >= text.size() || text[i] == separator || stops.find(text[i]) != std::string_view::npos; };
  std::map<std::string, std::string> pairs;
  while (true) {
    const std::size_t item = pos;
    while (!ends_value(pos) && text[pos] != '=') ++pos;
    std::string key(text.substr(item, pos - item));
    if (ends_value(pos))
      syntax_error(subject, "expected key=value at position " + std::to_string(item) + ", got " + quoted(key));
    if (!valid_spec_key(key))
      syntax_error(subject, (key.empty() ? std::string("empty key") : "key " + quoted(key)) + " at position " +
                                std::to_string(item) + " (a key is letters, digits, '_', '.' or '-')");
    const std::size_t value_start = ++pos;
    std::string value;
    if (pos < text.size() && is_quote(text[pos])) {
      value = read_quoted(text, pos, subject);
      if (!ends_value(pos))
        syntax_error(subject, "unexpected " + quoted(text.substr(pos, 1)) + " at position " + std::to_string(pos) +
                                  " after the closing quote of the value of " + quoted(key) + " (expected '" +
                                  separator + "' or the end)");
    } else {
      while (!ends_value(pos)) ++pos;
      value = std::string(text.substr(value_start, pos - value_start));
    }
    if (value.empty())
      syntax_error(subject, "key " + quoted(key) + " at position " + std::to_string(item) + " has an empty value");
    if (!pairs.emplace(key, std::move(value)).second)
      syntax_error(subject, "key " + quoted(key) + " given twice (again at position " + std::to_string(item) + ")");
    if (pos >= text.size() || text[pos] != separator) return pairs;
    ++pos;
  }
}

std::string spec_value(std::string_view value, std::string_view specials) {
  bool plain = !value.empty() && !is_quote(value[0]) && value.find_first_of(specials) == std::string_view::npos;
  if (plain) return std::string(value);
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace detail

namespace {
bool valid_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}
}  // namespace

ModelSpec ModelSpec::parse(const std::string& text) {
  const std::string subject = "model spec " + detail::quoted(text);
  ModelSpec spec;
  auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  if (!valid_name(spec.name)) throw Error(ErrorCode::Parse, subject + ": the name must be [a-z0-9_-]+");
  if (colon == std::string::npos) return spec;
  std::size_t pos = colon + 1;
  spec.params = detail::parse_spec_pairs(text, pos, ',', {}, subject);
  return spec;
}

std::string ModelSpec::str() const {
  std::string s = name;
  char sep = ':';
  for (const auto& [key, value] : params) {
    s += sep + key + "=" + detail::spec_value(value);
    sep = ',';
  }
  return s;
}

SpecReader::SpecReader(const ModelSpec& spec) : spec_(spec) {}

std::string SpecReader::get_string(const std::string& key, const std::string& fallback) {
  read_.push_back(key);
  auto it = spec_.params.find(key);
  return it == spec_.params.end() ? fallback : it->second;
}

int SpecReader::get_int(const std::string& key, int fallback, int min_value, int max_value) {
  double value = get_double(key, fallback, min_value, max_value);
  if (value != std::floor(value))
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": " + key + " must be an integer, got " +
                                                detail::quoted(spec_.params.at(key)));
  return int(value);
}

double SpecReader::get_double(const std::string& key, double fallback, double min_value, double max_value) {
  read_.push_back(key);
  auto it = spec_.params.find(key);
  if (it == spec_.params.end()) return fallback;
  double value = 0;
  std::size_t used = 0;
  try { value = std::stod(it->second, &used); } catch (const std::exception&) { used = 0; }
  if (used != it->second.size())
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": " + key + " must be a number, got " + detail::quoted(it->second));
  if (!(value >= min_value && value <= max_value))
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": " + key + " must be within " +
                                                std::to_string(min_value) + ".." + std::to_string(max_value) + ", got " + detail::quoted(it->second));
  return value;
}

void SpecReader::finish() const {
  std::string unknown;
  for (const auto& [key, value] : spec_.params)
    if (std::find(read_.begin(), read_.end(), key) == read_.end()) unknown += (unknown.empty() ? "" : ", ") + detail::printable(key, 60);
  if (unknown.empty()) return;
  std::string known;
  for (const auto& key : read_) known += (known.empty() ? "" : ", ") + key;
  throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": unknown key(s) " + unknown +
                                              (known.empty() ? " (it takes none)" : " (it takes " + known + ")"));
}

}  // namespace inpaint
