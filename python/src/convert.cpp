#include "convert.hpp"

#include <climits>
#include <string>

#include "inpaint/error.hpp"

namespace inpaint::python {

namespace {

std::string shape_text(const py::array& array) {
  std::string text = "(";
  for (py::ssize_t i = 0; i < array.ndim(); ++i)
    text += (i ? ", " : "") + std::to_string(array.shape(i));
  return text + (array.ndim() == 1 ? ",)" : ")");
}

const char* expected_shape(Pixels pixels) {
  switch (pixels) {
    case Pixels::Mask: return "(height, width)";
    case Pixels::Rgb: return "(height, width, 3)";
    case Pixels::RgbOrGrey: return "(height, width, 3) or (height, width)";
  }
  return "";
}

bool shape_fits(const py::array& array, Pixels pixels) {
  switch (pixels) {
    case Pixels::Mask: return array.ndim() == 2;
    case Pixels::Rgb: return array.ndim() == 3 && array.shape(2) == 3;
    case Pixels::RgbOrGrey:
      return array.ndim() == 2 || (array.ndim() == 3 && (array.shape(2) == 3 || array.shape(2) == 1));
  }
  return false;
}

// numpy has no bfloat16 or float8: those travel as their raw bits (uint16, uint8).
py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::Bool: return py::dtype("bool");
    case DType::U8: case DType::F8_E4M3: case DType::F8_E5M2: case DType::F8_E8M0: return py::dtype("uint8");
    case DType::I8: return py::dtype("int8");
    case DType::U16: case DType::BF16: return py::dtype("uint16");
    case DType::I16: return py::dtype("int16");
    case DType::U32: return py::dtype("uint32");
    case DType::I32: return py::dtype("int32");
    case DType::U64: return py::dtype("uint64");
    case DType::I64: return py::dtype("int64");
    case DType::F16: return py::dtype("float16");
    case DType::F32: return py::dtype("float32");
    case DType::F64: return py::dtype("float64");
  }
  return py::dtype("uint8");
}

}  // namespace

// A read-only view of the tensor's bytes; the capsule keeps the buffer (a file's bytes, a Redis reply)
// alive as long as the array or a view of it lives.
py::array tensor_to_numpy(const HostTensor& tensor) {
  auto* owner = new HostTensor(tensor);
  py::capsule capsule(owner, [](void* p) { delete static_cast<HostTensor*>(p); });
  std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
  py::array array(numpy_dtype(tensor.dtype()), shape, {}, tensor.data(), capsule);
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return array;
}

ImageView image_view(const py::array& array, const char* name, Pixels pixels) {
  const py::dtype dtype = array.dtype();
  if (dtype.kind() != 'u' || dtype.itemsize() != 1)
    throw py::type_error(std::string(name) + " must be a uint8 array, got dtype " +
                         std::string(py::str(py::handle(dtype))) +
                         " (convert it explicitly, e.g. with .astype(numpy.uint8))");
  if (!(array.flags() & py::array::c_style))
    throw py::type_error(std::string(name) +
                         " must be C-contiguous (pass numpy.ascontiguousarray(...) to copy it)");
  if (!shape_fits(array, pixels))
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " must have shape " + expected_shape(pixels) +
                                                ", got " + shape_text(array));
  const py::ssize_t height = array.shape(0), width = array.shape(1);
  if (height == 0 || width == 0)
    throw Error(ErrorCode::InvalidArgument, std::string(name) + " is empty: shape " + shape_text(array));
  if (height > INT_MAX || width > INT_MAX)
    throw Error(ErrorCode::TooLarge, std::string(name) + " is too large: shape " + shape_text(array));
  const int channels = array.ndim() == 3 ? int(array.shape(2)) : 1;
  return {static_cast<const std::uint8_t*>(array.data()), int(width), int(height), channels, 0};
}

py::array to_array(Image&& image) {
  auto* owner = new Image(std::move(image));
  // The capsule frees the image when the last array (or view of it) goes away.
  py::capsule capsule(owner, [](void* p) { delete static_cast<Image*>(p); });
  std::vector<py::ssize_t> shape = {owner->height(), owner->width()};
  if (owner->channels() != 1) shape.push_back(owner->channels());
  return py::array(py::dtype::of<std::uint8_t>(), shape, {}, owner->data(), capsule);
}

