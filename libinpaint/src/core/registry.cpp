// The type-independent half of BasicRegistry<T>: the table, its lock, the checks and messages.
#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "core/spec_syntax.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/registry.hpp"

namespace inpaint::detail {

namespace {

bool valid_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

std::string key_names(const std::vector<SpecKey>& keys) {
  std::string out;
  for (const SpecKey& key : keys) out += (out.empty() ? "" : ", ") + key.name;
  return out;
}

}  // namespace

struct RegistryCore::Entry {
  ModelInfo info;
  bool check_keys = true;
  std::shared_ptr<const void> factory;  // a BasicRegistry<T>::Factory
};

struct RegistryCore::Impl {
  std::string kind;
  mutable std::shared_mutex mutex;
  std::map<std::string, Entry> entries;
};

RegistryCore::RegistryCore(std::string kind) : impl_(std::make_unique<Impl>()) { impl_->kind = std::move(kind); }
RegistryCore::~RegistryCore() = default;

void RegistryCore::add(ModelInfo info, bool check_keys, std::shared_ptr<const void> factory) {
  const std::string& kind = impl_->kind;
  if (!valid_name(info.name))
    throw Error(ErrorCode::InvalidArgument, kind + " name " + quoted(info.name) + " must be [a-z0-9_-]+");
  if (!factory) throw Error(ErrorCode::InvalidArgument, kind + " " + quoted(info.name) + ": factory is empty");
  for (std::size_t i = 0; i < info.keys.size(); ++i) {
    const std::string& key = info.keys[i].name;
    if (!valid_spec_key(key))
      throw Error(ErrorCode::InvalidArgument, kind + " " + quoted(info.name) + ": key " + quoted(key) +
                                                  " is not a spec key (letters, digits, '_', '.' or '-')");
    for (std::size_t j = 0; j < i; ++j)
      if (info.keys[j].name == key)
        throw Error(ErrorCode::InvalidArgument, kind + " " + quoted(info.name) + ": key " + quoted(key) + " is declared twice");
  }
  std::string name = info.name;
  std::unique_lock lock(impl_->mutex);
  if (!impl_->entries.emplace(name, Entry{std::move(info), check_keys, std::move(factory)}).second)
    throw Error(ErrorCode::InvalidArgument, kind + " " + quoted(name) + " is already registered");
}

bool RegistryCore::contains(const std::string& name) const {
  std::shared_lock lock(impl_->mutex);
  return impl_->entries.count(name) != 0;
}

std::vector<ModelInfo> RegistryCore::list() const {
  std::shared_lock lock(impl_->mutex);
  std::vector<ModelInfo> out;
  for (const auto& [name, entry] : impl_->entries) out.push_back(entry.info);
  return out;
}

const RegistryCore::Entry& RegistryCore::entry(const std::string& name) const {
  auto it = impl_->entries.find(name);
  if (it == impl_->entries.end()) {
    std::string known;
    for (const auto& [other, entry] : impl_->entries) known += (known.empty() ? "" : ", ") + other;
    throw Error(ErrorCode::UnknownModel, "unknown " + impl_->kind + " " + quoted(name) + " (registered: " + known + ")");
  }
  return it->second;
}

std::shared_ptr<const void> RegistryCore::factory(const std::string& name) const {
  std::shared_lock lock(impl_->mutex);
  return entry(name).factory;
}

std::shared_ptr<const void> RegistryCore::factory_for(const ModelSpec& spec) const {
  const std::string& kind = impl_->kind;
  std::shared_lock lock(impl_->mutex);
  const Entry& entry = this->entry(spec.name);
  if (entry.check_keys) {
    // Checked here, before the factory runs, so that what the listing says a model takes is
    // exactly what it accepts, for user models as for the built-in ones.
    std::string unknown;
    for (const auto& param : spec.params) {
      const std::string& key = param.first;  // not a structured binding: C++17 lambdas cannot capture one
      auto& keys = entry.info.keys;
      if (std::none_of(keys.begin(), keys.end(), [&](const SpecKey& k) { return k.name == key; }))
        unknown += (unknown.empty() ? "" : ", ") + printable(key, 60);
    }
    if (!unknown.empty()) {
      std::string takes = key_names(entry.info.keys);
      throw Error(ErrorCode::InvalidArgument, kind + " " + quoted(spec.name) + ": unknown key(s) " + unknown +
                                                  (takes.empty() ? " (it takes none)" : " (it takes " + takes + ")"));
    }
  }
  return entry.factory;
}

void RegistryCore::made_nothing(const ModelSpec& spec) const {
  throw Error(ErrorCode::Internal, impl_->kind + " " + quoted(spec.name) + ": factory returned nothing");
}

}  // namespace inpaint::detail
