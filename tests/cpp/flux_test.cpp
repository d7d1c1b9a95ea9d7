// FLUX.1-Fill against the reference: golden tensors from black-forest-labs/flux run on tiny
// random-weight configs (tests/data/flux, README there), the weights in BFL, diffusers and GGUF
// Q8_0 layouts; the real config's tensor list; and the `flux` model end to end, with its errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "backends/torch/backend.hpp"
#include "backends/torch/diffusion/flux.hpp"
#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"
#include "inpaint/pipeline.hpp"
#include "test_util.hpp"

using namespace inpaint;
namespace flux = inpaint::detail::flux;
namespace fs = std::filesystem;

namespace {

using inpaint::test::code_of;

const std::string kData = INPAINT_FLUX_DATA;
std::string data(const std::string& name) { return kData + "/" + name; }

torch::Tensor to_torch(const HostTensor& t) {
  torch::Dtype dtype = t.dtype() == DType::F32 ? torch::kFloat32
                       : t.dtype() == DType::U8 ? torch::kUInt8
                       : t.dtype() == DType::BF16 ? torch::kBFloat16
                                                  : torch::kFloat16;
  std::vector<std::int64_t> shape(t.shape().begin(), t.shape().end());
  return torch::from_blob(const_cast<std::uint8_t*>(t.data()), {std::int64_t(t.nbytes())}, torch::kUInt8)
      .clone()
      .view(dtype)
      .view(shape);
}

const Encoding& golden() {
  static const Encoding g = read_safetensors(data("golden.safetensors"));
  return g;
}
torch::Tensor gold(const std::string& name) { return to_torch(golden().tensor(name)); }

// max|a - b| / max|b|: the "relative error".
double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  auto scale = b.abs().max().item<double>();
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>() / std::max(scale, 1e-30);
}

flux::TransformerConfig tiny_config() {
  flux::TransformerConfig c;
  c.vec_in_dim = 16;
  c.context_in_dim = 32;
  c.hidden = 32;
  c.heads = 2;
  c.mlp_hidden = 128;
  c.depth = 2;
  c.depth_single = 2;
  c.axes_dim = {4, 6, 6};
  return c;
}

flux::Transformer load_transformer(const std::string& file, flux::Weights::Quant quant = flux::Weights::Quant::None) {
  auto checkpoint = flux::Checkpoint::open(data(file));
  auto config = flux::infer_transformer_config(checkpoint, {4, 6, 6});
  flux::Weights::Options o;
  o.quant = quant;
  o.quantizable = [](const std::string& name) {
    return name.rfind("double_blocks.", 0) == 0 || name.rfind("single_blocks.", 0) == 0;
  };
  return flux::Transformer(config, flux::Weights::load(checkpoint, flux::transformer_tensors(config), o));
}

flux::Autoencoder load_autoencoder() {
  auto checkpoint = flux::Checkpoint::open(data("ae.safetensors"));
  auto config = flux::infer_autoencoder_config(checkpoint);
  return flux::Autoencoder(config, flux::Weights::load(checkpoint, flux::autoencoder_tensors(config), {}));
}

torch::Tensor forward(const flux::Transformer& t) {
  torch::NoGradGuard no_grad;
  return t.forward(gold("fwd.img"), gold("fwd.img_ids"), gold("fwd.txt"), gold("fwd.txt_ids"), gold("fwd.timesteps"),
                   gold("fwd.y"), gold("fwd.guidance"));
}

// A scratch directory removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("flux_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

HostTensor host(const torch::Tensor& t) {
  auto c = t.contiguous().to(torch::kFloat32);
  Shape shape(c.sizes().begin(), c.sizes().end());
  return HostTensor::copy_of(DType::F32, shape, c.data_ptr());
}

// The sampling run's text conditioning as a one-prompt table (what make_prompt_table.py writes).
const char* const kPrompt = "grass, photorealistic";
std::string write_prompt_table(const TempDir& dir, const torch::Tensor& txt, const torch::Tensor& vec,
                               bool with_fallback = true) {
  Encoding table;
  table.metadata.extra["kind"] = "flux-prompt-table";
  table.metadata.extra["prompt.0"] = kPrompt;
  table.metadata.extra["prompt.1"] = "gravel, photorealistic";
  if (with_fallback) table.metadata.extra["fallback"] = "gravel, photorealistic";
  table.tensors["t5.0"] = host(txt);
  table.tensors["clip.0"] = host(vec);
  table.tensors["t5.1"] = host(txt * 0.5);
  table.tensors["clip.1"] = host(vec * 0.5);
  std::string path = dir.file("prompts.safetensors");
  write_safetensors(path, table);
  return path;
}

