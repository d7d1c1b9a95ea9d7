// Builds against the installed headers only: no LibTorch or OpenCV include path is given.
#include <cstdio>
#include <cstring>
#include <inpaint/inpaint.hpp>

int main() {
  inpaint::Image img(64, 64, 3);
  std::memset(img.data(), 120, img.size_bytes());
  inpaint::Image mask(64, 64, 1);
  for (int y = 20; y < 40; ++y) std::memset(mask.data() + y * 64 + 20, 255, 20);
  auto model = inpaint::default_registry().create("ns");
  inpaint::PipelineResult r = inpaint::fill_image(*model, img, mask);
  int centre = r.image.data()[(30 * 64 + 30) * 3];
  std::printf("inpaint %s: centre %d\n", inpaint::version(), centre);
  // The installed layout: a built backend is found in lib/inpaint/ beside the installed library.
  for (const auto& backend : inpaint::backends())
    if (backend.built) std::printf("backend %s: %s\n", backend.name.c_str(), inpaint::load_backend(backend.name).path.c_str());
  return centre == 120 && !r.mask_empty ? 0 : 1;
}