py::object to_array_or_none(Image&& image) {
  if (image.empty()) return py::none();
  return to_array(std::move(image));
}

py::dict load_info_dict(const ModelLoadInfo& info) {
  py::dict d;
  d["device"] = info.device;
  d["load_ms"] = info.load_ms;
  d["warmup_ms"] = info.warmup_ms;
  d["backend_ms"] = info.backend_ms;
  d["weight_bytes"] = info.weight_bytes;
  return d;
}

RunControl* cancel_token(const py::object& token, const char* function) {
  if (token.is_none()) return nullptr;
  if (!py::isinstance<RunControl>(token))
    throw py::type_error(std::string(function) + "(): cancel must be a CancelToken or None, got " +
                         std::string(py::repr(token)));
  return token.cast<RunControl*>();
}

py::bytes to_bytes(const std::vector<std::uint8_t>& data) {
  return py::bytes(reinterpret_cast<const char*>(data.data()), data.size());
}

std::string utf8_text(const py::str& text, const char* name) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
  if (!data) {
    PyErr_Clear();
    throw Error(ErrorCode::InvalidArgument, std::string(name) +
                                                " is not valid text: it holds a code point that UTF-8 cannot encode "
                                                "(a lone surrogate such as '\\udc80')");
  }
  return std::string(data, std::size_t(size));
}

ImageFormat format_from_name(const std::string& name) {
  if (name == "png") return ImageFormat::Png;
  if (name == "jpeg" || name == "jpg") return ImageFormat::Jpeg;
  throw Error(ErrorCode::InvalidArgument, "format '" + name + "' is not one of png, jpeg");
}

MaskBackend mask_backend_from_name(const std::string& name) {
  if (name == "opencv") return MaskBackend::OpenCV;
  if (name == "tensor") return MaskBackend::Tensor;
  throw Error(ErrorCode::InvalidArgument, "mask backend '" + name + "' is not one of opencv, tensor");
}

ByteView::ByteView(const py::buffer& buffer, const char* name) {
  if (PyObject_GetBuffer(buffer.ptr(), &view_, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + " must be contiguous bytes (bytes, bytearray or memoryview)");
  }
}

ByteView::~ByteView() { PyBuffer_Release(&view_); }

CallParams call_params(const py::object& params, const char* function) {
  CallParams out;
  if (params.is_none()) return out;
  if (!py::isinstance<py::dict>(params))
    throw py::type_error(std::string(function) + "(): params must be a dict or None, got " + std::string(py::repr(params)));
  for (auto item : py::reinterpret_borrow<py::dict>(params)) {
    std::string where = std::string(function) + "(): params";
    if (!py::isinstance<py::str>(item.first))
      throw py::type_error(where + " keys must be str, got " + std::string(py::repr(item.first)));
    std::string key = utf8_text(py::reinterpret_borrow<py::str>(item.first), where.c_str());
    py::handle value = item.second;
    // bool first: Python's bool is an int, but True is no seed.
    if (py::isinstance<py::bool_>(value)) {
      out.set(key, value.cast<bool>());
    } else if (py::isinstance<py::int_>(value)) {
      long long whole = PyLong_AsLongLong(value.ptr());
      if (whole == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        throw Error(ErrorCode::InvalidArgument, where + "['" + key + "'] does not fit in 64 bits");
      }
      out.set(key, std::int64_t(whole));
    } else if (py::isinstance<py::float_>(value)) {
      out.set(key, value.cast<double>());
    } else if (py::isinstance<py::str>(value)) {
      out.set(key, utf8_text(py::reinterpret_borrow<py::str>(value), (where + "['" + key + "']").c_str()));
    } else {
      throw py::type_error(where + "['" + key + "'] must be a bool, int, float or str, got " +
                           std::string(py::repr(value)));
    }
  }
  return out;
}

py::object param_to_python(const ParamValue& value) {
  switch (param_type(value)) {
    case ParamType::Bool: return py::bool_(std::get<bool>(value));
    case ParamType::Int: return py::int_(std::get<std::int64_t>(value));
    case ParamType::Float: return py::float_(std::get<double>(value));
    case ParamType::String: return py::str(std::get<std::string>(value));
  }
  return py::none();
}

}  // namespace inpaint::python
