#pragma once
#include "inpaint/export.hpp"

namespace inpaint {

// The requeue guard of the fill service: a job may arrive before the segmentation service
// has stored its scene labels. Pub/Sub redelivers a job the service answers with 500.
enum class LabelWaitDecision {
  Wait = 0,                 // answer 500 so the message is redelivered later
  ProceedWithLabels = 1,    // labels are here: build the prompt from them
  ProceedWithFallback = 2,  // waited long enough: use the fallback prompt
  GiveUp = 3,               // redelivered too often: acknowledge and drop the job
};

struct LabelWaitPolicy {
  int max_wait_attempt = 3;     // wait while attempt <= this ...
  double max_wait_age_s = 60;   // ... and the job is younger than this
  int give_up_attempt = 5;      // give up from this attempt on, labels or not
};

INPAINT_CXX_API const char* label_wait_decision_name(LabelWaitDecision decision) noexcept;

// attempt is the delivery attempt (1 = first delivery); age_s the job's age in seconds.
// Throws Error(InvalidArgument) for attempt < 1, a negative or non-finite age, or a policy
// whose give_up_attempt is not above max_wait_attempt.
INPAINT_CXX_API LabelWaitDecision decide_label_wait(int attempt, double age_s, bool labels_present,
                                                    const LabelWaitPolicy& policy = {});

}  // namespace inpaint
