// FLUX checkpoints as users have them: BFL's safetensors (fused qkv and linear1), diffusers'
// safetensors (split projections, norm_out as scale-then-shift) and GGUF (Q8_0, F16, BF16,
// F32); the autoencoder as BFL's ae.safetensors or diffusers' AutoencoderKL (vae/); all
// memory-mapped and read under BFL's names; the configs and tensor lists they are
// checked against; Q8_0 (de)quantisation and the weights on the device.
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include "backends/torch/diffusion/flux.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "store/gguf.hpp"
#include "store/safetensors.hpp"

namespace inpaint::detail::flux {

namespace {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

[[noreturn]] void bad(const std::string& origin, const std::string& message) {
  throw Error(ErrorCode::Decode, "flux: '" + origin + "': " + message);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void add(TensorShapes& out, const std::string& prefix, Shape weight, bool bias = true) {
  std::int64_t rows = weight[0];
  out.emplace_back(prefix + ".weight", std::move(weight));
  if (bias) out.emplace_back(prefix + ".bias", Shape{rows});
}

const char* kind_name(StoredTensor::Kind kind) {
  switch (kind) {
    case StoredTensor::Kind::F32: return "F32";
    case StoredTensor::Kind::F16: return "F16";
    case StoredTensor::Kind::BF16: return "BF16";
    case StoredTensor::Kind::Q8_0: return "Q8_0";
  }
  return "?";
}

torch::Dtype dtype_of(StoredTensor::Kind kind) {
  switch (kind) {
    case StoredTensor::Kind::F32: return torch::kFloat32;
    case StoredTensor::Kind::F16: return torch::kFloat16;
    case StoredTensor::Kind::BF16: return torch::kBFloat16;
    case StoredTensor::Kind::Q8_0: break;
  }
  throw Error(ErrorCode::Internal, "flux: a Q8_0 tensor has no plain dtype");
}

// The stored bytes as a CPU tensor. borrow: a view of the read-only map itself, for a caller
// that copies it anyway (to a GPU, to another dtype); otherwise, or when the bytes are not
// aligned to the element size, an owned copy.
torch::Tensor host_tensor(const StoredTensor& t, bool borrow) {
  auto dtype = dtype_of(t.kind);
  auto* data = const_cast<std::uint8_t*>(t.data);
  if (borrow && reinterpret_cast<std::uintptr_t>(data) % c10::elementSize(dtype) == 0)
    return torch::from_blob(data, t.shape, dtype);
  auto bytes = torch::from_blob(data, {std::int64_t(t.nbytes)}, torch::kUInt8).clone();
  return bytes.view(dtype).view(t.shape);
}

// A Q8_0 tensor [N,K] as int8 [N,K] and fp16 scales [N,K/32] (34-byte blocks: scale, 32 values).
QuantizedWeight host_q8_0(const StoredTensor& t) {
  std::int64_t k = t.shape.back(), n = std::int64_t(t.nbytes / 34) * 32 / k;
  auto blocks = torch::from_blob(const_cast<std::uint8_t*>(t.data), {n, k / 32, 34}, torch::kUInt8);
  QuantizedWeight w;
  w.scale = blocks.narrow(2, 0, 2).contiguous().view(torch::kFloat16).view({n, k / 32});
  w.q = blocks.narrow(2, 2, 32).contiguous().view(torch::kInt8).view({n, k});
  if (t.shape.size() != 2) w.q = w.q.view(t.shape);
  return w;
}

}  // namespace

// ---- configs

TransformerConfig TransformerConfig::fill_dev() { return TransformerConfig{}; }
AutoencoderConfig AutoencoderConfig::flux() { return AutoencoderConfig{}; }

TensorShapes transformer_tensors(const TransformerConfig& c) {
  const std::int64_t h = c.hidden, m = c.mlp_hidden, d = c.head_dim();
  TensorShapes out;
  add(out, "img_in", {h, c.in_channels});
  add(out, "time_in.in_layer", {h, 256});
  add(out, "time_in.out_layer", {h, h});
  add(out, "vector_in.in_layer", {h, c.vec_in_dim});
  add(out, "vector_in.out_layer", {h, h});
  if (c.guidance_embed) {
    add(out, "guidance_in.in_layer", {h, 256});
    add(out, "guidance_in.out_layer", {h, h});
  }
  add(out, "txt_in", {h, c.context_in_dim});
  for (std::int64_t i = 0; i < c.depth; ++i) {
    for (const char* stream : {"img", "txt"}) {
      std::string p = "double_blocks." + std::to_string(i) + "." + stream;
      add(out, p + "_mod.lin", {6 * h, h});
      add(out, p + "_attn.qkv", {3 * h, h}, c.qkv_bias);
      out.emplace_back(p + "_attn.norm.query_norm.scale", Shape{d});
      out.emplace_back(p + "_attn.norm.key_norm.scale", Shape{d});
      add(out, p + "_attn.proj", {h, h});
      add(out, p + "_mlp.0", {m, h});
      add(out, p + "_mlp.2", {h, m});
    }
  }
  for (std::int64_t i = 0; i < c.depth_single; ++i) {
    std::string p = "single_blocks." + std::to_string(i);
    add(out, p + ".linear1", {3 * h + m, h});
    add(out, p + ".linear2", {h, h + m});
    out.emplace_back(p + ".norm.query_norm.scale", Shape{d});
    out.emplace_back(p + ".norm.key_norm.scale", Shape{d});
    add(out, p + ".modulation.lin", {3 * h, h});
  }
  add(out, "final_layer.linear", {c.out_channels, h});
  add(out, "final_layer.adaLN_modulation.1", {2 * h, h});
  return out;
}

namespace {

void add_norm(TensorShapes& out, const std::string& p, std::int64_t ch) {
  out.emplace_back(p + ".weight", Shape{ch});
  out.emplace_back(p + ".bias", Shape{ch});
}
void add_conv(TensorShapes& out, const std::string& p, std::int64_t cout, std::int64_t cin, std::int64_t k) {
  add(out, p, {cout, cin, k, k});
}
void add_resnet(TensorShapes& out, const std::string& p, std::int64_t cin, std::int64_t cout) {
  add_norm(out, p + ".norm1", cin);
  add_conv(out, p + ".conv1", cout, cin, 3);
  add_norm(out, p + ".norm2", cout);
  add_conv(out, p + ".conv2", cout, cout, 3);
  if (cin != cout) add_conv(out, p + ".nin_shortcut", cout, cin, 1);
}
void add_mid(TensorShapes& out, const std::string& p, std::int64_t ch) {
  add_resnet(out, p + ".block_1", ch, ch);
  add_norm(out, p + ".attn_1.norm", ch);
  for (const char* n : {"q", "k", "v", "proj_out"}) add_conv(out, p + ".attn_1." + n, ch, ch, 1);
  add_resnet(out, p + ".block_2", ch, ch);
}

}  // namespace

TensorShapes autoencoder_tensors(const AutoencoderConfig& c) {
  TensorShapes out;
  const auto levels = std::int64_t(c.ch_mult.size());
  add_conv(out, "encoder.conv_in", c.ch, c.in_channels, 3);
  std::int64_t block_in = c.ch;
  for (std::int64_t i = 0; i < levels; ++i) {
    block_in = c.ch * (i == 0 ? 1 : c.ch_mult[std::size_t(i - 1)]);
    std::int64_t block_out = c.ch * c.ch_mult[std::size_t(i)];
    for (std::int64_t j = 0; j < c.num_res_blocks; ++j) {
      add_resnet(out, "encoder.down." + std::to_string(i) + ".block." + std::to_string(j), block_in, block_out);
      block_in = block_out;
    }
    if (i != levels - 1) add_conv(out, "encoder.down." + std::to_string(i) + ".downsample.conv", block_in, block_in, 3);
  }
  add_mid(out, "encoder.mid", block_in);
  add_norm(out, "encoder.norm_out", block_in);
  add_conv(out, "encoder.conv_out", 2 * c.z_channels, block_in, 3);

  block_in = c.ch * c.ch_mult.back();
  add_conv(out, "decoder.conv_in", block_in, c.z_channels, 3);
  add_mid(out, "decoder.mid", block_in);
  for (std::int64_t i = levels - 1; i >= 0; --i) {
    std::int64_t block_out = c.ch * c.ch_mult[std::size_t(i)];
    for (std::int64_t j = 0; j <= c.num_res_blocks; ++j) {
      add_resnet(out, "decoder.up." + std::to_string(i) + ".block." + std::to_string(j), block_in, block_out);
      block_in = block_out;
    }
    if (i != 0) add_conv(out, "decoder.up." + std::to_string(i) + ".upsample.conv", block_in, block_in, 3);
  }
  add_norm(out, "decoder.norm_out", block_in);
  add_conv(out, "decoder.conv_out", c.out_channels, block_in, 3);
  return out;
}

void check_fill_variant(const TransformerConfig& c, bool expect_fill, const std::string& origin) {
  if (c.is_fill() == expect_fill) return;
  std::string got = "img_in takes " + std::to_string(c.in_channels) + " input channels (" +
                    std::to_string(c.out_channels) + " latent + " + std::to_string(c.condition_channels()) +
                    " conditioning)";
  if (expect_fill)
    throw Error(ErrorCode::InvalidArgument,
                "flux: '" + origin + "' is not a FLUX.1-Fill checkpoint: " + got + "; Fill needs " +
                    std::to_string(c.out_channels + 320) + " (latent + 64 masked-image latent + 256 mask)");
  throw Error(ErrorCode::InvalidArgument, "flux: '" + origin + "' is a FLUX.1-Fill checkpoint (" + got +
                                              "); a text-to-image FLUX model takes " + std::to_string(c.out_channels));
}

// ---- reading files

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.path_ = path;
  char magic[4] = {};
  {
    std::ifstream probe(path, std::ios::binary);
    if (probe) probe.read(magic, 4);
  }
  if (std::memcmp(magic, "GGUF", 4) == 0) {
    c.format_ = "gguf";
    GgufFile file = read_gguf(path, MapAdvice::Sequential);
    c.owner_ = file.owner;
    for (const auto& t : file.tensors) {
      StoredTensor s;
      s.name = t.name;
      s.shape = t.shape;
      s.data = t.data;
      s.nbytes = t.nbytes;
      switch (t.type) {
        case GgufType::F32: s.kind = StoredTensor::Kind::F32; break;
        case GgufType::F16: s.kind = StoredTensor::Kind::F16; break;
        case GgufType::BF16: s.kind = StoredTensor::Kind::BF16; break;
        case GgufType::Q8_0: s.kind = StoredTensor::Kind::Q8_0; break;
      }
      c.stored_.push_back(std::move(s));
    }
  } else {
    c.format_ = "safetensors";
    Encoding file = map_safetensors(path, MapAdvice::Sequential);
    auto owner = std::make_shared<Encoding>(file);  // the tensors keep the map alive
    c.owner_ = owner;
    for (const auto& [name, t] : owner->tensors) {
      StoredTensor s;
      s.name = name;
      s.shape = Shape(t.shape().begin(), t.shape().end());
      s.data = t.data();
      s.nbytes = t.nbytes();
      switch (t.dtype()) {
        case DType::F32: s.kind = StoredTensor::Kind::F32; break;
        case DType::F16: s.kind = StoredTensor::Kind::F16; break;
        case DType::BF16: s.kind = StoredTensor::Kind::BF16; break;
        default:
          bad(path, "tensor '" + name + "' is " + dtype_name(t.dtype()) + "; FLUX weights must be F32, F16 or BF16");
      }
      c.stored_.push_back(std::move(s));
    }
  }
  c.normalise_names();
  return c;
}

bool Checkpoint::any_quantized() const {
  return std::any_of(stored_.begin(), stored_.end(), [](const StoredTensor& s) { return s.kind == StoredTensor::Kind::Q8_0; });
}

const CheckpointEntry& Checkpoint::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) bad(path_, "has no tensor '" + name + "'");
  return it->second;
}

