#pragma once
// File helpers shared by the image outputs (image.hpp's write_file_atomic, the CLI, the C API)
// and the safetensors writer and directory store: one atomic writer, one temporary-name
// scheme, one errno text, and the read-only memory map that model weights are read through.
// Internal only.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "inpaint/export.hpp"

namespace inpaint::detail {

// strerror(err) as a string. Pass errno right after the failing call.
std::string errno_text(int err);

// What a stat mode names when it is not a regular file ("a FIFO", "a directory", ...).
const char* file_kind(mode_t mode);

// Throws Error(Io) naming `name` and path when path exists and is not a regular file (a
// device, a directory, a FIFO, a socket): an output must never replace one.
void check_replaceable(const std::string& name, const std::string& path);

// A file's contents in pieces written back to back, so a caller that has its bytes in several
// buffers (a safetensors header and its tensors) need not join them first.
struct ByteRange {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};
struct PendingFile {
  std::string path;
  std::vector<ByteRange> pieces;
};

struct AtomicWriteOptions {
  // fsync each temporary file before it is renamed into place, so that the new contents, not
  // an empty file, are what a power cut leaves. Image outputs skip it (they can be made again).
  bool fsync = false;
  // Remove the old file just before the rename. Renaming over an existing file makes ext4
  // (auto_da_alloc) start writing the new data back at once, which triples the time of a save
  // meant for the page cache. Readers then briefly see no file, and a failed rename leaves
  // none: only for caches that gave up durability (the directory store with fsync=0).
  bool unlink_before_rename = false;
  // The verb of the error messages: "cannot <verb> '<path>': <reason>".
  const char* verb = "write";
};

// Writes every file or none. Each is checked (check_replaceable), written to its own new
// temporary file beside its path (temp_path_for; in writes of at most 1 GiB, retried on
// EINTR), fsynced when asked and closed, and only when all were written are they renamed into
// place. A failure removes every temporary file and throws Error(Io) naming the final path,
// never the temporary one; the paths are left as they were, unless a rename itself fails, after
// which the files already renamed are removed too so that no partial set remains.
void write_files_atomic(const std::vector<PendingFile>& files, const AtomicWriteOptions& options);

// The temporary file name for path: ".tmp-<file name>.<pid>.<counter>.<random>" in path's
// directory. Hidden (a listing of outputs does not show it; store ids never start with a dot),
// and unique across threads, processes and hosts sharing the directory; the file name part is
// cut to 100 bytes so that a 255-byte file name still gets a temporary name.
std::string temp_path_for(const std::string& path);

// Whether a directory entry's name is one that temp_path_for makes: what the directory store
// may sweep up when a writer died, and nothing else.
bool is_temp_name(std::string_view name);

// A whole file mapped read-only (PROT_READ, MAP_PRIVATE), unmapped when the last holder lets
// go. An empty file is size 0 and data null (nothing is mapped).
//
// For model weights only, never for what the stores keep: a file that another process
// truncates while it is mapped loses the pages past its new end, and the next touch of one of
// them raises SIGBUS, which kills the process wherever it happens; no check made at map time
// can rule that out later. Weights are files an operator installs and replaces by rename (the
// map keeps the old inode), so the saving (no 12 GB copy, pages shared with every process
// mapping the same file) is worth it there; the encoding stores copy (try_read_safetensors).
struct MappedFile {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// What the kernel is told about the coming reads (madvise; advisory, a refusal is ignored).
enum class MapAdvice {
  Normal,      // the kernel's default readahead
  Sequential,  // read once front to back (a copy to a device): more readahead, pages dropped sooner
  WillNeed,    // start reading the whole file in now (the call may take a while on a large file)
};

// Maps path: opened O_RDONLY|O_CLOEXEC|O_NONBLOCK (a FIFO is refused, never waited on);
// anything but a regular file, or a failure to open, stat or map, is Error(Io) naming path.
// Exported for the torch backend and the tests.
INPAINT_CXX_API std::shared_ptr<const MappedFile> map_file(const std::string& path, MapAdvice advice = MapAdvice::Normal);

}  // namespace inpaint::detail
