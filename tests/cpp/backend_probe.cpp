// A fresh process for the backend tests (backend_test.cpp), whose answers depend on what ran
// before in the process: which shared libraries are mapped, and how the loader treats the
// INPAINT_BACKEND_PATH it starts with.
//
//   backend_probe maps              runs the non-torch work below and prints every mapped
//                                   file from LibTorch or the torch backend; exit 0 when none
//   backend_probe maps-after SPEC   the same after asking for the model SPEC, which need not load
//                                   (exit 0 when LibTorch is mapped)
//   backend_probe create SPEC       creates a model; prints "ok" or "error CODE MESSAGE"
//   backend_probe segmenter SPEC    creates a segmenter; the same output
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "inpaint/inpaint.hpp"

using namespace inpaint;

namespace {

std::set<std::string> torch_mappings() {
  std::set<std::string> found;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find("libtorch") != std::string::npos || line.find("libc10") != std::string::npos ||
        line.find("libinpaint_torch") != std::string::npos)
      found.insert(line.substr(line.rfind(' ') + 1));
  return found;
}

// Everything a CPU worker does without a network: listing, decoding and encoding, mask
// clean-up, the classical fills, GrabCut segmentation, an in-memory encoding store.
void non_torch_work() {
  Image image(96, 64, 3);
  for (std::size_t i = 0; i < image.size_bytes(); ++i) image.data()[i] = std::uint8_t(i * 7);
  Image mask(96, 64, 1);
  for (int y = 20; y < 40; ++y) std::memset(mask.data() + y * 96 + 30, 255, 20);
  default_registry().list();
  list_segmenters();
  backends();
  for (const char* spec : {"telea", "ns", "patchmatch:iterations=2"}) {
    auto model = default_registry().create(spec);
    PipelineResult r = fill_image(*model, image.view(), mask.view());
    EncodeOptions png;
    png.format = ImageFormat::Png;
    auto bytes = encode_image(r.image.view(), png);
    decode_image(bytes.data(), bytes.size());
    auto jpeg = encode_image(r.image.view(), EncodeOptions{});
    decode_image(jpeg.data(), jpeg.size());
  }
  clean_mask(mask.view(), MaskCleanOptions{}, MaskBackend::OpenCV);
  auto grabcut = create_segmenter("grabcut");
  auto store = make_memory_store(1 << 20);
  Encoding encoding = encode_with_store(*grabcut, store.get(), image.view());
  SegmentPrompt prompt;
  prompt.box = BoxPrompt{20, 10, 60, 50};
  grabcut->segment(encoding, prompt);
}

// Prints "ok" or "error CODE MESSAGE", then the torch backend's state.
int report(const std::function<void()>& create) {
  int status = 0;
  try {
    create();
    std::printf("ok\n");
  } catch (const Error& e) {
    std::printf("error %d %s\n", int(e.code()), e.what());
    status = 3;
  }
  for (const auto& b : backends())
    std::printf("backend %s loaded=%d path=%s\n", b.name.c_str(), int(b.loaded), b.path.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  std::string spec = argc > 2 ? argv[2] : "";
  if (mode == "maps") {
    non_torch_work();
    for (const auto& file : torch_mappings()) std::printf("mapped %s\n", file.c_str());
    return torch_mappings().empty() ? 0 : 1;
  }
  if (mode == "maps-after") {
    non_torch_work();
    report([&] { default_registry().create(spec); });  // a missing model file still loads the backend
    for (const auto& file : torch_mappings()) std::printf("mapped %s\n", file.c_str());
    return torch_mappings().empty() ? 1 : 0;
  }
  if (mode == "create") return report([&] { default_registry().create(spec); });
  if (mode == "segmenter") return report([&] { create_segmenter(spec); });
  std::fprintf(stderr, "usage: backend_probe maps | maps-after SPEC | create SPEC | segmenter SPEC\n");
  return 2;
}
