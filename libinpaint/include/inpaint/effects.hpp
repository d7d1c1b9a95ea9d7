#pragma once
// Photo effects on a cut-out: the four looks the background-removal service renders for every
// upload (enhanced black-and-white, pop art, dithering, the colour cut-out itself), rendered
// together from one photo and one alpha with shared intermediates. Two paths compute the same
// effects: OpenCV on the CPU (the default) and LibTorch tensors on any device (the torch backend).
#include <string>
#include <vector>

#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/model.hpp"
#include "inpaint/params.hpp"

namespace inpaint {

enum class Effect {
  Color,       // "color": the photo itself on the chosen background
  BlackWhite,  // "bw": film-like channel weights, tone curve, local contrast, glow, seeded grain
  PopArt,      // "popart": boosted contrast and saturation, posterised, luminance bands to a palette
  Dither,      // "dither": one-bit dots by Floyd-Steinberg error diffusion or an ordered Bayer matrix
};

// "color", "bw", "popart", "dither" (the order of Effect).
INPAINT_CXX_API const char* effect_name(Effect effect) noexcept;
INPAINT_CXX_API const std::vector<std::string>& effect_names();
// Error(InvalidArgument) listing the known names.
INPAINT_CXX_API Effect parse_effect(const std::string& name);
// "bw,popart" -> {BlackWhite, PopArt}: comma-separated, no duplicates, not empty.
INPAINT_CXX_API std::vector<Effect> parse_effect_list(const std::string& names);

// What shows where the alpha is below 255.
struct Background {
  enum class Kind { Transparent, Color, Blur };
  Kind kind = Kind::Transparent;
  std::uint8_t r = 255, g = 255, b = 255;  // Color
  double blur_sigma = 0;                   // Blur: Gaussian sigma in pixels of the photo; 0: 1% of its long side
};

// "transparent", "white", "black", "#rrggbb" (or "rrggbb"), "blur" or "blur:SIGMA". Error(Parse)
// saying what is wrong for anything else.
INPAINT_CXX_API Background parse_background(const std::string& text);
// The canonical text parse_background reads back ("transparent", "#ff0000", "blur", "blur:12").
INPAINT_CXX_API std::string background_text(const Background& background);

// The effects' parameters, as per-call parameters (params.hpp): names, types, defaults, ranges,
// one line of doc each. Effect parameters are prefixed with their effect ("bw_contrast"); shared
// ones are not ("background"). Resolve a caller's values with resolve_params(effect_parameters(), ...).
INPAINT_CXX_API const std::vector<ParamSpec>& effect_parameters();

// The rendered effects of one call, in the order asked for.
struct EffectImage {
  Effect effect = Effect::Color;
  Image image;  // RGBA for a transparent background (alpha = the matte), RGB otherwise
};

struct EffectsResult {
  std::vector<EffectImage> images;
  double shared_ms = 0;   // intermediates shared by the effects (luminance, working copies, background)
  double effects_ms = 0;  // the effects themselves, wall time (they run in parallel)
  std::string device = "cpu";  // where they ran ("cpu" for the OpenCV path)
};

// Where effects run: OpenCV on the CPU, or LibTorch tensors (loads the torch backend).
enum class EffectsBackend { OpenCV, Tensor };

struct EffectsOptions {
  // Values for effect_parameters() by name (text values are read as the declared type); absent
  // ones take their defaults. Unknown names or values out of range: Error(InvalidArgument).
  CallParams params;
  EffectsBackend backend = EffectsBackend::OpenCV;
  std::string device = "cpu";  // the tensor path's device: cpu, cuda, cuda:N, auto
  int threads = 2;             // OpenCV path: effects rendered at once (1..64)
  const RunControl* control = nullptr;  // checked between effects and stages
};

// Renders `effects` (no duplicates, at least one) of rgb (3 channels) under alpha (one channel,
// rgb's size; 255 = object). Everything is computed from one working copy: luminance and the
// colour conversions are done once and shared, the effects run in parallel. The effects are
// deterministic (bw's grain is a hash of the pixel position and bw_seed), so a cached result
// equals a recomputed one. Error(InvalidArgument) for empty or mismatched images, an empty or
// repeated effect list, or bad parameters.
INPAINT_CXX_API EffectsResult render_effects(const ImageView& rgb, const ImageView& alpha,
                                             const std::vector<Effect>& effects,
                                             const EffectsOptions& options = {});

}  // namespace inpaint
