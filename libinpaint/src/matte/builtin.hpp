#pragma once
// Factories of the built-in matters, called by create_matter().
#include <memory>

#include "inpaint/matte.hpp"

namespace inpaint::detail {
std::unique_ptr<Matter> make_saliency_matter(const ModelSpec& spec);  // saliency.cpp
// Loads the torch backend on first use and forwards to it (backends/loader.cpp).
std::unique_ptr<Matter> make_salient_matter(const ModelSpec& spec);
}  // namespace inpaint::detail
