// The `flux` fill model: FLUX.1-Fill from its checkpoint files (flux.hpp), conditioned on
// prompts whose T5 and CLIP embeddings were computed offline into a prompt table, sampled with
// the flow-matching Euler steps. Only hole pixels are taken from its output.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <map>

#include "backends/torch/backend.hpp"
#include "backends/torch/diffusion/flux.hpp"
#include "backends/torch/runtime.hpp"
#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "store/safetensors.hpp"

#if INPAINT_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace inpaint::detail::flux {

namespace {

[[noreturn]] void invalid(const std::string& message) { throw Error(ErrorCode::InvalidArgument, "flux: " + message); }

// Edit distance, for naming the known prompts nearest to a missing one.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

torch::Tensor to_torch(const HostTensor& t) {
  torch::Dtype dtype = t.dtype() == DType::F32 ? torch::kFloat32 : t.dtype() == DType::F16 ? torch::kFloat16 : torch::kBFloat16;
  std::vector<std::int64_t> shape(t.shape().begin(), t.shape().end());
  return torch::from_blob(const_cast<std::uint8_t*>(t.data()), {std::int64_t(t.nbytes())}, torch::kUInt8)
      .clone()
      .view(dtype)
      .view(shape);
}

}  // namespace

// ---- prompt table

// Prompt texts -> T5 sequence embedding [T, context] and CLIP pooled vector [vec], from a
// safetensors file (scripts/make_prompt_table.py): tensors "t5.<i>" and "clip.<i>", metadata
// "prompt.<i>" = the text, optional "fallback" = the text used when a prompt is missing.
class PromptTable {
 public:
  PromptTable() = default;
  PromptTable(const std::string& path, const TransformerConfig& config) : path_(path) {
    table_ = map_safetensors(path);
    for (const auto& [key, text] : table_.metadata.extra) {
      if (key.rfind("prompt.", 0) != 0) continue;
      std::string index = key.substr(7);
      auto t5 = table_.tensors.find("t5." + index), clip = table_.tensors.find("clip." + index);
      if (t5 == table_.tensors.end() || clip == table_.tensors.end())
        bad("prompt '" + text + "' (" + key + ") has no tensors t5." + index + " and clip." + index);
      for (const auto* t : {&t5->second, &clip->second})
        if (t->dtype() != DType::F32 && t->dtype() != DType::F16 && t->dtype() != DType::BF16)
          bad("prompt '" + text + "': embeddings must be F32, F16 or BF16, got " + dtype_name(t->dtype()));
      const auto& s = t5->second.shape();
      if (s.size() != 2 || s[0] < 1 || s[1] != config.context_in_dim)
        bad("prompt '" + text + "': t5." + index + " is " + shape_text(s) + ", the model needs [T, " +
            std::to_string(config.context_in_dim) + "]");
      if (tokens_ == 0) tokens_ = s[0];
      if (s[0] != tokens_)
        bad("prompt '" + text + "': t5." + index + " has " + std::to_string(s[0]) + " tokens, others " +
            std::to_string(tokens_) + "; one table holds one sequence length");
      const auto& v = clip->second.shape();
      if (!((v.size() == 1 && v[0] == config.vec_in_dim) || (v.size() == 2 && v[0] == 1 && v[1] == config.vec_in_dim)))
        bad("prompt '" + text + "': clip." + index + " is " + shape_text(v) + ", the model needs [" +
            std::to_string(config.vec_in_dim) + "]");
      if (!index_.emplace(text, index).second) bad("prompt '" + text + "' appears twice");
    }
    if (index_.empty()) bad("holds no prompts (metadata prompt.<i> with tensors t5.<i>, clip.<i>)");
    auto fallback = table_.metadata.extra.find("fallback");
    if (fallback != table_.metadata.extra.end()) {
      if (!index_.count(fallback->second)) bad("its fallback prompt '" + fallback->second + "' is not in it");
      fallback_ = fallback->second;
    }
  }

  bool contains(const std::string& prompt) const { return index_.count(prompt) != 0; }
  std::size_t size() const { return index_.size(); }
  const std::string& fallback() const { return fallback_; }
  const std::string& first() const { return index_.begin()->first; }