InpaintRequest request_for(const Image& image, const Image& mask, const std::string& prompt) {
  InpaintRequest request;
  request.image = image.view();
  request.mask = mask.view();
  request.prompt = prompt;
  return request;
}

std::string default_table(const TempDir& dir) { return write_prompt_table(dir, gold("sample.txt")[0], gold("sample.vec")[0]); }

std::string flux_spec(const std::string& transformer, const std::string& prompts, const std::string& extra = "") {
  std::string axes = extra.find("axes=") == std::string::npos ? ",axes=4/6/6" : "";
  return "flux:path=" + data(transformer) + ",ae=" + data("ae.safetensors") + ",prompts=" + prompts +
         ",device=cpu,min_side=0,threads=1" + axes + extra;
}

std::unique_ptr<InpaintModel> make(const std::string& spec) { return torch_backend::make_flux(ModelSpec::parse(spec), 0); }

std::vector<std::pair<std::string, flux::Shape>> read_tensor_list(const std::string& file) {
  std::ifstream in(data(file));
  std::vector<std::pair<std::string, flux::Shape>> out;
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    flux::Shape shape;
    std::stringstream dims(line.substr(tab + 1));
    for (std::string d; std::getline(dims, d, ',');) shape.push_back(std::stoll(d));
    out.emplace_back(line.substr(0, tab), shape);
  }
  return out;
}

}  // namespace

// ---- the real config, without weights

TEST(FluxConfig, RealFillTransformerMatchesTheReferenceTensorList) {
  auto expected = read_tensor_list("flux1-fill-dev.tensors.txt");
  auto ours = flux::transformer_tensors(flux::TransformerConfig::fill_dev());
  std::sort(ours.begin(), ours.end());
  ASSERT_EQ(ours.size(), 780u);
  EXPECT_EQ(ours, expected);
  std::int64_t params = 0;
  for (const auto& [name, shape] : ours) params += std::accumulate(shape.begin(), shape.end(), std::int64_t(1), std::multiplies<>());
  EXPECT_EQ(params, 11'902'391'360);
}

TEST(FluxConfig, RealAutoencoderMatchesTheReferenceTensorList) {
  auto expected = read_tensor_list("ae.tensors.txt");
  auto ours = flux::autoencoder_tensors(flux::AutoencoderConfig::flux());
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours.size(), 244u);
  EXPECT_EQ(ours, expected);
}

// diffusers' AutoencoderKL names for the real AE, as diffusers' convert_ldm_vae_checkpoint makes
// them (decoder.up_blocks.k is BFL's decoder.up.(3-k)); every name maps there and back.
TEST(FluxConfig, RealAutoencoderNamesInDiffusersLayout) {
  auto bfl = read_tensor_list("ae.tensors.txt");
  ASSERT_EQ(bfl.size(), 244u);
  std::set<std::string> diffusers;
  for (const auto& [name, shape] : bfl) {
    std::string d = flux::vae_bfl_to_diffusers(name, 4);
    ASSERT_FALSE(d.empty()) << name;
    diffusers.insert(d);
    std::string back;
    bool conv1x1 = false;
    ASSERT_TRUE(flux::vae_diffusers_to_bfl(d, 4, back, conv1x1)) << d;
    EXPECT_EQ(back, name);
    EXPECT_EQ(conv1x1, shape.size() == 4 && name.find(".attn_1.") != std::string::npos) << name;
  }
  EXPECT_EQ(diffusers.size(), 244u);
  for (const char* name : {"encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
                           "encoder.down_blocks.2.downsamplers.0.conv.bias", "encoder.conv_norm_out.weight",
                           "encoder.mid_block.resnets.1.norm2.bias", "encoder.mid_block.attentions.0.group_norm.weight",
                           "decoder.mid_block.attentions.0.to_out.0.weight", "decoder.up_blocks.0.upsamplers.0.conv.weight",
                           "decoder.up_blocks.2.resnets.0.conv_shortcut.weight",
                           "decoder.up_blocks.3.resnets.0.conv_shortcut.weight", "decoder.up_blocks.3.resnets.2.conv2.bias"})
    EXPECT_EQ(diffusers.count(name), 1u) << name;
  EXPECT_EQ(diffusers.count("decoder.up_blocks.3.upsamplers.0.conv.weight"), 0u);
  std::string bfl_name;
  bool conv1x1 = false;
  ASSERT_TRUE(flux::vae_diffusers_to_bfl("decoder.mid_block.attentions.0.proj_attn.weight", 4, bfl_name, conv1x1));
  EXPECT_EQ(bfl_name, "decoder.mid.attn_1.proj_out.weight");
  EXPECT_TRUE(conv1x1);
  for (const char* other : {"quant_conv.weight", "decoder.up_blocks.4.resnets.0.conv1.weight",
                            "encoder.mid_block.resnets.2.conv1.weight", "decoder.up_blocks.0.resnets.0.nin_shortcut.weight"})
    EXPECT_FALSE(flux::vae_diffusers_to_bfl(other, 4, bfl_name, conv1x1)) << other;
}

