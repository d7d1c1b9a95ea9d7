// fill() and run(): the pipeline on pixels and on encoded bytes, with keyword options that
// mirror inpaint::PipelineOptions.
#include <functional>
#include <string>

#include "convert.hpp"
#include "inpaint/error.hpp"
#include "inpaint/pipeline.hpp"
#include "module.hpp"

namespace inpaint::python {

namespace {

// The pipeline's result; the arrays own their pixels.
struct PyResult {
  py::array image;
  py::object alpha;
  py::object encoded;
  py::object preview;
  std::string strategy;
  int regions;
  bool mask_empty;
  py::object hole;
  py::dict timings;
};

// One keyword option: its name, the type named in errors, whether only run() takes it (it
// concerns decoding or encoding), and how it sets PipelineOptions.
struct Option {
  const char* name;
  const char* type;
  bool run_only;
  std::function<void(PipelineOptions&, py::handle)> set;
};

// Strict: an int option refuses 2.5 and a bool option refuses 1, instead of guessing.
template <typename T>
T value_of(py::handle value, const char* function, const Option& option) {
  py::detail::make_caster<T> caster;
  if (!caster.load(value, /*convert=*/false))
    throw py::type_error(std::string(function) + "(): " + option.name + " must be " + option.type + ", got " +
                         std::string(py::repr(value)));
  return py::detail::cast_op<T>(std::move(caster));
}

const std::vector<Option>& options_table() {
  static const std::vector<Option> table = [] {
    std::vector<Option> t;
    auto add = [&t](const char* name, const char* type, bool run_only, auto set) {
      t.push_back({name, type, run_only, set});
    };
    // value_of needs the Option for its message: each setter finds it by name in the table.
#define INPAINT_SETTER(TYPE, EXPR)                                                       \
  [](PipelineOptions& o, py::handle v, const char* fn, const Option& opt) { \
    TYPE value = value_of<TYPE>(v, fn, opt);                                            \
    EXPR;                                                                                \
  }
#undef INPAINT_SETTER
    (void)add;
    return t;
  }();
  return table;
}

}  // namespace

}  // namespace inpaint::python