  // txt [1,T,context], vec [1,vec_in_dim] on the device.
  std::pair<torch::Tensor, torch::Tensor> get(const std::string& prompt, const torch::Device& device,
                                              torch::Dtype dtype) const {
    const std::string& index = index_.at(prompt);
    auto txt = to_torch(table_.tensors.at("t5." + index)).to(device, dtype).unsqueeze(0);
    auto vec = to_torch(table_.tensors.at("clip." + index)).to(device, dtype).reshape({1, -1});
    return {txt, vec};
  }

  // "'a', 'b', 'c'": the known prompts nearest to `prompt`.
  std::string nearest(const std::string& prompt, std::size_t count = 3) const {
    std::vector<std::pair<std::size_t, std::string>> ranked;
    for (const auto& [text, index] : index_) ranked.emplace_back(edit_distance(prompt, text), text);
    std::sort(ranked.begin(), ranked.end());
    std::string out;
    for (std::size_t i = 0; i < std::min(count, ranked.size()); ++i) out += (i ? ", '" : "'") + ranked[i].second + "'";
    return out;
  }

  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void bad(const std::string& message) const {
    throw Error(ErrorCode::Decode, "flux: prompt table '" + path_ + "': " + message);
  }
  std::string path_;
  Encoding table_;
  std::map<std::string, std::string> index_;  // text -> index
  std::int64_t tokens_ = 0;
  std::string fallback_;
};

// ---- the model

class FluxFill final : public InpaintModel {
 public:
  struct Options {
    std::string path, ae_path, prompts_path;
    bool fallback_on_missing = false;
    std::string device_name = "auto", dtype_name = "auto", quant_name = "auto", ae_dtype_name = "auto";
    std::vector<std::int64_t> axes;
    int steps = 28;
    double guidance = 30;
    bool shift = true;
    int max_side = 1024, min_side = 512;
    int concurrency = 1, wait_ms = 30000, threads = -1;
    bool warmup = false, empty_cache = false;
    double backend_ms = 0;
  };

