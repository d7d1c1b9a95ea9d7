#pragma once
// Per-call model parameters (seed, steps, guidance, ...) and a model's preferred working geometry.
// A model declares what it takes; the pipeline checks a request's values against the declaration
// before any decoding and hands the model the complete, typed map.
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint {

// The order matches ParamValue's alternatives, so ParamType(value.index()) is a value's type.
enum class ParamType { Bool, Int, Float, String };

// "bool", "int", "float", "string".
INPAINT_CXX_API const char* param_type_name(ParamType type) noexcept;

using ParamValue = std::variant<bool, std::int64_t, double, std::string>;

inline ParamType param_type(const ParamValue& value) noexcept { return static_cast<ParamType>(value.index()); }

// The value as text: "true"/"false", "42", "0.5" (the shortest text that reads back the same),
// or the string itself. Strings in this form read back through parse_param_value.
INPAINT_CXX_API std::string param_value_text(const ParamValue& value);

// Reads text as a value of `type` (the form the CLI and the C API carry): "true"/"false"/"1"/"0"
// for bool, a decimal integer for int, a finite decimal number for float. Throws
// Error(InvalidArgument) naming `name` and the type when the text is not one.
INPAINT_CXX_API ParamValue parse_param_value(ParamType type, const std::string& text, const std::string& name);

// One per-call parameter a model takes.
struct ParamSpec {
  std::string name;  // [a-z0-9_]+
  ParamType type = ParamType::Int;
  ParamValue default_value = std::int64_t(0);  // of `type`; used when a call does not give it
  // Inclusive range for int and float values; ignored for bool and string.
  double min_value = -std::numeric_limits<double>::infinity();
  double max_value = std::numeric_limits<double>::infinity();
  std::string doc;  // one line
};

// Per-call values by name. Before validation a value may be text of any declared type (from the
// CLI or C); after resolve_params every declared name is present with its declared type.
class INPAINT_CXX_API CallParams {
 public:
  CallParams() = default;
  CallParams(std::initializer_list<std::pair<const std::string, ParamValue>> values) : values_(values) {}

  void set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }
  bool contains(const std::string& name) const { return values_.count(name) != 0; }
  bool empty() const noexcept { return values_.empty(); }
  const std::map<std::string, ParamValue>& values() const noexcept { return values_; }

  // The value of `name`, or fallback when absent (a model called outside the pipeline gets no
  // map). Throws Error(InvalidArgument) when the value has another type; an int reads as float.
  bool get_bool(const std::string& name, bool fallback) const;
  std::int64_t get_int(const std::string& name, std::int64_t fallback) const;
  double get_float(const std::string& name, double fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;

 private:
  std::map<std::string, ParamValue> values_;
};

// Checks `given` against `declared` and returns every declared parameter: the given value, or the
// default. Text values are read as the declared type; an int is accepted for a float. Throws
// Error(InvalidArgument) for a name nobody declared (listing the declared ones), a value of
// another type, or one out of range; each message names `owner` (e.g. "model 'patchmatch'") and
// the parameter. Also checks the declarations themselves (unique names, defaults in range).
INPAINT_CXX_API CallParams resolve_params(const std::vector<ParamSpec>& declared, const CallParams& given,
                                          const std::string& owner);

// The sizes a model wants to see. The pipeline scales what it hands the model (the whole photo,
// a crop box, or the Resize strategy's image) so that the long side lies in
// [min_long_side, max_long_side], then pads width and height by mirroring up to multiples of
// multiple_of, and maps the result back; the composite outside the hole stays the input's.
// Bounds that are set must be multiples of multiple_of, so padding never leaves the range.
struct ModelGeometry {
  int multiple_of = 1;    // 1..4096
  int min_long_side = 0;  // 0 = no lower bound; smaller inputs are scaled up
  int max_long_side = 0;  // 0 = no upper bound; larger inputs are scaled down
};

// Throws Error(InvalidArgument) naming owner when the fields break the rules above.
INPAINT_CXX_API void validate_geometry(const ModelGeometry& geometry, const std::string& owner);

}  // namespace inpaint
