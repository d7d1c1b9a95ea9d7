// safetensors read and write, with the reference implementation's validation rules.
#include "store/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/files.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"

namespace inpaint {

using nlohmann::json;

namespace {

[[noreturn]] void malformed(const std::string& message) { throw Error(ErrorCode::Decode, "safetensors: " + message); }

// Known metadata keys and where they go.
const char* const kModelId = "model_id";
const char* const kModelChecksum = "model_checksum";
const char* const kPreprocessing = "preprocessing";
const char* const kDtype = "dtype";
const char* const kImageSha = "image_sha256";
const char* const kWidth = "original_width";
const char* const kHeight = "original_height";
const char* const kCreatedAt = "created_at";
const char* const kFormatVersion = "format_version";

json metadata_json(const EncodingMetadata& m) {
  json j = json::object();
  for (const auto& [key, value] : m.extra) j[key] = value;
  j[kModelId] = m.model_id;
  j[kModelChecksum] = m.model_checksum;
  j[kPreprocessing] = m.preprocessing;
  j[kDtype] = m.dtype;
  j[kImageSha] = m.image_sha256;
  j[kWidth] = std::to_string(m.original_width);
  j[kHeight] = std::to_string(m.original_height);
  j[kCreatedAt] = std::to_string(m.created_at);
  j[kFormatVersion] = std::to_string(m.format_version);
  return j;
}

// A decimal integer within [low, high]: a value that does not fit is refused, not wrapped.
std::int64_t metadata_integer(const std::string& key, const std::string& value, std::int64_t low, std::int64_t high) {
  std::size_t used = 0;
  long long number = 0;
  bool fits = true;
  try {
    number = std::stoll(value, &used);
  } catch (const std::out_of_range&) {
    fits = false;
    used = value.size();
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size())
    malformed("__metadata__." + detail::printable(key, 100) + " must be an integer, got " + detail::quoted(value));
  if (!fits || number < low || number > high)
    malformed("__metadata__." + detail::printable(key, 100) + " = " + detail::printable(value, 100) + " is outside " +
              std::to_string(low) + ".." + std::to_string(high));
  return number;
}

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

EncodingMetadata metadata_from(const std::map<std::string, std::string>& pairs) {
  EncodingMetadata m;
  m.format_version = 0;  // absent in files not written by us
  for (const auto& [key, value] : pairs) {
    if (key == kModelId) m.model_id = value;
    else if (key == kModelChecksum) m.model_checksum = value;
    else if (key == kPreprocessing) m.preprocessing = value;
    else if (key == kDtype) m.dtype = value;
    else if (key == kImageSha) m.image_sha256 = value;
    else if (key == kWidth) m.original_width = int(metadata_integer(key, value, 0, kIntMax));
    else if (key == kHeight) m.original_height = int(metadata_integer(key, value, 0, kIntMax));
    else if (key == kCreatedAt) m.created_at = metadata_integer(key, value, kInt64Min, kInt64Max);
    else if (key == kFormatVersion) m.format_version = int(metadata_integer(key, value, 0, kIntMax));
    else m.extra[key] = value;
  }
  return m;
}

void check_tensor_name(const std::string& name) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "safetensors: a tensor name is empty");
  if (name == "__metadata__") throw Error(ErrorCode::InvalidArgument, "safetensors: '__metadata__' is reserved, not a tensor name");
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const json& info) {
  auto bad = [&](const std::string& rule) { malformed("tensor " + detail::quoted(name) + ": " + rule); };
  auto text = [](const json& value) { return detail::printable(value.dump(), 100); };
  if (!info.is_object()) bad("entry must be an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!info.contains(field)) bad(std::string("missing '") + field + "'");
  Entry e{name, DType::U8, {}, 0, 0};
  if (!info["dtype"].is_string()) bad("dtype must be a string");
  try {
    e.dtype = parse_dtype(info["dtype"].get<std::string>());
  } catch (const Error& error) {
    bad(error.what());
  }
  const json& shape = info["shape"];
  if (!shape.is_array()) bad("shape must be an array");
  for (const json& dim : shape) {
    if (!dim.is_number_unsigned() || dim.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      bad("shape " + text(shape) + " must hold non-negative integers");
    e.shape.push_back(dim.get<std::int64_t>());
  }
  const json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    bad("data_offsets must be [begin, end] with non-negative integers, got " + text(offsets));
  e.begin = offsets[0].get<std::uint64_t>();
  e.end = offsets[1].get<std::uint64_t>();
  if (e.end < e.begin) bad("data_offsets " + text(offsets) + " end before they begin");
  std::size_t expected = 0;
  try {
    expected = HostTensor::byte_size(e.dtype, e.shape);
  } catch (const Error&) {
    bad("shape " + shape_text(e.shape) + " of " + dtype_name(e.dtype) + " overflows 64 bits");
  }
  if (e.end - e.begin != expected)
    bad("data_offsets " + text(offsets) + " span " + std::to_string(e.end - e.begin) + " bytes but shape " +
        shape_text(e.shape) + " of " + dtype_name(e.dtype) + " needs " + std::to_string(expected));
  return e;
}

}  // namespace

const HostTensor& Encoding::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    std::string names;
    for (const auto& [n, t] : tensors) names += (names.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::InvalidArgument, "encoding has no tensor '" + name + "' (it has: " + names + ")");
  }
  return it->second;
}

