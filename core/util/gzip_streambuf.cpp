#include "core/util/gzip_streambuf.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "core/util/error.h"

namespace tb {
namespace {

// zlib's messages start with the file's path ("f.json.gz: unexpected end of file"); callers
// name the file themselves.
std::string without_path(const char* message, const std::string& path) {
  std::string text = message != nullptr ? message : "";
  if (text.rfind(path + ": ", 0) == 0) text.erase(0, path.size() + 2);
  return text;
}

}  // namespace

GzipReadBuf::GzipReadBuf(const std::filesystem::path& file)
    : buffer_(kBufferBytes), path_(file.string()) {
  errno = 0;
  gzFile in = gzopen(file.c_str(), "rb");
  if (in == nullptr) {
    throw FormatError(file.string() + ": cannot open (" +
                      (errno != 0 ? std::strerror(errno) : "out of memory") + ")");
  }
  // zlib's default 8 KiB input buffer costs a read(2) per 8 KiB; 128 KiB reads are far fewer.
  gzbuffer(in, 128 * 1024);
  file_ = in;
  setg(buffer_.data(), buffer_.data(), buffer_.data());
}

GzipReadBuf::~GzipReadBuf() {
  if (file_ != nullptr) gzclose_r(static_cast<gzFile>(file_));
}

std::uint64_t GzipReadBuf::position() const {
  return consumed_ + static_cast<std::uint64_t>(gptr() - eback());
}

GzipReadBuf::int_type GzipReadBuf::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  if (file_ == nullptr || failed()) return traits_type::eof();
  auto* in = static_cast<gzFile>(file_);
  consumed_ += static_cast<std::uint64_t>(egptr() - eback());
  const int n = gzread(in, buffer_.data(), static_cast<unsigned>(buffer_.size()));
  // gzdirect() is only meaningful once the header has been looked at, i.e. after a read.
  compressed_ = gzdirect(in) == 0;
  if (n < 0) {
    int code = Z_OK;
    const char* message = gzerror(in, &code);
    error_ = code == Z_ERRNO ? std::string(std::strerror(errno)) : without_path(message, path_);
    if (error_.empty()) error_ = "read error";
    setg(buffer_.data(), buffer_.data(), buffer_.data());
    return traits_type::eof();
  }
  if (n == 0) {
    // A clean end, or a gzip member cut short: zlib reports the latter only through gzerror.
    int code = Z_OK;
    const char* message = gzerror(in, &code);
    if (code != Z_OK && code != Z_STREAM_END) {
      error_ = without_path(message, path_);
      if (error_.empty()) error_ = "truncated gzip data";
    }
    setg(buffer_.data(), buffer_.data(), buffer_.data());
    return traits_type::eof();
  }
  setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
  return traits_type::to_int_type(*gptr());
}

}  // namespace tb
