// LMDB datasets: a split stored in one LMDB environment, read by position as a RecordSet.
//
// Layout. The environment is a directory (holding data.mdb and lock.mdb) or, with MDB_NOSUBDIR,
// a single file (plus FILE-lock next to it). Its main (unnamed) database holds
//
//   "meta"        (4-byte key) UTF-8 JSON object:
//                   "format":   "trainbench-lmdb"   (tells a Trainbench environment from others)
//                   "version":  1
//                   "name":     the source's name
//                   "spec":     {"dtype": "u8", "shape": [1, 28, 28]}   (SampleSpec)
//                   "metadata": {"classes", "class_names", "normalize", ...}   (see record_set.h)
//                   "count":    number of records
//   sample key    (8 bytes, the u64 key big-endian, so LMDB's byte order is numeric order)
//                 value: i32 label little-endian, then the payload, spec.payload_bytes() bytes
//                 laid out as SampleSpec says (row-major, little-endian)
//
// Any other key is an error. The writer puts "meta" in the same transaction as the last records,
// so an environment whose writer died part way has no "meta" and is refused, never read short.
//
// Reading. The environment is opened MDB_RDONLY with LMDB's lock file in use (not MDB_NOLOCK):
// without the lock table a writer in another process could reuse pages a reader still maps, so
// NOLOCK is only safe when nothing can write, and that is the one case it is used in: where the
// lock file cannot be created (read-only media, a folder without write permission). MDB_NOTLS
// ties read transactions to their reader object rather than the thread, so each RecordReader
// owns one long-lived read transaction and may be handed between threads (one at a time).
// Opening walks the keys once (values are not touched) to build the position -> key table;
// read(position) is then an mdb_get in the reader's transaction, no copying: the payload points
// into the memory map. Value lengths are checked on read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/data/record_set.h"

namespace tb::data {

namespace lmdb {
class Env;
}

struct LmdbWriteOptions {
  // MDB_NOSUBDIR: `path` is the data file itself rather than a directory.
  bool single_file = false;
  // Records per write transaction, fewer where they would pass 64 MiB (the batch is held in
  // memory so that a transaction that ran out of map can be redone).
  std::uint64_t batch_records = 1024;
  // Starting map size; 0 estimates it from the source's size and spec. Grows by doubling when
  // LMDB reports MDB_MAP_FULL, so an estimate too small costs a retry, never a failure.
  std::uint64_t initial_map_bytes = 0;
};

// Writes every record of `source` into a new LMDB environment at `path` (which must not exist,
// or be an empty directory); returns the number of records. Keys must be unique. Throws
// tb::FormatError naming the path (and the key) on a duplicate key, a payload of the wrong size
// or an LMDB error. The
// files are synced before it returns.
std::uint64_t write_lmdb(const std::filesystem::path& path, shard::RecordSource& source,
                         const LmdbWriteOptions& options = {});

class LmdbRecordSet final : public RecordSet {
 public:
  // Opens the environment at `path` (directory or single file) read-only and indexes its keys.
  // Throws tb::FormatError naming the path when it is missing, not an LMDB environment, has no
  // or a bad "meta" entry (another program's LMDB), a key that is neither "meta" nor 8 bytes, or
  // a record count other than meta's "count".
  explicit LmdbRecordSet(const std::filesystem::path& path);
  ~LmdbRecordSet() override;

  std::string name() const override;
  SampleSpec spec() const override { return spec_; }
  nlohmann::json metadata() const override { return metadata_; }
  std::uint64_t size() const override { return keys_->size(); }
  // Each reader holds its own read transaction (one LMDB reader slot) until destroyed. A
  // reader's read() throws tb::FormatError naming the path, key and position for a value whose
  // length is not 4 + payload bytes or a key gone from the environment.
  std::unique_ptr<RecordReader> open_reader() const override;

  const std::filesystem::path& path() const { return path_; }
  // The sample keys in position order (ascending).
  const std::vector<std::uint64_t>& keys() const { return *keys_; }

 private:
  std::filesystem::path path_;
  SampleSpec spec_;
  nlohmann::json metadata_;
  std::shared_ptr<lmdb::Env> env_;
  unsigned dbi_ = 0;
  std::shared_ptr<const std::vector<std::uint64_t>> keys_;
};

inline std::shared_ptr<const RecordSet> open_lmdb(const std::filesystem::path& path) {
  return std::make_shared<LmdbRecordSet>(path);
}

}  // namespace tb::data
