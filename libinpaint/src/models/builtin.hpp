#pragma once
#include <memory>

#include "inpaint/model.hpp"

namespace inpaint::detail {
std::unique_ptr<InpaintModel> make_telea(const ModelSpec& spec);
std::unique_ptr<InpaintModel> make_navier_stokes(const ModelSpec& spec);
std::unique_ptr<InpaintModel> make_patchmatch(const ModelSpec& spec);
// Loads the torch backend on first use and forwards to it (backends/loader.cpp).
std::unique_ptr<InpaintModel> make_torchscript(const ModelSpec& spec);
std::unique_ptr<InpaintModel> make_flux(const ModelSpec& spec);
}  // namespace inpaint::detail
