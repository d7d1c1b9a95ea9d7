// The FLUX transformer, its 16-channel autoencoder and the sampling arithmetic, as plain ATen
// calls over the weights by name (flux.hpp). The formulas follow black-forest-labs/flux, whose
// golden outputs the tests compare against (tests/data/flux).
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>

#include "backends/torch/diffusion/flux.hpp"
#include "inpaint/error.hpp"

namespace inpaint::detail::flux {

namespace {

namespace F = torch::nn::functional;

torch::Tensor layer_norm(const torch::Tensor& x) {
  return torch::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
}

// RMS norm in fp32, cast back, then the learned scale (QK-norm).
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& scale) {
  auto f = x.to(torch::kFloat32);
  auto rrms = torch::rsqrt(f.pow(2).mean(-1, true) + 1e-6);
  return (f * rrms).to(x.scalar_type()) * scale;
}

torch::Tensor gelu_tanh(const torch::Tensor& x) { return torch::gelu(x, "tanh"); }

// Sinusoidal embedding of t·1000 with 128 frequencies, cos first.
torch::Tensor timestep_embedding(const torch::Tensor& t, std::int64_t dim = 256) {
  std::int64_t half = dim / 2;
  auto freqs = torch::exp(-std::log(10000.0) *
                          torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat32)) / double(half))
                   .to(t.device());
  auto args = (t * 1000.0).to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({torch::cos(args), torch::sin(args)}, -1).to(t.scalar_type());
}

// Rotates adjacent pairs (x0, x1) of the last dimension by the angles whose cos/sin are given,
// in fp32: (x0·cos - x1·sin, x0·sin + x1·cos).
torch::Tensor apply_rope(const torch::Tensor& x, const std::pair<torch::Tensor, torch::Tensor>& pe) {
  auto shape = x.sizes().vec();
  auto pairs = x.to(torch::kFloat32).reshape({shape[0], shape[1], shape[2], shape[3] / 2, 2});
  auto x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);
  const auto& [cos, sin] = pe;
  auto out = torch::stack({cos * x0 - sin * x1, sin * x0 + cos * x1}, -1);
  return out.reshape(shape).to(x.scalar_type());
}

// [B,L,3·H·D] -> q, k, v of [B,H,L,D].
std::array<torch::Tensor, 3> split_heads(const torch::Tensor& qkv, std::int64_t heads) {
  auto b = qkv.size(0), l = qkv.size(1), d = qkv.size(2) / (3 * heads);
  auto t = qkv.view({b, l, 3, heads, d}).permute({2, 0, 3, 1, 4});
  return {t[0], t[1], t[2]};
}

