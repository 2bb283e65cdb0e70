// GzipReadBuf: a read-only std::streambuf over zlib's gzopen/gzread, so a reader that takes a
// std::istream reads a .gz file and a plain file alike (zlib passes uncompressed files through)
// without first inflating the whole file into memory.
//
// A read error (corrupt or truncated gzip data, an I/O error) ends the stream like end of file
// would, and is remembered: the caller, seeing its input end early, asks failed() / error() and
// reports the file's damage instead of a misleading "unexpected end of input".
#pragma once

#include <cstdint>
#include <filesystem>
#include <streambuf>
#include <string>
#include <vector>

namespace tb {

class GzipReadBuf : public std::streambuf {
 public:
  static constexpr std::size_t kBufferBytes = 256 * 1024;

  // Opens `file`. Throws tb::FormatError naming the file when it cannot be opened.
  explicit GzipReadBuf(const std::filesystem::path& file);
  ~GzipReadBuf() override;
  GzipReadBuf(const GzipReadBuf&) = delete;
  GzipReadBuf& operator=(const GzipReadBuf&) = delete;

  // True when the file is gzip-compressed (false: read as it is).
  bool compressed() const { return compressed_; }
  // Bytes handed out so far (of the uncompressed stream): the offset of the next character.
  std::uint64_t position() const;
  // Whether reading stopped on an error rather than at the end of the data, and which.
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 protected:
  int_type underflow() override;

 private:
  void* file_ = nullptr;  // gzFile
  std::vector<char> buffer_;
  std::uint64_t consumed_ = 0;  // bytes of earlier buffer fills
  bool compressed_ = false;
  std::string path_;
  std::string error_;
};

}  // namespace tb
