#pragma once
// FLUX.1-Fill in LibTorch: the configs, the checkpoint reader (BFL, diffusers and GGUF files),
// the transformer, the autoencoder and the sampling steps. The model of the registry that puts
// them together is flux_model.cpp. Not a public header: it includes LibTorch.
//
// Conventions follow the reference (black-forest-labs/flux): images in [-1,1] as [B,3,H,W],
// latents [B,16,H/8,W/8], packed sequences [B,(H/16)(W/16),C·4] with 2×2 patches, tensor names
// in BFL's layout (fused qkv and linear1) whatever the file's layout.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "inpaint/model.hpp"

namespace inpaint::detail::flux {

using Shape = std::vector<std::int64_t>;
using TensorShapes = std::vector<std::pair<std::string, Shape>>;  // name -> shape, module order

// ---- configs: data, so a tiny config and the real one run the same code

struct TransformerConfig {
  std::int64_t in_channels = 384;  // Fill: 64 latent + 64 masked-image latent + 256 mask
  std::int64_t out_channels = 64;  // 16 latent channels x 2x2
  std::int64_t vec_in_dim = 768;   // CLIP-L pooled
  std::int64_t context_in_dim = 4096;  // T5-XXL hidden
  std::int64_t hidden = 3072;
  std::int64_t heads = 24;
  std::int64_t mlp_hidden = 12288;
  std::int64_t depth = 19;         // double-stream blocks
  std::int64_t depth_single = 38;  // single-stream blocks
  std::vector<std::int64_t> axes_dim = {16, 56, 56};
  double theta = 10000;
  bool qkv_bias = true;
  bool guidance_embed = true;

  std::int64_t head_dim() const { return hidden / heads; }
  // The extra input channels a Fill model takes beside the noisy latent (0 for FLUX.1-dev).
  std::int64_t condition_channels() const { return in_channels - out_channels; }
  bool is_fill() const { return condition_channels() == 320; }

  static TransformerConfig fill_dev();  // FLUX.1-Fill-dev
};

struct AutoencoderConfig {
  std::int64_t in_channels = 3, out_channels = 3, ch = 128;
  std::vector<std::int64_t> ch_mult = {1, 2, 4, 4};
  std::int64_t num_res_blocks = 2, z_channels = 16;
  double scale = 0.3611, shift = 0.1159;

  std::int64_t downscale() const { return std::int64_t(1) << (ch_mult.size() - 1); }
  static AutoencoderConfig flux();
};

// Every tensor a config needs, in BFL names, with its shape (what a checkpoint is checked against).
TensorShapes transformer_tensors(const TransformerConfig& config);
TensorShapes autoencoder_tensors(const AutoencoderConfig& config);

// Throws Error(InvalidArgument) naming the channel counts when a checkpoint is not the kind
// wanted: expect_fill and a FLUX.1-dev/schnell transformer (in 64), or the reverse.
void check_fill_variant(const TransformerConfig& config, bool expect_fill, const std::string& origin);

// ---- checkpoints

// One tensor as the file stores it (memory-mapped, never copied here).
struct StoredTensor {
  enum class Kind { F32, F16, BF16, Q8_0 };
  std::string name;  // as in the file
  Shape shape;       // outermost first
  Kind kind = Kind::F32;
  const std::uint8_t* data = nullptr;
  std::size_t nbytes = 0;
};

// A checkpoint's tensors under BFL names. A BFL tensor may come from several stored ones
// (diffusers' split q/k/v), concatenated along dim 0, and may have its halves swapped
// (diffusers' norm_out: scale, shift). shape is BFL's: for diffusers' VAE attention projections,
// stored as Linear [C,C], it is the 1x1 conv's [C,C,1,1] (as_conv1x1; Weights::load views the
// stored tensor so).
struct CheckpointEntry {
  std::vector<const StoredTensor*> parts;
  Shape shape;
  bool swap_halves = false;
  bool as_conv1x1 = false;
};

class Checkpoint {
 public:
  // Reads safetensors or GGUF (told apart by the magic), memory-mapped. Error(Io) when it cannot
  // be opened, Error(Decode) for a malformed file or a tensor type we cannot read (named).
  static Checkpoint open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::string& format() const { return format_; }  // "safetensors" | "gguf"
  // "bfl" | "diffusers" (transformers) | "ae" | "ae-diffusers" (autoencoders: BFL's ae.safetensors,
  // diffusers' AutoencoderKL vae/diffusion_pytorch_model.safetensors)
  const std::string& layout() const { return layout_; }
  // The name the file's layout gives a BFL tensor (the diffusers name for "ae-diffusers"), for
  // messages; the BFL name itself for the other layouts.
  std::string stored_name(const std::string& name) const;
  const std::unordered_map<std::string, CheckpointEntry>& entries() const { return entries_; }
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  const CheckpointEntry& entry(const std::string& name) const;  // Error(Decode) naming it
  std::size_t stored_count() const { return stored_.size(); }
  bool any_quantized() const;

