#pragma once
// The Redis store's chunk manifest: what it stores under an id whose value was split into
// chunks. Internal; exposed here so that tests and the fuzz target can reach the parser.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "inpaint/export.hpp"

namespace inpaint::detail {

// A manifest's first 8 bytes, read as a safetensors header length, exceed the 100 MB limit,
// so a manifest can never be mistaken for an encoding.
inline const std::string kManifestMagic = "INPAINT-CHUNKS\n";

// The largest value the store reads or writes (put refuses more with TooLarge): far above any
// SAM-family encoding (a ViT-H image embedding is 4 MiB), and a bound on what a manifest read
// from the server may make a reader allocate.
constexpr std::uint64_t kMaxValueBytes = 4ull << 30;
// Chunk sizes a writer may use: 1 KiB up to Redis' limit on one value.
constexpr std::uint64_t kMinChunkBytes = 1024, kMaxChunkBytes = 512ull << 20;

// An unsigned decimal and nothing else: no sign, no space, no trailing junk, no overflow.
bool parse_decimal(std::string_view text, std::uint64_t& out);

struct Manifest {
  std::string token;
  std::uint64_t count = 0, total = 0;
};

// The manifest, or nothing when the value is not one (an encoding). A value that starts like
// one but breaks a rule is Error(Decode): the store's get() then treats it as a corrupt entry (a
// miss, logged on stderr and removed), which is what a cache reader wants from a poisoned key,
// rather than an exception for every reader of it. The limits keep a lying manifest from making
// a reader allocate (or ask for) more than a real value could need.
INPAINT_CXX_API std::optional<Manifest> parse_manifest(const char* data, std::size_t size);

}  // namespace inpaint::detail
