#pragma once
// The Redis store's chunk manifest: what it stores under an id whose value was split into
// chunks. Internal; exposed here so that tests and the fuzz target can reach the parser.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "inpaint/export.hpp"

namespace inpaint::detail {

// A manifest's first 8 bytes, read as a safetensors header length, exceed the 100 MB limit,
// so a manifest can never be mistaken for an encoding.
inline const std::string kManifestMagic = "INPAINT-CHUNKS\n";

struct Manifest {
  std::string token;
  std::uint64_t count = 0, total = 0;
};

// Nothing when the bytes do not start with kManifestMagic (an encoding); Error(Decode) for a
// malformed manifest.
INPAINT_CXX_API std::optional<Manifest> parse_manifest(const char* data, std::size_t size);

}  // namespace inpaint::detail
