// parse_safetensors and the writer.
//
// The property. Writing is canonical, not a copy of the input: the header is re-serialised
// (keys sorted, no whitespace, every known metadata key present, numbers in decimal), tensors
// are laid out by decreasing element size then name, and the padding is spaces. So for any
// input x that parses to E1:
//   1. B1 = to_safetensors(E1) succeeds (what was read can be written);
//   2. E2 = parse_safetensors(B1) succeeds and holds what E1 holds: the same metadata, tensor
//      names, dtypes, shapes and bytes;
//   3. to_safetensors(E2) == B1 byte for byte (the canonical form is a fixed point).
// x itself need not equal B1.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_common.hpp"
#include "inpaint/encoding.hpp"

namespace {

bool same_metadata(const inpaint::EncodingMetadata& a, const inpaint::EncodingMetadata& b) {
  return a.model_id == b.model_id && a.model_checksum == b.model_checksum && a.preprocessing == b.preprocessing &&
         a.dtype == b.dtype && a.image_sha256 == b.image_sha256 && a.original_width == b.original_width &&
         a.original_height == b.original_height && a.created_at == b.created_at &&
         a.format_version == b.format_version && a.extra == b.extra;
}

bool same_tensors(const inpaint::Encoding& a, const inpaint::Encoding& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (auto i = a.tensors.begin(), j = b.tensors.begin(); i != a.tensors.end(); ++i, ++j) {
    const inpaint::HostTensor &x = i->second, &y = j->second;
    if (i->first != j->first || x.dtype() != y.dtype() || x.shape() != y.shape() || x.nbytes() != y.nbytes())
      return false;
    if (x.nbytes() && std::memcmp(x.data(), y.data(), x.nbytes()) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The tensors point into the bytes: keep them in a buffer the encoding owns.
  auto bytes = std::make_shared<std::vector<std::uint8_t>>(data, data + size);
  inpaint::Encoding first;
  if (!fuzz::accepts([&] { first = inpaint::parse_safetensors(bytes->data(), bytes->size(), bytes); })) return 0;

  std::vector<std::uint8_t> written;
  if (!fuzz::accepts([&] { written = inpaint::to_safetensors(first); })) fuzz::fail("a parsed encoding cannot be written");
  fuzz::check(written.size() == inpaint::safetensors_size(first), "safetensors_size disagrees with to_safetensors");
  auto copy = std::make_shared<std::vector<std::uint8_t>>(written);
  inpaint::Encoding second;
  if (!fuzz::accepts([&] { second = inpaint::parse_safetensors(copy->data(), copy->size(), copy); }))
    fuzz::fail("the canonical form of a parsed encoding does not parse");
  fuzz::check(same_metadata(first.metadata, second.metadata), "metadata changed through a write and a read");
  fuzz::check(same_tensors(first, second), "tensors changed through a write and a read");
  fuzz::check(inpaint::to_safetensors(second) == written, "the canonical form is not a fixed point");
  return 0;
}
