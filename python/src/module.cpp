// The compiled part of the `inpaint` package. Users import `inpaint`, which re-exports this.
#include "module.hpp"

#include "inpaint/version.hpp"

PYBIND11_MODULE(_core, m) {
  namespace ip = inpaint::python;
  m.doc() = "libinpaint's native core: image codecs, mask clean-up, prompts, models, the fill pipeline, the encoding store, segmenters, background removal and video segmentation.";
  m.attr("__version__") = inpaint::version();
  m.def("version", &inpaint::version, "The version of the loaded libinpaint, e.g. '0.1.0'.");
  ip::bind_errors(m);
  ip::bind_images(m);
  ip::bind_masks(m);
  ip::bind_prompts(m);
  ip::bind_models(m);
  ip::bind_pipeline(m);
  ip::bind_store(m);
  ip::bind_segment(m);
  ip::bind_user_models(m);
  ip::bind_cutout(m);
  ip::bind_video(m);
}
