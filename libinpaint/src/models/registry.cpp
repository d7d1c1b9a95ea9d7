// Model specs, the registry and the built-in list.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <shared_mutex>

#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "models/builtin.hpp"

namespace inpaint {

InpaintModel::~InpaintModel() = default;
ModelLoadInfo InpaintModel::load_info() const { return {}; }
bool InpaintModel::ready() const { return true; }

void RunControl::set_deadline(Clock::time_point deadline) noexcept {
  deadline_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
}

void RunControl::set_timeout(std::chrono::milliseconds timeout) noexcept { set_deadline(Clock::now() + timeout); }

bool RunControl::has_deadline() const noexcept {
  return deadline_ns_.load() != INT64_MAX || (follows_ && follows_->has_deadline());
}

RunControl::Clock::time_point RunControl::deadline() const noexcept {
  Clock::time_point own = Clock::time_point::max();
  if (std::int64_t ns = deadline_ns_.load(); ns != INT64_MAX)
    own = Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
  return follows_ ? std::min(own, follows_->deadline()) : own;
}

void RunControl::check(const char* stage) const {
  if (cancelled()) throw Error(ErrorCode::Cancelled, std::string("cancelled (") + stage + ")");
  if (has_deadline() && Clock::now() >= deadline())
    throw Error(ErrorCode::Timeout, std::string("deadline passed (") + stage + ")");
}

void RunControl::report(const char* stage, double fraction) const {
  check(stage);
  if (progress && !progress(fraction))
    throw Error(ErrorCode::Cancelled, std::string("cancelled by the progress callback (") + stage + ")");
}

void validate_request(const InpaintRequest& r) {
  if (r.image.empty() || r.image.channels != 3)
    throw Error(ErrorCode::InvalidArgument, "model input must be a non-empty RGB image, got " + std::to_string(r.image.width) +
                                                "x" + std::to_string(r.image.height) + "x" + std::to_string(r.image.channels));
  if (r.mask.empty() || r.mask.channels != 1 || r.mask.width != r.image.width || r.mask.height != r.image.height)
    throw Error(ErrorCode::InvalidArgument, "model mask must be one channel of the image's size, got " +
                                                std::to_string(r.mask.width) + "x" + std::to_string(r.mask.height) + "x" +
                                                std::to_string(r.mask.channels));
}

namespace {
bool valid_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}
}  // namespace

ModelSpec ModelSpec::parse(const std::string& text) {
  ModelSpec spec;
  auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  if (!valid_name(spec.name))
    throw Error(ErrorCode::Parse, "model spec " + detail::quoted(text) + ": the name must be [a-z0-9_-]+");
  if (colon == std::string::npos) return spec;
  std::string rest = text.substr(colon + 1);
  std::size_t pos = 0;
  while (pos <= rest.size()) {
    auto comma = rest.find(',', pos);
    std::string item = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw Error(ErrorCode::Parse, "model spec " + detail::quoted(text) + ": expected key=value, got " + detail::quoted(item));
    std::string key = item.substr(0, eq);
    if (!spec.params.emplace(key, item.substr(eq + 1)).second)
      throw Error(ErrorCode::Parse, "model spec " + detail::quoted(text) + ": key " + detail::quoted(key) + " given twice");
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return spec;
}

std::string ModelSpec::str() const {
  std::string s = name;
  char sep = ':';
  for (const auto& [key, value] : params) {
    s += sep + key + "=" + value;
    sep = ',';
  }
  return s;
}

SpecReader::SpecReader(const ModelSpec& spec) : spec_(spec) {}

std::string SpecReader::get_string(const std::string& key, const std::string& fallback) {
  read_.push_back(key);
  auto it = spec_.params.find(key);
  return it == spec_.params.end() ? fallback : it->second;
}

int SpecReader::get_int(const std::string& key, int fallback, int min_value, int max_value) {
  double value = get_double(key, fallback, min_value, max_value);
  if (value != std::floor(value))
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": " + key + " must be an integer, got " +
                                                detail::quoted(spec_.params.at(key)));
  return int(value);
}

