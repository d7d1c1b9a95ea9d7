// Segmenter spec strings through create_segmenter, for grabcut (no model file) and unknown
// names. sam is never created here: its factory loads TorchScript files.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "inpaint/model.hpp"
#include "inpaint/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  inpaint::ModelSpec spec;
  if (!fuzz::accepts([&] { spec = inpaint::ModelSpec::parse(text); })) return 0;
  if (spec.name == "sam") return 0;
  fuzz::accepts([&] {
    auto segmenter = inpaint::create_segmenter(text);
    fuzz::check(segmenter != nullptr, "create_segmenter created nothing without an error");
    // The canonical spec it reports creates an equal segmenter.
    auto again = inpaint::create_segmenter(segmenter->spec());
    fuzz::check(again->spec() == segmenter->spec(), "a segmenter's spec() does not recreate it");
  });
  return 0;
}