 private:
  void normalise_names();
  std::string path_, format_, layout_;
  std::int64_t vae_levels_ = 0;  // ae-diffusers: the number of decoder up_blocks (reversed to BFL's up.{i})
  std::shared_ptr<const void> owner_;  // keeps the map alive
  std::vector<StoredTensor> stored_;
  std::unordered_map<std::string, CheckpointEntry> entries_;
};

// diffusers' AutoencoderKL names <-> BFL's autoencoder names. levels: the number of up/down
// blocks (diffusers' decoder.up_blocks.{k} is BFL's decoder.up.{levels-1-k}). to_bfl returns false
// for a name that is not one of the VAE's; conv1x1 is set for the attention projection weights
// (Linear [C,C] in diffusers, 1x1 conv [C,C,1,1] in BFL). Older diffusers attention names
// (query/key/value/proj_attn) are read too; to_diffusers writes the current ones.
bool vae_diffusers_to_bfl(const std::string& name, std::int64_t levels, std::string& bfl, bool& conv1x1);
std::string vae_bfl_to_diffusers(const std::string& bfl, std::int64_t levels);

// The config a checkpoint's shapes describe (heads from the QK-norm width; axes_dim as given,
// or [16,56,56] scaled to the head width when empty). Error(Decode) naming what is missing.
TransformerConfig infer_transformer_config(const Checkpoint& checkpoint, std::vector<std::int64_t> axes_dim = {});
AutoencoderConfig infer_autoencoder_config(const Checkpoint& checkpoint);

// Throws Error(Decode) naming the first tensor missing or of another shape (both shapes).
void check_tensors(const Checkpoint& checkpoint, const TensorShapes& expected);

// Quantised linear weight: int8 [N,K] with one fp16 scale per 32 inputs [N,K/32] (Q8_0's form).
struct QuantizedWeight {
  torch::Tensor q, scale;
};

// Q8_0 of a float weight [N,K] (K a multiple of 32): scale = max|w|/127 per block, stored as
// fp16; q = round(w/scale), as ggml quantises. And back, in fp32.
QuantizedWeight quantize_q8_0(const torch::Tensor& weight);
torch::Tensor dequantize_q8_0(const QuantizedWeight& weight);

// The weights of one network on its device, by BFL name.
class Weights {
 public:
  enum class Quant { None, Int8 };
  struct Options {
    torch::Device device = torch::kCPU;
    torch::Dtype dtype = torch::kFloat32;
    Quant quant = Quant::None;
    // Which 2-D ".weight" tensors int8 applies to (file-quantised ones always stay int8 with it).
    std::function<bool(const std::string&)> quantizable;
  };
  // Materialises `names` from the checkpoint (check_tensors first).
  static Weights load(const Checkpoint& checkpoint, const TensorShapes& names, const Options& options);

  const torch::Tensor& get(const std::string& name) const;  // Error(Internal) naming it
  // x @ W^T + b for "<prefix>.weight" / "<prefix>.bias" (bias optional); dequantises an int8
  // weight into x's dtype just before the matmul.
  torch::Tensor linear(const torch::Tensor& x, const std::string& prefix) const;
  bool quantized(const std::string& name) const { return quant_.count(name) != 0; }
  std::uint64_t bytes() const;  // resident on the device
  const Options& options() const { return options_; }

