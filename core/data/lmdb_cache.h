// LmdbSampleCache: decoded samples kept on disk in an LMDB environment, so that the second epoch
// and the next run read floats instead of decoding JPEGs, parsing Examples or normalising again.
//
// Layout. A directory environment (data.mdb, lock.mdb) whose main database holds
//   "meta"       JSON {"format": "trainbench-sample-cache", "version": 1,
//                      "fingerprint": the dataset fingerprint, "sample_floats": N}
//   sample key   8 bytes big-endian -> i32 label little-endian, then N floats (native = LE)
//
// Staleness. The fingerprint names the dataset *and* everything that shapes the decoded floats
// (resize, crop, normalisation); the caller builds it. Opening with another fingerprint or
// another sample size empties the cache (cleared() says so) instead of serving samples decoded
// from other data or with other settings. An LMDB that is not a sample cache (no or a foreign
// "meta" entry, but records) is never cleared: opening it throws tb::FormatError.
//
// Writes. LMDB allows one write transaction at a time and a commit costs an fsync, so put()
// only queues the sample in memory; every `batch_puts` queued samples the putting thread commits
// them in one transaction (other threads keep queueing meanwhile). flush() commits the rest and
// the destructor flushes. Queued and committing samples are visible to get() at once. Commits
// use MDB_NOMETASYNC: a machine crash may lose the last commit, never corrupts the cache.
//
// Budget. The map size is the byte budget: the file never grows past it. When it is full the
// samples that fit are kept and further puts are dropped (stats().dropped) for the rest of the
// session; the cache keeps serving what it holds.
//
// Threads. get(), put(), flush() and stats() may be called from any number of threads. Reads
// use a pool of read transactions (MDB_NOTLS), so a get() costs no reader-slot allocation.
// One process opens a directory once at a time (LMDB's rule; a second open throws tb::Error);
// processes may share a cache directory when they use the same fingerprint.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace tb::data {

namespace lmdb {
class Env;
class Txn;
}  // namespace lmdb

struct LmdbCacheOptions {
  std::uint64_t map_bytes = std::uint64_t{4} << 30;  // byte budget of the cache file
  std::size_t batch_puts = 256;  // puts per write transaction; fewer where they pass 64 MiB
};

class LmdbSampleCache {
 public:
  // Opens or creates the cache in `dir` (created as needed). Throws tb::FormatError naming the
  // path when `dir` holds an LMDB that is not a sample cache, or LMDB fails to open it.
  LmdbSampleCache(const std::filesystem::path& dir, std::string dataset_fingerprint,
                  std::uint64_t sample_floats, const LmdbCacheOptions& options = {});
  // Flushes; an error then cannot be reported and only loses the queued samples.
  ~LmdbSampleCache();
  LmdbSampleCache(const LmdbSampleCache&) = delete;
  LmdbSampleCache& operator=(const LmdbSampleCache&) = delete;

  // Copies the sample stored under `key` into `out` (sample_floats() floats) and its label into
  // `label`; false (a miss) when it is not cached. Throws tb::Error when out has the wrong size,
  // tb::FormatError naming the path and key for a stored value of the wrong length.
  bool get(std::uint64_t key, std::span<float> out, std::int32_t& label);
  // Queues the sample for the next commit (a later put of the same key replaces it). Throws
  // tb::Error when `sample` has the wrong size, tb::FormatError when a commit fails.
  void put(std::uint64_t key, std::span<const float> sample, std::int32_t label);
  // Commits every queued sample.
  void flush();

  struct Stats {
    std::uint64_t hits = 0, misses = 0;
    std::uint64_t entries = 0;  // committed samples
    std::uint64_t pending = 0;  // queued or being committed
    std::uint64_t dropped = 0;  // puts refused because the budget was reached
    bool full = false;
  };
  Stats stats() const;

  // Opening found another fingerprint or sample size and emptied the cache.
  bool cleared() const { return cleared_; }
  std::uint64_t sample_floats() const { return sample_floats_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Pending {
    std::int32_t label = 0;
    std::vector<float> values;
  };
  using Batch = std::map<std::uint64_t, Pending>;  // key order: B-tree friendly commits

  void commit(const std::shared_ptr<const Batch>& batch);
  bool find_queued(std::uint64_t key, std::span<float> out, std::int32_t& label);

  std::filesystem::path path_;
  std::string fingerprint_;
  std::uint64_t sample_floats_;
  LmdbCacheOptions options_;
  bool cleared_ = false;
  std::shared_ptr<lmdb::Env> env_;  // before the transactions below, which it must outlive
  unsigned dbi_ = 0;

  mutable std::mutex queue_mutex_;  // pending_ and committing_
  Batch pending_;
  std::vector<std::shared_ptr<const Batch>> committing_;
  std::mutex write_mutex_;  // the one write transaction
  mutable std::mutex readers_mutex_;
  std::vector<std::unique_ptr<lmdb::Txn>> idle_readers_;  // reset read transactions

  std::atomic<std::uint64_t> hits_{0}, misses_{0}, dropped_{0};
  std::atomic<bool> full_{false};
};

}  // namespace tb::data
