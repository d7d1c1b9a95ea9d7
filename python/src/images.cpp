// Image decoding and encoding, and the file helpers.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <optional>

#include "convert.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// decode()'s result; the arrays own their pixels.
struct PyDecodedImage {
  py::array rgb;
  py::object alpha;
  int exif_orientation;
  double decode_ms;
  double orient_ms;
};

std::string repr(const PyDecodedImage& d) {
  return "DecodedImage(rgb=<" + std::to_string(d.rgb.shape(1)) + "x" + std::to_string(d.rgb.shape(0)) +
         ">, alpha=" + (d.alpha.is_none() ? "None" : "<array>") +
         ", exif_orientation=" + std::to_string(d.exif_orientation) + ")";
}

DecodeOptions decode_options(std::uint64_t max_pixels, bool apply_exif_orientation) {
  DecodeOptions options;
  options.max_pixels = max_pixels;
  options.apply_exif_orientation = apply_exif_orientation;
  return options;
}

}  // namespace

void bind_images(py::module_& m) {
  const DecodeOptions decode_defaults;
  const EncodeOptions encode_defaults;
  const char* default_format = encode_defaults.format == ImageFormat::Png ? "png" : "jpeg";

  py::class_<PyDecodedImage>(m, "DecodedImage", "A decoded image: upright RGB pixels plus the alpha channel, if any.")
      .def_readonly("rgb", &PyDecodedImage::rgb, "uint8 array (height, width, 3), upright.")
      .def_readonly("alpha", &PyDecodedImage::alpha, "uint8 array (height, width), or None when the image has no alpha.")
      .def_readonly("exif_orientation", &PyDecodedImage::exif_orientation,
                    "The EXIF orientation read from the file, 1..8 (1 when absent or not applied).")
      .def_readonly("decode_ms", &PyDecodedImage::decode_ms, "Milliseconds spent decoding.")
      .def_readonly("orient_ms", &PyDecodedImage::orient_ms, "Milliseconds spent applying the EXIF orientation.")
      .def("__repr__", &repr);

  m.def(
      "decode",
      [](const py::buffer& data, std::uint64_t max_pixels, bool apply_exif_orientation) {
        ByteView bytes(data, "data");
        DecodeOptions options = decode_options(max_pixels, apply_exif_orientation);
        DecodedImage decoded = without_gil([&] { return decode_image(bytes.data(), bytes.size(), options); });
        return PyDecodedImage{to_array(std::move(decoded.rgb)), to_array_or_none(std::move(decoded.alpha)),
                              decoded.exif_orientation, decoded.decode_ms, decoded.orient_ms};
      },
      py::arg("data"), py::arg("max_pixels") = decode_defaults.max_pixels,
      py::arg("apply_exif_orientation") = decode_defaults.apply_exif_orientation,
      "Decodes PNG or JPEG bytes to RGB (plus alpha). Raises DecodeError for bytes that are not a\n"
      "complete image and TooLargeError, before allocating, when the header claims more than\n"
      "max_pixels pixels. JPEGs are turned upright by their EXIF orientation unless disabled.");

  m.def(
      "decode_mask",
      [](const py::buffer& data, std::uint64_t max_pixels, bool apply_exif_orientation) {
        ByteView bytes(data, "data");
        DecodeOptions options = decode_options(max_pixels, apply_exif_orientation);
        Image mask = without_gil([&] { return inpaint::decode_mask(bytes.data(), bytes.size(), options); });
        return to_array(std::move(mask));
      },
      py::arg("data"), py::arg("max_pixels") = decode_defaults.max_pixels,
      py::arg("apply_exif_orientation") = decode_defaults.apply_exif_orientation,
      "Decodes mask bytes to a uint8 array (height, width): luma, or alpha for masks painted on a\n"
      "transparent layer. Values are as stored (255 = hole); threshold them with clean_mask.");

  m.def(
      "encode",
      [](const py::array& image, const std::string& format, int quality, const std::optional<py::array>& alpha) {
        EncodeOptions options;
        options.format = format_from_name(format);
        options.quality = quality;
        ImageView pixels = image_view(image, "image", Pixels::RgbOrGrey);
        ImageView alpha_pixels = alpha ? image_view(*alpha, "alpha", Pixels::Mask) : ImageView{};
        auto encoded = without_gil([&] { return encode_image(pixels, options, alpha_pixels); });
        return to_bytes(encoded);
      },
      py::arg("image").noconvert(), py::arg("format") = default_format, py::arg("quality") = encode_defaults.quality,
      py::arg("alpha").noconvert() = py::none(),
      "Encodes a uint8 RGB (height, width, 3) or grey (height, width) array as 'png' or 'jpeg'\n"
      "(quality 1..100). alpha, a (height, width) array, makes a PNG with transparency.");

  m.def(
      "read_file",
      [](const std::filesystem::path& path) {
        auto bytes = without_gil([&] { return inpaint::read_file(path.string()); });
        return to_bytes(bytes);
      },
      py::arg("path"), "Returns a file's bytes. Raises FileError naming the path when it cannot be read.");

  m.def(
      "write_file_atomic",
      [](const std::filesystem::path& path, const py::buffer& data) {
        ByteView bytes(data, "data");
        without_gil([&] { inpaint::write_file_atomic(path.string(), bytes.data(), bytes.size()); });
      },
      py::arg("path"), py::arg("data"),
      "Writes bytes to a temporary file beside path and renames it over path: readers never see a\n"
      "partial file, and a failure (FileError) leaves nothing behind.");
}

}  // namespace inpaint::python
