// Mask clean-up, feathering and bounds.
#include "convert.hpp"
#include "inpaint/mask.hpp"
#include "module.hpp"

namespace inpaint::python {

void bind_masks(py::module_& m) {
  const MaskCleanOptions defaults;

  m.def(
      "clean_mask",
      [](const py::array& mask, int threshold, int open_radius, int close_radius, int min_island_area,
         int min_hole_area, int dilate_px, const std::string& backend, const std::string& device) {
        MaskCleanOptions options;
        options.threshold = threshold;
        options.open_radius = open_radius;
        options.close_radius = close_radius;
        options.min_island_area = min_island_area;
        options.min_hole_area = min_hole_area;
        options.dilate_px = dilate_px;
        MaskBackend mask_backend = mask_backend_from_name(backend);
        ImageView pixels = image_view(mask, "mask", Pixels::Mask);
        Image clean = without_gil([&] { return inpaint::clean_mask(pixels, options, mask_backend, device); });
        return to_array(std::move(clean));
      },
      py::arg("mask").noconvert(), py::arg("threshold") = defaults.threshold,
      py::arg("open_radius") = defaults.open_radius, py::arg("close_radius") = defaults.close_radius,
      py::arg("min_island_area") = defaults.min_island_area, py::arg("min_hole_area") = defaults.min_hole_area,
      py::arg("dilate_px") = defaults.dilate_px, py::arg("backend") = "opencv", py::arg("device") = "cpu",
      "Cleans a uint8 (height, width) mask and returns a binary one (0 or 255): threshold (value >\n"
      "threshold is hole) -> open -> close -> drop islands smaller than min_island_area -> fill\n"
      "enclosed holes smaller than min_hole_area -> dilate by dilate_px. Sizes are pixels, 0 turns\n"
      "a step off. backend 'opencv' (CPU) or 'tensor' (LibTorch on device: cpu, cuda, cuda:N) give\n"
      "the same mask.");

  m.def(
      "feather_mask",
      [](const py::array& mask, int feather_px) {
        ImageView pixels = image_view(mask, "mask", Pixels::Mask);
        Image weights = without_gil([&] { return inpaint::feather_mask(pixels, feather_px); });
        return to_array(std::move(weights));
      },
      py::arg("mask").noconvert(), py::arg("feather_px"),
      "Compositing weights of a cleaned mask: 255 inside the hole, a smooth fall-off over feather_px\n"
      "pixels outside it, 0 beyond (where the pipeline keeps the original byte for byte).");

  m.def(
      "mask_bounds",
      [](const py::array& mask, int threshold) -> py::object {
        ImageView pixels = image_view(mask, "mask", Pixels::Mask);
        MaskBox box = without_gil([&] { return inpaint::mask_bounds(pixels, threshold); });
        if (box.empty()) return py::none();
        return py::make_tuple(box.x, box.y, box.width, box.height);
      },
      py::arg("mask").noconvert(), py::arg("threshold") = 127,
      "The bounding box (x, y, width, height) of the pixels above threshold, or None when there are none.");
}

}  // namespace inpaint::python
