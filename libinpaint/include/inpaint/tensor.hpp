#pragma once
// A small host tensor: dtype, shape and a shared, read-only byte buffer (which may be a memory
// map). It is what encodings are made of; the library converts it to and from at::Tensor
// without copying, so this header needs no LibTorch.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint {

// The element types of the safetensors format (its names: "F32", "BF16", "F8_E4M3", ...).
enum class DType {
  Bool,
  U8, I8, U16, I16, U32, I32, U64, I64,
  F16, BF16, F32, F64,
  F8_E4M3, F8_E5M2, F8_E8M0,
};

INPAINT_CXX_API const char* dtype_name(DType dtype) noexcept;  // "F32", ...
INPAINT_CXX_API std::size_t dtype_size(DType dtype) noexcept;  // bytes per element
// Throws Error(InvalidArgument) listing the known names for anything else.
INPAINT_CXX_API DType parse_dtype(const std::string& name);

using Shape = std::vector<std::int64_t>;

// Thread-safety: immutable once made, so any threads may read one at once; copies share the
// buffer (cheap).
class INPAINT_CXX_API HostTensor {
 public:
  HostTensor() = default;
  // Zero-filled, owned; fill it through mutable_data() before sharing it.
  static HostTensor allocate(DType dtype, const Shape& shape);
  // A copy of element_count(shape) * dtype_size(dtype) bytes at data.
  static HostTensor copy_of(DType dtype, const Shape& shape, const void* data);
  // No copy: the tensor reads `data` and keeps `owner` alive as long as it (or a copy) lives.
  static HostTensor wrap(DType dtype, const Shape& shape, const void* data, std::shared_ptr<const void> owner);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::int64_t numel() const;
  std::size_t nbytes() const { return nbytes_; }
  const std::uint8_t* data() const { return data_; }
  // Writable only for tensors from allocate() that no one else shares yet; throws otherwise.
  std::uint8_t* mutable_data();
  bool empty() const { return data_ == nullptr; }
  // The buffer's owner (e.g. the memory map), for conversions that must keep it alive.
  const std::shared_ptr<const void>& owner() const { return owner_; }

  // Elements of a shape, or Error(InvalidArgument) for negative dims or an overflowing product.
  static std::uint64_t element_count(const Shape& shape);
  // Bytes of a shape and dtype, checked for overflow like element_count.
  static std::size_t byte_size(DType dtype, const Shape& shape);

 private:
  static HostTensor allocate_buffer(DType dtype, const Shape& shape, bool zeroed);

  DType dtype_ = DType::U8;
  Shape shape_;
  const std::uint8_t* data_ = nullptr;
  std::size_t nbytes_ = 0;
  std::shared_ptr<const void> owner_;
  bool writable_ = false;
};

// "[1, 256, 64, 64]"
INPAINT_CXX_API std::string shape_text(const Shape& shape);

}  // namespace inpaint