  explicit FluxFill(Options o)
      : o_(std::move(o)), device_(resolve_device(o_.device_name, "flux")), slots_(o_.concurrency, o_.wait_ms, "flux") {
    Stopwatch watch;
    threads_ = o_.threads >= 0 ? o_.threads : default_intra_op_threads();
    use_intra_op_threads(threads_);
    resolve_dtype();
    torch::NoGradGuard no_grad;

    Checkpoint transformer = Checkpoint::open(o_.path);
    TransformerConfig config = infer_transformer_config(transformer, o_.axes);
    check_fill_variant(config, true, o_.path);
    if (o_.quant_name == "auto") o_.quant_name = transformer.any_quantized() ? "int8" : "none";
    Weights::Options wo;
    wo.device = device_;
    wo.dtype = dtype_;
    wo.quant = o_.quant_name == "int8" ? Weights::Quant::Int8 : Weights::Quant::None;
    // As the published Q8_0 files do: the blocks' matrices, not the input/output layers.
    wo.quantizable = [](const std::string& name) {
      return name.rfind("double_blocks.", 0) == 0 || name.rfind("single_blocks.", 0) == 0;
    };
    transformer_ = std::make_unique<Transformer>(config, Weights::load(transformer, transformer_tensors(config), wo));

    Checkpoint ae = Checkpoint::open(o_.ae_path);
    AutoencoderConfig ae_config = infer_autoencoder_config(ae);
    if (ae_config.z_channels * 4 != config.out_channels)
      invalid("autoencoder '" + o_.ae_path + "' has " + std::to_string(ae_config.z_channels) +
              " latent channels; the transformer packs " + std::to_string(config.out_channels) + " = " +
              std::to_string(config.out_channels / 4) + " x 2x2");
    if (ae_config.downscale() != 8)
      invalid("autoencoder '" + o_.ae_path + "' downsamples by " + std::to_string(ae_config.downscale()) +
              "; the Fill mask packing needs 8");
    Weights::Options ao;
    ao.device = device_;
    // auto: the compute dtype, but fp32 under fp16 compute (FLUX's AE was trained in bf16 and
    // its decoder's activations can leave fp16's range); fp16 halves its memory on a T4.
    if (o_.ae_dtype_name == "auto") ao.dtype = dtype_ == torch::kFloat16 ? torch::kFloat32 : dtype_;
    else ao.dtype = parse_dtype(o_.ae_dtype_name, "ae_dtype");
    ae_dtype_name_ = dtype_name(ao.dtype);
    autoencoder_ = std::make_unique<Autoencoder>(ae_config, Weights::load(ae, autoencoder_tensors(ae_config), ao));

    prompts_ = PromptTable(o_.prompts_path, config);
    if (o_.fallback_on_missing && prompts_.fallback().empty())
      invalid("missing_prompt=fallback, but prompt table '" + o_.prompts_path + "' names no fallback prompt");

    info_.device = device_.str();
    info_.backend_ms = o_.backend_ms;
    info_.weight_bytes = transformer_->weights().bytes() + autoencoder_->weights().bytes();
    synchronize(device_);
    info_.load_ms = watch.lap();
    if (o_.warmup) {
      int side = std::max(o_.min_side, 256);
      side -= side % 16;
      Image image = Image::uninitialized(side, side, 3), mask = Image::uninitialized(side, side, 1);
      std::fill(image.data(), image.data() + image.size_bytes(), std::uint8_t(128));
      std::fill(mask.data(), mask.data() + mask.size_bytes(), std::uint8_t(0));
      std::fill(mask.data() + mask.size_bytes() / 4, mask.data() + mask.size_bytes() / 2, std::uint8_t(255));
      InpaintRequest request;
      request.image = image.view();
      request.mask = mask.view();
      request.prompt = prompts_.fallback().empty() ? prompts_.first() : prompts_.fallback();
      request.params.set("steps", std::int64_t(2));
      inpaint(request);
      info_.warmup_ms = watch.lap();
    }
  }

  std::string spec() const override {
    ModelSpec s{"flux", {{"path", o_.path}, {"ae", o_.ae_path}, {"prompts", o_.prompts_path},
                         {"device", device_.str()}, {"dtype", o_.dtype_name}, {"quant", o_.quant_name},
                         {"steps", std::to_string(o_.steps)}, {"max_side", std::to_string(o_.max_side)},
                         {"min_side", std::to_string(o_.min_side)}, {"concurrency", std::to_string(o_.concurrency)}}};
    s.params["guidance"] = param_value_text(o_.guidance);
    std::string axes;
    for (auto a : transformer_->config().axes_dim) axes += (axes.empty() ? "" : "/") + std::to_string(a);
    s.params["axes"] = axes;
    if (o_.threads >= 0) s.params["threads"] = std::to_string(o_.threads);
    if (o_.wait_ms != Options{}.wait_ms) s.params["wait_ms"] = std::to_string(o_.wait_ms);
    if (o_.fallback_on_missing) s.params["missing_prompt"] = "fallback";
    if (!o_.shift) s.params["shift"] = "0";
    if (o_.warmup) s.params["warmup"] = "1";
    s.params["ae_dtype"] = ae_dtype_name_;
    if (o_.empty_cache) s.params["empty_cache"] = "1";
    return s.str();
  }

  ModelLoadInfo load_info() const override { return info_; }

  std::vector<ParamSpec> parameters() const override {
    return {
        {"steps", ParamType::Int, std::int64_t(o_.steps), 1, 200, "denoising steps"},
        {"guidance", ParamType::Float, o_.guidance, 0, 100, "distilled guidance strength"},
        {"seed", ParamType::Int, std::int64_t(0), 0, double(kMaxSeed), "noise seed: same seed, same pixels on the same device"},
        {"strength", ParamType::Float, 1.0, 0.01, 1.0, "1 starts from pure noise; less keeps more of the input under the hole"},
    };
  }

  ModelGeometry geometry() const override { return {16, o_.min_side, o_.max_side}; }

