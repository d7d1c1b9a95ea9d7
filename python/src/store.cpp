// Encodings (numpy arrays in, zero-copy read-only numpy views out), safetensors files, ids and
// the encoding stores.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <map>
#include <optional>

#include "convert.hpp"
#include "inpaint/error.hpp"
#include "inpaint/store.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

DType dtype_of_array(const py::array& array, const std::string& name) {
  const py::dtype d = array.dtype();
  const char kind = d.kind();
  const auto size = d.itemsize();
  if (kind == 'b' && size == 1) return DType::Bool;
  if (kind == 'f' && size == 2) return DType::F16;
  if (kind == 'f' && size == 4) return DType::F32;
  if (kind == 'f' && size == 8) return DType::F64;
  if (kind == 'u' || kind == 'i') {
    const bool is_signed = kind == 'i';
    switch (size) {
      case 1: return is_signed ? DType::I8 : DType::U8;
      case 2: return is_signed ? DType::I16 : DType::U16;
      case 4: return is_signed ? DType::I32 : DType::U32;
      case 8: return is_signed ? DType::I64 : DType::U64;
    }
  }
  throw py::type_error("tensor '" + name + "': numpy dtype " + std::string(py::str(py::handle(d))) +
                       " has no safetensors dtype");
}

// Keeps a numpy array alive for a tensor that views it. The last holder may be a store on a
// thread without the GIL (an eviction), so the release takes the GIL.
std::shared_ptr<const void> keep_alive(const py::array& array) {
  auto* held = new py::object(array);
  return std::shared_ptr<const void>(held, [](const void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<const py::object*>(p);
  });
}

void add_tensor(Encoding& encoding, const std::string& name, const py::array& array, const std::optional<std::string>& dtype,
                bool copy) {
  if (name.empty() || name == "__metadata__") throw Error(ErrorCode::InvalidArgument, "tensor name must be non-empty and not '__metadata__'");
  if (!(array.flags() & py::array::c_style))
    throw py::type_error("tensor '" + name + "' must be C-contiguous (pass numpy.ascontiguousarray(...) to copy it)");
  DType type = dtype_of_array(array, name);
  if (dtype) {
    DType wanted = parse_dtype(*dtype);
    if (dtype_size(wanted) != std::size_t(array.itemsize()))
      throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': dtype " + *dtype + " has " +
                                                  std::to_string(dtype_size(wanted)) + "-byte elements, the array " +
                                                  std::to_string(array.itemsize()));
    type = wanted;  // e.g. BF16 given as its uint16 bits
  }
  Shape shape(array.shape(), array.shape() + array.ndim());
  encoding.tensors[name] = copy ? HostTensor::copy_of(type, shape, array.data())
                                : HostTensor::wrap(type, shape, array.data(), keep_alive(array));
}

py::dict stats_dict(const StoreStats& s) {
  py::dict d;
  d["spec"] = s.spec;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["puts"] = s.puts;
  d["removes"] = s.removes;
  d["evictions"] = s.evictions;
  d["corrupt"] = s.corrupt;
  d["errors"] = s.errors;
  d["last_error"] = s.last_error;
  py::list tiers;
  for (const StoreStats& t : s.tiers) tiers.append(stats_dict(t));
  d["tiers"] = tiers;
  return d;
}

std::string repr(const Encoding& e) {
  std::string text = "Encoding(model_id=" + std::string(py::repr(py::str(e.metadata.model_id))) + ", tensors={";
  bool first = true;
  for (const auto& [name, t] : e.tensors) {
    text += (first ? "" : ", ") + std::string(py::repr(py::str(name))) + ": " + dtype_name(t.dtype()) + shape_text(t.shape());
    first = false;
  }
  return text + "})";
}

// The __metadata__ keys that EncodingMetadata's own fields write (safetensors.cpp): an extra pair
// of one of these names would be overwritten silently, so it is refused.
void set_extra(Encoding& e, const std::map<std::string, std::string>& extra) {
  static const char* const reserved[] = {"model_id",      "model_checksum",  "preprocessing", "dtype",         "image_sha256",
                                         "original_width", "original_height", "created_at",    "format_version"};
  for (const auto& [key, value] : extra) {
    if (key.empty()) throw Error(ErrorCode::InvalidArgument, "extra metadata keys must be non-empty");
    for (const char* name : reserved)
      if (key == name)
        throw Error(ErrorCode::InvalidArgument, "extra metadata key '" + key +
                                                    "' is one of the encoding's own fields; pass it as that argument");
  }
  e.metadata.extra = extra;
}

}  // namespace

