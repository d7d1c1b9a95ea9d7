// Reading and atomically writing files: the public helpers of image.hpp and the one atomic
// writer that they, the safetensors writer and the directory store share (core/files.hpp).
#include "core/files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>

#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"

namespace inpaint {

namespace detail {

std::string errno_text(int err) { return std::strerror(err); }

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

void check_replaceable(const std::string& name, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw Error(ErrorCode::Io, name + " " + quoted(path, 300) + " is " + file_kind(st.st_mode) +
                                   ": refusing to replace it with a file");
}

namespace {

constexpr std::string_view kTempPrefix = ".tmp-";
constexpr std::size_t kTempNameBytes = 100;  // of the file's own name, kept in the temporary name

// pid and counter make a name unique on this host; the random part covers processes of other
// hosts or PID namespaces that share the directory (O_EXCL refuses a clash in any case).
std::string temp_suffix() {
  static std::atomic<unsigned long> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return "." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." + std::to_string(rng());
}

// 0 when all bytes were written, else the errno of the failure.
int write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    // Chunks of at most 1 GiB: Linux writes at most 2 GiB - 4 KiB per call anyway.
    ssize_t n = ::write(fd, data, std::min<std::size_t>(size, std::size_t(1) << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? EIO : errno;  // write() returning 0 sets no errno
    data += n;
    size -= std::size_t(n);
  }
  return 0;
}

Error write_error(const AtomicWriteOptions& options, const std::string& path, int err, const char* note = "") {
  return Error(ErrorCode::Io, std::string("cannot ") + options.verb + " " + quoted(path, 300) + ": " + errno_text(err) + note);
}

// Writes one file's pieces to a new temporary file beside it and returns the temporary name;
// on failure nothing is left behind.
std::string write_temp(const PendingFile& file, const AtomicWriteOptions& options) {
  std::string temp = temp_path_for(file.path);
  // 0666 so that the umask decides the permissions, as for any newly created file.
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw write_error(options, file.path, errno);
  int err = 0;
  for (const ByteRange& piece : file.pieces)
    if (!err) err = write_all(fd, piece.data, piece.size);
  if (!err && options.fsync && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;  // NFS and quotas report late write errors here
  if (err) {
    ::unlink(temp.c_str());
    throw write_error(options, file.path, err, " (nothing was written, temporary file removed)");
  }
  return temp;
}

}  // namespace

std::string temp_path_for(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + std::string(kTempPrefix) + name.substr(0, kTempNameBytes) + temp_suffix();
}

bool is_temp_name(std::string_view name) {
  if (name.substr(0, kTempPrefix.size()) != kTempPrefix) return false;
  name.remove_prefix(kTempPrefix.size());
  for (int field = 0; field < 3; ++field) {  // the random part, the counter and the pid, from the end
    auto dot = name.find_last_of('.');
    if (dot == std::string_view::npos || dot + 1 == name.size()) return false;
    for (char c : name.substr(dot + 1))
      if (c < '0' || c > '9') return false;
    name = name.substr(0, dot);
  }
  return !name.empty();
}

void write_files_atomic(const std::vector<PendingFile>& files, const AtomicWriteOptions& options) {
  for (const PendingFile& file : files) check_replaceable("output", file.path);
  std::vector<std::string> temps;
  try {
    for (const PendingFile& file : files) temps.push_back(write_temp(file, options));
  } catch (...) {
    for (const std::string& temp : temps) ::unlink(temp.c_str());
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (options.unlink_before_rename) ::unlink(files[i].path.c_str());
    if (::rename(temps[i].c_str(), files[i].path.c_str()) != 0) {
      int err = errno;
      // The ones already renamed cannot be put back; remove them so that none of the set is left.
      for (std::size_t k = 0; k < i; ++k) ::unlink(files[k].path.c_str());
      for (std::size_t k = i; k < temps.size(); ++k) ::unlink(temps[k].c_str());
      throw write_error(options, files[i].path, err);
    }
  }
}

}  // namespace detail

namespace {

// Opens path for reading without ever blocking (O_NONBLOCK: a FIFO with no writer would wait
// forever) and refuses anything but a regular file.
int open_regular(const std::string& path, struct stat* stat_out = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": " + detail::errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": " + detail::errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": it is " + detail::file_kind(st.st_mode) +
                                   ", not a regular file");
  }
  if (stat_out) *stat_out = st;
  return fd;
}

// The path in a form that names one file however it was spelt: the real path of its
// directory plus its name (the file itself may not exist yet).
std::string canonical_path(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  char resolved[PATH_MAX];
  if (!::realpath(dir.c_str(), resolved)) return path;
  return std::string(resolved) + "/" + name;
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return canonical_path(a) == canonical_path(b);
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path) {
  struct stat st {};
  int fd = open_regular(path, &st);
  std::vector<std::uint8_t> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(st.st_size));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    throw Error(ErrorCode::TooLarge, "cannot read " + detail::quoted(path, 300) + ": out of memory for its " +
                                         std::to_string(st.st_size) + " bytes");
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n == 0 ? 0 : errno;
      ::close(fd);
      throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": " +
                                     (err ? detail::errno_text(err) : std::string("it shrank while being read")));
    }
    done += std::size_t(n);
  }
  ::close(fd);
  return bytes;
}

