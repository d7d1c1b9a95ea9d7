#pragma once
// Conversions between Python objects and the library's types. Inputs are viewed in place (no
// copies); outputs hand their buffers to Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/model.hpp"
#include "inpaint/tensor.hpp"

namespace inpaint::python {

namespace py = pybind11;

// The shapes an input array may have.
enum class Pixels {
  Mask,       // (height, width)
  Rgb,        // (height, width, 3)
  RgbOrGrey,  // (height, width, 3), (height, width, 1) or (height, width)
};

// A view of a numpy array's pixels. Raises TypeError unless it is a C-contiguous uint8 array
// (converting would copy silently) and InvalidArgumentError for a wrong or empty shape.
ImageView image_view(const py::array& array, const char* name, Pixels pixels);

// Hands the image to a numpy array that owns it through a capsule: (h, w) for one channel,
// (h, w, c) otherwise. No pixel is copied.
py::array to_array(Image&& image);

// The array, or None for an empty image (an absent alpha channel).
py::object to_array_or_none(Image&& image);

// A read-only numpy view of a tensor's bytes (no copy) that keeps the buffer alive. numpy has no
// bfloat16 or float8: those come as their raw bits (uint16, uint8).
py::array tensor_to_numpy(const HostTensor& tensor);

// {'device', 'load_ms', 'warmup_ms'}: what loading a model or segmenter cost and where it runs.
py::dict load_info_dict(const ModelLoadInfo& info);

// The RunControl behind a `cancel=` argument: a CancelToken, or nullptr for None. Anything else
// raises TypeError naming function(). The caller's argument keeps the token alive for the call.
RunControl* cancel_token(const py::object& token, const char* function);

py::bytes to_bytes(const std::vector<std::uint8_t>& data);

// The `params=` argument of fill(), run() and Model.inpaint(): None or a dict of str to bool,
// int, float or str (kept as given; the pipeline checks them against the model). Anything else
// raises TypeError naming function() and the key.
CallParams call_params(const py::object& params, const char* function);

// A ParamValue as Python's bool, int, float or str.
py::object param_to_python(const ParamValue& value);

// The UTF-8 text of a str. A str that has no UTF-8 form (a lone surrogate, as
// os.fsdecode or a broken JSON decoder can produce) raises InvalidArgumentError naming `name`.
std::string utf8_text(const py::str& text, const char* name);

// "png" or "jpeg" (also "jpg"); anything else raises InvalidArgumentError.
ImageFormat format_from_name(const std::string& name);
// "opencv" or "tensor"; anything else raises InvalidArgumentError.
MaskBackend mask_backend_from_name(const std::string& name);

// The bytes of a bytes-like object (bytes, bytearray, memoryview, ...), held for the view's
// lifetime so that nothing can resize them while the GIL is released. Create and destroy it
// with the GIL held.
class ByteView {
 public:
  ByteView(const py::buffer& buffer, const char* name);
  ~ByteView();
  ByteView(const ByteView&) = delete;
  ByteView& operator=(const ByteView&) = delete;

  const std::uint8_t* data() const { return static_cast<const std::uint8_t*>(view_.buf); }
  std::size_t size() const { return std::size_t(view_.len); }

 private:
  Py_buffer view_{};
};

// Runs native work with the GIL released, so other Python threads run meanwhile. The work
// must not touch Python objects; its result is converted afterwards, with the GIL held.
template <typename Work>
auto without_gil(Work&& work) {
  py::gil_scoped_release release;
  return std::forward<Work>(work)();
}

}  // namespace inpaint::python
