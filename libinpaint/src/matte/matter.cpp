// STAND-IN until the core's matter registry (the lead's matte/matter.cpp) lands on this branch:
// only what the torch backend's `salient` matter needs to link and load (Matter's key function
// and the default load_info). On merge, take the core's file whole and drop this one.
#include "inpaint/matte.hpp"

namespace inpaint {

Matter::~Matter() = default;

ModelLoadInfo Matter::load_info() const { return {}; }

}  // namespace inpaint