// Attention with rotary positions; [B,H,L,D] -> [B,L,H·D].
torch::Tensor rope_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const std::pair<torch::Tensor, torch::Tensor>& pe) {
  auto x = attention(apply_rope(q, pe), apply_rope(k, pe), v);
  return x.permute({0, 2, 1, 3}).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

// Half precision has no headroom for FLUX's activations: clip to its range after each block, as
// diffusers does for T4-class GPUs.
void clip_half(torch::Tensor& x) {
  if (x.scalar_type() == torch::kFloat16) x = x.clamp(-65504, 65504);
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  // Softmax in fp32 whatever the compute dtype, so half precision does not overflow there.
  double scale = 1.0 / std::sqrt(double(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)).to(torch::kFloat32) * scale;
  return torch::matmul(scores.softmax(-1).to(v.scalar_type()), v);
#endif
}

// ---- transformer

std::pair<torch::Tensor, torch::Tensor> Transformer::rope(const torch::Tensor& ids) const {
  // ids [B,N,3] -> angles [B,1,N,D/2]: per axis a, pos·theta^(-2i/d_a), axes concatenated.
  auto pos = ids.to(torch::kFloat32);
  std::vector<torch::Tensor> angles;
  for (std::size_t a = 0; a < config_.axes_dim.size(); ++a) {
    auto d = config_.axes_dim[a];
    auto scale = torch::arange(0, d, 2, pos.options()) / double(d);
    auto omega = 1.0 / torch::pow(config_.theta, scale);
    angles.push_back(pos.select(-1, std::int64_t(a)).unsqueeze(-1) * omega);
  }
  auto angle = torch::cat(angles, -1).unsqueeze(1);
  return {torch::cos(angle), torch::sin(angle)};
}

torch::Tensor Transformer::forward(const torch::Tensor& img, const torch::Tensor& img_ids, const torch::Tensor& txt,
                                   const torch::Tensor& txt_ids, const torch::Tensor& timesteps, const torch::Tensor& y,
                                   const torch::Tensor& guidance) const {
  return forward(img, txt, timesteps, y, guidance, rope(torch::cat({txt_ids, img_ids}, 1)));
}

torch::Tensor Transformer::forward(const torch::Tensor& img_in, const torch::Tensor& txt_in, const torch::Tensor& timesteps,
                                   const torch::Tensor& y, const torch::Tensor& guidance,
                                   const std::pair<torch::Tensor, torch::Tensor>& pe) const {
  if (img_in.dim() != 3 || img_in.size(2) != config_.in_channels)
    throw Error(ErrorCode::InvalidArgument, "flux: the transformer takes [B,L," + std::to_string(config_.in_channels) +
                                                "] image tokens, got " + std::to_string(img_in.size(-1)) + " channels");
  auto dtype = w_.options().dtype;
  auto img = w_.linear(img_in.to(dtype), "img_in");
  auto vec = w_.linear(F::silu(w_.linear(timestep_embedding(timesteps.to(dtype)), "time_in.in_layer")), "time_in.out_layer");
  if (config_.guidance_embed)
    vec = vec + w_.linear(F::silu(w_.linear(timestep_embedding(guidance.to(dtype)), "guidance_in.in_layer")),
                          "guidance_in.out_layer");
  vec = vec + w_.linear(F::silu(w_.linear(y.to(dtype), "vector_in.in_layer")), "vector_in.out_layer");
  auto txt = w_.linear(txt_in.to(dtype), "txt_in");

  for (int i = 0; i < config_.depth; ++i) double_block(i, img, txt, vec, pe);
  auto x = torch::cat({txt, img}, 1);
  for (int i = 0; i < config_.depth_single; ++i) x = single_block(i, x, vec, pe);
  x = x.narrow(1, txt.size(1), img.size(1));

  auto mod = w_.linear(F::silu(vec), "final_layer.adaLN_modulation.1").chunk(2, 1);  // shift, scale
  x = (1 + mod[1].unsqueeze(1)) * layer_norm(x) + mod[0].unsqueeze(1);
  return w_.linear(x, "final_layer.linear");
}

torch::Tensor Transformer::double_block(int i, torch::Tensor& img, torch::Tensor& txt, const torch::Tensor& vec,
                                        const std::pair<torch::Tensor, torch::Tensor>& pe) const {
  const std::string p = "double_blocks." + std::to_string(i) + ".";
  // shift, scale, gate for attention, then for the MLP, per stream.
  auto img_mod = w_.linear(F::silu(vec), p + "img_mod.lin").unsqueeze(1).chunk(6, -1);
  auto txt_mod = w_.linear(F::silu(vec), p + "txt_mod.lin").unsqueeze(1).chunk(6, -1);

  auto qkv_of = [&](const torch::Tensor& x, const std::vector<torch::Tensor>& mod, const std::string& stream) {
    auto modulated = (1 + mod[1]) * layer_norm(x) + mod[0];
    auto [q, k, v] = split_heads(w_.linear(modulated, p + stream + "_attn.qkv"), config_.heads);
    q = rms_norm(q, w_.get(p + stream + "_attn.norm.query_norm.scale")).to(v.scalar_type());
    k = rms_norm(k, w_.get(p + stream + "_attn.norm.key_norm.scale")).to(v.scalar_type());
    return std::array<torch::Tensor, 3>{q, k, v};
  };
  auto [iq, ik, iv] = qkv_of(img, img_mod, "img");
  auto [tq, tk, tv] = qkv_of(txt, txt_mod, "txt");
  auto attn = rope_attention(torch::cat({tq, iq}, 2), torch::cat({tk, ik}, 2), torch::cat({tv, iv}, 2), pe);
  auto txt_attn = attn.narrow(1, 0, txt.size(1)), img_attn = attn.narrow(1, txt.size(1), img.size(1));

  auto update = [&](torch::Tensor& x, const torch::Tensor& a, const std::vector<torch::Tensor>& mod, const std::string& stream) {
    x = x + mod[2] * w_.linear(a, p + stream + "_attn.proj");
    auto h = (1 + mod[4]) * layer_norm(x) + mod[3];
    x = x + mod[5] * w_.linear(gelu_tanh(w_.linear(h, p + stream + "_mlp.0")), p + stream + "_mlp.2");
    clip_half(x);
  };
  update(img, img_attn, img_mod, "img");
  update(txt, txt_attn, txt_mod, "txt");
  return img;
}

torch::Tensor Transformer::single_block(int i, const torch::Tensor& x, const torch::Tensor& vec,
                                        const std::pair<torch::Tensor, torch::Tensor>& pe) const {
  const std::string p = "single_blocks." + std::to_string(i) + ".";
  auto mod = w_.linear(F::silu(vec), p + "modulation.lin").unsqueeze(1).chunk(3, -1);  // shift, scale, gate
  auto h = (1 + mod[1]) * layer_norm(x) + mod[0];
  auto fused = w_.linear(h, p + "linear1");
  auto qkv = fused.narrow(2, 0, 3 * config_.hidden), mlp = fused.narrow(2, 3 * config_.hidden, config_.mlp_hidden);
  auto [q, k, v] = split_heads(qkv.contiguous(), config_.heads);
  q = rms_norm(q, w_.get(p + "norm.query_norm.scale")).to(v.scalar_type());
  k = rms_norm(k, w_.get(p + "norm.key_norm.scale")).to(v.scalar_type());
  auto attn = rope_attention(q, k, v, pe);
  auto out = x + mod[2] * w_.linear(torch::cat({attn, gelu_tanh(mlp)}, 2), p + "linear2");
  clip_half(out);
  return out;
}

// ---- autoencoder

torch::Tensor Autoencoder::conv(const std::string& p, const torch::Tensor& x, int stride, int padding) const {
  return torch::conv2d(x, w_.get(p + ".weight"), w_.get(p + ".bias"), stride, padding);
}

torch::Tensor Autoencoder::group_norm(const std::string& p, const torch::Tensor& x) const {
  return torch::group_norm(x, 32, w_.get(p + ".weight"), w_.get(p + ".bias"), 1e-6);
}

torch::Tensor Autoencoder::resnet(const std::string& p, const torch::Tensor& x) const {
  auto h = conv(p + ".conv1", F::silu(group_norm(p + ".norm1", x)));
  h = conv(p + ".conv2", F::silu(group_norm(p + ".norm2", h)));
  auto shortcut = x.size(1) != h.size(1) ? conv(p + ".nin_shortcut", x, 1, 0) : x;
  return shortcut + h;
}

torch::Tensor Autoencoder::attention(const std::string& p, const torch::Tensor& x) const {
  auto h = group_norm(p + ".norm", x);
  auto b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  auto tokens = [&](const char* name) { return conv(p + "." + name, h, 1, 0).view({b, 1, c, height * width}).transpose(2, 3); };
  auto a = flux::attention(tokens("q").contiguous(), tokens("k").contiguous(), tokens("v").contiguous());
  a = a.transpose(2, 3).reshape({b, c, height, width});
  return x + conv(p + ".proj_out", a, 1, 0);
}

torch::Tensor Autoencoder::encode(const torch::Tensor& image) const {
  const auto levels = std::int64_t(config_.ch_mult.size());
  auto h = conv("encoder.conv_in", image.to(w_.options().dtype));
  for (std::int64_t i = 0; i < levels; ++i) {
    const std::string p = "encoder.down." + std::to_string(i);
    for (std::int64_t j = 0; j < config_.num_res_blocks; ++j) h = resnet(p + ".block." + std::to_string(j), h);
    // Downsampling pads one row and column at the bottom/right only, then a stride-2 conv.
    if (i != levels - 1) h = conv(p + ".downsample.conv", torch::constant_pad_nd(h, {0, 1, 0, 1}, 0), 2, 0);
  }
  h = resnet("encoder.mid.block_1", h);
  h = attention("encoder.mid.attn_1", h);
  h = resnet("encoder.mid.block_2", h);
  h = conv("encoder.conv_out", F::silu(group_norm("encoder.norm_out", h)));
  auto mean = h.narrow(1, 0, config_.z_channels);  // the second half is the log-variance
  return (mean - config_.shift) * config_.scale;
}

torch::Tensor Autoencoder::decode(const torch::Tensor& latent) const {
  const auto levels = std::int64_t(config_.ch_mult.size());
  auto z = latent.to(w_.options().dtype) / config_.scale + config_.shift;
  auto h = conv("decoder.conv_in", z);
  h = resnet("decoder.mid.block_1", h);
  h = attention("decoder.mid.attn_1", h);
  h = resnet("decoder.mid.block_2", h);
  for (std::int64_t i = levels - 1; i >= 0; --i) {
    const std::string p = "decoder.up." + std::to_string(i);
    for (std::int64_t j = 0; j <= config_.num_res_blocks; ++j) h = resnet(p + ".block." + std::to_string(j), h);
    if (i != 0) h = conv(p + ".upsample.conv", torch::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2}));
  }
  return conv("decoder.conv_out", F::silu(group_norm("decoder.norm_out", h)));
}

