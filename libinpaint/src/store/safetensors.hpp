#pragma once
// Internal helpers shared by the safetensors reader/writer and the stores.
#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "inpaint/encoding.hpp"

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

}  // namespace inpaint::detail
