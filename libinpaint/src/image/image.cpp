// The Image type, orientation, resizing and file helpers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <climits>
#include <cstdlib>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "core/cv_bridge.hpp"
#include "core/text.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"

namespace inpaint {

namespace {
std::size_t checked_size(int width, int height, int channels) {
  if (width < 0 || height < 0 || channels < 1 || channels > 4)
    throw Error(ErrorCode::InvalidArgument,
                "image: width and height must be >= 0 and channels 1..4, got " + std::to_string(width) +
                    "x" + std::to_string(height) + "x" + std::to_string(channels));
  return std::size_t(width) * std::size_t(height) * std::size_t(channels);
}
}  // namespace

Image::Image(int width, int height, int channels) : Image(uninitialized(width, height, channels)) {
  if (pixels_) std::memset(pixels_.get(), 0, size_bytes());
}

Image Image::uninitialized(int width, int height, int channels) {
  Image image;
  std::size_t bytes = checked_size(width, height, channels);
  image.width_ = width;
  image.height_ = height;
  image.channels_ = channels;
  if (bytes) image.pixels_ = {new std::uint8_t[bytes], &Image::release_new};
  return image;
}

Image Image::adopt(std::uint8_t* pixels, int width, int height, int channels, void (*release)(std::uint8_t*)) {
  checked_size(width, height, channels);
  if (!pixels || !release) throw Error(ErrorCode::InvalidArgument, "Image::adopt: pixels and release are required");
  Image image;
  image.width_ = width;
  image.height_ = height;
  image.channels_ = channels;
  image.pixels_ = {pixels, release};
  return image;
}

Image Image::copy_of(const ImageView& view) {
  Image image = uninitialized(view.width, view.height, view.channels);
  for (int y = 0; y < view.height; ++y)
    std::memcpy(image.data() + y * image.stride(), view.row(y), image.stride());
  return image;
}

Image::Image(const Image& other) : Image(copy_of(other.view())) {}

Image& Image::operator=(const Image& other) {
  if (this != &other) *this = copy_of(other.view());
  return *this;
}

ImageFormat format_from_path(const std::string& path) {
  auto dot = path.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == "png") return ImageFormat::Png;
  if (ext == "jpg" || ext == "jpeg") return ImageFormat::Jpeg;
  throw Error(ErrorCode::InvalidArgument,
              "output path '" + path + "': unknown extension, use .png, .jpg or .jpeg");
}

Image apply_orientation(const ImageView& image, int orientation) {
  if (orientation < 1 || orientation > 8)
    throw Error(ErrorCode::InvalidArgument,
                "orientation must be 1..8, got " + std::to_string(orientation));
  cv::Mat src = detail::as_mat(image);
  bool swaps = orientation >= 5;
  Image out = Image::uninitialized(swaps ? image.height : image.width,
                                   swaps ? image.width : image.height, image.channels);
  cv::Mat dst = detail::as_mat(out);
  switch (orientation) {
    case 1: src.copyTo(dst); break;
    case 2: cv::flip(src, dst, 1); break;  // mirrored left-right
    case 3: cv::rotate(src, dst, cv::ROTATE_180); break;
    case 4: cv::flip(src, dst, 0); break;  // mirrored top-bottom
    case 5: cv::transpose(src, dst); break;
    case 6: cv::rotate(src, dst, cv::ROTATE_90_CLOCKWISE); break;
    case 7: cv::transpose(src, dst); cv::flip(dst, dst, -1); break;
    case 8: cv::rotate(src, dst, cv::ROTATE_90_COUNTERCLOCKWISE); break;
  }
  return out;
}