// The tiny AE renamed to diffusers' layout here (the Python test converts it with the
// independent tools/flux_keys.py): the same config and bit-identical encode/decode.
TEST(FluxGolden, AutoencoderInDiffusersLayoutGivesTheSameOutput) {
  auto bfl = read_safetensors(data("ae.safetensors"));
  Encoding diffusers;
  diffusers.metadata = bfl.metadata;
  for (const auto& [name, t] : bfl.tensors) {
    std::string d = flux::vae_bfl_to_diffusers(name, 4);
    ASSERT_FALSE(d.empty()) << name;
    Shape shape = t.shape();
    if (shape.size() == 4 && name.find(".attn_1.") != std::string::npos) shape.resize(2);  // 1x1 conv -> Linear
    diffusers.tensors[d] = HostTensor::copy_of(t.dtype(), shape, t.data());
  }
  TempDir dir;
  std::string path = dir.file("diffusion_pytorch_model.safetensors");
  write_safetensors(path, diffusers);
  auto checkpoint = flux::Checkpoint::open(path);
  EXPECT_EQ(checkpoint.layout(), "ae-diffusers");
  EXPECT_EQ(checkpoint.entry("decoder.mid.attn_1.q.weight").shape, (flux::Shape{32, 32, 1, 1}));
  EXPECT_EQ(checkpoint.stored_name("decoder.up.0.block.1.conv2.bias"), "decoder.up_blocks.3.resnets.1.conv2.bias");
  auto config = flux::infer_autoencoder_config(checkpoint);
  EXPECT_EQ(config.ch_mult, (std::vector<std::int64_t>{1, 1, 1, 1}));
  flux::Autoencoder ae(config, flux::Weights::load(checkpoint, flux::autoencoder_tensors(config), {}));
  auto reference = load_autoencoder();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(ae.encode(gold("ae.image")), reference.encode(gold("ae.image"))));
  EXPECT_TRUE(torch::equal(ae.decode(gold("ae.latent")), reference.decode(gold("ae.latent"))));
}

