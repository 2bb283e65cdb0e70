#include "core/data/formats/lmdb_env.h"

#include <cerrno>
#include <map>
#include <mutex>
#include <string>

#include "core/util/error.h"

namespace tb::data::lmdb {

void check(int rc, const std::filesystem::path& path, const std::string& what) {
  if (rc != MDB_SUCCESS) {
    throw FormatError(path.string() + ": " + what + ": " + mdb_strerror(rc));
  }
}

Env::Env(const std::filesystem::path& path, unsigned flags, std::uint64_t map_bytes,
         unsigned max_readers)
    : path_(path), flags_(flags) {
  for (;;) {
    check(mdb_env_create(&env_), path_, "cannot create an LMDB environment");
    int rc = MDB_SUCCESS;
    try {
      if (map_bytes) set_map_bytes(map_bytes);
      if (max_readers) {
        check(mdb_env_set_maxreaders(env_, max_readers), path_, "cannot set the reader limit");
      }
      rc = mdb_env_open(env_, path_.c_str(), flags_, 0644);
    } catch (...) {
      mdb_env_close(env_);
      throw;
    }
    if (rc == MDB_SUCCESS) return;
    // A failed mdb_env_open leaves the handle usable only for mdb_env_close.
    mdb_env_close(env_);
    env_ = nullptr;
    const bool lock_refused = rc == EACCES || rc == EROFS;
    if (lock_refused && (flags_ & MDB_RDONLY) && !(flags_ & MDB_NOLOCK)) {
      flags_ |= MDB_NOLOCK;
      continue;
    }
    check(rc, path_, "cannot open LMDB environment");
  }
}

Env::~Env() {
  mdb_env_close(env_);
}

void Env::set_map_bytes(std::uint64_t bytes) {
  check(mdb_env_set_mapsize(env_, static_cast<std::size_t>(bytes)), path_,
        "cannot set the map size to " + std::to_string(bytes) + " bytes");
}

std::uint64_t Env::map_bytes() const {
  MDB_envinfo info{};
  check(mdb_env_info(env_, &info), path_, "env info");
  return info.me_mapsize;
}

void Env::sync() {
  check(mdb_env_sync(env_, 1), path_, "cannot sync to disk");
}

Txn::Txn(const Env& env, unsigned flags) : path_(env.path()) {
  check(mdb_txn_begin(env.get(), nullptr, flags, &txn_), path_, "cannot begin a transaction");
}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = other.txn_;
    path_ = std::move(other.path_);
    other.txn_ = nullptr;
  }
  return *this;
}

void Txn::commit() {
  MDB_txn* txn = txn_;
  txn_ = nullptr;  // mdb_txn_commit frees the handle even when it fails
  check(mdb_txn_commit(txn), path_, "cannot commit");
}

int Txn::try_commit() noexcept {
  MDB_txn* txn = txn_;
  txn_ = nullptr;
  return mdb_txn_commit(txn);
}

void Txn::abort() noexcept {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

void Txn::renew() {
  check(mdb_txn_renew(txn_), path_, "cannot renew a read transaction");
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi, const std::filesystem::path& path) {
  check(mdb_cursor_open(txn.get(), dbi, &cursor_), path, "cannot open a cursor");
}

std::shared_ptr<Env> shared_env(const std::filesystem::path& path, unsigned flags,
                                std::uint64_t map_bytes, unsigned max_readers, bool exclusive) {
  struct Entry {
    std::weak_ptr<Env> env;
    bool exclusive = false;
  };
  static std::mutex mutex;
  static std::map<std::string, Entry> open;
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  const std::string id = ec ? path.string() : canonical.string();
  std::lock_guard lock(mutex);
  for (auto it = open.begin(); it != open.end();) {  // forget the closed ones
    it = it->second.env.expired() ? open.erase(it) : std::next(it);
  }
  if (auto it = open.find(id); it != open.end()) {
    auto env = it->second.env.lock();
    // The NOLOCK fallback is the environment's choice, not the caller's.
    const bool same_flags = (env->flags() & ~unsigned{MDB_NOLOCK}) == flags;
    if (same_flags && !exclusive && !it->second.exclusive) return env;
    throw Error(path.string() +
                ": this LMDB environment is already open in this process (a dataset and a "
                "cache, or two caches, at the same path?)");
  }
  auto env = std::make_shared<Env>(path, flags, map_bytes, max_readers);
  open[id] = Entry{env, exclusive};
  return env;
}

MDB_dbi open_main_db(const Txn& txn, const std::filesystem::path& path) {
  MDB_dbi dbi = 0;
  check(mdb_dbi_open(txn.get(), nullptr, 0, &dbi), path, "cannot open the main database");
  return dbi;
}

void encode_key(std::uint64_t key, unsigned char (&out)[kKeyBytes]) noexcept {
  for (std::size_t i = 0; i < kKeyBytes; ++i) {
    out[i] = static_cast<unsigned char>(key >> (8 * (kKeyBytes - 1 - i)));
  }
}

std::uint64_t decode_key(const void* bytes) noexcept {
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::uint64_t key = 0;
  for (std::size_t i = 0; i < kKeyBytes; ++i) key = (key << 8) | p[i];
  return key;
}

}  // namespace tb::data::lmdb