Image resize_long_side(const ImageView& image, int long_side) {
  if (long_side < 1) throw Error(ErrorCode::InvalidArgument, "long side must be >= 1");
  if (image.empty()) throw Error(ErrorCode::InvalidArgument, "resize: image is empty");
  int current = std::max(image.width, image.height);
  double scale = double(long_side) / current;
  int w = std::max(1, int(std::lround(image.width * scale)));
  int h = std::max(1, int(std::lround(image.height * scale)));
  cv::Mat src = detail::as_mat(image), reduced;
  // OpenCV's area averaging is 3x faster for whole-number factors: take the largest one first
  // (12 MP to a 1024 px preview: 27 ms -> 19 ms), then average the rest.
  int factor = int(1 / scale);
  if (factor >= 2 && image.width / factor >= w && image.height / factor >= h) {
    cv::resize(src, reduced, cv::Size(image.width / factor, image.height / factor), 0, 0, cv::INTER_AREA);
    src = reduced;
  }
  Image out = Image::uninitialized(w, h, image.channels);
  cv::Mat dst = detail::as_mat(out);
  if (src.size() == dst.size()) src.copyTo(dst);
  else cv::resize(src, dst, dst.size(), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

namespace {

std::string errno_text(int err) { return std::strerror(err); }

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// Opens path for reading without ever blocking (O_NONBLOCK: a FIFO with no writer would wait
// forever) and refuses anything but a regular file.
int open_regular(const std::string& path, struct stat* stat_out = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::Io, "cannot read " + detail::quoted(path, 300) + ": it is " + file_kind(st.st_mode) +
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

void check_replaceable(const NamedPath& output) {
  struct stat st {};
  if (::stat(output.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw Error(ErrorCode::Io, output.name + " " + detail::quoted(output.path, 300) + " is " + file_kind(st.st_mode) +
                                   ": refusing to replace it with a file");
}

std::string temp_path_beside(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::random_device entropy;
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(entropy());
}

// Writes bytes to a new temporary file beside path and returns its name; on failure nothing is
// left behind.
std::string write_temp(const std::string& path, const std::uint8_t* bytes, std::size_t size) {
  check_replaceable({"output", path});
  std::string tmp = temp_path_beside(path);
  // 0666 so the umask decides the permissions, as for any newly created file.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(ErrorCode::Io, "cannot write " + detail::quoted(path, 300) + ": " + errno_text(errno));
  std::size_t done = 0;
  int err = 0;
  while (done < size && !err) {
    ssize_t n = ::write(fd, bytes + done, std::min<std::size_t>(size - done, std::size_t(1) << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n == 0 ? EIO : errno;  // write() returning 0 sets no errno
    else done += std::size_t(n);
  }
  if (::close(fd) != 0 && !err) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::Io, "cannot write " + detail::quoted(path, 300) + ": " + errno_text(err) +
                                   " (nothing was written)");
  }
  return tmp;
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
                                     (err ? errno_text(err) : std::string("it shrank while being read")));
    }
    done += std::size_t(n);
  }
  ::close(fd);
  return bytes;
}

void require_regular_file(const std::string& path) { ::close(open_regular(path)); }

void write_file_atomic(const std::string& path, const std::uint8_t* bytes, std::size_t size) {
  write_files_atomic({{path, bytes, size}});
}

void write_files_atomic(const std::vector<FileOutput>& files) {
  std::vector<std::string> temps;
  auto remove_temps = [&] {
    for (const std::string& tmp : temps) ::unlink(tmp.c_str());
  };
  try {
    for (const FileOutput& file : files) temps.push_back(write_temp(file.path, file.bytes, file.size));
  } catch (...) {
    remove_temps();
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (::rename(temps[i].c_str(), files[i].path.c_str()) != 0) {
      int err = errno;
      // The ones already renamed cannot be put back; remove them so that none of the set is left.
      for (std::size_t k = 0; k < i; ++k) ::unlink(files[k].path.c_str());
      for (std::size_t k = i; k < temps.size(); ++k) ::unlink(temps[k].c_str());
      throw Error(ErrorCode::Io, "cannot write " + detail::quoted(files[i].path, 300) + ": " + errno_text(err));
    }
  }
}

void check_output_paths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& out = outputs[i];
    check_replaceable(out);
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
