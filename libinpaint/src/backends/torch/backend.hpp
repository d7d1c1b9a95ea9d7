#pragma once
// What the torch backend's files define for its entry point (entry.cpp). Not a public header.
#include <memory>

#include <opencv2/core.hpp>

#include "inpaint/effects.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/matte.hpp"
#include "inpaint/model.hpp"
#include "inpaint/segment.hpp"
#include "inpaint/video.hpp"

namespace inpaint::torch_backend {

std::unique_ptr<InpaintModel> make_torchscript(const ModelSpec& spec, double backend_ms);  // torchscript_fill.cpp
std::unique_ptr<Segmenter> make_sam(const ModelSpec& spec, double backend_ms);            // sam.cpp
cv::Mat clean_binary_mask(const cv::Mat& binary, const MaskCleanOptions& options,
                          const std::string& device);                                     // mask_tensor.cpp
std::unique_ptr<Matter> make_salient(const ModelSpec& spec, double backend_ms);            // salient.cpp
std::unique_ptr<InpaintModel> make_flux(const ModelSpec& spec, double backend_ms);       // diffusion/flux_model.cpp
std::unique_ptr<VideoSegmenter> make_sam2video(const ModelSpec& spec, double backend_ms); // video_sam2.cpp
EffectsResult render_effects(const ImageView& rgb, const ImageView& alpha, const std::vector<Effect>& effects,
                             const CallParams& params, const std::string& device,
                             const RunControl* control);                                   // effects_tensor.cpp

}  // namespace inpaint::torch_backend
