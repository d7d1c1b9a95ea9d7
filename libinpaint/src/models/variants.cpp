// Service-level model names (a worker's MODEL_VARIANT) mapped to spec strings by a JSON file.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/json.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "inpaint/model.hpp"

namespace inpaint {

ModelVariants ModelVariants::from_json(const std::string& text, const std::string& origin) {
  nlohmann::json doc = detail::parse_json(text, "model variants " + origin);
  if (!doc.is_object())
    throw Error(ErrorCode::Parse, "model variants " + origin + ": expected an object of name -> spec string");
  ModelVariants variants;
  for (const auto& [name, value] : doc.items()) {
    if (!value.is_string())
      throw Error(ErrorCode::Parse, "model variants " + origin + ": " + detail::quoted(name) + " must map to a spec string");
    std::string spec = value.get<std::string>();
    try {
      ModelSpec::parse(spec);  // a typo is reported when the file is read, not on first use
    } catch (const Error& e) {
      throw Error(ErrorCode::Parse, "model variants " + origin + ": " + detail::quoted(name) + ": " + e.what());
    }
    variants.specs_.emplace(name, std::move(spec));
  }
  return variants;
}

ModelVariants ModelVariants::from_file(const std::string& path) {
  auto bytes = read_file(path);
  return from_json(std::string(bytes.begin(), bytes.end()), detail::quoted(path, 300));
}

const std::string& ModelVariants::spec(const std::string& name) const {
  auto it = specs_.find(name);
  if (it != specs_.end()) return it->second;
  std::string known;
  for (const auto& [n, s] : specs_) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::UnknownModel,
              "unknown model variant " + detail::quoted(name) + " (known: " + (known.empty() ? "none" : known) + ")");
}

std::vector<std::string> ModelVariants::names() const {
  std::vector<std::string> out;
  for (const auto& [name, spec] : specs_) out.push_back(name);
  return out;
}

std::string ModelVariants::spec_from_environment() {
  const char* file = std::getenv("INPAINT_MODEL_VARIANTS");
  const char* variant = std::getenv("MODEL_VARIANT");
  if (!file || !*file) throw Error(ErrorCode::InvalidArgument, "INPAINT_MODEL_VARIANTS (the variants JSON file) is not set");
  if (!variant || !*variant) throw Error(ErrorCode::InvalidArgument, "MODEL_VARIANT is not set");
  return from_file(file).spec(variant);
}

}  // namespace inpaint