// ---- sampling

torch::Tensor pack(const torch::Tensor& x) {
  auto b = x.size(0), c = x.size(1), h = x.size(2) / 2, w = x.size(3) / 2;
  return x.view({b, c, h, 2, w, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({b, h * w, c * 4});
}

torch::Tensor unpack(const torch::Tensor& x, std::int64_t latent_h, std::int64_t latent_w) {
  auto b = x.size(0), c = x.size(2) / 4, h = latent_h / 2, w = latent_w / 2;
  return x.view({b, h, w, c, 2, 2}).permute({0, 3, 1, 4, 2, 5}).reshape({b, c, latent_h, latent_w});
}

torch::Tensor image_ids(std::int64_t latent_h, std::int64_t latent_w, const torch::Device& device) {
  auto h = latent_h / 2, w = latent_w / 2;
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto rows = torch::arange(h, opts).view({h, 1}).expand({h, w});
  auto cols = torch::arange(w, opts).view({1, w}).expand({h, w});
  return torch::stack({torch::zeros({h, w}, opts), rows, cols}, -1).view({1, h * w, 3});
}

torch::Tensor pack_mask(const torch::Tensor& mask) {
  auto b = mask.size(0), h = mask.size(2) / 8, w = mask.size(3) / 8;
  // Channel ph·8 + pw of the unshuffled mask holds pixel (8y + ph, 8x + pw).
  auto unshuffled = mask.reshape({b, h, 8, w, 8}).permute({0, 2, 4, 1, 3}).reshape({b, 64, h, w});
  return pack(unshuffled);
}

torch::Tensor initial_noise(std::uint64_t seed, std::int64_t latent_h, std::int64_t latent_w) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randn({1, 16, latent_h, latent_w}, generator, torch::TensorOptions().dtype(torch::kFloat32));
}

std::vector<double> schedule(int steps, std::int64_t image_tokens, bool shift) {
  // In fp32 exactly as the reference computes it: linspace, then e·(1/(e + (1/t - 1))) on a
  // float tensor (a scalar divided by a tensor is a reciprocal times the scalar there); t = 0
  // gives 1/0 = inf and so exactly 0.
  std::vector<double> t(std::size_t(steps) + 1);
  auto lin = torch::linspace(1, 0, steps + 1, torch::kFloat32);
  auto out = lin;
  if (shift) {
    double m = (1.15 - 0.5) / (4096 - 256), b = 0.5 - m * 256;
    double mu = m * double(image_tokens) + b;
    float e = float(std::exp(mu));
    out = (e + (lin.reciprocal() - 1)).reciprocal() * e;
  }
  auto acc = out.accessor<float, 1>();
  for (int i = 0; i <= steps; ++i) t[std::size_t(i)] = acc[i];
  return t;
}

}  // namespace inpaint::detail::flux