std::size_t Encoding::nbytes() const {
  std::size_t total = 0;
  for (const auto& [name, t] : tensors) total += t.nbytes();
  return total;
}

namespace detail {

SafetensorsLayout safetensors_layout(const Encoding& encoding) {
  SafetensorsLayout layout;
  for (const auto& entry : encoding.tensors) check_tensor_name(entry.first);
  // Larger elements first keeps every tensor aligned to its element size (the data starts at
  // a multiple of 8); ties by name (std::map order, kept by stable_sort).
  std::vector<std::pair<std::string, const HostTensor*>> order;
  for (const auto& [name, tensor] : encoding.tensors) order.emplace_back(name, &tensor);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second->dtype()) > dtype_size(b.second->dtype());
  });
  json header = json::object();
  header["__metadata__"] = metadata_json(encoding.metadata);
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : order) {
    if (tensor->nbytes() != HostTensor::byte_size(tensor->dtype(), tensor->shape()))
      throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': bytes do not match its shape");
    header[name] = {{"dtype", dtype_name(tensor->dtype())},
                    {"shape", tensor->shape()},
                    {"data_offsets", {offset, offset + tensor->nbytes()}}};
    offset += tensor->nbytes();
    layout.tensors.push_back(tensor);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the reference pads with spaces
  std::uint64_t n = text.size();
  layout.head.resize(8);
  for (int i = 0; i < 8; ++i) layout.head[i] = char((n >> (8 * i)) & 0xff);
  layout.head += text;
  layout.total = layout.head.size() + offset;
  return layout;
}

void write_safetensors_atomic(const std::string& path, const Encoding& encoding, const AtomicWriteOptions& options) {
  SafetensorsLayout layout = safetensors_layout(encoding);
  PendingFile file{path, {{reinterpret_cast<const std::uint8_t*>(layout.head.data()), layout.head.size()}}};
  for (const HostTensor* t : layout.tensors) file.pieces.push_back({t->data(), t->nbytes()});
  write_files_atomic({file}, options);
}

