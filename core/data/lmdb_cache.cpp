#include "core/data/lmdb_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/data/formats/lmdb_env.h"
#include "core/data/shard_format.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

// Floats are stored as the host lays them out; the format says little-endian.
static_assert(std::endian::native == std::endian::little);

using lmdb::as_val;
using lmdb::check;
using lmdb::kLabelBytes;
using lmdb::kMaxBatchBytes;
using lmdb::kMaxReaders;
using lmdb::kMetaKey;
using lmdb::kMetaKeyBytes;

constexpr const char* kFormat = "trainbench-sample-cache";
constexpr int kVersion = 1;

std::string meta_text(const std::string& fingerprint, std::uint64_t sample_floats) {
  return nlohmann::json{{"format", kFormat},
                        {"version", kVersion},
                        {"fingerprint", fingerprint},
                        {"sample_floats", sample_floats}}
      .dump();
}

// Hands a pooled read transaction back, reset, however the read ends.
class PooledReader {
 public:
  PooledReader(std::mutex& mutex, std::vector<std::unique_ptr<lmdb::Txn>>& pool,
               const lmdb::Env& env)
      : mutex_(mutex), pool_(pool) {
    {
      std::lock_guard lock(mutex_);
      if (!pool_.empty()) {
        txn_ = std::move(pool_.back());
        pool_.pop_back();
      }
    }
    if (txn_) {
      txn_->renew();
    } else {
      txn_ = std::make_unique<lmdb::Txn>(env, MDB_RDONLY);
    }
  }
  ~PooledReader() {
    txn_->reset();
    std::lock_guard lock(mutex_);
    pool_.push_back(std::move(txn_));
  }
  PooledReader(const PooledReader&) = delete;
  PooledReader& operator=(const PooledReader&) = delete;
  MDB_txn* get() const { return txn_->get(); }

 private:
  std::mutex& mutex_;
  std::vector<std::unique_ptr<lmdb::Txn>>& pool_;
  std::unique_ptr<lmdb::Txn> txn_;
};

}  // namespace

LmdbSampleCache::LmdbSampleCache(const std::filesystem::path& dir, std::string dataset_fingerprint,
                                 std::uint64_t sample_floats, const LmdbCacheOptions& options)
    : path_(dir),
      fingerprint_(std::move(dataset_fingerprint)),
      sample_floats_(sample_floats),
      options_(options) {
  const std::uint64_t sample_bytes = kLabelBytes + sample_floats_ * sizeof(float);
  options_.batch_puts = static_cast<std::size_t>(std::clamp<std::uint64_t>(
      options_.batch_puts, 1, std::max<std::uint64_t>(kMaxBatchBytes / sample_bytes, 1)));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create the cache folder: " + ec.message());
  env_ = lmdb::shared_env(dir, MDB_NOTLS | MDB_NOMETASYNC, options_.map_bytes, kMaxReaders,
                          /*exclusive=*/true);

  lmdb::Txn txn(*env_, 0);
  dbi_ = lmdb::open_main_db(txn, path_);
  MDB_val k = as_val(kMetaKey, kMetaKeyBytes);
  MDB_val v{};
  const int rc = mdb_get(txn.get(), dbi_, &k, &v);
  if (rc != MDB_NOTFOUND) check(rc, path_, "cannot read the \"meta\" entry");
  const std::string wanted = meta_text(fingerprint_, sample_floats_);
  bool write_meta = true;
  if (rc == MDB_NOTFOUND) {
    MDB_stat stat{};
    check(mdb_stat(txn.get(), dbi_, &stat), path_, "cannot read the database statistics");
    if (stat.ms_entries != 0) {
      throw FormatError(path_.string() + ": an LMDB with " + std::to_string(stat.ms_entries) +
                        " entries but no \"meta\" entry: not a Trainbench sample cache; refusing "
                        "to clear it");
    }
  } else {
    const auto* text = static_cast<const char*>(v.mv_data);
    const auto meta = nlohmann::json::parse(text, text + v.mv_size, nullptr, false);
    if (!meta.is_object() || meta.value("format", "") != kFormat) {
      throw FormatError(path_.string() +
                        ": \"meta\" entry is not a Trainbench sample cache's "
                        "(expected JSON with \"format\": \"" +
                        std::string(kFormat) + "\"); refusing to clear it");
    }
    if (std::string(text, v.mv_size) == wanted) {
      write_meta = false;
    } else {
      // Another dataset, other decoding settings or another version: nothing here is valid.
      check(mdb_drop(txn.get(), dbi_, 0), path_, "cannot clear the stale cache");
      cleared_ = true;
    }
  }
  if (write_meta) {
    MDB_val mk = as_val(kMetaKey, kMetaKeyBytes);
    MDB_val mv = as_val(wanted.data(), wanted.size());
    check(mdb_put(txn.get(), dbi_, &mk, &mv, 0), path_, "cannot write the \"meta\" entry");
    txn.commit();
  }
}

LmdbSampleCache::~LmdbSampleCache() {
  try {
    flush();
    env_->sync();  // NOMETASYNC left the last commit's meta page to the OS
  } catch (...) {
    // Nobody to tell in a destructor; the samples lost are only a cache's.
  }
  std::lock_guard lock(readers_mutex_);
  idle_readers_.clear();  // before env_ closes
}

