// Times the pipeline stage by stage on one photo and, in the same process, the codec floor:
// libjpeg-turbo decode + encode (quality 90) of the same photo alone.
// Usage: bench_pipeline IMAGE.jpg MASK.png [runs=7] [model=telea]   prints one JSON object of medians (ms).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

using bench::median;
using bench::now_ms;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s IMAGE MASK [runs] [model]\n", argv[0]);
    return 2;
  }
  int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 7;
  std::string spec = argc > 4 ? argv[4] : "telea";
  try {
    auto image = inpaint::read_file(argv[1]);
    auto mask = inpaint::read_file(argv[2]);
    auto model = inpaint::default_registry().create(spec);
    inpaint::PipelineOptions options;  // as the Python worker: JPEG q90, preview 1024 q85, feather ~ its 21 px blur
    options.output = {inpaint::ImageFormat::Jpeg, 90};
    options.preview_long_side = 1024;
    options.feather_px = 10;

    std::map<std::string, std::vector<double>> stages;
    for (int i = 0; i <= runs; ++i) {
      auto r = inpaint::run_pipeline(*model, image.data(), image.size(), mask.data(), mask.size(), options);
      if (i == 0) continue;  // warm-up
      const auto& t = r.times;
      for (auto [name, ms] : {std::pair{"decode", t.decode}, {"orient", t.orient}, {"mask", t.mask}, {"clean", t.clean},
                              {"model", t.model}, {"composite", t.composite}, {"encode", t.encode},
                              {"preview", t.preview}, {"total", t.total}, {"total_minus_model", t.total - t.model}})
        stages[name].push_back(ms);
    }
    std::vector<double> floor;
    for (int i = 0; i <= runs; ++i) {
      double start = now_ms();
      auto decoded = inpaint::decode_image(image.data(), image.size());
      auto bytes = inpaint::encode_image(decoded.rgb, {inpaint::ImageFormat::Jpeg, 90});
      if (i > 0) floor.push_back(now_ms() - start);
    }
    std::printf("{\"runs\": %d, \"model\": \"%s\"", runs, model->spec().c_str());
    for (auto& [name, values] : stages) std::printf(", \"%s\": %.1f", name.c_str(), median(values));
    double codec_floor = median(floor);
    std::printf(", \"codec_floor\": %.1f, \"non_model_over_floor\": %.2f}\n", codec_floor,
                median(stages["total_minus_model"]) / codec_floor);
  } catch (const inpaint::Error& e) {
    std::fprintf(stderr, "bench_pipeline: %s\n", e.what());
    return 1;
  }
  return 0;
}