 private:
  Options options_;
  std::unordered_map<std::string, torch::Tensor> dense_;
  std::unordered_map<std::string, QuantizedWeight> quant_;
};

// ---- networks

class Transformer {
 public:
  Transformer(TransformerConfig config, Weights weights) : config_(std::move(config)), w_(std::move(weights)) {}
  // img [B,L,in_channels], img_ids [B,L,3], txt [B,T,context], txt_ids [B,T,3], timesteps [B],
  // y [B,vec_in_dim], guidance [B] -> [B,L,out_channels]. Position embeddings are computed
  // from the ids on every call; the sampler passes them precomputed through the other overload.
  torch::Tensor forward(const torch::Tensor& img, const torch::Tensor& img_ids, const torch::Tensor& txt,
                        const torch::Tensor& txt_ids, const torch::Tensor& timesteps, const torch::Tensor& y,
                        const torch::Tensor& guidance) const;
  // cos and sin [1,1,T+L,head_dim/2] of the rotary embedding (fp32).
  std::pair<torch::Tensor, torch::Tensor> rope(const torch::Tensor& ids) const;
  torch::Tensor forward(const torch::Tensor& img, const torch::Tensor& txt, const torch::Tensor& timesteps,
                        const torch::Tensor& y, const torch::Tensor& guidance,
                        const std::pair<torch::Tensor, torch::Tensor>& pe) const;

  const TransformerConfig& config() const { return config_; }
  const Weights& weights() const { return w_; }

 private:
  torch::Tensor double_block(int i, torch::Tensor& img, torch::Tensor& txt, const torch::Tensor& vec,
                             const std::pair<torch::Tensor, torch::Tensor>& pe) const;
  torch::Tensor single_block(int i, const torch::Tensor& x, const torch::Tensor& vec,
                             const std::pair<torch::Tensor, torch::Tensor>& pe) const;
  TransformerConfig config_;
  Weights w_;
};

class Autoencoder {
 public:
  Autoencoder(AutoencoderConfig config, Weights weights) : config_(std::move(config)), w_(std::move(weights)) {}
  // [B,3,H,W] in [-1,1] (H, W multiples of downscale()) -> scaled latent [B,z,H/8,W/8]: the
  // encoder's mean, (mean - shift)·scale.
  torch::Tensor encode(const torch::Tensor& image) const;
  // The inverse: latent -> [B,3,H,W] (not clamped).
  torch::Tensor decode(const torch::Tensor& latent) const;
  const AutoencoderConfig& config() const { return config_; }
  const Weights& weights() const { return w_; }

 private:
  torch::Tensor resnet(const std::string& prefix, const torch::Tensor& x) const;
  torch::Tensor attention(const std::string& prefix, const torch::Tensor& x) const;
  torch::Tensor conv(const std::string& prefix, const torch::Tensor& x, int stride = 1, int padding = 1) const;
  torch::Tensor group_norm(const std::string& prefix, const torch::Tensor& x) const;
  AutoencoderConfig config_;
  Weights w_;
};

// Attention over [B,H,L,D] without a mask, scale 1/sqrt(D): at::scaled_dot_product_attention
// where this LibTorch has it, the plain softmax(QK^T)V otherwise.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// ---- sampling

// [B,C,H,W] -> [B,(H/2)(W/2),C·4] (channel-major within a token: c, then the 2x2 patch), and back.
torch::Tensor pack(const torch::Tensor& latent);
torch::Tensor unpack(const torch::Tensor& packed, std::int64_t latent_h, std::int64_t latent_w);
// Positions of the packed image tokens: [1,(h/2)(w/2),3] = (0, row, col), fp32.
torch::Tensor image_ids(std::int64_t latent_h, std::int64_t latent_w, const torch::Device& device);
// The Fill condition: mask [B,1,H,W] in [0,1] -> 8x8 unshuffle [B,64,H/8,W/8] -> packed [B,L,256].
torch::Tensor pack_mask(const torch::Tensor& mask);
// The starting noise [1,16,h,w], fp32, drawn on the CPU generator seeded with seed (as the
// reference's get_noise), so a seed gives the same noise on every device.
torch::Tensor initial_noise(std::uint64_t seed, std::int64_t latent_h, std::int64_t latent_w);
// The flow-matching timesteps from 1 to 0 (steps+1 values), shifted towards 1 by the
// resolution-dependent mu (0.5 at 256 tokens, 1.15 at 4096) when shift is true.
std::vector<double> schedule(int steps, std::int64_t image_tokens, bool shift = true);

// The decoded output [1,3,H,W] (not clamped) of a `flux` model's whole sampling run on an image
// [1,3,H,W] in [-1,1] and a mask [1,1,H,W] in {0,1}; what inpaint() turns into hole pixels.
torch::Tensor sample(const InpaintModel& model, const torch::Tensor& image, const torch::Tensor& mask,
                     const std::string& prompt, int steps, double guidance, std::uint64_t seed, double strength);

}  // namespace inpaint::detail::flux