// Reads the whole file into an owned buffer: copy-on-read. A memory map would save the copy,
// but the tensors outlive this call, and a file that another process truncates under a live map
// (MAP_POPULATE or not: truncation drops the page-cache pages it maps) raises SIGBUS at the next
// touch of the lost pages, which kills the process wherever it happens. No check made here
// can rule that out later; a copy can. Its cost, 16 MB from the page cache: bench/RESULTS.md
// ("Fault runs (issue 10)"). A file replaced by rename is no concern either way (the open file
// stays the old one); one that shrinks while being read is Decode.
std::optional<Encoding> try_read_safetensors(const std::string& path, struct stat* file_stat) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it does nothing to regular files).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  struct stat st {};
  if (fd < 0 && errno == ENXIO && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    if (file_stat) *file_stat = st;
    throw Error(ErrorCode::Decode, "'" + path + "': not a regular file (a socket)");
  }
  if (fd < 0) throw Error(ErrorCode::Io, "cannot open '" + path + "': " + errno_text(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  if (::fstat(fd, &st) != 0) throw Error(ErrorCode::Io, "cannot stat '" + path + "': " + errno_text(errno));
  if (file_stat) *file_stat = st;
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory"
                     : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a file";
    throw Error(ErrorCode::Decode, "'" + path + "': not a regular file (" + kind + ")");
  }
  std::size_t size = std::size_t(st.st_size);
  if (size < 8)
    throw Error(ErrorCode::Decode, "'" + path + "': safetensors: file is " + std::to_string(size) +
                                       " bytes, shorter than the 8-byte header length");
  std::shared_ptr<std::uint8_t> bytes(new std::uint8_t[size], std::default_delete<std::uint8_t[]>());  // not zeroed
  for (std::size_t done = 0; done < size;) {
    ssize_t n = ::pread(fd, bytes.get() + done, std::min<std::size_t>(size - done, 1u << 30), off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::Io, "cannot read '" + path + "': " + errno_text(errno));
    if (n == 0)
      throw Error(ErrorCode::Decode, "'" + path + "': the file shrank from " + std::to_string(size) + " to " +
                                         std::to_string(done) + " bytes while being read");
    done += std::size_t(n);
  }
  try {
    return parse_safetensors(bytes.get(), size, bytes);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

Encoding map_safetensors(const std::string& path, MapAdvice advice) {
  std::shared_ptr<const MappedFile> map = map_file(path, advice);
  try {
    return parse_safetensors(map->data, map->size, map);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

}  // namespace detail

std::size_t safetensors_size(const Encoding& encoding) { return detail::safetensors_layout(encoding).total; }

std::vector<std::uint8_t> to_safetensors(const Encoding& encoding) {
  detail::SafetensorsLayout layout = detail::safetensors_layout(encoding);
  std::vector<std::uint8_t> out;
  out.reserve(layout.total);
  out.insert(out.end(), layout.head.begin(), layout.head.end());
  for (const HostTensor* t : layout.tensors) out.insert(out.end(), t->data(), t->data() + t->nbytes());
  return out;
}

Encoding parse_safetensors(const std::uint8_t* bytes, std::size_t size, std::shared_ptr<const void> owner) {
  if (size < 8) malformed("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(bytes[i]) << (8 * i);
  if (n > kMaxSafetensorsHeader)
    malformed("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (n > size - 8)
    malformed("header length " + std::to_string(n) + " points past the end of the " + std::to_string(size) + "-byte file");
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  if (n == 0 || text[0] != '{') malformed("header must be a JSON object starting with '{'");
  // Duplicate keys, a NUL byte (the reference rejects bytes after the JSON) and deep nesting are
  // refused by parse_json.
  json header = detail::parse_json(std::string_view(text, std::size_t(n)), "safetensors: the header", ErrorCode::Decode);
  if (!header.is_object()) malformed("header must be a JSON object");

  Encoding encoding;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) malformed("__metadata__ must be an object of strings");
      std::map<std::string, std::string> pairs;
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) malformed("__metadata__." + detail::printable(m.key(), 100) + " must be a string, got " +
                    detail::printable(m.value().dump(), 100));
        pairs[m.key()] = m.value().get<std::string>();
      }
      encoding.metadata = metadata_from(pairs);
      continue;
    }
    if (it.key().empty()) malformed("a tensor name is empty");
    entries.push_back(parse_entry(it.key(), it.value()));
  }
  // The data must be exactly the tensors, back to back from 0: no holes, no overlaps.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected_begin = 0;
  for (const Entry& e : entries) {
    if (e.begin != expected_begin)
      malformed("tensor " + detail::quoted(e.name) + ": data_offsets begin at " + std::to_string(e.begin) + ", expected " +
                std::to_string(expected_begin) + (e.begin > expected_begin ? " (a hole before it)" : " (it overlaps the previous tensor)"));
    expected_begin = e.end;
  }
  const std::uint64_t data_size = size - 8 - n;
  if (expected_begin != data_size)
    malformed("the tensors end at byte " + std::to_string(expected_begin) + " of the data but the data is " +
              std::to_string(data_size) + " bytes (buffer end must equal the file length)");
  const std::uint8_t* data = bytes + 8 + n;
  for (const Entry& e : entries)
    encoding.tensors.emplace(e.name, HostTensor::wrap(e.dtype, e.shape, data + e.begin, owner));
  return encoding;
}

Encoding read_safetensors(const std::string& path) {
  std::optional<Encoding> encoding = detail::try_read_safetensors(path, nullptr);
  if (!encoding) throw Error(ErrorCode::Io, "cannot open '" + path + "': " + detail::errno_text(ENOENT));
  return std::move(*encoding);
}

void write_safetensors(const std::string& path, const Encoding& encoding) {
  detail::AtomicWriteOptions options;
  options.fsync = true;
  detail::write_safetensors_atomic(path, encoding, options);
}

}  // namespace inpaint
