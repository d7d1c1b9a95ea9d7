#pragma once
// HostTensor <-> at::Tensor without copies, for the parts of the library that run models (and
// their tests). Not a public header: it includes LibTorch.
#include <ATen/ATen.h>

#include "inpaint/tensor.hpp"

namespace inpaint::detail {

// A CPU tensor over the host tensor's bytes; it keeps the buffer alive. The bytes may be a
// read-only memory map: never write to the result (clone() it first).
at::Tensor to_torch(const HostTensor& tensor);
// A host tensor over a contiguous CPU tensor's bytes (it keeps the tensor alive). Other
// tensors (CUDA, strided) are first copied to contiguous CPU memory, which is unavoidable.
HostTensor from_torch(const at::Tensor& tensor);

}  // namespace inpaint::detail
