#include "inpaint/label_wait.hpp"

#include <cmath>
#include <string>

#include "inpaint/error.hpp"

namespace inpaint {

const char* label_wait_decision_name(LabelWaitDecision decision) noexcept {
  switch (decision) {
    case LabelWaitDecision::Wait: return "wait";
    case LabelWaitDecision::ProceedWithLabels: return "proceed_with_labels";
    case LabelWaitDecision::ProceedWithFallback: return "proceed_with_fallback";
    case LabelWaitDecision::GiveUp: return "give_up";
  }
  return "unknown";
}

LabelWaitDecision decide_label_wait(int attempt, double age_s, bool labels_present, const LabelWaitPolicy& policy) {
  if (attempt < 1) throw Error(ErrorCode::InvalidArgument, "attempt must be >= 1 (the first delivery is 1), got " + std::to_string(attempt));
  if (!std::isfinite(age_s) || age_s < 0) throw Error(ErrorCode::InvalidArgument, "age must be a finite number of seconds >= 0");
  if (policy.max_wait_attempt < 0 || !(policy.max_wait_age_s >= 0) || policy.give_up_attempt <= policy.max_wait_attempt)
    throw Error(ErrorCode::InvalidArgument,
                "label-wait policy: need max_wait_attempt >= 0, max_wait_age_s >= 0 and give_up_attempt > max_wait_attempt");
  // A job redelivered this often is failing for another reason: stop the loop whatever the labels.
  if (attempt >= policy.give_up_attempt) return LabelWaitDecision::GiveUp;
  if (labels_present) return LabelWaitDecision::ProceedWithLabels;
  if (attempt <= policy.max_wait_attempt && age_s < policy.max_wait_age_s) return LabelWaitDecision::Wait;
  return LabelWaitDecision::ProceedWithFallback;
}

}  // namespace inpaint
