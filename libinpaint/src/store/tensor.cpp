#include "inpaint/tensor.hpp"

#include <cstring>
#include <limits>

#include "inpaint/error.hpp"

namespace inpaint {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::Bool, "BOOL", 1},        {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::U16, "U16", 2},          {DType::I16, "I16", 2},   {DType::U32, "U32", 4},
    {DType::I32, "I32", 4},          {DType::U64, "U64", 8},   {DType::I64, "I64", 8},
    {DType::F16, "F16", 2},          {DType::BF16, "BF16", 2}, {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},          {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F8_E8M0, "F8_E8M0", 1},
};

const DTypeInfo* find(DType dtype) {
  for (const auto& info : kDTypes)
    if (info.dtype == dtype) return &info;
  return nullptr;
}

}  // namespace

const char* dtype_name(DType dtype) noexcept {
  const DTypeInfo* info = find(dtype);
  return info ? info->name : "unknown";
}

std::size_t dtype_size(DType dtype) noexcept {
  const DTypeInfo* info = find(dtype);
  return info ? info->size : 0;
}

DType parse_dtype(const std::string& name) {
  std::string known;
  for (const auto& info : kDTypes) {
    if (name == info.name) return info.dtype;
    known += (known.empty() ? "" : ", ") + std::string(info.name);
  }
  throw Error(ErrorCode::InvalidArgument, "unknown dtype '" + name + "' (known: " + known + ")");
}

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::uint64_t HostTensor::element_count(const Shape& shape) {
  std::uint64_t count = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) throw Error(ErrorCode::InvalidArgument, "shape " + shape_text(shape) + " has a negative dimension");
    if (dim != 0 && count > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(dim))
      throw Error(ErrorCode::InvalidArgument, "shape " + shape_text(shape) + " overflows 64 bits");
    count *= std::uint64_t(dim);
  }
  return count;
}

std::size_t HostTensor::byte_size(DType dtype, const Shape& shape) {
  std::uint64_t count = element_count(shape), size = dtype_size(dtype);
  if (size == 0) throw Error(ErrorCode::InvalidArgument, "invalid dtype value " + std::to_string(int(dtype)));
  if (count > std::numeric_limits<std::size_t>::max() / size)
    throw Error(ErrorCode::InvalidArgument, "shape " + shape_text(shape) + " of " + dtype_name(dtype) + " overflows 64 bits");
  return std::size_t(count * size);
}

std::int64_t HostTensor::numel() const { return std::int64_t(element_count(shape_)); }

namespace {

// Owned bytes, zeroed or left for the caller to fill whole (a copy need not clear them first).
std::shared_ptr<std::uint8_t> new_buffer(std::size_t size, bool zeroed) {
  std::size_t n = size ? size : 1;
  return {zeroed ? new std::uint8_t[n]() : new std::uint8_t[n], std::default_delete<std::uint8_t[]>()};
}

}  // namespace

HostTensor HostTensor::allocate(DType dtype, const Shape& shape) { return allocate_buffer(dtype, shape, true); }

HostTensor HostTensor::allocate_buffer(DType dtype, const Shape& shape, bool zeroed) {
  HostTensor t;
  t.nbytes_ = byte_size(dtype, shape);
  std::shared_ptr<std::uint8_t> bytes = new_buffer(t.nbytes_, zeroed);
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = bytes.get();
  t.owner_ = std::move(bytes);
  t.writable_ = true;
  return t;
}

HostTensor HostTensor::copy_of(DType dtype, const Shape& shape, const void* data) {
  if (!data && byte_size(dtype, shape))
    throw Error(ErrorCode::InvalidArgument, "tensor data is null for " + std::to_string(byte_size(dtype, shape)) + " bytes");
  HostTensor t = allocate_buffer(dtype, shape, false);
  if (t.nbytes_) std::memcpy(t.mutable_data(), data, t.nbytes_);
  return t;
}

HostTensor HostTensor::wrap(DType dtype, const Shape& shape, const void* data, std::shared_ptr<const void> owner) {
  HostTensor t;
  t.nbytes_ = byte_size(dtype, shape);
  if (!data && t.nbytes_) throw Error(ErrorCode::InvalidArgument, "tensor data is null for " + std::to_string(t.nbytes_) + " bytes");
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = static_cast<const std::uint8_t*>(data);
  t.owner_ = std::move(owner);
  return t;
}

std::uint8_t* HostTensor::mutable_data() {
  // Writing to a buffer another tensor (or a store) already holds would change it under them.
  if (!writable_ || owner_.use_count() != 1)
    throw Error(ErrorCode::InvalidArgument, "tensor is read-only (shared or mapped); copy it with HostTensor::copy_of");
  return const_cast<std::uint8_t*>(data_);
}

}  // namespace inpaint
