// MappedFile: a whole file mapped read-only, for readers that look at records in place instead of
// copying them out (the shard reader: a record's checksum and its decode read the page cache
// directly, with no read(2) copy in between).
//
// A plain mapping kills the process with SIGBUS when the file shrinks under it (another process
// truncates it, or the disk fails) and a page past the new end is touched. Every MappedFile is
// registered with one process-wide SIGBUS handler instead: a fault inside a registered mapping
// puts a page of zeros in place of the missing one and marks the file, so the access goes on,
// the reader's checksum fails on the zeros, and truncated() tells it why. A fault anywhere else
// goes to whatever handler was installed before (or the default action).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace tb {

class MappedFile {
 public:
  // Maps `path` whole. Throws tb::FormatError naming the file when it cannot be opened or mapped.
  static MappedFile open(const std::filesystem::path& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // The file's bytes as they were when it was opened (size() bytes).
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::uint64_t size() const { return size_; }

  // True once a read touched a page the file no longer has (truncated after opening, or an I/O
  // error): those pages read as zeros from then on.
  bool truncated() const noexcept;

 private:
  void release() noexcept;

  const std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  int slot_ = -1;  // in the SIGBUS handler's registry; -1 when nothing is mapped
};

}  // namespace tb
