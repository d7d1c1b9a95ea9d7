// Fill prompts from scene labels.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "inpaint/prompt.hpp"

namespace inpaint {

namespace {

using nlohmann::json;

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 5e308
    throw Error(ErrorCode::Parse, what + " is not valid JSON: " + e.what());
  }
}

std::string string_field(const json& object, const char* key, const std::string& what) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) throw Error(ErrorCode::Parse, what + ": \"" + key + "\" must be a string");
  return it->get<std::string>();
}

std::string lower_trimmed(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

SceneLabels parse_scene_labels(const std::string& text) {
  json j = parse_json(text, "scene labels");
  SceneLabels labels;
  if (j.is_null()) return labels;
  if (!j.is_object()) throw Error(ErrorCode::Parse, "scene labels must be a JSON object or null");
  labels.surface = string_field(j, "surface", "scene labels");
  labels.detail = string_field(j, "detail", "scene labels");
  labels.labeled_at = string_field(j, "labeledAt", "scene labels");
  auto confidence = j.find("confidence");
  if (confidence != j.end() && !confidence->is_null()) {
    if (!confidence->is_number()) throw Error(ErrorCode::Parse, "scene labels: \"confidence\" must be a number");
    labels.confidence = confidence->get<double>();
  }
  return labels;
}

PromptTable PromptTable::builtin() {
  PromptTable table;
  table.surfaces = {
      {"grass", "natural green lawn grass, individual blades, even daylight, seamless continuation"},
      {"concrete", "plain weathered concrete surface, fine aggregate texture, seamless continuation"},
      {"wood", "wooden floorboards with continuous grain and plank joints, seamless continuation"},
      {"sand", "fine natural sand with subtle ripples, seamless continuation"},
      {"gravel", "loose grey gravel of small stones, seamless continuation"},
      {"leaves", "ground covered with fallen autumn leaves, seamless continuation"},
      {"tile", "floor tiles with straight aligned grout lines, seamless continuation"},
      {"water", "calm water surface with soft natural reflections, seamless continuation"},
  };
  table.fallback = "empty background that continues the surrounding surface, photorealistic, seamless";
  return table;
}

PromptTable PromptTable::from_json(const std::string& text) {
  json j = parse_json(text, "prompt table");
  if (!j.is_object()) throw Error(ErrorCode::Parse, "prompt table must be a JSON object");
  PromptTable table = builtin();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "fallback") {
      if (!it->is_string() || it->get<std::string>().empty())
        throw Error(ErrorCode::Parse, "prompt table: \"fallback\" must be a non-empty string");
      table.fallback = it->get<std::string>();
    } else if (it.key() == "surfaces") {
      if (!it->is_object()) throw Error(ErrorCode::Parse, "prompt table: \"surfaces\" must be an object");
      for (auto s = it->begin(); s != it->end(); ++s) {
        if (!s->is_string() || s->get<std::string>().empty())
          throw Error(ErrorCode::Parse, "prompt table: surface \"" + s.key() + "\" must map to a non-empty string");
        table.surfaces[lower_trimmed(s.key())] = s->get<std::string>();
      }
    } else {
      throw Error(ErrorCode::Parse, "prompt table: unknown key \"" + it.key() + "\" (expected surfaces, fallback)");
    }
  }
  return table;
}

PromptTable PromptTable::from_json_file(const std::string& path) {
  auto bytes = read_file(path);
  return from_json(std::string(bytes.begin(), bytes.end()));
}

Prompt build_prompt(const SceneLabels& labels, const PromptTable& table, const PromptOptions& options) {
  if (!(options.min_confidence >= 0 && options.min_confidence <= 1))
    throw Error(ErrorCode::InvalidArgument, "min_confidence must be within 0..1");
  auto fallback = [&](std::string reason) { return Prompt{table.fallback, false, std::move(reason)}; };
  std::string surface = lower_trimmed(labels.surface);
  if (surface.empty()) return fallback("no labels");
  auto it = table.surfaces.find(surface);
  if (it == table.surfaces.end()) return fallback("unknown surface '" + surface + "'");
  if (labels.confidence && !(*labels.confidence >= options.min_confidence)) {
    char reason[96];
    std::snprintf(reason, sizeof reason, "low confidence %.2f < %.2f", *labels.confidence, options.min_confidence);
    return fallback(reason);
  }
  auto first = labels.detail.find_first_not_of(" \t\r\n");
  std::string detail = first == std::string::npos ? "" : labels.detail.substr(first, labels.detail.find_last_not_of(" \t\r\n") - first + 1);
  return Prompt{detail.empty() ? it->second : detail + ", " + it->second, true, "labels"};
}

}  // namespace inpaint
