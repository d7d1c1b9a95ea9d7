// Model spec strings: ModelSpec::parse, its str() round trip, and the default registry's
// factories for the built-ins that load no file (telea, ns, patchmatch). torchscript is never
// created here: its factory opens the file named by path=.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "inpaint/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  inpaint::ModelSpec spec;
  if (!fuzz::accepts([&] { spec = inpaint::ModelSpec::parse(text); })) return 0;
  // str() is the canonical form (keys sorted): it parses back to the same spec.
  inpaint::ModelSpec again = inpaint::ModelSpec::parse(spec.str());
  fuzz::check(again.name == spec.name && again.params == spec.params, "ModelSpec::parse(str()) differs");
  fuzz::check(again.str() == spec.str(), "ModelSpec::str() is not canonical");
  if (spec.name == "torchscript") return 0;
  fuzz::accepts([&] {
    auto model = inpaint::default_registry().create(text);
    fuzz::check(model != nullptr, "the registry created nothing without an error");
  });
  return 0;
}
