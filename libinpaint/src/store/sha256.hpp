#pragma once
// SHA-256 of files (model checksums) and of byte ranges (cache keys). Defined in store/encoding_id.cpp.
#include <cstddef>
#include <string>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint::detail {

// Hex SHA-256 over the bytes of every file in order (streamed, never whole in memory).
// Error(Io) naming a file that cannot be read.
// Exported for the torch backend (the sam checksum).
INPAINT_CXX_API std::string sha256_of_files(const std::vector<std::string>& paths);

// Hex SHA-256 of a byte range.
std::string sha256_hex(const void* data, std::size_t size);

}  // namespace inpaint::detail
