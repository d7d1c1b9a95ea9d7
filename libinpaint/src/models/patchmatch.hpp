#pragma once
// PatchMatch exemplar fill, exposed for the model wrapper and the unit tests.
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "inpaint/export.hpp"

#include "inpaint/image.hpp"

namespace inpaint::detail {

struct PatchMatchParams {
  int patch = 7;              // patch side in pixels (odd)
  int levels = 0;             // pyramid levels; 0 = as many as the hole needs
  int iterations = 5;         // EM iterations per level (twice as many at the coarsest)
  int search_radius = 0;      // random-search radius in pixels; 0 = the whole level
  std::uint64_t seed = 0;     // same seed, same input -> same output
  double gradient_weight = 1; // weight of the lightness gradient against Lab colour
  // Cost (squared Lab units per pixel) of taking a patch one image diagonal away: texture is
  // taken from nearby first (1% of the diagonal costs 40), so fills keep the local look.
  double locality = 10000;
  // Voting weights exp(-cost / (2 sigma^2)) with sigma^2 = sharpness * the 75th percentile of
  // the costs: small values keep texture sharp, large ones average it out.
  double sharpness = 0.06;
  int max_search_side = 800;  // levels with a longer side only refine the upsampled field ...
  int refine_radius = 8;      // ... with one pass searching this far around each match
};

// The finest level's nearest-neighbour field, for tests: one entry per patch that touches the hole.
struct PatchMatchField {
  int radius = 0;  // patch radius used at the finest level
  struct Match { int target_x, target_y, source_x, source_y; };
  std::vector<Match> matches;
};

// Fills the hole (mask > 127) of an RGB image from its known pixels. Reports to control after
// every iteration, so a cancel, a deadline or a progress callback that says stop ends it there.
// Exported (though not public) so the unit tests can reach it.
INPAINT_CXX_API Image patchmatch_fill(const ImageView& image, const ImageView& mask, const PatchMatchParams& params,
                                      const RunControl* control = nullptr,
                                      PatchMatchField* field = nullptr);

}  // namespace inpaint::detail