  ModelPrompt resolve_prompt(const std::string& prompt) const override {
    if (prompts_.contains(prompt)) return {prompt, ""};
    if (o_.fallback_on_missing)
      return {prompts_.fallback(), "prompt '" + prompt + "' is not in the prompt table (nearest: " +
                                       prompts_.nearest(prompt) + "); missing_prompt=fallback used the table's fallback"};
    invalid("prompt '" + prompt + "' is not in the prompt table '" + o_.prompts_path + "' (" +
            std::to_string(prompts_.size()) + " prompts; nearest: " + prompts_.nearest(prompt) +
            "); add it with scripts/make_prompt_table.py, or set missing_prompt=fallback");
  }
  Image inpaint(const InpaintRequest& request) const override {
    validate_request(request);
    const int width = request.image.width, height = request.image.height;
    if (width % 16 || height % 16)
      invalid("the image is " + std::to_string(width) + "x" + std::to_string(height) +
              "; both sides must be multiples of 16 (the pipeline pads for the model's geometry)");
    const auto steps = request.params.get_int("steps", o_.steps);
    const double guidance = request.params.get_float("guidance", o_.guidance);
    const auto seed = request.params.get_int("seed", 0);
    const double strength = request.params.get_float("strength", 1.0);
    if (steps < 1 || steps > 200) invalid("steps must be 1..200, got " + std::to_string(steps));
    if (!std::isfinite(guidance) || guidance < 0 || guidance > 100)
      invalid("guidance must be a finite number in 0..100, got " + param_value_text(guidance));
    if (seed < 0 || seed > kMaxSeed) invalid("seed must be 0.." + std::to_string(kMaxSeed) + ", got " + std::to_string(seed));
    if (!(strength > 0 && strength <= 1)) invalid("strength must be in (0, 1], got " + param_value_text(strength));
    const std::string prompt = resolve_prompt(request.prompt).text;

    check_run(request.control, "before the flux model");
    RunSlots::Hold slot(slots_, request.control);
    use_intra_op_threads(threads_);
    torch::NoGradGuard no_grad;
    c10::InferenceMode inference;
    Image out;
    {
      auto [txt, vec] = prompts_.get(prompt, device_, dtype_);
      // The caller's bytes ([H,W,3], any row stride), once on the device.
      auto input = torch::from_blob(const_cast<std::uint8_t*>(request.image.data), {height, width, 3},
                                    {std::int64_t(request.image.row_bytes()), 3, 1}, torch::kUInt8)
                       .to(device_);
      auto image = input.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32) / 127.5 - 1;
      auto hole = torch::from_blob(const_cast<std::uint8_t*>(request.mask.data), {height, width},
                                   {std::int64_t(request.mask.row_bytes()), 1}, torch::kUInt8)
                      .to(device_)
                      .gt(127)
                      .view({1, 1, height, width});
      auto x = sample(image, hole.to(torch::kFloat32), txt, vec, int(steps), guidance, std::uint64_t(seed), strength,
                      request.control);
      // Only hole pixels come from the model.
      auto filled = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8);
      auto composite = torch::where(hole.view({height, width, 1}), filled[0].permute({1, 2, 0}), input).contiguous().cpu();
      out = Image::uninitialized(width, height, 3);
      for (int y = 0; y < height; ++y)
        std::memcpy(out.data() + std::size_t(y) * out.view().row_bytes(), composite.data_ptr<std::uint8_t>() + std::size_t(y) * width * 3,
                    std::size_t(width) * 3);
    }
    if (o_.empty_cache) release_cached_memory(device_);
    return out;
  }

  // The whole sampling run on [1,3,H,W] in [-1,1] and the hole [1,1,H,W] in {0,1}: the decoded
  // image [1,3,H,W] (not clamped). Public to the tests through sample_for_test.
  torch::Tensor sample(const torch::Tensor& image, const torch::Tensor& mask, const torch::Tensor& txt,
                       const torch::Tensor& vec, int steps, double guidance, std::uint64_t seed, double strength,
                       const RunControl* control) const {
    const auto& ae = *autoencoder_;
    const auto h = image.size(2), w = image.size(3), lh = h / 8, lw = w / 8;
    // The Fill condition: the image with the hole at 0 (mid-grey), encoded, and the mask.
    auto cond = pack(ae.encode(image * (1 - mask))).to(dtype_);
    auto img_cond = torch::cat({cond, pack_mask(mask).to(dtype_)}, -1);

    auto timesteps = schedule(steps, (lh / 2) * (lw / 2), o_.shift);
    // strength < 1 starts later in the schedule, from the input's latent noised to that time.
    std::size_t start = 0;
    if (strength < 1) {
      double kept = std::min(steps * strength, double(steps));
      start = std::size_t(std::max(double(steps) - kept, 0.0));
      if (start >= std::size_t(steps)) start = std::size_t(steps) - 1;
    }
    auto noise = initial_noise(seed, lh, lw).to(device_, dtype_);
    torch::Tensor x = pack(noise);
    if (start > 0) {
      double t0 = timesteps[start];
      x = t0 * x + (1 - t0) * pack(ae.encode(image)).to(dtype_);
    }

    auto ids = torch::cat({torch::zeros({1, txt.size(1), 3}, torch::TensorOptions().device(device_)),
                           image_ids(lh, lw, device_)},
                          1);
    auto pe = transformer_->rope(ids);
    auto g = torch::full({1}, guidance, torch::TensorOptions().device(device_).dtype(dtype_));
    const std::size_t total = timesteps.size() - 1 - start;
    for (std::size_t i = start; i + 1 < timesteps.size(); ++i) {
      double t_curr = timesteps[i], t_prev = timesteps[i + 1];
      auto t = torch::full({1}, t_curr, torch::TensorOptions().device(device_).dtype(dtype_));
      auto pred = transformer_->forward(torch::cat({x, img_cond}, -1), txt, t, vec, g, pe);
      x = x + (t_prev - t_curr) * pred;
      if (control) {
        synchronize(device_);
        control->report("flux denoising step", double(i + 1 - start) / double(total));
      }
    }
    return ae.decode(unpack(x, lh, lw)).to(torch::kFloat32);
  }

  const Transformer& transformer() const { return *transformer_; }
  const Autoencoder& autoencoder() const { return *autoencoder_; }
  torch::Dtype dtype() const { return dtype_; }
  const torch::Device& device() const { return device_; }
  std::pair<torch::Tensor, torch::Tensor> prompt_embedding(const std::string& prompt) const {
    return prompts_.get(resolve_prompt(prompt).text, device_, dtype_);
  }

  // Beyond 2^53 a seed would not survive JSON or Python floats unchanged.
  static constexpr std::int64_t kMaxSeed = (std::int64_t(1) << 53) - 1;

 private:
  void resolve_dtype() {
    std::string d = o_.dtype_name;
    if (d == "auto") {
      // bf16 where the GPU has it (Ampere on), fp16 on older GPUs (T4), fp32 on the CPU.
      if (device_.is_cuda()) {
#if INPAINT_TORCH_CUDA
        d = at::cuda::getDeviceProperties(device_.index())->major >= 8 ? "bf16" : "fp16";
#else
        d = "bf16";
#endif
      } else {
        d = "fp32";
      }
    }
    dtype_ = parse_dtype(d, "dtype");
    o_.dtype_name = dtype_name(dtype_);
  }

  static torch::Dtype parse_dtype(const std::string& name, const char* key) {
    if (name == "fp32" || name == "float32") return torch::kFloat32;
    if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
    if (name == "fp16" || name == "float16") return torch::kFloat16;
    invalid(std::string(key) + " '" + name + "' is not fp32, bf16, fp16 or auto");
  }

  static const char* dtype_name(torch::Dtype dtype) {
    return dtype == torch::kFloat32 ? "fp32" : dtype == torch::kBFloat16 ? "bf16" : "fp16";
  }




  Options o_;
  torch::Device device_;
  torch::Dtype dtype_ = torch::kFloat32;
  std::string ae_dtype_name_;
  RunSlots slots_;
  int threads_ = 0;
  std::unique_ptr<Transformer> transformer_;
  std::unique_ptr<Autoencoder> autoencoder_;
  PromptTable prompts_;
  ModelLoadInfo info_;
};

