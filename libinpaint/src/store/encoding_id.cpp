// Content ids: a caller's string never becomes a file name or key without validation.
#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "store/sha256.hpp"

namespace inpaint {

namespace {

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
      throw Error(ErrorCode::Internal, "OpenSSL: cannot start SHA-256");
  }
  void update(const void* data, std::size_t size) {
    if (size && EVP_DigestUpdate(context_.get(), data, size) != 1) throw Error(ErrorCode::Internal, "OpenSSL: SHA-256 failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_.get(), digest, &length) != 1) throw Error(ErrorCode::Internal, "OpenSSL: SHA-256 failed");
    std::string text(length * 2, '0');
    for (unsigned i = 0; i < length; ++i) std::snprintf(&text[i * 2], 3, "%02x", digest[i]);
    return text;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context_;
};

}  // namespace

std::string detail::sha256_of_files(const std::vector<std::string>& paths) {
  Sha256 sha;
  std::vector<char> buffer(std::size_t(1) << 20);
  for (const std::string& path : paths) {
    require_regular_file(path);  // a FIFO would block the read below forever
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::Io, "cannot read '" + path + "' to checksum it");
    while (in) {
      in.read(buffer.data(), std::streamsize(buffer.size()));
      sha.update(buffer.data(), std::size_t(in.gcount()));
    }
    if (in.bad()) throw Error(ErrorCode::Io, "reading '" + path + "' to checksum it failed");
  }
  return sha.hex();
}

std::string detail::sha256_hex(const void* data, std::size_t size) {
  Sha256 sha;
  sha.update(data, size);
  return sha.hex();
}

std::string pixel_sha256(const ImageView& pixels) {
  if (pixels.empty() || pixels.channels <= 0)
    throw Error(ErrorCode::InvalidArgument, "pixel_sha256: the image is empty");
  Sha256 sha;
  // The geometry is hashed too: the same bytes as 100x10 and 10x100 are different images.
  char geometry[64];
  int length = std::snprintf(geometry, sizeof geometry, "%dx%dx%d;", pixels.width, pixels.height, pixels.channels);
  sha.update(geometry, std::size_t(length));
  const std::size_t row = std::size_t(pixels.width) * std::size_t(pixels.channels);
  if (pixels.row_bytes() == row) {
    sha.update(pixels.data, row * std::size_t(pixels.height));
  } else {
    for (int y = 0; y < pixels.height; ++y) sha.update(pixels.row(y), row);
  }
  return sha.hex();
}

std::string encoding_id(const std::string& image_sha256, const std::string& model_id) {
  if (image_sha256.empty()) throw Error(ErrorCode::InvalidArgument, "encoding_id: the image hash is empty");
  if (model_id.empty()) throw Error(ErrorCode::InvalidArgument, "encoding_id: the model id is empty");
  Sha256 sha;
  sha.update(image_sha256.data(), image_sha256.size());
  sha.update("\n", 1);  // a separator, so that hash and model id cannot run into each other
  sha.update(model_id.data(), model_id.size());
  return sha.hex();
}

std::string encoding_id(const ImageView& pixels, const std::string& model_id) {
  return encoding_id(pixel_sha256(pixels), model_id);
}

void validate_encoding_id(const std::string& id) {
  auto quoted = [&] { return "encoding id '" + (id.size() > 140 ? id.substr(0, 140) + "..." : id) + "'"; };
  if (id.empty()) throw Error(ErrorCode::InvalidArgument, "encoding id is empty");
  if (id.size() > 128)
    throw Error(ErrorCode::InvalidArgument, quoted() + " is " + std::to_string(id.size()) + " characters, more than 128");
  if (id[0] == '.') throw Error(ErrorCode::InvalidArgument, quoted() + " must not start with a dot");
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) throw Error(ErrorCode::InvalidArgument, quoted() + " may only hold [A-Za-z0-9._-]");
  }
}

}  // namespace inpaint
