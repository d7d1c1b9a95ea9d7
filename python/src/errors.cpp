// inpaint.Error and one subclass per inpaint::ErrorCode, and the translator that raises them.
#include <pybind11/pybind11.h>

#include <array>
#include <new>
#include <string>

#include "inpaint/error.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

struct ErrorClass {
  ErrorCode code;
  const char* name;
  PyObject* python_base;  // a second base besides inpaint.Error, or nullptr
  const char* doc;
};

const ErrorClass kErrorClasses[] = {
    {ErrorCode::InvalidArgument, "InvalidArgumentError", PyExc_ValueError,
     "A parameter is out of range or inconsistent (a wrong shape, an unknown option value)."},
    {ErrorCode::Decode, "DecodeError", PyExc_ValueError,
     "The bytes are not a readable image (PNG or JPEG) or safetensors file: empty, truncated, malformed."},
    {ErrorCode::TooLarge, "TooLargeError", PyExc_ValueError,
     "An image exceeds the pixel limit (max_pixels); raised before its pixels are allocated."},
    {ErrorCode::Io, "FileError", PyExc_OSError, "A file cannot be read or written."},
    {ErrorCode::UnknownModel, "UnknownModelError", PyExc_ValueError,
     "A model spec names no registered model; the message lists the registered names."},
    {ErrorCode::Parse, "ParseError", PyExc_ValueError, "Malformed JSON or a malformed model spec."},
    {ErrorCode::Cancelled, "CancelledError", nullptr, "The caller asked the operation to stop."},
    {ErrorCode::Internal, "InternalError", nullptr, "A bug or an unexpected failure inside the library."},
    {ErrorCode::Unavailable, "UnavailableError", PyExc_ConnectionError,
     "A service the call needs (Redis) cannot be reached or stopped answering."},
    {ErrorCode::Timeout, "WaitTimeoutError", PyExc_TimeoutError,
     "A bounded wait ran out (a model's concurrency limit: every slot stayed busy for wait_ms)."},
};

// Indexed by the ErrorCode value; the module holds the classes for the life of the process.
std::array<PyObject*, 16> g_classes{};

py::object new_exception_class(const std::string& name, py::tuple bases, const char* doc, py::object code) {
  std::string qualified = "inpaint." + name;  // __module__ "inpaint": where users find it
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!cls) throw py::error_already_set();
  py::object result = py::reinterpret_steal<py::object>(cls);
  result.attr("code") = code;
  return result;
}

void raise(const Error& error) {
  PyObject* cls = g_classes[std::size_t(error.code())];
  if (!cls) cls = g_classes[std::size_t(ErrorCode::Internal)];
  PyErr_SetString(cls, error.what());
}

}  // namespace

void bind_errors(py::module_& m) {
  py::object base = new_exception_class(
      "Error", py::make_tuple(py::handle(PyExc_Exception)),
      "Base class of every error inpaint raises. The message is the library's; the class "
      "attribute code names the kind (inpaint's error code name, None on this base class).",
      py::none());
  m.attr("Error") = base;
  for (const ErrorClass& spec : kErrorClasses) {
    py::tuple bases = spec.python_base ? py::make_tuple(base, py::handle(spec.python_base)) : py::make_tuple(base);
    py::object cls = new_exception_class(spec.name, bases, spec.doc, py::str(error_code_name(spec.code)));
    m.attr(spec.name) = cls;
    g_classes[std::size_t(spec.code)] = cls.inc_ref().ptr();  // never released: lives as long as the process
  }

  // Local: applies to this module's functions only, so other pybind11 modules keep their own
  // handling of std::exception.
  py::register_local_exception_translator([](std::exception_ptr pending) {
    try {
      if (pending) std::rethrow_exception(pending);
    } catch (const Error& error) {
      raise(error);
    } catch (const py::cast_error& e) {
      // A str that is not valid text (a lone surrogate) or an object of the wrong type, met
      // while converting an argument inside a binding.
      raise(Error(ErrorCode::InvalidArgument, std::string("an argument cannot be converted: ") + e.what()));
    } catch (const py::builtin_exception&) {
      throw;  // TypeError and friends raised on purpose by the bindings
    } catch (const py::error_already_set&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw;  // MemoryError
    } catch (const std::exception& e) {
      // A dependency's exception escaped the library (a bug there): still an inpaint.Error.
      raise(Error(ErrorCode::Internal, std::string("unexpected error: ") + e.what()));
    }
  });
}

}  // namespace inpaint::python