torch::Tensor sample(const InpaintModel& model, const torch::Tensor& image, const torch::Tensor& mask,
                     const std::string& prompt, int steps, double guidance, std::uint64_t seed, double strength) {
  const auto* flux = dynamic_cast<const FluxFill*>(&model);
  if (!flux) invalid("sample() needs a flux model, got '" + model.spec() + "'");
  torch::NoGradGuard no_grad;
  auto [txt, vec] = flux->prompt_embedding(prompt);
  return flux->sample(image.to(flux->device()), mask.to(flux->device()), txt, vec, steps, guidance, seed, strength, nullptr);
}

std::vector<std::int64_t> parse_axes(const std::string& text) {
  std::vector<std::int64_t> axes;
  if (text.empty()) return axes;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('/', start);
    std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    char* stop = nullptr;
    long v = std::strtol(part.c_str(), &stop, 10);
    if (part.empty() || *stop || v <= 0 || v > 4096) invalid("axes '" + text + "' is not three widths like 16/56/56");
    axes.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (axes.size() != 3) invalid("axes '" + text + "' is not three widths like 16/56/56");
  return axes;
}

}  // namespace inpaint::detail::flux

namespace inpaint::torch_backend {

std::unique_ptr<InpaintModel> make_flux(const ModelSpec& spec, double backend_ms) {
  using detail::flux::FluxFill;
  using detail::flux::invalid;
  SpecReader reader(spec);
  FluxFill::Options o;
  o.backend_ms = backend_ms;
  o.path = reader.get_string("path", "");
  o.ae_path = reader.get_string("ae", "");
  o.prompts_path = reader.get_string("prompts", "");
  std::string missing = reader.get_string("missing_prompt", "error");
  o.device_name = reader.get_string("device", "auto");
  o.dtype_name = reader.get_string("dtype", "auto");
  o.ae_dtype_name = reader.get_string("ae_dtype", "auto");
  o.quant_name = reader.get_string("quant", "auto");
  o.axes = detail::flux::parse_axes(reader.get_string("axes", ""));
  o.steps = reader.get_int("steps", 28, 1, 200);
  o.guidance = reader.get_double("guidance", 30, 0, 100);
  o.shift = reader.get_int("shift", 1, 0, 1) != 0;
  o.max_side = reader.get_int("max_side", 1024, 16, 4096);
  o.min_side = reader.get_int("min_side", 512, 0, 4096);
  o.concurrency = reader.get_int("concurrency", 1, 0, 1024);
  o.wait_ms = reader.get_int("wait_ms", 30000, 0, 24 * 3600 * 1000);
  o.threads = reader.get_int("threads", -1, 0, 1024);
  o.warmup = reader.get_int("warmup", 0, 0, 1) != 0;
  o.empty_cache = reader.get_int("empty_cache", 0, 0, 1) != 0;
  reader.finish();
  if (o.path.empty()) invalid("path=FILE (the transformer: safetensors or GGUF) is required");
  if (o.ae_path.empty()) invalid("ae=FILE (the autoencoder, e.g. ae.safetensors) is required");
  if (o.prompts_path.empty()) invalid("prompts=FILE (the prompt table from scripts/make_prompt_table.py) is required");
  if (missing != "error" && missing != "fallback") invalid("missing_prompt '" + missing + "' is not error or fallback");
  o.fallback_on_missing = missing == "fallback";
  if (o.quant_name != "auto" && o.quant_name != "none" && o.quant_name != "int8")
    invalid("quant '" + o.quant_name + "' is not none, int8 or auto");
  if (o.max_side % 16) invalid("max_side must be a multiple of 16, got " + std::to_string(o.max_side));
  if (o.min_side % 16) invalid("min_side must be a multiple of 16, got " + std::to_string(o.min_side));
  if (o.min_side > o.max_side) invalid("min_side exceeds max_side");
  return std::make_unique<FluxFill>(std::move(o));
}

}  // namespace inpaint::torch_backend