namespace {

// diffusers' names inside a double block -> (BFL name, part of a fused tensor).
struct Rename {
  const char* from;
  const char* to;
  int part;
};
const Rename kDoubleBlock[] = {
    {"norm1.linear", "img_mod.lin", 0},       {"norm1_context.linear", "txt_mod.lin", 0},
    {"attn.to_q", "img_attn.qkv", 0},         {"attn.to_k", "img_attn.qkv", 1},
    {"attn.to_v", "img_attn.qkv", 2},         {"attn.add_q_proj", "txt_attn.qkv", 0},
    {"attn.add_k_proj", "txt_attn.qkv", 1},   {"attn.add_v_proj", "txt_attn.qkv", 2},
    {"attn.to_out.0", "img_attn.proj", 0},    {"attn.to_add_out", "txt_attn.proj", 0},
    {"ff.net.0.proj", "img_mlp.0", 0},        {"ff.net.2", "img_mlp.2", 0},
    {"ff_context.net.0.proj", "txt_mlp.0", 0}, {"ff_context.net.2", "txt_mlp.2", 0},
};
const Rename kSingleBlock[] = {
    {"attn.to_q", "linear1", 0}, {"attn.to_k", "linear1", 1}, {"attn.to_v", "linear1", 2},
    {"proj_mlp", "linear1", 3},  {"proj_out", "linear2", 0},  {"norm.linear", "modulation.lin", 0},
};
const Rename kTop[] = {
    {"x_embedder", "img_in", 0},
    {"context_embedder", "txt_in", 0},
    {"time_text_embed.timestep_embedder.linear_1", "time_in.in_layer", 0},
    {"time_text_embed.timestep_embedder.linear_2", "time_in.out_layer", 0},
    {"time_text_embed.text_embedder.linear_1", "vector_in.in_layer", 0},
    {"time_text_embed.text_embedder.linear_2", "vector_in.out_layer", 0},
    {"time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer", 0},
    {"time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer", 0},
    {"proj_out", "final_layer.linear", 0},
    {"norm_out.linear", "final_layer.adaLN_modulation.1", 0},
};
// QK-norm scales: diffusers "attn.norm_q.weight" -> BFL "...query_norm.scale".
const Rename kDoubleNorms[] = {
    {"attn.norm_q.weight", "img_attn.norm.query_norm.scale", 0},
    {"attn.norm_k.weight", "img_attn.norm.key_norm.scale", 0},
    {"attn.norm_added_q.weight", "txt_attn.norm.query_norm.scale", 0},
    {"attn.norm_added_k.weight", "txt_attn.norm.key_norm.scale", 0},
};
const Rename kSingleNorms[] = {
    {"attn.norm_q.weight", "norm.query_norm.scale", 0},
    {"attn.norm_k.weight", "norm.key_norm.scale", 0},
};

// A diffusers name -> (BFL name, part); false when it is not one we know.
bool diffusers_to_bfl(const std::string& name, std::string& bfl, int& part) {
  auto try_table = [&](const std::string& rest, const std::string& prefix, const auto& table, const auto& norms) {
    for (const Rename& r : norms)
      if (rest == r.from) return bfl = prefix + r.to, part = r.part, true;
    for (const Rename& r : table) {
      std::string from = r.from;
      for (const char* leaf : {".weight", ".bias"})
        if (rest == from + leaf) return bfl = prefix + r.to + leaf, part = r.part, true;
    }
    return false;
  };
  auto block = [&](const std::string& head, std::string& index, std::string& rest) {
    if (!starts_with(name, head)) return false;
    auto dot = name.find('.', head.size());
    if (dot == std::string::npos) return false;
    index = name.substr(head.size(), dot - head.size());
    rest = name.substr(dot + 1);
    return !index.empty() && std::all_of(index.begin(), index.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  std::string index, rest;
  if (block("transformer_blocks.", index, rest))
    return try_table(rest, "double_blocks." + index + ".", kDoubleBlock, kDoubleNorms);
  if (block("single_transformer_blocks.", index, rest))
    return try_table(rest, "single_blocks." + index + ".", kSingleBlock, kSingleNorms);
  const Rename none[] = {{"", "", 0}};
  return try_table(name, "", kTop, none);
}

// ---- diffusers' AutoencoderKL names (vae/diffusion_pytorch_model.safetensors) <-> BFL's (ae.safetensors)
//
// As diffusers' own converter from the LDM/BFL layout has them (convert_ldm_vae_checkpoint in
// src/diffusers/loaders/single_file_utils.py): encoder.down.{i}.block.{j} <-> encoder.down_blocks.{i}.resnets.{j},
// down.{i}.downsample.conv <-> down_blocks.{i}.downsamplers.0.conv, mid.block_{1,2} <-> mid_block.resnets.{0,1},
// mid.attn_1.{norm,q,k,v,proj_out} <-> mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0},
// nin_shortcut <-> conv_shortcut, norm_out <-> conv_norm_out, and decoder.up.{i} <-> decoder.up_blocks.{levels-1-i}
// (diffusers numbers the decoder's levels in the order it runs them, BFL by resolution).

struct VaeRename {
  const char* diffusers;
  const char* bfl;
};
const VaeRename kVaeTop[] = {{"conv_in", "conv_in"}, {"conv_out", "conv_out"}, {"conv_norm_out", "norm_out"}};
const VaeRename kVaeResnet[] = {
    {"norm1", "norm1"}, {"conv1", "conv1"}, {"norm2", "norm2"}, {"conv2", "conv2"}, {"conv_shortcut", "nin_shortcut"},
};
// The last four: diffusers' deprecated attention-block names, which older files carry (diffusers
// renames them on load); BFL -> diffusers takes the first match, the current names.
const VaeRename kVaeAttention[] = {
    {"group_norm", "norm"}, {"to_q", "q"},     {"to_k", "k"},     {"to_v", "v"}, {"to_out.0", "proj_out"},
    {"query", "q"},         {"key", "k"},      {"value", "v"},    {"proj_attn", "proj_out"},
};

template <std::size_t N>
const char* vae_rename(const VaeRename (&table)[N], const std::string& name, bool from_diffusers) {
  for (const VaeRename& r : table)
    if (name == (from_diffusers ? r.diffusers : r.bfl)) return from_diffusers ? r.bfl : r.diffusers;
  return nullptr;
}

// Takes `prefix` off the front of s.
bool take(std::string& s, const char* prefix) {
  if (!starts_with(s, prefix)) return false;
  s.erase(0, std::strlen(prefix));
  return true;
}

// Takes "<digits>." off the front of s.
bool take_index(std::string& s, std::int64_t& index) {
  std::size_t n = 0;
  while (n < s.size() && n < 9 && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0 || n >= s.size() || s[n] != '.') return false;
  index = std::stoll(s.substr(0, n));
  s.erase(0, n + 1);
  return true;
}

// Splits off ".weight" / ".bias".
bool take_leaf(std::string& s, std::string& leaf) {
  for (const char* l : {".weight", ".bias"}) {
    std::size_t n = std::strlen(l);
    if (s.size() > n && s.compare(s.size() - n, n, l) == 0) {
      leaf = l;
      s.erase(s.size() - n);
      return true;
    }
  }
  return false;
}

}  // namespace

bool vae_diffusers_to_bfl(const std::string& name, std::int64_t levels, std::string& bfl, bool& conv1x1) {
  conv1x1 = false;
  std::string s = name, leaf;
  if (!take_leaf(s, leaf)) return false;
  std::string half = take(s, "encoder.") ? "encoder." : take(s, "decoder.") ? "decoder." : "";
  if (half.empty()) return false;
  auto resnet = [&](const std::string& head) {
    const char* r = vae_rename(kVaeResnet, s, true);
    if (r) bfl = head + r + leaf;
    return r != nullptr;
  };
  std::int64_t i = 0, j = 0;
  if (const char* r = vae_rename(kVaeTop, s, true)) return bfl = half + r + leaf, true;
  if (half == "encoder." && take(s, "down_blocks.")) {
    if (!take_index(s, i) || i >= levels) return false;
    std::string level = "encoder.down." + std::to_string(i) + ".";
    if (s == "downsamplers.0.conv") return bfl = level + "downsample.conv" + leaf, true;
    return take(s, "resnets.") && take_index(s, j) && resnet(level + "block." + std::to_string(j) + ".");
  }
  if (half == "decoder." && take(s, "up_blocks.")) {
    if (!take_index(s, i) || i >= levels) return false;
    std::string level = "decoder.up." + std::to_string(levels - 1 - i) + ".";
    if (s == "upsamplers.0.conv") return bfl = level + "upsample.conv" + leaf, true;
    return take(s, "resnets.") && take_index(s, j) && resnet(level + "block." + std::to_string(j) + ".");
  }
  if (!take(s, "mid_block.")) return false;
  if (take(s, "resnets.")) return take_index(s, j) && j < 2 && resnet(half + "mid.block_" + std::to_string(j + 1) + ".");
  if (!take(s, "attentions.0.")) return false;
  const char* a = vae_rename(kVaeAttention, s, true);
  if (!a) return false;
  bfl = half + "mid.attn_1." + a + leaf;
  conv1x1 = leaf == ".weight" && std::string(a) != "norm";
  return true;
}

std::string vae_bfl_to_diffusers(const std::string& bfl, std::int64_t levels) {
  std::string s = bfl, leaf;
  if (!take_leaf(s, leaf)) return "";
  std::string half = take(s, "encoder.") ? "encoder." : take(s, "decoder.") ? "decoder." : "";
  if (half.empty()) return "";
  auto resnet = [&](const std::string& head) -> std::string {
    const char* r = vae_rename(kVaeResnet, s, false);
    return r ? head + r + leaf : "";
  };
  std::int64_t i = 0, j = 0;
  if (const char* r = vae_rename(kVaeTop, s, false)) return half + r + leaf;
  bool down = half == "encoder." && take(s, "down.");
  if (down || (half == "decoder." && take(s, "up."))) {
    if (!take_index(s, i) || i >= levels) return "";
    std::string level = half + (down ? "down_blocks." + std::to_string(i) : "up_blocks." + std::to_string(levels - 1 - i)) + ".";
    if (s == (down ? "downsample.conv" : "upsample.conv")) return level + (down ? "downsamplers" : "upsamplers") + ".0.conv" + leaf;
    return take(s, "block.") && take_index(s, j) ? resnet(level + "resnets." + std::to_string(j) + ".") : "";
  }
  if (!take(s, "mid.")) return "";
  if (take(s, "block_1.")) return resnet(half + "mid_block.resnets.0.");
  if (take(s, "block_2.")) return resnet(half + "mid_block.resnets.1.");
  if (!take(s, "attn_1.")) return "";
  const char* a = vae_rename(kVaeAttention, s, false);
  return a ? half + "mid_block.attentions.0." + a + leaf : "";
}

std::string Checkpoint::stored_name(const std::string& name) const {
  if (layout_ != "ae-diffusers") return name;
  std::string d = vae_bfl_to_diffusers(name, vae_levels_);
  return d.empty() ? name : d;
}

void Checkpoint::normalise_names() {
  // Prefixes that checkpoints saved from a wrapping module carry (ComfyUI, single-file saves).
  static const char* const kPrefixes[] = {"model.diffusion_model.", "diffusion_model.", "transformer.", "model."};
  std::vector<std::string> names;
  for (auto& s : stored_) {
    std::string n = s.name;
    for (const char* p : kPrefixes)
      if (starts_with(n, p)) {
        n = n.substr(std::strlen(p));
        break;
      }
    names.push_back(n);
  }
  bool diffusers = std::any_of(names.begin(), names.end(), [](const std::string& n) {
    return starts_with(n, "x_embedder.") || starts_with(n, "transformer_blocks.") ||
           starts_with(n, "single_transformer_blocks.");
  });
  bool ae = std::any_of(names.begin(), names.end(), [](const std::string& n) { return starts_with(n, "encoder.") || starts_with(n, "decoder."); });
  bool ae_diffusers = !diffusers && std::any_of(names.begin(), names.end(), [](const std::string& n) {
    return starts_with(n, "encoder.down_blocks.") || starts_with(n, "decoder.up_blocks.") ||
           starts_with(n, "encoder.mid_block.") || starts_with(n, "decoder.mid_block.");
  });
  layout_ = diffusers ? "diffusers" : ae_diffusers ? "ae-diffusers" : ae ? "ae" : "bfl";
  if (ae_diffusers) {
    // decoder.up_blocks.{k} is BFL's decoder.up.{levels-1-k}: the level count comes first.
    std::int64_t up = 0, down = 0, k = 0;
    for (const auto& n : names) {
      std::string s = n;
      if (take(s, "decoder.up_blocks.") && take_index(s, k)) up = std::max(up, k + 1);
      s = n;
      if (take(s, "encoder.down_blocks.") && take_index(s, k)) down = std::max(down, k + 1);
    }
    if (up != down)
      bad(path_, "diffusers VAE layout: the decoder has " + std::to_string(up) + " up_blocks, the encoder " +
                     std::to_string(down) + " down_blocks; a FLUX autoencoder has as many of each");
    vae_levels_ = up;
  }

  std::map<std::string, std::vector<const StoredTensor*>> parts;
  std::map<std::string, bool> conv1x1;
  for (std::size_t i = 0; i < stored_.size(); ++i) {
    const StoredTensor* s = &stored_[i];
    if (ae_diffusers) {
      std::string bfl;
      bool as_conv = false;
      if (!vae_diffusers_to_bfl(names[i], vae_levels_, bfl, as_conv)) {
        if (starts_with(names[i], "quant_conv.") || starts_with(names[i], "post_quant_conv."))
          bad(path_, "diffusers VAE layout: tensor '" + s->name +
                         "': FLUX's autoencoder has no quant_conv/post_quant_conv (use_quant_conv false); this is another model's VAE");
        bad(path_, "diffusers VAE layout: tensor '" + s->name + "' is not one of a FLUX autoencoder's");
      }
      auto& slot = parts[bfl];
      if (!slot.empty())
        bad(path_, "diffusers VAE layout: '" + slot[0]->name + "' and '" + s->name + "' both map to '" + bfl + "'");
      slot.push_back(s);
      conv1x1[bfl] = as_conv;
      continue;
    }
    if (!diffusers) {
      auto& slot = parts[names[i]];
      if (!slot.empty()) bad(path_, "two tensors are named '" + names[i] + "' once prefixes are removed");
      slot.push_back(s);
      continue;
    }
    std::string bfl;
    int part = 0;
    if (!diffusers_to_bfl(names[i], bfl, part)) continue;  // not part of the transformer (or unknown): left out
    auto& slot = parts[bfl];
    if (slot.size() <= std::size_t(part)) slot.resize(std::size_t(part) + 1, nullptr);
    if (slot[std::size_t(part)]) bad(path_, "two tensors map to part " + std::to_string(part) + " of '" + bfl + "'");
    slot[std::size_t(part)] = s;
  }
  for (auto& [name, list] : parts) {
    CheckpointEntry e;
    e.parts = list;
    for (std::size_t p = 0; p < list.size(); ++p)
      if (!list[p]) bad(path_, "diffusers layout: tensor '" + name + "' lacks part " + std::to_string(p) + " of its split form");
    e.shape = list[0]->shape;
    for (std::size_t p = 1; p < list.size(); ++p) {
      Shape other = list[p]->shape;
      if (other.size() != e.shape.size() || !std::equal(other.begin() + 1, other.end(), e.shape.begin() + 1))
        bad(path_, "the split parts of '" + name + "' do not agree: " + shape_str(e.shape) + " and " + shape_str(other));
      if (list[p]->kind != list[0]->kind)
        bad(path_, "the split parts of '" + name + "' are stored as " + kind_name(list[0]->kind) + " and " +
                       kind_name(list[p]->kind));
      e.shape[0] += other[0];
    }
    e.swap_halves = diffusers && name.rfind("final_layer.adaLN_modulation.1.", 0) == 0;
    // diffusers' VAE attention projections: Linear [C,C] (or a squeezed conv [C,C,1]) -> 1x1 conv [C,C,1,1].
    if (conv1x1[name] && (e.shape.size() == 2 || (e.shape.size() == 3 && e.shape[2] == 1))) {
      e.shape.resize(4, 1);
      e.as_conv1x1 = true;
    }
    entries_.emplace(name, std::move(e));
  }
}

namespace {

const Shape& shape_of(const Checkpoint& c, const std::string& name) { return c.entry(name).shape; }

std::int64_t count_blocks(const Checkpoint& c, const std::string& head, const std::string& leaf) {
  std::int64_t n = 0;
  while (c.has(head + std::to_string(n) + leaf)) ++n;
  return n;
}

}  // namespace

TransformerConfig infer_transformer_config(const Checkpoint& c, std::vector<std::int64_t> axes_dim) {
  TransformerConfig config;
  if (!c.has("img_in.weight"))
    bad(c.path(), "has no tensor 'img_in.weight' (nor diffusers' 'x_embedder.weight'): not a FLUX transformer" +
                      std::string(starts_with(c.layout(), "ae") ? " (it looks like an autoencoder)" : ""));
  const Shape& img_in = shape_of(c, "img_in.weight");
  if (img_in.size() != 2) bad(c.path(), "img_in.weight must be 2-D, got " + shape_str(img_in));
  config.hidden = img_in[0];
  config.in_channels = img_in[1];
  auto dim = [&](const std::string& name, std::size_t axis) {
    const Shape& s = shape_of(c, name);
    if (s.size() <= axis) bad(c.path(), "tensor '" + name + "' has shape " + shape_str(s));
    return s[axis];
  };
  config.out_channels = dim("final_layer.linear.weight", 0);
  config.vec_in_dim = dim("vector_in.in_layer.weight", 1);
  config.context_in_dim = dim("txt_in.weight", 1);
  config.depth = count_blocks(c, "double_blocks.", ".img_attn.qkv.weight");
  config.depth_single = count_blocks(c, "single_blocks.", ".linear1.weight");
  config.guidance_embed = c.has("guidance_in.in_layer.weight");
  std::string norm = config.depth ? "double_blocks.0.img_attn.norm.query_norm.scale" : "single_blocks.0.norm.query_norm.scale";
  std::int64_t head_dim = dim(norm, 0);
  if (head_dim <= 0 || config.hidden % head_dim != 0)
    bad(c.path(), "the QK-norm width " + std::to_string(head_dim) + " does not divide the hidden size " +
                      std::to_string(config.hidden));
  config.heads = config.hidden / head_dim;
  config.mlp_hidden = config.depth ? dim("double_blocks.0.img_mlp.0.weight", 0)
                                   : dim("single_blocks.0.linear1.weight", 0) - 3 * config.hidden;
  config.qkv_bias = config.depth == 0 || c.has("double_blocks.0.img_attn.qkv.bias");
  // The rotary split is not in the weights: FLUX's 128-wide heads use 16 + 56 + 56; any other
  // width must be given (spec key axes=A/B/C).
  if (axes_dim.empty() && head_dim == 128) axes_dim = {16, 56, 56};
  if (axes_dim.empty())
    throw Error(ErrorCode::InvalidArgument, "flux: '" + c.path() + "': heads are " + std::to_string(head_dim) +
                                                " wide, not FLUX's 128: give the rotary split with axes=A/B/C");
  std::int64_t sum = 0;
  bool even = true;
  for (auto a : axes_dim) even &= a > 0 && a % 2 == 0, sum += a;
  std::string given;
  for (auto a : axes_dim) given += (given.empty() ? "" : "/") + std::to_string(a);
  if (axes_dim.size() != 3 || sum != head_dim || !even)
    throw Error(ErrorCode::InvalidArgument, "flux: '" + c.path() + "': axes=" + given +
                                                " must be three even widths summing to the head width " +
                                                std::to_string(head_dim));
  config.axes_dim = axes_dim;
  return config;
}

AutoencoderConfig infer_autoencoder_config(const Checkpoint& c) {
  if (!c.has("encoder.conv_in.weight") || !c.has("decoder.conv_in.weight"))
    bad(c.path(), "has no 'encoder.conv_in.weight'/'decoder.conv_in.weight': not a FLUX autoencoder in BFL's layout "
                  "(nor 'encoder.conv_in.weight'/'decoder.conv_in.weight' beside diffusers' down_blocks/up_blocks)");
  AutoencoderConfig config;
  config.ch = shape_of(c, "encoder.conv_in.weight")[0];
  config.in_channels = shape_of(c, "encoder.conv_in.weight")[1];
  config.z_channels = shape_of(c, "decoder.conv_in.weight")[1];
  std::int64_t levels = count_blocks(c, "encoder.down.", ".block.0.conv1.weight");
  if (levels == 0 || config.ch <= 0) bad(c.path(), "has no encoder levels");
  config.ch_mult.clear();
  for (std::int64_t i = 0; i < levels; ++i)
    config.ch_mult.push_back(shape_of(c, "encoder.down." + std::to_string(i) + ".block.0.conv1.weight")[0] / config.ch);
  config.num_res_blocks = count_blocks(c, "encoder.down.0.block.", ".conv1.weight");
  if (c.has("decoder.conv_out.weight")) config.out_channels = shape_of(c, "decoder.conv_out.weight")[0];
  if (c.has("encoder.conv_out.weight") && shape_of(c, "encoder.conv_out.weight")[0] != 2 * config.z_channels)
    bad(c.path(), "encoder.conv_out gives " + std::to_string(shape_of(c, "encoder.conv_out.weight")[0]) +
                      " channels, the decoder takes " + std::to_string(config.z_channels) + " latent channels (needs 2x)");
  return config;
}

void check_tensors(const Checkpoint& c, const TensorShapes& expected) {
  for (const auto& [name, shape] : expected) {
    // The file's own name beside BFL's where they differ (diffusers' VAE).
    std::string stored = c.stored_name(name);
    std::string what = "tensor '" + name + "'" + (stored != name ? " (stored as '" + stored + "')" : "");
    if (!c.has(name)) bad(c.path(), what + " is missing (" + c.layout() + " layout)");
    const CheckpointEntry& e = c.entry(name);
    if (e.shape != shape)
      bad(c.path(), what + " has shape " + shape_str(e.as_conv1x1 ? e.parts[0]->shape : e.shape) + ", expected " +
                        shape_str(e.as_conv1x1 ? Shape{shape[0], shape[1]} : shape));
  }
}

// ---- Q8_0

QuantizedWeight quantize_q8_0(const torch::Tensor& weight) {
  auto w = weight.to(torch::kFloat32);
  std::int64_t n = w.size(0), k = w.size(1);
  auto blocks = w.reshape({n, k / 32, 32});
  auto d = blocks.abs().amax(-1) / 127.0f;
  auto inverse = torch::where(d > 0, 1.0f / d, torch::zeros_like(d));
  auto x = blocks * inverse.unsqueeze(-1);
  // Halves round away from zero (roundf), as ggml does.
  auto q = (x.sign() * (x.abs() + 0.5f).floor()).clamp(-127, 127);
  return {q.to(torch::kInt8).reshape({n, k}), d.to(torch::kFloat16)};
}

torch::Tensor dequantize_q8_0(const QuantizedWeight& w) {
  std::int64_t n = w.q.size(0), k = w.q.size(1);
  return (w.q.to(torch::kFloat32).view({n, k / 32, 32}) * w.scale.to(torch::kFloat32).unsqueeze(-1)).view({n, k});
}

// ---- weights on the device

Weights Weights::load(const Checkpoint& c, const TensorShapes& names, const Options& options) {
  check_tensors(c, names);
  Weights w;
  w.options_ = options;
  torch::NoGradGuard no_grad;
  for (const auto& [name, shape] : names) {
    const CheckpointEntry& e = c.entry(name);
    bool q8 = e.parts[0]->kind == StoredTensor::Kind::Q8_0;
    bool linear_weight = shape.size() == 2 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    bool keep_int8 = options.quant == Quant::Int8 && linear_weight &&
                     (q8 || (options.quantizable && options.quantizable(name)));
    const Shape& stored_shape = e.as_conv1x1 ? e.parts[0]->shape : shape;
    if (q8 && (stored_shape.size() != 2 && !(stored_shape.size() == 1 && stored_shape[0] % 32 == 0)))
      bad(c.path(), "tensor '" + c.stored_name(name) + "' is Q8_0 with shape " + shape_str(stored_shape) +
                        "; only 1-D and 2-D Q8_0 tensors are read");
    if (q8) {
      std::vector<torch::Tensor> qs, scales;
      for (const StoredTensor* p : e.parts) {
        StoredTensor two_d = *p;
        if (two_d.shape.size() == 1) two_d.shape = {1, two_d.shape[0]};
        auto part = host_q8_0(two_d);
        qs.push_back(part.q.view({two_d.shape[0], two_d.shape[1]}));
        scales.push_back(part.scale);
      }
      QuantizedWeight qw{torch::cat(qs, 0), torch::cat(scales, 0)};
      if (e.swap_halves) {
        auto h = qw.q.size(0) / 2;
        qw.q = torch::cat({qw.q.narrow(0, h, h), qw.q.narrow(0, 0, h)});
        qw.scale = torch::cat({qw.scale.narrow(0, h, h), qw.scale.narrow(0, 0, h)});
      }
      if (keep_int8) {
        w.quant_[name] = {qw.q.to(options.device), qw.scale.to(options.device)};
      } else {
        w.dense_[name] = dequantize_q8_0({qw.q.to(options.device), qw.scale.to(options.device)})
                             .view(shape)
                             .to(options.dtype);
      }
      continue;
    }
    // No host copy of a tensor that is copied anyway on its way to the device or dtype.
    bool copied_anyway = !options.device.is_cpu() || dtype_of(e.parts[0]->kind) != options.dtype ||
                         e.parts.size() > 1 || e.swap_halves || keep_int8;
    std::vector<torch::Tensor> parts;
    for (const StoredTensor* p : e.parts) parts.push_back(host_tensor(*p, copied_anyway));
    auto t = parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
    if (e.swap_halves) {
      auto h = t.size(0) / 2;
      t = torch::cat({t.narrow(0, h, h), t.narrow(0, 0, h)});
    }
    if (e.as_conv1x1) t = t.view(e.shape);  // diffusers' Linear [C,C] as BFL's 1x1 conv [C,C,1,1]
    t = t.to(options.device);
    if (keep_int8) {
      w.quant_[name] = quantize_q8_0(t);
    } else {
      w.dense_[name] = t.to(options.dtype).contiguous();
    }
  }
  return w;
}

const torch::Tensor& Weights::get(const std::string& name) const {
  auto it = dense_.find(name);
  if (it == dense_.end()) throw Error(ErrorCode::Internal, "flux: weight '" + name + "' was not loaded");
  return it->second;
}

torch::Tensor Weights::linear(const torch::Tensor& x, const std::string& prefix) const {
  std::string weight = prefix + ".weight", bias = prefix + ".bias";
  auto b = dense_.find(bias);
  c10::optional<torch::Tensor> b_opt;
  if (b != dense_.end()) b_opt = b->second;
  if (auto q = quant_.find(weight); q != quant_.end())
    return torch::nn::functional::linear(x, dequantize_q8_0(q->second).to(x.scalar_type()), b_opt ? *b_opt : torch::Tensor());
  return torch::nn::functional::linear(x, get(weight), b_opt ? *b_opt : torch::Tensor());
}

std::uint64_t Weights::bytes() const {
  std::uint64_t n = 0;
  for (const auto& [name, t] : dense_) n += std::uint64_t(t.numel()) * t.element_size();
  for (const auto& [name, q] : quant_)
    n += std::uint64_t(q.q.numel()) * q.q.element_size() + std::uint64_t(q.scale.numel()) * q.scale.element_size();
  return n;
}

}  // namespace inpaint::detail::flux