bool LmdbSampleCache::find_queued(std::uint64_t key, std::span<float> out, std::int32_t& label) {
  std::lock_guard lock(queue_mutex_);
  const Pending* found = nullptr;
  if (auto it = pending_.find(key); it != pending_.end()) {
    found = &it->second;
  } else {
    for (auto b = committing_.rbegin(); b != committing_.rend() && !found; ++b) {
      if (auto it = (*b)->find(key); it != (*b)->end()) found = &it->second;
    }
  }
  if (!found) return false;
  label = found->label;
  std::copy(found->values.begin(), found->values.end(), out.begin());
  return true;
}

bool LmdbSampleCache::get(std::uint64_t key, std::span<float> out, std::int32_t& label) {
  if (out.size() != sample_floats_) {
    throw Error(path_.string() + ": get() into " + std::to_string(out.size()) +
                " floats, the cache holds samples of " + std::to_string(sample_floats_));
  }
  // Queued first: a sample leaves the queue only after its commit, so it is always in one of
  // the two places.
  if (find_queued(key, out, label)) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  PooledReader reader(readers_mutex_, idle_readers_, *env_);
  unsigned char key_bytes[lmdb::kKeyBytes];
  lmdb::encode_key(key, key_bytes);
  MDB_val k = as_val(key_bytes, sizeof key_bytes);
  MDB_val v{};
  const int rc = mdb_get(reader.get(), dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  check(rc, path_, "cannot read sample key " + std::to_string(key));
  const std::uint64_t expected = kLabelBytes + sample_floats_ * sizeof(float);
  if (v.mv_size != expected) {
    throw FormatError(path_.string() + ": sample key " + std::to_string(key) + ": value of " +
                      std::to_string(v.mv_size) + " bytes, expected " + std::to_string(expected) +
                      " (4-byte label and " + std::to_string(sample_floats_) + " floats)");
  }
  const auto* bytes = static_cast<const std::byte*>(v.mv_data);
  label = static_cast<std::int32_t>(shard::get_u32(bytes));
  // The map gives no alignment guarantee for values, hence memcpy rather than a float view.
  std::memcpy(out.data(), bytes + kLabelBytes, sample_floats_ * sizeof(float));
  hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void LmdbSampleCache::put(std::uint64_t key, std::span<const float> sample, std::int32_t label) {
  if (sample.size() != sample_floats_) {
    throw Error(path_.string() + ": put() of " + std::to_string(sample.size()) +
                " floats, the cache holds samples of " + std::to_string(sample_floats_));
  }
  if (full_.load(std::memory_order_relaxed)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::shared_ptr<const Batch> batch;
  {
    std::lock_guard lock(queue_mutex_);
    auto& entry = pending_[key];
    entry.label = label;
    entry.values.assign(sample.begin(), sample.end());
    if (pending_.size() < options_.batch_puts) return;
    batch = std::make_shared<const Batch>(std::move(pending_));
    pending_.clear();
    committing_.push_back(batch);
  }
  commit(batch);
}

void LmdbSampleCache::flush() {
  std::shared_ptr<const Batch> batch;
  {
    std::lock_guard lock(queue_mutex_);
    if (pending_.empty()) return;
    batch = std::make_shared<const Batch>(std::move(pending_));
    pending_.clear();
    committing_.push_back(batch);
  }
  commit(batch);
}

void LmdbSampleCache::commit(const std::shared_ptr<const Batch>& batch) {
  // Leaves the queue's view only once committed (or given up), whatever happens below.
  struct Unlist {
    LmdbSampleCache& cache;
    const std::shared_ptr<const Batch>& batch;
    ~Unlist() {
      std::lock_guard lock(cache.queue_mutex_);
      std::erase(cache.committing_, batch);
    }
  } unlist{*this, batch};

  std::lock_guard lock(write_mutex_);
  std::vector<std::byte> value(kLabelBytes + sample_floats_ * sizeof(float));
  std::size_t fit = batch->size();  // how many of the batch to put: less once the map is full
  for (;;) {
    lmdb::Txn txn(*env_, 0);
    std::size_t done = 0;
    int rc = MDB_SUCCESS;
    for (auto it = batch->begin(); done < fit; ++it, ++done) {
      unsigned char key_bytes[lmdb::kKeyBytes];
      lmdb::encode_key(it->first, key_bytes);
      shard::put_u32(value.data(), static_cast<std::uint32_t>(it->second.label));
      std::memcpy(value.data() + kLabelBytes, it->second.values.data(),
                  sample_floats_ * sizeof(float));
      MDB_val k = as_val(key_bytes, sizeof key_bytes);
      MDB_val v = as_val(value.data(), value.size());
      if ((rc = mdb_put(txn.get(), dbi_, &k, &v, 0)) != MDB_SUCCESS) break;
    }
    if (rc == MDB_SUCCESS) rc = txn.try_commit();
    if (rc == MDB_SUCCESS) break;
    if (rc != MDB_MAP_FULL) check(rc, path_, "cannot commit cached samples");
    // The failed transaction is dead; redo it with the samples that fitted (none when it was
    // the commit that ran out), and take no more.
    full_.store(true, std::memory_order_relaxed);
    fit = done < fit ? done : 0;
  }
  dropped_.fetch_add(batch->size() - fit, std::memory_order_relaxed);
}

LmdbSampleCache::Stats LmdbSampleCache::stats() const {
  Stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.full = full_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(queue_mutex_);
    s.pending = pending_.size();
    for (const auto& b : committing_) s.pending += b->size();
  }
  lmdb::Txn txn(*env_, MDB_RDONLY);
  MDB_stat stat{};
  check(mdb_stat(txn.get(), dbi_, &stat), path_, "cannot read the database statistics");
  s.entries = stat.ms_entries > 0 ? stat.ms_entries - 1 : 0;  // less "meta"
  return s;
}

}  // namespace tb::data
