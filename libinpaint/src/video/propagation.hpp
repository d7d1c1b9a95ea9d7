#pragma once
// The process-wide propagation slots (set_max_concurrent_propagations), for the video sessions
// of the torch backend. Not a public header.
#include <functional>

#include "inpaint/export.hpp"
#include "inpaint/model.hpp"

namespace inpaint::detail {

// Holds one of the process's propagation slots for its lifetime. Waiting for one polls the
// control (Error(Cancelled) / Error(Timeout)) and `superseded`: when that turns true while it
// waits, it gives up without a slot (acquired() false).
class INPAINT_CXX_API PropagationSlot {
 public:
  PropagationSlot(const RunControl* control, const std::function<bool()>& superseded);
  ~PropagationSlot();
  PropagationSlot(const PropagationSlot&) = delete;
  PropagationSlot& operator=(const PropagationSlot&) = delete;
  bool acquired() const { return held_; }

 private:
  bool held_ = false;
};

}  // namespace inpaint::detail
