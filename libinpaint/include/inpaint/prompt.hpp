#pragma once
#include <map>
#include <optional>
#include <string>

#include "inpaint/export.hpp"

namespace inpaint {

// Scene labels as the segmentation service stores them, for example
// {"surface": "grass", "detail": "patchy grass with fallen leaves", "confidence": 0.87,
//  "labeledAt": "2026-11-01T10:00:00Z"}. Every field may be missing.
struct SceneLabels {
  std::string surface;
  std::string detail;
  std::optional<double> confidence;
  std::string labeled_at;
};

// Parses the labels JSON; throws Error(Parse) for malformed JSON or wrongly typed fields.
// "null" and "{}" give empty labels.
INPAINT_CXX_API SceneLabels parse_scene_labels(const std::string& json);

// Surface name -> fill prompt. The built-in table covers grass, concrete, wood, sand, gravel,
// leaves, tile and water.
struct INPAINT_CXX_API PromptTable {
  std::map<std::string, std::string> surfaces;
  std::string fallback;

  static PromptTable builtin();
  // Builtin entries overridden/extended by a JSON file:
  // {"surfaces": {"grass": "..."}, "fallback": "..."} (both keys optional).
  static PromptTable from_json_file(const std::string& path);
  static PromptTable from_json(const std::string& json);
};

struct PromptOptions {
  double min_confidence = 0.5;  // labels below this are ignored
};

struct Prompt {
  std::string text;
  bool from_labels = false;  // false: the fallback prompt was used
  std::string reason;        // why: "labels", "no labels", "unknown surface 'x'", "low confidence 0.30 < 0.50"
};

// Detail in front, then the surface's prompt; the fallback prompt when labels are absent,
// name an unknown surface or have a confidence below the threshold.
INPAINT_CXX_API Prompt build_prompt(const SceneLabels& labels,
                                    const PromptTable& table = PromptTable::builtin(),
                                    const PromptOptions& options = {});

}  // namespace inpaint