void bind_store(py::module_& m) {
  py::class_<Encoding>(m, "Encoding", py::is_final(),
                       "An encoder's named feature tensors plus what makes them reusable (model, preprocessing,\n"
                       "image). Tensors come back as read-only numpy views of the stored bytes (no copy); BF16 and\n"
                       "F8 tensors as their raw bits (uint16, uint8). Copies share the tensors.")
      .def(py::init([](const std::string& model_id, const std::string& model_checksum, const std::string& preprocessing,
                       const std::string& dtype, const std::string& image_sha256, int original_width,
                       int original_height, std::int64_t created_at,
                       const std::optional<std::map<std::string, std::string>>& extra) {
             Encoding e;
             if (extra) set_extra(e, *extra);
             e.metadata.model_id = model_id;
             e.metadata.model_checksum = model_checksum;
             e.metadata.preprocessing = preprocessing;
             e.metadata.dtype = dtype;
             e.metadata.image_sha256 = image_sha256;
             e.metadata.original_width = original_width;
             e.metadata.original_height = original_height;
             e.metadata.created_at = created_at;
             return e;
           }),
           py::arg("model_id") = "", py::arg("model_checksum") = "", py::arg("preprocessing") = "",
           py::arg("dtype") = "", py::arg("image_sha256") = "", py::arg("original_width") = 0,
           py::arg("original_height") = 0, py::arg("created_at") = 0, py::arg("extra") = py::none(),
           "An encoding with no tensors yet; add them with add(). extra: other __metadata__ string\n"
           "pairs to write (not the names of the fields above).")
      .def("add", &add_tensor, py::arg("name"), py::arg("array").noconvert(), py::arg("dtype") = py::none(),
           py::arg("copy") = true,
           "Adds a C-contiguous numpy array as tensor `name` (replacing one of that name). Its dtype\n"
           "follows the array's unless dtype names another of the same element size, e.g. 'BF16' for\n"
           "bfloat16 bits held in a uint16 array, or 'F8_E4M3' for a uint8 one. copy=False shares the\n"
           "array's memory instead of copying it: the array must then not change while the encoding\n"
           "(or a store holding it in memory) lives.")
      .def("names", [](const Encoding& e) {
             std::vector<std::string> names;
             for (const auto& entry : e.tensors) names.push_back(entry.first);
             return names;
           }, "The tensor names, sorted.")
      .def("dtype_of", [](const Encoding& e, const std::string& name) { return std::string(dtype_name(e.tensor(name).dtype())); },
           py::arg("name"), "The safetensors dtype name of a tensor, e.g. 'BF16'.")
      .def("__getitem__", [](const Encoding& e, const std::string& name) { return tensor_to_numpy(e.tensor(name)); })
      .def("__contains__", [](const Encoding& e, const std::string& name) { return e.tensors.count(name) != 0; })
      .def("__len__", [](const Encoding& e) { return e.tensors.size(); })
      .def("__repr__", &repr)
      .def("to_bytes", [](const Encoding& e) {
             std::vector<std::uint8_t> bytes = without_gil([&] { return to_safetensors(e); });
             return to_bytes(bytes);
           }, "The safetensors form.")
      .def_static("from_bytes", [](const py::buffer& data) {
             ByteView view(data, "data");
             auto copy = std::make_shared<std::vector<std::uint8_t>>(view.data(), view.data() + view.size());
             return without_gil([&] { return parse_safetensors(copy->data(), copy->size(), copy); });
           }, py::arg("data"), "Parses safetensors bytes (copied once). Raises DecodeError naming the broken rule.")
      .def_property_readonly("nbytes", &Encoding::nbytes, "The tensors' bytes.")
      .def_property_readonly("model_id", [](const Encoding& e) { return e.metadata.model_id; })
      .def_property_readonly("model_checksum", [](const Encoding& e) { return e.metadata.model_checksum; })
      .def_property_readonly("preprocessing", [](const Encoding& e) { return e.metadata.preprocessing; })
      .def_property_readonly("dtype", [](const Encoding& e) { return e.metadata.dtype; })
      .def_property_readonly("image_sha256", [](const Encoding& e) { return e.metadata.image_sha256; })
      .def_property_readonly("original_width", [](const Encoding& e) { return e.metadata.original_width; })
      .def_property_readonly("original_height", [](const Encoding& e) { return e.metadata.original_height; })
      .def_property_readonly("created_at", [](const Encoding& e) { return e.metadata.created_at; })
      .def_property_readonly("format_version", [](const Encoding& e) { return e.metadata.format_version; })
      .def_property("extra", [](const Encoding& e) { return e.metadata.extra; }, &set_extra,
                    "Other __metadata__ pairs, as read from the file or to be written. A copy: assign a\n"
                    "whole dict to change them (its keys must not be the fields above).");

  m.def(
      "read_safetensors",
      [](const std::filesystem::path& path) { return without_gil([&] { return read_safetensors(path.string()); }); },
      py::arg("path"),
      "Reads a safetensors file into one buffer that the tensors share. Raises FileError when it\n"
      "cannot be opened and DecodeError naming the tensor and the rule when it is malformed or not a\n"
      "regular file.");
  m.def(
      "write_safetensors",
      [](const std::filesystem::path& path, const Encoding& encoding) {
        without_gil([&] { write_safetensors(path.string(), encoding); });
      },
      py::arg("path"), py::arg("encoding"), "Writes a safetensors file atomically (temporary file, fsync, rename).");
  m.def(
      "pixel_sha256",
      [](const py::array& pixels) {
        ImageView view = image_view(pixels, "pixels", Pixels::RgbOrGrey);
        return without_gil([&] { return pixel_sha256(view); });
      },
      py::arg("pixels").noconvert(), "The hex SHA-256 of decoded uint8 pixels together with their shape.");
  m.def(
      "encoding_id",
      [](const py::array& pixels, const std::string& model_id) {
        ImageView view = image_view(pixels, "pixels", Pixels::RgbOrGrey);
        return without_gil([&] { return encoding_id(view, model_id); });
      },
      py::arg("pixels").noconvert(), py::arg("model_id"),
      "The store id of an image's encoding by a model: from the decoded pixels' hash and the model id.");
  m.def("validate_encoding_id", &validate_encoding_id, py::arg("id"),
        "Raises InvalidArgumentError unless id is 1..128 characters of [A-Za-z0-9._-] without a leading dot.");

  py::class_<EncodingStore>(m, "Store", py::is_final(),
                            "An encoding store opened from a spec: 'memory:capacity=512MB',\n"
                            "'dir:path=/var/cache/enc,capacity=10GB', 'redis://host:6379/0?prefix=enc:&ttl=3600', or\n"
                            "tiers joined with '|' (fastest first). Any threads may share one; calls release the GIL.")
      .def(py::init([](const std::string& spec) { return without_gil([&] { return open_store(spec); }); }), py::arg("spec"),
           "Raises ParseError for a malformed spec, InvalidArgumentError for unknown keys or bad values.")
      .def_property_readonly("spec", &EncodingStore::spec, "The canonical spec.")
      .def_property_readonly("capacity", &EncodingStore::capacity, "The byte bound; 0 when the store sets none (Redis).")
      .def("exists", [](EncodingStore& s, const std::string& id) { return without_gil([&] { return s.exists(id); }); },
           py::arg("id"), "Whether id is stored.")
      .def("get", [](EncodingStore& s, const std::string& id) { return without_gil([&] { return s.get(id); }); },
           py::arg("id"), "The encoding, or None for a miss (a corrupt entry is a miss, removed). Raises\n"
                          "UnavailableError when the store (every tier) cannot be reached.")
      .def("put", [](EncodingStore& s, const std::string& id, const Encoding& e) { without_gil([&] { s.put(id, e); }); },
           py::arg("id"), py::arg("encoding"), "Stores or replaces; TooLargeError above the capacity.")
      .def("remove", [](EncodingStore& s, const std::string& id) { return without_gil([&] { return s.remove(id); }); },
           py::arg("id"), "True when something was removed.")
      .def("ids", [](EncodingStore& s) { return without_gil([&] { return s.ids(); }); }, "The ids held, sorted.")
      .def("usage", [](EncodingStore& s) {
             StoreUsage u = without_gil([&] { return s.usage(); });
             return py::make_tuple(u.entries, u.bytes);
           }, "(entries, bytes) held.")
      .def("stats", [](const EncodingStore& s) { return stats_dict(s.stats()); },
           "Counters: hits, misses, puts, removes, evictions, corrupt, errors, last_error, and 'tiers'\n"
           "(one dict per tier of a tiered store, whose errors count the times the tier was skipped).")
      .def("__repr__", [](const EncodingStore& s) { return "inpaint.Store(" + std::string(py::repr(py::str(s.spec()))) + ")"; });
}

}  // namespace inpaint::python