TEST(FluxConfig, FillAndTextToImageCheckpointsAreToldApart) {
  auto fill = flux::TransformerConfig::fill_dev();
  EXPECT_NO_THROW(flux::check_fill_variant(fill, true, "f"));
  std::string message;
  EXPECT_EQ(code_of([&] { flux::check_fill_variant(fill, false, "f"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("384"), std::string::npos) << message;
  auto dev = fill;
  dev.in_channels = 64;
  EXPECT_EQ(code_of([&] { flux::check_fill_variant(dev, true, "dev.safetensors"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("takes 64 input channels"), std::string::npos) << message;
  EXPECT_NE(message.find("Fill needs 384"), std::string::npos) << message;
}

// ---- components against the reference

TEST(FluxGolden, ScheduleIsTheReferencesBitForBit) {
  struct Case {
    const char* name;
    int steps;
    std::int64_t tokens;
    bool shift;
  };
  for (auto c : {Case{"sched.28_4096", 28, 4096, true}, Case{"sched.50_4096", 50, 4096, true},
                 Case{"sched.4_12", 4, 12, true}, Case{"sched.4_6", 4, 6, true}, Case{"sched.4_6_noshift", 4, 6, false}}) {
    auto expected = gold(c.name);
    auto ours = flux::schedule(c.steps, c.tokens, c.shift);
    ASSERT_EQ(std::int64_t(ours.size()), expected.numel()) << c.name;
    for (std::size_t i = 0; i < ours.size(); ++i)
      EXPECT_EQ(float(ours[i]), expected[std::int64_t(i)].item<float>()) << c.name << " at " << i;
  }
}

TEST(FluxGolden, PackingAndPositionsAreExact) {
  auto latent = gold("pack.latent");
  auto packed = flux::pack(latent);
  EXPECT_TRUE(torch::equal(packed, gold("pack.packed")));
  EXPECT_TRUE(torch::equal(flux::unpack(packed, 6, 4), latent));
  EXPECT_TRUE(torch::equal(flux::image_ids(6, 4, torch::kCPU), gold("pack.img_ids")));
  EXPECT_TRUE(torch::equal(flux::image_ids(4, 6, torch::kCPU), gold("fwd.img_ids")));
}

TEST(FluxGolden, FillConditioningMatches) {
  auto mask = gold("fill.mask");
  EXPECT_TRUE(torch::equal((gold("fill.mask_u8").to(torch::kFloat32) / 255).view({1, 1, 48, 32}), mask));
  auto img_cond = gold("fill.img_cond");
  EXPECT_TRUE(torch::equal(flux::pack_mask(mask), img_cond.narrow(2, 64, 256)));
  auto ae = load_autoencoder();
  torch::NoGradGuard no_grad;
  auto image = gold("fill.image_u8").permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32) / 127.5 - 1;
  EXPECT_TRUE(torch::allclose(image, gold("ae.image"), 0, 1e-6));
  auto cond = flux::pack(ae.encode(image * (1 - mask)));
  EXPECT_LE(relative_error(cond, img_cond.narrow(2, 0, 64)), 1e-5);
  // The reference's own prepare_fill, which rounds both parts to bf16.
  auto ours = torch::cat({cond, flux::pack_mask(mask)}, -1).to(torch::kBFloat16).to(torch::kFloat32);
  EXPECT_LE((ours - gold("fill.img_cond_ref_bf16").to(torch::kFloat32)).abs().max().item<double>(), 0.0079);
}

TEST(FluxGolden, AutoencoderEncodesAndDecodes) {
  auto ae = load_autoencoder();
  EXPECT_EQ(ae.config().ch, 32);
  EXPECT_EQ(ae.config().ch_mult, (std::vector<std::int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(ae.config().num_res_blocks, 1);
  EXPECT_EQ(ae.config().z_channels, 16);
  torch::NoGradGuard no_grad;
  auto latent = ae.encode(gold("ae.image"));
  EXPECT_LE(relative_error(latent, gold("ae.latent")), 1e-5);
  auto decoded = ae.decode(gold("ae.latent"));
  EXPECT_LE(relative_error(decoded, gold("ae.decoded")), 1e-5);
}

TEST(FluxGolden, TransformerForwardInBflLayout) {
  auto t = load_transformer("transformer-bfl.safetensors");
  EXPECT_EQ(t.config().heads, 2);
  EXPECT_EQ(t.config().mlp_hidden, 128);
  EXPECT_TRUE(t.config().is_fill());
  double error = relative_error(forward(t), gold("fwd.out"));
  EXPECT_LE(error, 1e-5);
  std::cout << "[ flux ] BFL layout, fp32: relative error " << error << "\n";
}

TEST(FluxGolden, DiffusersLayoutGivesTheSameOutput) {
  auto checkpoint = flux::Checkpoint::open(data("transformer-diffusers.safetensors"));
  EXPECT_EQ(checkpoint.layout(), "diffusers");
  EXPECT_EQ(checkpoint.stored_count(), 112u);
  auto bfl = load_transformer("transformer-bfl.safetensors");
  auto diffusers = load_transformer("transformer-diffusers.safetensors");
  EXPECT_TRUE(torch::equal(forward(diffusers), forward(bfl)));
  EXPECT_LE(relative_error(forward(diffusers), gold("fwd.out")), 1e-5);
}

TEST(FluxGolden, GgufQ8_0MatchesTheDequantisedReference) {
  auto exact = gold("fwd.out");
  for (const char* file : {"transformer-q8_0.gguf", "transformer-q8_0-f16.gguf"}) {
    auto checkpoint = flux::Checkpoint::open(data(file));
    EXPECT_EQ(checkpoint.format(), "gguf");
    EXPECT_TRUE(checkpoint.any_quantized());
    for (auto quant : {flux::Weights::Quant::None, flux::Weights::Quant::Int8}) {
      auto t = load_transformer(file, quant);
      EXPECT_EQ(t.weights().quantized("double_blocks.0.img_attn.qkv.weight"), quant == flux::Weights::Quant::Int8);
      EXPECT_FALSE(t.weights().quantized("img_in.weight"));
      auto out = forward(t);
      EXPECT_LE(relative_error(out, gold("fwd.out_q8_0")), 1e-5) << file;
      std::cout << "[ flux ] " << file << (quant == flux::Weights::Quant::Int8 ? " int8" : " dequantised")
                << ": relative error against the unquantised reference " << relative_error(out, exact)
                << ", weights " << t.weights().bytes() << " bytes\n";
    }
  }
}

TEST(FluxGolden, Int8FromSafetensorsQuantisesAsQ8_0) {
  // quant=int8 on a bf16 checkpoint quantises at load the way ggml does, so it gives the GGUF's numbers.
  auto t = load_transformer("transformer-bfl.safetensors", flux::Weights::Quant::Int8);
  EXPECT_TRUE(t.weights().quantized("single_blocks.1.linear1.weight"));
  EXPECT_LE(relative_error(forward(t), gold("fwd.out_q8_0")), 1e-5);
  auto dense = load_transformer("transformer-bfl.safetensors");
  EXPECT_LT(t.weights().bytes(), dense.weights().bytes());
}

TEST(FluxGolden, Q8_0RoundTrip) {
  torch::manual_seed(13);
  auto w = torch::randn({4, 64});
  w[0].zero_();  // an all-zero block has scale 0
  auto q = flux::quantize_q8_0(w);
  EXPECT_EQ(q.q.scalar_type(), torch::kInt8);
  EXPECT_EQ(q.scale.sizes(), (std::vector<std::int64_t>{4, 2}));
  auto back = flux::dequantize_q8_0(q);
  EXPECT_TRUE(torch::equal(back[0], w[0]));
  // Half a step of rounding, plus what storing the scale in fp16 moves the largest value.
  auto d = w.abs().view({4, 2, 32}).amax(-1) / 127;
  auto stored = d.to(torch::kFloat16).to(torch::kFloat32);
  auto bound = (d * 0.5 + 127 * (stored - d).abs() + 1e-6).repeat_interleave(32, 1);
  EXPECT_TRUE((back - w).abs().le(bound).all().item<bool>());
}

TEST(FluxGolden, NoiseFromASeedIsTheReferences) {
  EXPECT_TRUE(torch::equal(flux::initial_noise(42, 6, 4), gold("sample.noise")));
}

TEST(FluxGolden, FullSamplingRunFromTheSeed) {
  TempDir dir;
  auto model = make(flux_spec("transformer-bfl.safetensors", default_table(dir)));
  auto out = flux::sample(*model, gold("ae.image"), gold("fill.mask"), kPrompt, 4, 30, 42, 1.0);
  double error = relative_error(out, gold("sample.decoded"));
  EXPECT_LE(error, 1e-5);
  std::cout << "[ flux ] 4-step sampling run, fp32: relative error " << error << "\n";
}

// ---- the model

TEST(FluxModel, FillsOnlyTheHoleDeterministicallyAndReportsProgress) {
  TempDir dir;
  auto model = make(flux_spec("transformer-q8_0.gguf", default_table(dir), ",steps=3"));
  EXPECT_NE(model->spec().find("quant=int8"), std::string::npos) << model->spec();
  auto info = model->load_info();
  EXPECT_EQ(info.device, "cpu");
  EXPECT_GT(info.weight_bytes, 0u);
  EXPECT_GT(info.load_ms, 0);
  EXPECT_EQ(model->geometry().multiple_of, 16);
  EXPECT_EQ(model->geometry().max_long_side, 1024);

  Image image = test::pattern_rgb(48, 32);
  Image mask = test::disc_mask(48, 32, 24, 16, 9);
  InpaintRequest request = request_for(image, mask, kPrompt);
  RunControl control;
  std::vector<double> fractions;
  control.progress = [&](double f) { return fractions.push_back(f), true; };
  request.control = &control;
  request.params = CallParams{{"seed", std::int64_t(7)}};
  Image a = model->inpaint(request);
  EXPECT_EQ(fractions, (std::vector<double>{1.0 / 3, 2.0 / 3, 1.0}));
  Image b = model->inpaint(request);
  EXPECT_TRUE(std::equal(a.data(), a.data() + a.size_bytes(), b.data()));
  request.params = CallParams{{"seed", std::int64_t(8)}};
  Image c = model->inpaint(request);
  bool hole_differs = false;
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 48; ++x) {
      bool hole = test::at(mask, x, y) > 127;
      for (int ch = 0; ch < 3; ++ch) {
        if (!hole) EXPECT_EQ(test::at(a, x, y, ch), test::at(image, x, y, ch)) << x << "," << y;
        hole_differs |= hole && test::at(a, x, y, ch) != test::at(c, x, y, ch);
      }
    }
  EXPECT_TRUE(hole_differs);
}

TEST(FluxModel, ItsSpecLoadsTheSameModelAgain) {
  TempDir dir;
  auto model = make(flux_spec("transformer-q8_0.gguf", default_table(dir), ",steps=3,guidance=3.5,wait_ms=100"));
  auto again = make(model->spec());
  EXPECT_EQ(again->spec(), model->spec());
  for (const char* key : {"axes=4/6/6", "quant=int8", "dtype=fp32", "ae_dtype=fp32", "steps=3", "guidance=3.5", "wait_ms=100", "threads=1"})
    EXPECT_NE(model->spec().find(key), std::string::npos) << key << " in " << model->spec();
}

TEST(FluxModel, WarmupAndAutoencoderDtypeKeys) {
  TempDir dir;
  auto model = make(flux_spec("transformer-bfl.safetensors", default_table(dir), ",warmup=1,ae_dtype=bf16,steps=1"));
  EXPECT_GT(model->load_info().warmup_ms, 0);
  EXPECT_NE(model->spec().find("ae_dtype=bf16"), std::string::npos) << model->spec();
  EXPECT_NE(model->spec().find("warmup=1"), std::string::npos) << model->spec();
  Image image = test::pattern_rgb(32, 32);
  Image mask = test::disc_mask(32, 32, 16, 16, 6);
  Image out = model->inpaint(request_for(image, mask, kPrompt));
  EXPECT_EQ(test::at(out, 0, 0, 1), test::at(image, 0, 0, 1));
}

TEST(FluxModel, RunsThroughThePipelineWithPerCallParameters) {
  TempDir dir;
  auto model = make(flux_spec("transformer-bfl.safetensors", default_table(dir), ",steps=2"));
  Image image = test::pattern_rgb(60, 44);  // not a multiple of 16: the pipeline pads
  Image mask = test::disc_mask(60, 44, 30, 22, 8);
  PipelineOptions options;
  options.prompt = kPrompt;
  options.params = CallParams{{"steps", std::int64_t(1)}, {"strength", 0.5}, {"guidance", 3.5}};
  auto result = fill_image(*model, image.view(), mask.view(), options);
  EXPECT_EQ(result.image.width(), 60);
  for (auto bad : {CallParams{{"steps", std::int64_t(0)}}, CallParams{{"steps", std::int64_t(1000)}},
                   CallParams{{"guidance", std::nan("")}}, CallParams{{"seed", std::int64_t(1) << 60}},
                   CallParams{{"seed", std::int64_t(-1)}}, CallParams{{"strength", 0.0}}}) {
    options.params = bad;
    std::string message;
    EXPECT_EQ(code_of([&] { fill_image(*model, image.view(), mask.view(), options); }, &message), ErrorCode::InvalidArgument)
        << param_value_text(bad.values().begin()->second);
    EXPECT_NE(message.find(bad.values().begin()->first), std::string::npos) << message;
  }
}

TEST(FluxModel, CancelAndDeadlineStopBetweenSteps) {
  TempDir dir;
  auto model = make(flux_spec("transformer-bfl.safetensors", default_table(dir), ",steps=6"));
  Image image = test::pattern_rgb(32, 32);
  Image mask = test::disc_mask(32, 32, 16, 16, 6);
  InpaintRequest request = request_for(image, mask, kPrompt);
  RunControl control;
  int calls = 0;
  control.progress = [&](double) {
    if (++calls == 2) control.cancel();
    return true;
  };
  request.control = &control;
  EXPECT_EQ(code_of([&] { model->inpaint(request); }), ErrorCode::Cancelled);
  EXPECT_EQ(calls, 2);
  RunControl late;
  late.set_timeout(std::chrono::milliseconds(0));
  request.control = &late;
  EXPECT_EQ(code_of([&] { model->inpaint(request); }), ErrorCode::Timeout);
}

TEST(FluxModel, PromptsComeFromTheTable) {
  TempDir dir;
  std::string table = default_table(dir);
  auto model = make(flux_spec("transformer-bfl.safetensors", table, ",steps=1"));
  Image image = test::pattern_rgb(32, 32);
  Image mask = test::disc_mask(32, 32, 16, 16, 6);
  InpaintRequest request = request_for(image, mask, "grass photorealistic");
  std::string message;
  EXPECT_EQ(code_of([&] { model->inpaint(request); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("not in the prompt table"), std::string::npos) << message;
  EXPECT_NE(message.find("nearest: 'grass, photorealistic'"), std::string::npos) << message;

  auto lenient = make(flux_spec("transformer-bfl.safetensors", table, ",steps=1,missing_prompt=fallback"));
  auto substitute = lenient->resolve_prompt("grass photorealistic");
  EXPECT_EQ(substitute.text, "gravel, photorealistic");
  EXPECT_NE(substitute.reason.find("not in the prompt table (nearest: 'grass, photorealistic'"), std::string::npos)
      << substitute.reason;
  EXPECT_EQ(lenient->resolve_prompt(kPrompt).reason, "");
  PipelineOptions options;
  options.prompt = "grass photorealistic";
  auto result = fill_image(*lenient, image.view(), mask.view(), options);
  EXPECT_EQ(result.model_prompt, "gravel, photorealistic");
  EXPECT_EQ(result.model_prompt_reason, substitute.reason);
  // The strict model refuses before any pixel work.
  options.control = nullptr;
  EXPECT_EQ(code_of([&] { fill_image(*model, image.view(), mask.view(), options); }), ErrorCode::InvalidArgument);
  Image with_fallback = lenient->inpaint(request);
  request.prompt = "gravel, photorealistic";
  Image with_gravel = lenient->inpaint(request);
  EXPECT_TRUE(std::equal(with_fallback.data(), with_fallback.data() + with_fallback.size_bytes(), with_gravel.data()));
}

TEST(FluxModel, BadPromptTablesAreRefused) {
  TempDir dir;
  auto txt = gold("sample.txt")[0], vec = gold("sample.vec")[0];
  struct Case {
    std::function<void(Encoding&)> change;
    const char* says;
  };
  for (const auto& c : std::vector<Case>{
           {[&](Encoding& e) { e.tensors["t5.0"] = host(torch::zeros({7, 31})); }, "the model needs [T, 32]"},
           {[&](Encoding& e) { e.tensors["clip.0"] = host(torch::zeros({15})); }, "the model needs [16]"},
           {[&](Encoding& e) { e.tensors.erase("clip.1"); }, "has no tensors"},
           {[&](Encoding& e) { e.tensors["t5.1"] = host(torch::zeros({9, 32})); }, "one table holds one sequence length"},
           {[&](Encoding& e) { e.metadata.extra["fallback"] = "sand"; }, "fallback prompt 'sand' is not in it"},
       }) {
    Encoding table = read_safetensors(write_prompt_table(dir, txt, vec));
    c.change(table);
    std::string path = dir.file("bad.safetensors");
    write_safetensors(path, table);
    std::string message;
    EXPECT_EQ(code_of([&] { make(flux_spec("transformer-bfl.safetensors", path)); }, &message), ErrorCode::Decode);
    EXPECT_NE(message.find(c.says), std::string::npos) << message;
  }
  std::string no_fallback = write_prompt_table(dir, txt, vec, false);
  std::string message;
  EXPECT_EQ(code_of([&] { make(flux_spec("transformer-bfl.safetensors", no_fallback, ",missing_prompt=fallback")); }, &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("names no fallback"), std::string::npos) << message;
}

TEST(FluxModel, BadCheckpointsAreClearErrors) {
  TempDir dir;
  std::string table = default_table(dir);
  auto bfl = read_safetensors(data("transformer-bfl.safetensors"));
  auto rewrite = [&](const std::function<void(Encoding&)>& change) {
    Encoding e = bfl;
    change(e);
    std::string path = dir.file("changed.safetensors");
    write_safetensors(path, e);
    return path;
  };
  auto expect = [&](const std::string& transformer, const std::string& ae, ErrorCode code, const std::string& says) {
    std::string spec = "flux:path=" + transformer + ",ae=" + ae + ",prompts=" + table + ",device=cpu,axes=4/6/6,min_side=0";
    std::string message;
    EXPECT_EQ(code_of([&] { torch_backend::make_flux(ModelSpec::parse(spec), 0); }, &message), code) << message;
    EXPECT_NE(message.find(says), std::string::npos) << message;
  };
  const std::string ae = data("ae.safetensors");
  expect(rewrite([](Encoding& e) { e.tensors.erase("single_blocks.1.linear2.weight"); }), ae, ErrorCode::Decode,
         "tensor 'single_blocks.1.linear2.weight' is missing");
  expect(rewrite([](Encoding& e) { e.tensors["double_blocks.0.img_mlp.2.weight"] = host(torch::zeros({32, 64})); }), ae,
         ErrorCode::Decode, "has shape [32, 64], expected [32, 128]");
  expect(rewrite([](Encoding& e) { e.tensors["img_in.weight"] = host(torch::zeros({32, 64})); }), ae,
         ErrorCode::InvalidArgument, "takes 64 input channels");
  expect(rewrite([](Encoding& e) { e.tensors["txt_in.weight"] = HostTensor::allocate(DType::I32, {32, 32}); }), ae,
         ErrorCode::Decode, "is I32");
  // An autoencoder with 8 latent channels.
  auto small = read_safetensors(ae);
  small.tensors["encoder.conv_out.weight"] = host(torch::zeros({16, 32, 3, 3}));
  small.tensors["encoder.conv_out.bias"] = host(torch::zeros({16}));
  small.tensors["decoder.conv_in.weight"] = host(torch::zeros({32, 8, 3, 3}));
  write_safetensors(dir.file("ae8.safetensors"), small);
  expect(data("transformer-bfl.safetensors"), dir.file("ae8.safetensors"), ErrorCode::InvalidArgument, "has 8 latent channels");
  // The transformer given as the autoencoder and the reverse.
  expect(data("transformer-bfl.safetensors"), data("transformer-bfl.safetensors"), ErrorCode::Decode, "not a FLUX autoencoder");
  expect(ae, ae, ErrorCode::Decode, "looks like an autoencoder");
  // Truncated files of both formats, a missing file.
  for (const char* file : {"transformer-bfl.safetensors", "transformer-q8_0.gguf"}) {
    std::ifstream in(data(file), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string cut = dir.file(std::string("cut-") + file);
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 1000);
    std::string message;
    EXPECT_EQ(code_of([&] { torch_backend::make_flux(ModelSpec::parse("flux:path=" + cut + ",ae=" + ae + ",prompts=" + table + ",axes=4/6/6"), 0); },
                      &message),
              ErrorCode::Decode)
        << file;
    EXPECT_NE(message.find(cut), std::string::npos) << message;
  }
  expect(dir.file("absent.gguf"), ae, ErrorCode::Io, "absent.gguf");
}

TEST(FluxModel, SpecErrors) {
  TempDir dir;
  std::string table = default_table(dir);
  for (const auto& [extra_keys, says] : std::vector<std::pair<std::string, std::string>>{
           {",quant=int4", "quant 'int4'"},
           {",dtype=fp8", "dtype 'fp8'"},
           {",ae_dtype=fp64", "ae_dtype 'fp64'"},
           {",missing_prompt=maybe", "missing_prompt 'maybe'"},
           {",max_side=1000", "max_side must be a multiple of 16"},
           {",steps=0", "steps"},
           {",axes=4/6", "axes '4/6'"},
           {",axes=4/6/8", "axes=4/6/8 must be three even widths summing to the head width 16"},
           {",axes=3/7/6", "axes=3/7/6 must be three even widths"},
           {",unknown=1", "unknown"}}) {
    const std::string extra = extra_keys;  // clang 14 lambdas cannot capture structured bindings
    std::string message;
    EXPECT_NE(code_of([&] { make(flux_spec("transformer-bfl.safetensors", table, extra)); }, &message), ErrorCode(0));
    EXPECT_NE(message.find(says), std::string::npos) << extra << ": " << message;
  }
  if (!torch::cuda::is_available()) {
    std::string message;
    EXPECT_EQ(code_of([&] { make("flux:path=" + data("transformer-bfl.safetensors") + ",ae=" + data("ae.safetensors") +
                                  ",prompts=" + table + ",device=cuda"); },
                      &message),
              ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("cuda"), std::string::npos) << message;
  }
  std::string message;
  EXPECT_EQ(code_of([&] { make("flux:path=" + data("transformer-bfl.safetensors") + ",ae=" + data("ae.safetensors") +
                                ",prompts=" + table + ",device=cpu"); },
                    &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("heads are 16 wide, not FLUX's 128: give the rotary split with axes=A/B/C"), std::string::npos)
      << message;
  EXPECT_EQ(code_of([&] { make("flux:ae=" + data("ae.safetensors") + ",prompts=" + table); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("path=FILE"), std::string::npos);
}

// ---- on a GPU (scripts/gpu-check.sh runs these where there is one)

TEST(FluxCuda, TinyModelOnTheGpuMatchesTheReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  TempDir dir;
  std::string table = default_table(dir);
  auto gpu_spec = [&](const std::string& transformer, const std::string& extra) {
    return "flux:path=" + data(transformer) + ",ae=" + data("ae.safetensors") + ",prompts=" + table +
           ",device=cuda,axes=4/6/6,min_side=0" + extra;
  };
  // fp32: cuDNN may run the autoencoder's convolutions in TF32, hence the looser bound.
  auto fp32 = make(gpu_spec("transformer-bfl.safetensors", ",dtype=fp32"));
  EXPECT_EQ(fp32->load_info().device, "cuda:0");
  auto out = flux::sample(*fp32, gold("ae.image"), gold("fill.mask"), kPrompt, 4, 30, 42, 1.0).cpu();
  double error = relative_error(out, gold("sample.decoded"));
  EXPECT_LE(error, 2e-3);
  // bf16 compute with int8 weights from the GGUF: the serving configuration.
  auto bf16 = make(gpu_spec("transformer-q8_0.gguf", ",dtype=bf16"));
  EXPECT_NE(bf16->spec().find("quant=int8"), std::string::npos);
  auto low = flux::sample(*bf16, gold("ae.image"), gold("fill.mask"), kPrompt, 4, 30, 42, 1.0).cpu();
  EXPECT_TRUE(torch::isfinite(low).all().item<bool>());
  double low_error = relative_error(low, gold("sample.decoded"));
  EXPECT_LE(low_error, 0.1);
  auto fp16 = make(gpu_spec("transformer-q8_0.gguf", ",dtype=fp16"));
  auto half = flux::sample(*fp16, gold("ae.image"), gold("fill.mask"), kPrompt, 4, 30, 42, 1.0).cpu();
  EXPECT_TRUE(torch::isfinite(half).all().item<bool>());
  std::cout << "[ flux ] cuda 4-step run: fp32 relative error " << error << ", bf16+int8 " << low_error << ", fp16+int8 "
            << relative_error(half, gold("sample.decoded")) << "\n";
}
