// The torch paths on one device, for scripts/gpu-check.sh: TorchScript fill models (a tiny one,
// so the library's own work around the model is what is timed, and a small convolution), the
// sam segmenter (encode, segment) and the tensor mask clean-up. Each case: the first call and the
// median of REPS calls after it. On a device other than cpu, each case's result is compared with
// the same case on cpu (one untimed call); the mask path is compared with the OpenCV path.
// Usage: bench_devices DEVICE MODEL_DIR REPS [WORK_DIR]   (modules: bench/make_device_models.py)
// Prints one JSON object. WORK_DIR, when given, receives image.png and mask.png for a CLI run.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

namespace {

using bench::now_ms;

// Photo-like RGB pixels (gradients and texture) and a mask with one rectangular hole.
inpaint::Image make_image(int w, int h) {
  inpaint::Image im(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = im.data() + (std::size_t(y) * w + x) * 3;
      p[0] = std::uint8_t(x * 255 / w), p[1] = std::uint8_t(y * 255 / h), p[2] = std::uint8_t((x * 7) ^ (y * 3));
    }
  return im;
}

inpaint::Image make_mask(int w, int h) {
  inpaint::Image m(w, h, 1);
  for (int y = h * 3 / 8; y < h * 5 / 8; ++y)
    for (int x = w * 3 / 8; x < w * 5 / 8; ++x) m.data()[std::size_t(y) * w + x] = 255;
  return m;
}

// A rough hand-drawn mask: blobs, specks and noise, for the clean-up.
inpaint::Image blob_mask(int w, int h) {
  inpaint::Image m(w, h, 1);
  std::mt19937 rng(7);
  for (int i = 0; i < 60; ++i) {
    int cx = int(rng() % w), cy = int(rng() % h), r = 4 + int(rng() % (w / 16));
    std::uint8_t v = (i % 4 == 3) ? 0 : 255;
    for (int y = std::max(0, cy - r); y <= std::min(h - 1, cy + r); ++y)
      for (int x = std::max(0, cx - r); x <= std::min(w - 1, cx + r); ++x)
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) m.data()[std::size_t(y) * w + x] = v;
  }
  for (int i = 0; i < w * h / 500; ++i) m.data()[rng() % (std::size_t(w) * h)] = std::uint8_t(rng() % 256);
  return m;
}

int max_diff(const inpaint::Image& a, const inpaint::Image& b) {
  if (a.size_bytes() != b.size_bytes()) return 256;
  int d = 0;
  for (std::size_t i = 0; i < a.size_bytes(); ++i) d = std::max(d, std::abs(int(a.data()[i]) - int(b.data()[i])));
  return d;
}

// Runs f once (the first call) and `reps` more times: the first call's time and the median.
template <class F>
nlohmann::json time_case(const std::string& name, int reps, F&& f) {
  std::cerr << "bench_devices: " << name << std::endl;
  double t = now_ms();
  f();
  double first = now_ms() - t;
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    t = now_ms();
    f();
    times.push_back(now_ms() - t);
  }
  return {{"first_ms", first}, {"median_ms", bench::median(times)}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::cerr << "usage: bench_devices DEVICE MODEL_DIR REPS [WORK_DIR]\n";
    return 2;
  }
  const std::string device = argv[1], dir = argv[2];
  const int reps = std::max(1, std::atoi(argv[3]));
  const bool compare = device != "cpu";
  nlohmann::json out{{"device", device}, {"reps", reps}, {"cases", nlohmann::json::object()}};
  auto& cases = out["cases"];
  try {
    if (argc == 5) {
      const std::string work = argv[4];
      inpaint::Image image = make_image(1024, 768), mask = make_mask(1024, 768);
      for (auto [file, im] : {std::pair{"/image.png", &image}, std::pair{"/mask.png", &mask}}) {
        auto png = inpaint::encode_image(im->view(), {inpaint::ImageFormat::Png, 90, 1});
        inpaint::write_file_atomic(work + file, png.data(), png.size());
      }
    }
    // Fill models: each size through the model on `device`, and once on cpu to compare.
    for (const std::string name : {"fill_tiny", "fill_conv"}) {
      const std::string path = dir + "/" + name + ".pt";
      auto model = inpaint::default_registry().create("torchscript:device=" + device + ",path=" + path);
      std::unique_ptr<inpaint::InpaintModel> cpu;
      if (compare) cpu = inpaint::default_registry().create("torchscript:device=cpu,path=" + path);
      const std::vector<int> sides = name == std::string("fill_tiny") ? std::vector<int>{512, 2048} : std::vector<int>{512};
      for (int side : sides) {
        inpaint::Image image = make_image(side, side), mask = make_mask(side, side);
        inpaint::InpaintRequest r;
        r.image = image.view();
        r.mask = mask.view();
        inpaint::Image result;
        auto c = time_case(name + "_" + std::to_string(side), reps, [&] { return result = model->inpaint(r); });
        c["load_ms"] = model->load_info().load_ms;
        c["device"] = model->load_info().device;
        if (compare) c["max_diff_vs_cpu"] = max_diff(result, cpu->inpaint(r));
        cases[name + "_" + std::to_string(side)] = c;
      }
    }

    // sam: encode a 1536x1024 photo at the default 1024 size, then one click.
    {
      const std::string spec = ",encoder=" + dir + "/sam_encoder.pt,decoder=" + dir + "/sam_decoder.pt";
      auto seg = inpaint::create_segmenter("sam:device=" + device + spec);
      inpaint::Image photo = make_image(1536, 1024);
      inpaint::Encoding encoding;
      auto c = time_case("sam_encode", reps, [&] {
        encoding = seg->encode(photo.view());
        return inpaint::Image();
      });
      c["load_ms"] = seg->load_info().load_ms;
      c["device"] = seg->load_info().device;
      cases["sam_encode_1536x1024"] = c;
      inpaint::SegmentPrompt prompt;
      prompt.points.push_back({700, 500, true});
      inpaint::Image best;
      c = time_case("sam_segment", reps, [&] { return best = seg->segment(encoding, prompt).masks.at(0).mask; });
      if (compare) {
        auto cpu = inpaint::create_segmenter("sam:device=cpu" + spec);
        c["max_diff_vs_cpu"] = max_diff(best, cpu->segment(cpu->encode(photo.view()), prompt).masks.at(0).mask);
      }
      cases["sam_segment_click"] = c;
    }

    // The mask clean-up's tensor path on `device`, against the OpenCV path (its reference). Its
    // connected components come from label propagation, whose passes grow with a component's
    // extent, so the mask is kept small (on cpu a 512² one took 14 s a call here, OpenCV 12 ms).
    {
      inpaint::Image rough = blob_mask(256, 256);
      inpaint::MaskCleanOptions o;
      inpaint::Image cleaned;
      auto c = time_case("mask_tensor", reps, [&] { return cleaned = inpaint::clean_mask(rough.view(), o, inpaint::MaskBackend::Tensor, device); });
      inpaint::Image reference;
      auto ref = time_case("mask_opencv", reps, [&] { return reference = inpaint::clean_mask(rough.view(), o, inpaint::MaskBackend::OpenCV); });
      c["max_diff_vs_opencv"] = max_diff(cleaned, reference);
      cases["mask_tensor_256"] = c;
      cases["mask_opencv_256"] = ref;
    }

  } catch (const std::exception& e) {
    out["error"] = e.what();
    std::cout << out.dump() << std::endl;
    return 1;
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
