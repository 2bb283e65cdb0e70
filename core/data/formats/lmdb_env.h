// Internal to the LMDB dataset format (formats/lmdb.cpp) and the sample cache (lmdb_cache.cpp):
// RAII owners of LMDB handles and the error reporting every mdb_* call goes through. Not part
// of any public API; include <lmdb.h> only through here.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace tb::data::lmdb {

// What the LMDB dataset format and the LMDB sample cache share: a "meta" entry describing the
// database, values that start with a 4-byte label, and the environment's limits.
inline constexpr char kMetaKey[] = "meta";
inline constexpr std::size_t kMetaKeyBytes = 4;
inline constexpr std::size_t kLabelBytes = 4;
// Enough for every worker of a big machine plus other processes reading the same database; the
// lock file's reader table is sized by whoever creates it.
inline constexpr unsigned kMaxReaders = 512;
// Bounds a write queue's memory and the pages one transaction dirties (LMDB's MDB_TXN_FULL).
inline constexpr std::uint64_t kMaxBatchBytes = std::uint64_t{64} << 20;

// Throws tb::FormatError "PATH: what: mdb_strerror(rc)" when rc is not MDB_SUCCESS.
void check(int rc, const std::filesystem::path& path, const std::string& what);

// An environment and the path it was opened from (every error names it).
class Env {
 public:
  // Creates the handle, applies the map size (0 keeps LMDB's or the file's) and reader limit,
  // then opens `path` with `flags` (files it creates are 0644). A read-only open (MDB_RDONLY)
  // whose lock file cannot be created (EACCES, EROFS) is retried with MDB_NOLOCK: where nothing
  // may create a file nothing writes either, so the lock table has nobody to guard against.
  Env(const std::filesystem::path& path, unsigned flags, std::uint64_t map_bytes,
      unsigned max_readers);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* get() const { return env_; }
  const std::filesystem::path& path() const { return path_; }
  unsigned flags() const { return flags_; }
  // Grows (or sets) the map; no transaction of this process may be active.
  void set_map_bytes(std::uint64_t bytes);
  std::uint64_t map_bytes() const;
  void sync();

 private:
  MDB_env* env_ = nullptr;
  std::filesystem::path path_;
  unsigned flags_ = 0;
};

// A transaction, aborted on destruction unless committed.
class Txn {
 public:
  Txn() = default;
  Txn(const Env& env, unsigned flags);
  ~Txn() { abort(); }
  Txn(Txn&& other) noexcept : txn_(other.txn_), path_(std::move(other.path_)) {
    other.txn_ = nullptr;
  }
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }
  void commit();
  // mdb_txn_commit's code (the handle is gone either way), for callers that handle MDB_MAP_FULL.
  int try_commit() noexcept;
  void abort() noexcept;
  // Read-only transactions: release the snapshot but keep the reader slot, then take a fresh
  // snapshot; cheaper than begin/abort for short reads.
  void reset() noexcept { mdb_txn_reset(txn_); }
  void renew();

 private:
  MDB_txn* txn_ = nullptr;
  std::filesystem::path path_;
};

class Cursor {
 public:
  Cursor(const Txn& txn, MDB_dbi dbi, const std::filesystem::path& path);
  ~Cursor() { mdb_cursor_close(cursor_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

// LMDB forbids opening one environment twice in a process (closing either handle drops the
// other's locks), so every open goes through here: an environment already open at the same path
// is shared when its flags are equal and neither side asked for it `exclusive`, and refused
// (tb::Error) otherwise.
std::shared_ptr<Env> shared_env(const std::filesystem::path& path, unsigned flags,
                                std::uint64_t map_bytes, unsigned max_readers,
                                bool exclusive = false);

// The unnamed (main) database of `txn`'s environment.
MDB_dbi open_main_db(const Txn& txn, const std::filesystem::path& path);

// Sample keys are stored big-endian so that LMDB's byte order is numeric order.
inline constexpr std::size_t kKeyBytes = 8;
void encode_key(std::uint64_t key, unsigned char (&out)[kKeyBytes]) noexcept;
std::uint64_t decode_key(const void* bytes) noexcept;

inline MDB_val as_val(const void* data, std::size_t size) {
  return MDB_val{size, const_cast<void*>(data)};
}
inline std::span<const std::byte> as_bytes(const MDB_val& v) {
  return {static_cast<const std::byte*>(v.mv_data), v.mv_size};
}

}  // namespace tb::data::lmdb
