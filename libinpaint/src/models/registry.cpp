// RunControl, the fill-model registry and its built-in list.
#include <algorithm>
#include <cmath>

#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "models/builtin.hpp"

namespace inpaint {

InpaintModel::~InpaintModel() = default;
ModelLoadInfo InpaintModel::load_info() const { return {}; }
bool InpaintModel::ready() const { return true; }
ModelPrompt InpaintModel::resolve_prompt(const std::string& prompt) const { return {prompt, ""}; }

void RunControl::set_deadline(Clock::time_point deadline) noexcept {
  deadline_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
}

void RunControl::set_timeout(std::chrono::milliseconds timeout) noexcept { set_deadline(Clock::now() + timeout); }

bool RunControl::has_deadline() const noexcept {
  return deadline_ns_.load() != INT64_MAX || (follows_ && follows_->has_deadline());
}

RunControl::Clock::time_point RunControl::deadline() const noexcept {
  Clock::time_point own = Clock::time_point::max();
  if (std::int64_t ns = deadline_ns_.load(); ns != INT64_MAX)
    own = Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
  return follows_ ? std::min(own, follows_->deadline()) : own;
}

void RunControl::check(const char* stage) const {
  if (cancelled()) throw Error(ErrorCode::Cancelled, std::string("cancelled (") + stage + ")");
  if (has_deadline() && Clock::now() >= deadline())
    throw Error(ErrorCode::Timeout, std::string("deadline passed (") + stage + ")");
}

void RunControl::report(const char* stage, double fraction) const {
  check(stage);
  if (progress && !progress(fraction))
    throw Error(ErrorCode::Cancelled, std::string("cancelled by the progress callback (") + stage + ")");
}

void validate_request(const InpaintRequest& r) {
  if (r.image.empty() || r.image.channels != 3)
    throw Error(ErrorCode::InvalidArgument, "model input must be a non-empty RGB image, got " + std::to_string(r.image.width) +
                                                "x" + std::to_string(r.image.height) + "x" + std::to_string(r.image.channels));
  if (r.mask.empty() || r.mask.channels != 1 || r.mask.width != r.image.width || r.mask.height != r.image.height)
    throw Error(ErrorCode::InvalidArgument, "model mask must be one channel of the image's size, got " +
                                                std::to_string(r.mask.width) + "x" + std::to_string(r.mask.height) + "x" +
                                                std::to_string(r.mask.channels));
}

Registry::Registry() : BasicRegistry<InpaintModel>("model") {}

void Registry::add(const std::string& name, const std::string& description, ModelFactory factory) {
  add_entry(name, description, {}, false, std::move(factory));
}

void register_builtin_models(Registry& registry) {
  const std::vector<SpecKey> radius = {{"radius", "neighbourhood radius in px, 1..64 (5)"}};
  registry.add("telea", "OpenCV Telea fast-marching fill", radius, detail::make_telea);
  registry.add("ns", "OpenCV Navier-Stokes fill", radius, detail::make_navier_stokes);
  registry.add("patchmatch", "PatchMatch exemplar fill that continues texture",
               {{"patch", "patch side in px, odd 3..15 (7)"},
                {"levels", "pyramid levels 0..12 (0 = as many as the hole needs)"},
                {"iterations", "EM iterations per level, 1..50 (5)"},
                {"search", "random-search radius in px (0 = the whole image)"},
                {"seed", "random seed, 0..2147483647 (0)"}},
               detail::make_patchmatch);
  // Declared here, not by the backend, so that listing and key checks need no LibTorch.
  registry.add("torchscript", "TorchScript fill model file",
               {{"path", "the model file (required)"},
                {"contract", "lama|migan (lama)"},
                {"device", "cpu|cuda|cuda:N|auto (auto)"},
                {"dtype", "fp32|fp16|bf16 (fp32; lama runs in fp32 only)"},
                {"max_side", "lama working cap on the long side in px (0 = none)"},
                {"concurrency", "runs at once (0 = no limit)"},
                {"wait_ms", "how long a run waits for a free slot (30000)"},
                {"warmup", "0|1: one run at load (0)"},
                {"empty_cache", "0|1: free cached CUDA memory after each run (0)"}},
               detail::make_torchscript);
  registry.add("flux", "FLUX.1-Fill diffusion transformer from BFL/diffusers safetensors or GGUF (Q8_0)",
               {{"path", "the transformer: flux1-fill-dev.safetensors, diffusers' or a .gguf (required)"},
                {"ae", "the autoencoder: BFL's ae.safetensors or diffusers' vae/diffusion_pytorch_model.safetensors (required)"},
                {"prompts", "the prompt table: T5 and CLIP embeddings per prompt (required)"},
                {"missing_prompt", "error|fallback: a prompt not in the table (error)"},
                {"device", "cpu|cuda|cuda:N|auto (auto)"},
                {"dtype", "fp32|bf16|fp16|auto (auto: bf16 on Ampere+, fp16 on older GPUs, fp32 on CPU)"},
                {"ae_dtype", "fp32|bf16|fp16|auto: the autoencoder's (auto: fp32 under fp16 compute, else dtype)"},
                {"quant", "none|int8|auto: int8 keeps block weights as Q8_0 int8 (auto: int8 for a quantised file)"},
                {"axes", "rotary split of the head width, e.g. 16/56/56 (from the checkpoint)"},
                {"steps", "default denoising steps, 1..200 (28)"},
                {"guidance", "default guidance, 0..100 (30)"},
                {"shift", "0|1: resolution-dependent schedule shift (1)"},
                {"max_side", "working long side cap, multiple of 16 (1024)"},
                {"min_side", "working long side floor, multiple of 16 (512)"},
                {"concurrency", "runs at once (1; 0 = no limit)"},
                {"wait_ms", "how long a run waits for a free slot (30000)"},
                {"threads", "CPU threads (all)"},
                {"warmup", "0|1: one 2-step run at load (0)"},
                {"empty_cache", "0|1: free cached CUDA memory after each run (0)"}},
               detail::make_flux);
}

Registry& default_registry() {
  static Registry* registry = [] {
    auto* r = new Registry;  // never destroyed: models may be created during static destruction
    register_builtin_models(*r);
    return r;
  }();
  return *registry;
}

const char* default_model_spec() noexcept { return "patchmatch"; }

}  // namespace inpaint
