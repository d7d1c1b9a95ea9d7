// The local tier: one safetensors file per id in a directory that several processes may share.
// Files appear whole (temporary file, fsync, rename), are read into memory (a map would die of
// SIGBUS when someone truncates the file: see try_read_safetensors), and carry
// their recency in their mtime, which a hit refreshes, so least-recently-used eviction works
// across processes without a shared index.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <iostream>

#include "core/files.hpp"
#include "inpaint/error.hpp"
#include "inpaint/store.hpp"
#include "store/safetensors.hpp"
#include "store/stats.hpp"

namespace inpaint {

namespace {

const std::string kSuffix = ".safetensors";
// A temporary file this old belongs to a writer that died (a live one writes in seconds).
constexpr std::time_t kStaleTempSeconds = 600;

using detail::errno_text;

class DirectoryStore final : public EncodingStore {
 public:
  DirectoryStore(std::string path, std::uint64_t capacity, bool fsync)
      : dir_(std::move(path)), capacity_(capacity), fsync_(fsync) {
    if (dir_.empty()) throw Error(ErrorCode::InvalidArgument, "directory store: path is empty");
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST)
      throw Error(ErrorCode::Io, "directory store: cannot create '" + dir_ + "': " + errno_text(errno));
    struct stat st {};
    if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error(ErrorCode::Io, "directory store: '" + dir_ + "' is not a directory");
  }

  std::string spec() const override {
    return "dir:path=" + dir_ + (capacity_ ? ",capacity=" + std::to_string(capacity_) : "") + (fsync_ ? "" : ",fsync=0");
  }

  bool exists(const std::string& id) override {
    struct stat st {};
    return ::stat(file_of(id).c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }

  std::optional<Encoding> get(const std::string& id) override {
    const std::string path = file_of(id);
    return detail::counted(stats_, [&]() -> std::optional<Encoding> {
      struct stat opened {};
      std::optional<Encoding> encoding;
      try {
        encoding = detail::try_read_safetensors(path, &opened);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::Decode) throw;
        drop_corrupt(path, opened, e.what());
        stats_.miss();
        return std::nullopt;
      }
      if (!encoding) {
        stats_.miss();
        return std::nullopt;
      }
      ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // recency for eviction; best effort
      stats_.hit();
      return encoding;
    });
  }

  void put(const std::string& id, const Encoding& encoding) override {
    const std::string path = file_of(id);
    detail::counted(stats_, [&] {
      std::uint64_t size = safetensors_size(encoding);
      if (capacity_ && size > capacity_)
        throw Error(ErrorCode::TooLarge, "directory store: encoding '" + id + "' is " + std::to_string(size) +
                                             " bytes, more than the capacity of " + std::to_string(capacity_));
      detail::AtomicWriteOptions options;
      options.fsync = fsync_;
      options.unlink_before_rename = !fsync_;  // a cache without durability: see AtomicWriteOptions
      options.verb = "store";
      try {
        detail::write_safetensors_atomic(path, encoding, options);
      } catch (const Error& e) {
        // "cannot store '<path>': No space left on device (nothing was written, ...)": say where.
        if (e.code() != ErrorCode::Io) throw;
        throw Error(ErrorCode::Io, std::string("directory store: ") + e.what());
      }
      stats_.put();
      if (capacity_) evict(path);
    });
  }

  bool remove(const std::string& id) override {
    const std::string path = file_of(id);
    return detail::counted(stats_, [&] {
      if (::unlink(path.c_str()) == 0) {
        stats_.removed();
        return true;
      }
      if (errno == ENOENT) return false;
      throw Error(ErrorCode::Io, "directory store: cannot remove '" + path + "': " + errno_text(errno));
    });
  }

  std::vector<std::string> ids() override {
    std::vector<std::string> out;
    for (const File& f : scan(false)) out.push_back(f.id);
    std::sort(out.begin(), out.end());
    return out;
  }

  StoreUsage usage() override {
    StoreUsage u;
    for (const File& f : scan(false)) {
      ++u.entries;
      u.bytes += f.size;
    }
    return u;
  }

  std::uint64_t capacity() const override { return capacity_; }
  StoreStats stats() const override { return stats_.snapshot(spec()); }

 private:
  struct File {
    std::string id;
    std::uint64_t size;
    struct timespec mtime;
  };

  std::string file_of(const std::string& id) const {
    validate_encoding_id(id);  // only then may it become a file name
    return dir_ + "/" + id + kSuffix;
  }

  // The entries, oldest first; removes temporary files of dead writers when asked.
  std::vector<File> scan(bool clean_stale_temps) {
    DIR* dir = ::opendir(dir_.c_str());
    if (!dir) throw Error(ErrorCode::Io, "directory store: cannot list '" + dir_ + "': " + errno_text(errno));
    std::vector<File> files;
    const std::time_t now = std::time(nullptr);
    while (const dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      struct stat st {};
      if (::fstatat(::dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      if (detail::is_temp_name(name)) {  // the one scheme every atomic write of the library uses
        if (clean_stale_temps && now - st.st_mtime > kStaleTempSeconds) ::unlinkat(::dirfd(dir), name.c_str(), 0);
        continue;
      }
      if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
        continue;
      std::string id = name.substr(0, name.size() - kSuffix.size());
      try {
        validate_encoding_id(id);
      } catch (const Error&) {
        continue;  // not ours
      }
      files.push_back({id, std::uint64_t(st.st_size), st.st_mtim});
    }
    ::closedir(dir);
    std::sort(files.begin(), files.end(), [](const File& a, const File& b) {
      return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec : a.mtime.tv_nsec < b.mtime.tv_nsec;
    });
    return files;
  }

  void evict(const std::string& just_written) {
    std::vector<File> files = scan(true);
    std::uint64_t total = 0;
    for (const File& f : files) total += f.size;
    for (const File& f : files) {
      if (total <= capacity_) break;
      std::string path = dir_ + "/" + f.id + kSuffix;
      if (path == just_written) continue;
      if (::unlink(path.c_str()) == 0) stats_.evicted();
      total -= f.size;  // gone, by us or by another process
    }
  }

  // A corrupt file is a miss: log it and remove it, unless another writer replaced it meanwhile.
  void drop_corrupt(const std::string& path, const struct stat& opened, const std::string& why) {
    stats_.corrupt();
    std::cerr << "inpaint: store: removing corrupt encoding file: " << why << std::endl;
    struct stat now {};
    if (::stat(path.c_str(), &now) == 0 && now.st_ino == opened.st_ino && now.st_dev == opened.st_dev)
      ::unlink(path.c_str());
  }

  std::string dir_;
  const std::uint64_t capacity_;
  const bool fsync_;
  detail::StatsCounter stats_;
};

}  // namespace

std::unique_ptr<EncodingStore> make_directory_store(const std::string& path, std::uint64_t capacity_bytes, bool fsync) {
  return std::make_unique<DirectoryStore>(path, capacity_bytes, fsync);
}

}  // namespace inpaint