void require_regular_file(const std::string& path) { ::close(open_regular(path)); }

namespace detail {

std::shared_ptr<const MappedFile> map_file(const std::string& path, MapAdvice advice) {
  // Allocated before the map so that nothing can throw between mmap and the deleter owning it.
  auto file = std::make_unique<MappedFile>();
  struct stat st {};
  int fd = open_regular(path, &st);
  if (st.st_size > 0) {
    void* addr = ::mmap(nullptr, std::size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(ErrorCode::Io, "cannot map " + quoted(path, 300) + " (" + std::to_string(st.st_size) +
                                     " bytes): " + errno_text(err));
    }
    file->data = static_cast<const std::uint8_t*>(addr);
    file->size = std::size_t(st.st_size);
    if (advice != MapAdvice::Normal)
      ::madvise(addr, file->size, advice == MapAdvice::Sequential ? MADV_SEQUENTIAL : MADV_WILLNEED);
  }
  ::close(fd);  // the map keeps the file
  // shared_ptr's constructor calls the deleter itself if it cannot allocate its control block.
  return std::shared_ptr<const MappedFile>(file.release(), [](const MappedFile* m) {
    if (m->size) ::munmap(const_cast<std::uint8_t*>(m->data), m->size);
    delete m;
  });
}

}  // namespace detail

void write_file_atomic(const std::string& path, const std::uint8_t* bytes, std::size_t size) {
  write_files_atomic({{path, bytes, size}});
}

void write_files_atomic(const std::vector<FileOutput>& files) {
  std::vector<detail::PendingFile> pending;
  for (const FileOutput& file : files) pending.push_back({file.path, {{file.bytes, file.size}}});
  detail::write_files_atomic(pending, {});
}

void check_output_paths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& out = outputs[i];
    detail::check_replaceable(out.name, out.path);
    for (const NamedPath& in : inputs)
      if (same_file(out.path, in.path))
        throw Error(ErrorCode::InvalidArgument, out.name + " " + detail::quoted(out.path, 300) + " is the same file as " +
                                                    in.name + ": writing it would destroy the input");
    for (std::size_t k = 0; k < i; ++k)
      if (same_file(out.path, outputs[k].path))
        throw Error(ErrorCode::InvalidArgument, out.name + " " + detail::quoted(out.path, 300) + " is the same file as " +
                                                    outputs[k].name + ": one would overwrite the other");
    auto slash = out.path.find_last_of('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : out.path.substr(0, slash);
    if (::access(dir.c_str(), W_OK) != 0)
      throw Error(ErrorCode::Io, "cannot write " + out.name + " " + detail::quoted(out.path, 300) + ": directory " +
                                     detail::quoted(dir, 300) + " does not exist or is not writable");
  }
}

}  // namespace inpaint
