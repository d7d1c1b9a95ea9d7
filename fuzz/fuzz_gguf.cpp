// parse_gguf.
//
// The property. There is no GGUF writer to round-trip through, so what an accepted file must
// satisfy is checked directly: every tensor lies inside the input, at data_start + offset,
// back to back in file order (each at the previous one's end rounded up to the alignment), with
// a shape of 1 to 4 dimensions of at least 1 and the byte size its type and shape give; find()
// returns each one; the alignment is a non-zero multiple of 8; every array value's elements can
// be read with at().
#include <cstdint>
#include <memory>
#include <vector>

#include "fuzz_common.hpp"
#include "store/gguf.hpp"

namespace {

using inpaint::detail::GgufType;
using inpaint::detail::GgufValue;
using inpaint::detail::GgufValueType;

void check_value(const GgufValue& v) {
  if (v.type != GgufValueType::Array) return;
  std::size_t stored = v.element_type == GgufValueType::String  ? v.strings.size()
                       : v.element_type == GgufValueType::Array ? v.items.size()
                                                                : v.raw.size();
  fuzz::check(v.count == 0 || stored > 0, "an array's elements are missing");
  for (std::size_t k = 0; k < v.count; ++k) {
    GgufValue element;
    if (!fuzz::accepts([&] { element = v.at(k); })) fuzz::fail("an element of a parsed array cannot be read");
    fuzz::check(element.type == v.element_type, "an array element has another type than the array says");
    check_value(element);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An exact-size copy: a read past the end is a sanitizer finding.
  auto bytes = std::make_shared<std::vector<std::uint8_t>>(data, data + size);
  inpaint::detail::GgufFile file;
  if (!fuzz::accepts([&] { file = inpaint::detail::parse_gguf(bytes->data(), bytes->size(), bytes, "fuzz"); })) return 0;

  fuzz::check(file.version == 2 || file.version == 3, "a version other than 2 or 3 was accepted");
  fuzz::check(file.alignment != 0 && file.alignment % 8 == 0, "an alignment that is not a multiple of 8");
  fuzz::check(file.data_start % file.alignment == 0, "the data section is not aligned");
  fuzz::check(file.owner == bytes, "the file does not own its bytes");
  fuzz::check(file.index.size() == file.tensors.size(), "the name index misses tensors");
  std::uint64_t expected = 0;
  for (const auto& t : file.tensors) {
    fuzz::check(file.find(t.name) == &t, "find() does not return a tensor by its name");
    fuzz::check(!t.shape.empty() && t.shape.size() <= 4, "a shape of 0 or more than 4 dimensions");
    std::uint64_t elements = 1;
    for (std::int64_t d : t.shape) {
      fuzz::check(d >= 1, "a dimension below 1");
      fuzz::check(elements <= UINT64_MAX / std::uint64_t(d), "an element count that overflows");
      elements *= std::uint64_t(d);
    }
    std::uint64_t nbytes = 0;
    switch (t.type) {
      case GgufType::F32: nbytes = elements * 4; break;
      case GgufType::F16: case GgufType::BF16: nbytes = elements * 2; break;
      case GgufType::Q8_0:
        fuzz::check(t.shape.back() % 32 == 0, "a Q8_0 row that is not whole blocks");
        nbytes = elements / 32 * 34;
        break;
      default: fuzz::fail("a tensor type other than F32, F16, BF16 and Q8_0");
    }
    fuzz::check(t.nbytes == nbytes, "a tensor's byte size does not follow from its type and shape");
    fuzz::check(t.offset == expected, "tensors are not back to back");
    fuzz::check(t.data == bytes->data() + file.data_start + t.offset, "a tensor's data is not at data_start + offset");
    fuzz::check(file.data_start + t.offset + t.nbytes <= size, "a tensor runs past the end of the input");
    expected = (t.offset + t.nbytes + file.alignment - 1) / file.alignment * file.alignment;
  }
  for (const auto& [key, value] : file.metadata) check_value(value);
  return 0;
}
