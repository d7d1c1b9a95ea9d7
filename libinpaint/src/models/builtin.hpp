#pragma once
#include <memory>

#include "inpaint/model.hpp"

namespace inpaint::detail {
std::unique_ptr<InpaintModel> make_telea(const ModelSpec& spec);
std::unique_ptr<InpaintModel> make_navier_stokes(const ModelSpec& spec);
std::unique_ptr<InpaintModel> make_patchmatch(const ModelSpec& spec);
std::unique_ptr<InpaintModel> make_torchscript(const ModelSpec& spec);
}  // namespace inpaint::detail
