// One FLUX transformer forward (one denoising step) of the library's native port, on a checkpoint
// and inputs that bench/bench_flux_step.py writes (it also times the reference's PyTorch code on
// the same weights and inputs and compares the two).
// Usage: bench_flux_step CHECKPOINT INPUTS [threads=2] [repeats=5] [quant=none|int8|both]
//   CHECKPOINT: BFL-layout safetensors of the transformer (its config is inferred from the shapes).
//   INPUTS: safetensors with img [1,L,in], img_ids [1,L,3], txt [1,T,ctx], txt_ids [1,T,3],
//     timesteps [1], y [1,vec], guidance [1] (F32) and, optionally, out: the reference's output.
// Prints one JSON object per quant: load and forward medians (ms, after one warm-up forward) and
// max |out - reference out| (and the relative L2 error) where INPUTS has `out`.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/torch/diffusion/flux.hpp"
#include "bench_util.hpp"
#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"

using namespace inpaint;
namespace flux = inpaint::detail::flux;

namespace {

torch::Tensor to_torch(const HostTensor& t) {
  if (t.dtype() != DType::F32) throw Error(ErrorCode::InvalidArgument, "bench_flux_step: inputs must be F32");
  std::vector<std::int64_t> shape(t.shape().begin(), t.shape().end());
  return torch::from_blob(const_cast<std::uint8_t*>(t.data()), shape, torch::kFloat32).clone();
}

void run(const flux::Checkpoint& checkpoint, const Encoding& inputs, const std::string& quant, int threads,
         int repeats) {
  auto config = flux::infer_transformer_config(checkpoint);
  flux::Weights::Options wo;
  wo.quant = quant == "int8" ? flux::Weights::Quant::Int8 : flux::Weights::Quant::None;
  // As flux_model.cpp does: the blocks' matrices are quantised, not the input/output layers.
  wo.quantizable = [](const std::string& name) {
    return name.rfind("double_blocks.", 0) == 0 || name.rfind("single_blocks.", 0) == 0;
  };
  double t0 = bench::now_ms();
  flux::Transformer transformer(config, flux::Weights::load(checkpoint, flux::transformer_tensors(config), wo));
  double load_ms = bench::now_ms() - t0;

  auto in = [&](const char* name) { return to_torch(inputs.tensor(name)); };
  auto img = in("img"), img_ids = in("img_ids"), txt = in("txt"), txt_ids = in("txt_ids");
  auto timesteps = in("timesteps"), y = in("y"), guidance = in("guidance");

  torch::InferenceMode inference;
  torch::Tensor out;
  std::vector<double> times;
  for (int i = 0; i <= repeats; ++i) {
    double start = bench::now_ms();
    out = transformer.forward(img, img_ids, txt, txt_ids, timesteps, y, guidance);
    if (i) times.push_back(bench::now_ms() - start);
  }
  std::string agreement;
  if (inputs.tensors.count("out")) {
    auto ref = in("out").to(torch::kFloat64);
    auto diff = out.to(torch::kFloat64) - ref;
    char buf[256];
    std::snprintf(buf, sizeof buf, ", \"max_abs_diff\": %.6g, \"ref_max_abs\": %.6g, \"rel_l2\": %.6g",
                  diff.abs().max().item<double>(), ref.abs().max().item<double>(),
                  (diff.norm() / ref.norm()).item<double>());
    agreement = buf;
  }
  std::string runs;
  for (double t : times) runs += (runs.empty() ? "" : ", ") + std::to_string(t);
  std::printf(
      "{\"impl\": \"libinpaint\", \"quant\": \"%s\", \"threads\": %d, \"repeats\": %d, \"hidden\": %lld, "
      "\"heads\": %lld, \"depth\": %lld, \"depth_single\": %lld, \"image_tokens\": %lld, \"text_tokens\": %lld, "
      "\"weights_mb\": %.1f, \"load_ms\": %.1f, \"median_ms\": %.2f, \"runs_ms\": [%s]%s}\n",
      quant.c_str(), threads, repeats, (long long)config.hidden, (long long)config.heads, (long long)config.depth,
      (long long)config.depth_single, (long long)img.size(1), (long long)txt.size(1),
      transformer.weights().bytes() / 1048576.0, load_ms, bench::median(times), runs.c_str(), agreement.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CHECKPOINT INPUTS [threads=2] [repeats=5] [quant=none|int8|both]\n", argv[0]);
    return 2;
  }
  int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  std::string quant = argc > 5 ? argv[5] : "none";
  try {
    at::set_num_threads(threads);
    auto checkpoint = flux::Checkpoint::open(argv[1]);
    auto inputs = read_safetensors(argv[2]);
    for (const char* q : {"none", "int8"})
      if (quant == q || quant == "both") run(checkpoint, inputs, q, threads, repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_flux_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
