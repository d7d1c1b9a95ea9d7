// The JSON readers: scene labels -> prompt, prompt tables, model variants. The same bytes are
// read by each (all take a JSON object), then the prompt is built from whatever parsed.
#include <cmath>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "inpaint/model.hpp"
#include "inpaint/prompt.hpp"
#include "inpaint/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  inpaint::PromptTable table = inpaint::PromptTable::builtin();
  bool custom = fuzz::accepts([&] { table = inpaint::PromptTable::from_json(text); });
  if (custom) {
    fuzz::check(!table.fallback.empty(), "a prompt table was accepted with an empty fallback");
    for (const auto& [surface, prompt] : table.surfaces) fuzz::check(!prompt.empty(), "a surface maps to an empty prompt");
  }
  inpaint::ModelVariants variants;
  if (fuzz::accepts([&] { variants = inpaint::ModelVariants::from_json(text); }))
    for (const std::string& name : variants.names())  // every spec was checked when read
      inpaint::ModelSpec::parse(variants.spec(name));
  inpaint::SceneLabels labels;
  if (!fuzz::accepts([&] { labels = inpaint::parse_scene_labels(text); })) return 0;

  for (double min_confidence : {0.0, 0.5, 1.0}) {
    inpaint::Prompt prompt = inpaint::build_prompt(labels, table, {min_confidence});  // valid options: no throw
    fuzz::check(!prompt.text.empty(), "build_prompt gave an empty prompt");
    fuzz::check(prompt.from_labels || prompt.text == table.fallback, "a prompt not from labels is not the fallback");
  }
  // The JSON the labeller writes reads back as the same labels. Confidences outside [0, 1]
  // (and infinities, which JSON cannot carry) are left out: refusing them is being fixed
  // separately in parse_scene_labels.
  if (labels.confidence && !(*labels.confidence >= 0 && *labels.confidence <= 1)) return 0;
  inpaint::SceneLabels again = inpaint::parse_scene_labels(inpaint::scene_labels_json(labels));
  fuzz::check(again.surface == labels.surface && again.detail == labels.detail && again.labeled_at == labels.labeled_at &&
                  again.confidence == labels.confidence,
              "scene_labels_json does not read back as the same labels");
  return 0;
}