double SpecReader::get_double(const std::string& key, double fallback, double min_value, double max_value) {
  read_.push_back(key);
  auto it = spec_.params.find(key);
  if (it == spec_.params.end()) return fallback;
  double value = 0;
  std::size_t used = 0;
  try { value = std::stod(it->second, &used); } catch (const std::exception&) { used = 0; }
  if (used != it->second.size())
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": " + key + " must be a number, got " + detail::quoted(it->second));
  if (!(value >= min_value && value <= max_value))
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": " + key + " must be within " +
                                                std::to_string(min_value) + ".." + std::to_string(max_value) + ", got " + detail::quoted(it->second));
  return value;
}

void SpecReader::finish() const {
  std::string unknown;
  for (const auto& [key, value] : spec_.params)
    if (std::find(read_.begin(), read_.end(), key) == read_.end()) unknown += (unknown.empty() ? "" : ", ") + detail::printable(key, 60);
  if (unknown.empty()) return;
  std::string known;
  for (const auto& key : read_) known += (known.empty() ? "" : ", ") + key;
  throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(spec_.name) + ": unknown parameter(s) " + unknown +
                                              (known.empty() ? " (it takes none)" : " (it takes " + known + ")"));
}

struct Registry::Impl {
  mutable std::shared_mutex mutex;
  std::map<std::string, std::pair<std::string, ModelFactory>> entries;
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

void Registry::add(const std::string& name, const std::string& description, ModelFactory factory) {
  if (!valid_name(name)) throw Error(ErrorCode::InvalidArgument, "model name " + detail::quoted(name) + " must be [a-z0-9_-]+");
  if (!factory) throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(name) + ": factory is empty");
  std::unique_lock lock(impl_->mutex);
  if (!impl_->entries.emplace(name, std::make_pair(description, std::move(factory))).second)
    throw Error(ErrorCode::InvalidArgument, "model " + detail::quoted(name) + " is already registered");
}

bool Registry::contains(const std::string& name) const {
  std::shared_lock lock(impl_->mutex);
  return impl_->entries.count(name) != 0;
}

std::vector<ModelInfo> Registry::list() const {
  std::shared_lock lock(impl_->mutex);
  std::vector<ModelInfo> out;
  for (const auto& [name, entry] : impl_->entries) out.push_back({name, entry.first});
  return out;
}

std::unique_ptr<InpaintModel> Registry::create(const std::string& text) const {
  ModelSpec spec = ModelSpec::parse(text);
  ModelFactory factory;
  {
    std::shared_lock lock(impl_->mutex);
    auto it = impl_->entries.find(spec.name);
    if (it == impl_->entries.end()) {
      std::string known;
      for (const auto& [name, entry] : impl_->entries) known += (known.empty() ? "" : ", ") + name;
      throw Error(ErrorCode::UnknownModel, "unknown model " + detail::quoted(spec.name) + " (registered: " + known + ")");
    }
    factory = it->second.second;
  }
  auto model = factory(spec);
  if (!model) throw Error(ErrorCode::Internal, "model " + detail::quoted(spec.name) + ": factory returned nothing");
  return model;
}

void register_builtin_models(Registry& registry) {
  registry.add("telea", "OpenCV Telea fast-marching fill; radius=N (1..64, default 5)", detail::make_telea);
  registry.add("ns", "OpenCV Navier-Stokes fill; radius=N (1..64, default 5)", detail::make_navier_stokes);
  registry.add("patchmatch",
               "PatchMatch exemplar fill that continues texture; patch=N (odd 3..15, 7), levels=N (0 = auto), "
               "iterations=N (1..50, 5), search=N (px, 0 = whole image), seed=N",
               detail::make_patchmatch);
  registry.add("torchscript",
               "TorchScript fill model file; path=FILE, contract=lama|migan (lama), device=cpu|cuda|cuda:N|auto "
               "(auto), dtype=fp32|fp16|bf16 (fp32; lama fp32 only), max_side=N (lama working cap, 0 = none), "
               "concurrency=N (runs at once, 0 = no limit), wait_ms=N (30000), warmup=0|1, empty_cache=0|1",
               detail::make_torchscript);
}

Registry& default_registry() {
  static Registry* registry = [] {
    auto* r = new Registry;  // never destroyed: models may be created during static destruction
    register_builtin_models(*r);
    return r;
  }();
  return *registry;
}

const char* default_model_spec() noexcept { return "patchmatch"; }

}  // namespace inpaint
