#pragma once
// Internal helpers shared by the safetensors reader/writer and the stores.
#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "inpaint/encoding.hpp"
#include "inpaint/export.hpp"

namespace inpaint::detail {

// The 8-byte length, the JSON header padded to 8 bytes, and the tensors in file order.
struct SafetensorsLayout {
  std::string head;
  std::vector<const HostTensor*> tensors;
  std::size_t total = 0;
};
SafetensorsLayout safetensors_layout(const Encoding& encoding);

// Writes the file through the shared atomic writer (core/files.hpp: a temporary file beside
// path, fsynced when options ask, renamed over path; on failure nothing is left and the error
// names path), without joining the header and the tensors into one buffer first.
void write_safetensors_atomic(const std::string& path, const Encoding& encoding, const AtomicWriteOptions& options);

// Reads a file into one owned buffer that the tensors point into (a copy: a map of a file that
// another process truncates would raise SIGBUS). Nothing when the file does not exist; a FIFO,
// directory, socket or device is Error(Decode) and is never waited on. file_stat (may be null)
// gets the opened file's stat.
std::optional<Encoding> try_read_safetensors(const std::string& path, struct stat* file_stat);

// Reads a file through a read-only memory map (core/files.hpp map_file): the tensors point into
// the map and keep it alive (their owner), nothing is copied. For model weights only: a file
// truncated by another process while mapped raises SIGBUS at the next touch of a lost page
// (see MappedFile), which is why the stores read with a copy instead. A missing file, a FIFO,
// directory, socket or device is Error(Io) naming path (never waited on); a malformed file is
// Error(Decode) naming path, with parse_safetensors' rules.
// Exported for the torch backend (model weights).
INPAINT_CXX_API Encoding map_safetensors(const std::string& path, MapAdvice advice = MapAdvice::Normal);

}  // namespace inpaint::detail
