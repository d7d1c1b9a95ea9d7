#pragma once
// Spec strings and the one registry mechanism that every kind of model uses (fill models,
// segmenters, and the kinds still to come). Standard headers only: consumers include it
// without LibTorch or OpenCV.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint {

// A spec string: "name" or "name:key=value,key=value,...".
//   name   [a-z0-9_-]+
//   key    [A-Za-z0-9_.-]+, each key at most once
//   value  either unquoted: the text up to the next ',' (it may hold '=', spaces and
//          backslashes, which are taken as they are, and quotes anywhere but at its start);
//          or quoted: it starts with ' or " and ends at the same quote, and may then hold
//          ',', '=', spaces and anything else. Inside quotes \\ is one backslash and a
//          backslash before the opening quote character is that character; any other
//          backslash is kept as it is (so C:\models\a.pt needs no doubling). The closing
//          quote must be followed by ',' or the end.
// Values are never empty (not even as ''). parse() throws Error(Parse) naming what is wrong and
// where (positions count bytes from 0): a bad name or key, a missing '=', an empty value, a key
// given twice, a quote never closed, text after a closing quote.
struct INPAINT_CXX_API ModelSpec {
  std::string name;
  std::map<std::string, std::string> params;

  static ModelSpec parse(const std::string& spec);
  // The canonical form: keys sorted, a value quoted only when it must be (it holds ',' or starts
  // with a quote), in single quotes with ' and \ escaped. parse(str()) gives back the same spec
  // for every spec that parse() accepts.
  std::string str() const;

  bool operator==(const ModelSpec& other) const { return name == other.name && params == other.params; }
  bool operator!=(const ModelSpec& other) const { return !(*this == other); }
};

// Typed access to a spec's parameters that remembers which keys were read, so a factory can
// reject keys it does not know (a typo must not be silently ignored).
class INPAINT_CXX_API SpecReader {
 public:
  explicit SpecReader(const ModelSpec& spec);
  std::string get_string(const std::string& key, const std::string& fallback);
  int get_int(const std::string& key, int fallback, int min_value, int max_value);
  double get_double(const std::string& key, double fallback, double min_value, double max_value);
  // Throws Error(InvalidArgument) naming every key that was never read.
  void finish() const;

 private:
  const ModelSpec& spec_;
  std::vector<std::string> read_;
};

// One spec key a model takes, for listings: {"radius", "1..64, default 5"}.
struct SpecKey {
  std::string name;
  std::string doc;  // short: the range or choices and the default
};

// One registry entry as listed.
struct ModelInfo {
  std::string name;
  std::string description;   // one line
  std::vector<SpecKey> keys;  // in the order the model documents them
};

namespace detail {

// The part of every registry that does not depend on the model type: the table, its lock, name
// and key checks and the error messages. BasicRegistry<T> is a typed face on it.
class INPAINT_CXX_API RegistryCore {
 public:
  // kind names the entries in messages: "model", "segmenter".
  explicit RegistryCore(std::string kind);
  ~RegistryCore();
  RegistryCore(const RegistryCore&) = delete;
  RegistryCore& operator=(const RegistryCore&) = delete;

  // Error(InvalidArgument) when the name is taken or not [a-z0-9_-]+, a key name is not a valid
  // spec key or is declared twice, or factory is null. check_keys false: the keys were not
  // declared (Registry's three-argument add) and create() leaves all key checks to the factory.
  void add(ModelInfo info, bool check_keys, std::shared_ptr<const void> factory);
  bool contains(const std::string& name) const;
  std::vector<ModelInfo> list() const;  // sorted by name
  // The factory registered as name; Error(UnknownModel) listing the registered names.
  std::shared_ptr<const void> factory(const std::string& name) const;
  // factory(spec.name), after checking spec's keys against the declared ones: Error(InvalidArgument)
  // naming an undeclared key and the keys the entry takes.
  std::shared_ptr<const void> factory_for(const ModelSpec& spec) const;
  // Error(Internal): a factory returned null.
  [[noreturn]] void made_nothing(const ModelSpec& spec) const;

 private:
  struct Entry;
  struct Impl;
  const Entry& entry(const std::string& name) const;  // the caller holds the lock
  std::unique_ptr<Impl> impl_;
};

}  // namespace detail

// A name-keyed table of factories that make a T from a spec. Filled explicitly (each kind has a
// register_builtin_... function and users call add); nothing registers itself, so it works the
// same with static linking. Adding, listing and creating may happen from any threads at once;
// a factory runs outside the lock, so loading one model does not hold up the others.
template <typename T>
class BasicRegistry {
 public:
  using Factory = std::function<std::unique_ptr<T>(const ModelSpec&)>;

  explicit BasicRegistry(std::string kind) : core_(std::move(kind)) {}

  // Registers a factory with a one-line description and the keys it takes. create() rejects
  // any other key before calling the factory, so keys must list every key the factory reads.
  void add(const std::string& name, const std::string& description, std::vector<SpecKey> keys, Factory factory) {
    add_entry(name, description, std::move(keys), true, std::move(factory));
  }
  bool contains(const std::string& name) const { return core_.contains(name); }
  std::vector<ModelInfo> list() const { return core_.list(); }  // sorted by name

  // Parses the spec (Error(Parse)), finds the factory (Error(UnknownModel) listing the names),
  // checks the keys (Error(InvalidArgument)) and returns what the factory makes.
  // The factory registered as name, called as it is (no key check): for a model that wraps
  // another one, e.g. a registered name with other defaults. Error(UnknownModel).
  Factory factory(const std::string& name) const {
    return *std::static_pointer_cast<const Factory>(core_.factory(name));
  }

  std::unique_ptr<T> create(const std::string& spec) const { return create(ModelSpec::parse(spec)); }
  std::unique_ptr<T> create(const ModelSpec& spec) const {
    auto factory = std::static_pointer_cast<const Factory>(core_.factory_for(spec));
    std::unique_ptr<T> made = (*factory)(spec);
    if (!made) core_.made_nothing(spec);
    return made;
  }

 protected:
  void add_entry(const std::string& name, const std::string& description, std::vector<SpecKey> keys,
                 bool check_keys, Factory factory) {
    std::shared_ptr<const void> erased;
    if (factory) erased = std::make_shared<const Factory>(std::move(factory));
    core_.add({name, description, std::move(keys)}, check_keys, std::move(erased));
  }

 private:
  detail::RegistryCore core_;
};

}  // namespace inpaint
