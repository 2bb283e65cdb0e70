#include "core/data/formats/lmdb.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/data/formats/lmdb_env.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

namespace fs = std::filesystem;
using lmdb::as_val;
using lmdb::check;
using lmdb::kLabelBytes;
using lmdb::kMaxBatchBytes;
using lmdb::kMaxReaders;
using lmdb::kMetaKey;
using lmdb::kMetaKeyBytes;

constexpr const char* kFormat = "trainbench-lmdb";
constexpr int kVersion = 1;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw FormatError(path.string() + ": " + what);
}

std::string hex_bytes(const MDB_val& v) {
  std::string text;
  const auto* p = static_cast<const unsigned char*>(v.mv_data);
  for (std::size_t i = 0; i < std::min<std::size_t>(v.mv_size, 16); ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", p[i]);
    text += byte;
  }
  return text + (v.mv_size > 16 ? "..." : "");
}

bool is_meta_key(const MDB_val& k) {
  return k.mv_size == kMetaKeyBytes && std::memcmp(k.mv_data, kMetaKey, kMetaKeyBytes) == 0;
}

void check_spec(const SampleSpec& spec, const std::string& where) {
  if (spec.shape.empty() || spec.shape.size() > shard::kMaxRank) {
    throw FormatError(where + ": sample rank " + std::to_string(spec.shape.size()) +
                      ", expected 1.." + std::to_string(shard::kMaxRank));
  }
  for (auto d : spec.shape) {
    if (d == 0) throw FormatError(where + ": sample shape " + spec.describe() + " has a zero");
  }
}

nlohmann::json spec_to_json(const SampleSpec& spec) {
  return {{"dtype", shard::dtype_name(spec.dtype)}, {"shape", spec.shape}};
}

SampleSpec spec_from_json(const nlohmann::json& j, const fs::path& path) {
  const std::string where = path.string() + ": \"meta\" entry";
  if (!j.is_object() || !j.contains("dtype") || !j["dtype"].is_string() || !j.contains("shape") ||
      !j["shape"].is_array()) {
    throw FormatError(where + ": \"spec\" must be {\"dtype\": name, \"shape\": [dims]}");
  }
  SampleSpec spec;
  const auto name = j["dtype"].get<std::string>();
  bool known = false;
  for (std::uint8_t code = 1; code < 255 && shard::valid_dtype_code(code); ++code) {
    if (name == shard::dtype_name(static_cast<shard::SampleDType>(code))) {
      spec.dtype = static_cast<shard::SampleDType>(code);
      known = true;
    }
  }
  if (!known) throw FormatError(where + ": unknown sample dtype \"" + name + "\"");
  for (const auto& d : j["shape"]) {
    if (!d.is_number_unsigned() || d.get<std::uint64_t>() > 0xFFFFFFFFu) {
      throw FormatError(where + ": shape entries must be integers in 1..2^32-1, got " + d.dump());
    }
    spec.shape.push_back(d.get<std::uint32_t>());
  }
  check_spec(spec, where);
  return spec;
}

// Bytes the records need in the map: LMDB puts values over about half a page on overflow pages
// of their own, smaller ones share leaf pages (filled completely when appended in key order).
std::uint64_t estimate_map_bytes(std::uint64_t records, std::uint64_t value_bytes) {
  constexpr std::uint64_t kPage = 4096, kNode = 8 + lmdb::kKeyBytes + 2, kPageHeader = 16;
  const std::uint64_t per_record =
      value_bytes > kPage / 2 ? (value_bytes + kPageHeader + kPage - 1) / kPage * kPage + kNode
                              : value_bytes + kNode;
  const std::uint64_t bytes = records * per_record / 4 * 5 + (4u << 20);
  constexpr std::uint64_t kMiB = 1u << 20;
  return (bytes + kMiB - 1) / kMiB * kMiB;
}

// One write transaction's records, kept so that a transaction that ran out of map can be redone
// after the map grows (the source's payloads are only valid until its next call).
struct Batch {
  std::vector<std::uint64_t> keys;
  std::vector<std::byte> values;  // label + payload per record, back to back
  std::size_t value_bytes = 0;
};

class Writer {
 public:
  Writer(const fs::path& path, const LmdbWriteOptions& options, std::uint64_t map_bytes)
      : env_(path, MDB_NOSYNC | (options.single_file ? MDB_NOSUBDIR : 0u), map_bytes, 0) {}

  // Puts the batch (and `meta`, when given) in one transaction, growing the map until it fits.
  void commit(const Batch& batch, const std::string* meta) {
    for (;;) {
      const int rc = try_commit(batch, meta);
      if (rc == MDB_SUCCESS) break;
      if (rc != MDB_MAP_FULL) check(rc, env_.path(), "cannot write records");
      env_.set_map_bytes(env_.map_bytes() * 2);
    }
    last_key_ = txn_last_key_;
  }

  void sync() { env_.sync(); }

 private:
  int try_commit(const Batch& batch, const std::string* meta) {
    lmdb::Txn txn(env_, 0);
    const MDB_dbi dbi = lmdb::open_main_db(txn, env_.path());
    std::optional<std::uint64_t>& last = txn_last_key_;  // the greatest key in the database
    last = last_key_;
    for (std::size_t i = 0; i < batch.keys.size(); ++i) {
      const std::uint64_t key = batch.keys[i];
      unsigned char key_bytes[lmdb::kKeyBytes];
      lmdb::encode_key(key, key_bytes);
      MDB_val k = as_val(key_bytes, sizeof key_bytes);
      MDB_val v = as_val(batch.values.data() + i * batch.value_bytes, batch.value_bytes);
      // Sources mostly come in key order; appending then skips the B-tree search and fills
      // pages completely. Anything else is an ordinary insert that must not replace a record.
      const bool append = !last || key > *last;
      const int rc = mdb_put(txn.get(), dbi, &k, &v, append ? MDB_APPEND : MDB_NOOVERWRITE);
      if (rc == MDB_KEYEXIST) fail(env_.path(), "duplicate sample key " + std::to_string(key));
      if (rc != MDB_SUCCESS) return rc;
      if (append) last = key;
    }
    if (meta) {
      MDB_val k = as_val(kMetaKey, kMetaKeyBytes);
      MDB_val v = as_val(meta->data(), meta->size());
      if (const int rc = mdb_put(txn.get(), dbi, &k, &v, 0); rc != MDB_SUCCESS) return rc;
    }
    return txn.try_commit();
  }

  lmdb::Env env_;
  std::optional<std::uint64_t> last_key_;      // committed
  std::optional<std::uint64_t> txn_last_key_;  // with the transaction being written
};

void prepare_destination(const fs::path& path, bool single_file) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    if (single_file || !fs::is_directory(path) || !fs::is_empty(path)) {
      throw Error(path.string() + ": already exists; write LMDB datasets to a new path");
    }
    return;
  }
  const fs::path dir = single_file ? path.parent_path() : path;
  if (!dir.empty()) fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create the folder: " + ec.message());
}

class LmdbReader final : public RecordReader {
 public:
  LmdbReader(std::shared_ptr<lmdb::Env> env, MDB_dbi dbi,
             std::shared_ptr<const std::vector<std::uint64_t>> keys, std::uint64_t payload_bytes,
             std::string spec)
      : env_(std::move(env)),
        txn_(*env_, MDB_RDONLY),
        dbi_(dbi),
        keys_(std::move(keys)),
        payload_bytes_(payload_bytes),
        spec_(std::move(spec)) {}

  RecordRef read(std::uint64_t position) override {
    if (position >= keys_->size()) {
      fail(env_->path(), "position " + std::to_string(position) + " out of range (" +
                             std::to_string(keys_->size()) + " records)");
    }
    const std::uint64_t key = (*keys_)[position];
    const auto where = [&] {
      return "key " + std::to_string(key) + " (position " + std::to_string(position) + ")";
    };
    unsigned char key_bytes[lmdb::kKeyBytes];
    lmdb::encode_key(key, key_bytes);
    MDB_val k = as_val(key_bytes, sizeof key_bytes);
    MDB_val v{};
    const int rc = mdb_get(txn_.get(), dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) {
      fail(env_->path(), where() + ": not found; was the environment rewritten after opening?");
    }
    check(rc, env_->path(), "cannot read " + where());
    if (v.mv_size != kLabelBytes + payload_bytes_) {
      fail(env_->path(), where() + ": value of " + std::to_string(v.mv_size) +
                             " bytes, expected a 4-byte label and " +
                             std::to_string(payload_bytes_) + " payload bytes (" + spec_ + ")");
    }
    const auto bytes = lmdb::as_bytes(v);
    RecordRef record;
    record.key = key;
    record.label = static_cast<std::int32_t>(shard::get_u32(bytes.data()));
    record.payload = bytes.subspan(kLabelBytes);
    return record;
  }

 private:
  std::shared_ptr<lmdb::Env> env_;  // outlives the transaction (declared first)
  lmdb::Txn txn_;
  MDB_dbi dbi_;
  std::shared_ptr<const std::vector<std::uint64_t>> keys_;
  std::uint64_t payload_bytes_;
  std::string spec_;
};

}  // namespace

std::uint64_t write_lmdb(const fs::path& path, shard::RecordSource& source,
                         const LmdbWriteOptions& options) {
  const SampleSpec spec = source.spec();
  check_spec(spec, source.name());
  const std::uint64_t payload_bytes = spec.payload_bytes();
  // Bytes bound a transaction too: LMDB caps the pages one may dirty (MDB_TXN_FULL), and the
  // batch is held in memory for a retry.
  const std::uint64_t batch_records = std::clamp<std::uint64_t>(
      options.batch_records, 1,
      std::max<std::uint64_t>(kMaxBatchBytes / (kLabelBytes + payload_bytes), 1));
  prepare_destination(path, options.single_file);

  const std::uint64_t map_bytes =
      options.initial_map_bytes ? options.initial_map_bytes
                                : estimate_map_bytes(source.size(), kLabelBytes + payload_bytes);
  Writer writer(path, options, map_bytes);
  Batch batch;
  batch.value_bytes = kLabelBytes + payload_bytes;
  std::uint64_t count = 0;
  shard::SourceRecord record;
  for (bool more = true; more;) {
    batch.keys.clear();
    batch.values.clear();
    while (batch.keys.size() < batch_records && (more = source.next(record))) {
      if (record.payload.size() != payload_bytes) {
        throw FormatError(source.name() + ": record key " + std::to_string(record.key) + " has " +
                          std::to_string(record.payload.size()) + " payload bytes, expected " +
                          std::to_string(payload_bytes) + " (" + spec.describe() + ")");
      }
      batch.keys.push_back(record.key);
      const std::size_t at = batch.values.size();
      batch.values.resize(at + batch.value_bytes);
      shard::put_u32(batch.values.data() + at, static_cast<std::uint32_t>(record.label));
      std::memcpy(batch.values.data() + at + kLabelBytes, record.payload.data(), payload_bytes);
    }
    count += batch.keys.size();
    if (more) {
      writer.commit(batch, nullptr);
    } else {
      const nlohmann::json meta = {
          {"format", kFormat},          {"version", kVersion},           {"name", source.name()},
          {"spec", spec_to_json(spec)}, {"metadata", source.metadata()}, {"count", count}};
      const std::string text = meta.dump();
      writer.commit(batch, &text);
    }
  }
  writer.sync();
  return count;
}

LmdbRecordSet::LmdbRecordSet(const fs::path& path) : path_(path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) fail(path, "no such LMDB environment (file or directory)");
  const bool single_file = !fs::is_directory(status);
  if (!single_file && !fs::exists(path / "data.mdb", ec)) {
    fail(path, "not an LMDB environment: the folder has no data.mdb");
  }
  env_ = lmdb::shared_env(path, MDB_RDONLY | MDB_NOTLS | (single_file ? MDB_NOSUBDIR : 0u), 0,
                          kMaxReaders);

  lmdb::Txn txn(*env_, MDB_RDONLY);
  dbi_ = lmdb::open_main_db(txn, path);

  MDB_val k = as_val(kMetaKey, kMetaKeyBytes);
  MDB_val v{};
  const int rc = mdb_get(txn.get(), dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    fail(path,
         "no \"meta\" entry: not a Trainbench LMDB dataset (written by another program, or its "
         "writer did not finish)");
  }
  check(rc, path, "cannot read the \"meta\" entry");
  const auto* text = static_cast<const char*>(v.mv_data);
  const auto meta = nlohmann::json::parse(text, text + v.mv_size, nullptr, false);
  if (!meta.is_object() || meta.value("format", "") != kFormat) {
    fail(path, "\"meta\" entry is not a Trainbench LMDB header (expected JSON with \"format\": \"" +
                   std::string(kFormat) + "\")");
  }
  if (!meta.contains("version") || meta["version"] != kVersion) {
    fail(path, "\"meta\" version " + (meta.contains("version") ? meta["version"].dump() : "none") +
                   ", expected " + std::to_string(kVersion));
  }
  spec_ = spec_from_json(meta.contains("spec") ? meta["spec"] : nlohmann::json(), path);
  if (!meta.contains("count") || !meta["count"].is_number_unsigned()) {
    fail(path, "\"meta\" entry has no record \"count\"");
  }
  const auto count = meta["count"].get<std::uint64_t>();
  metadata_ = meta.contains("metadata") && meta["metadata"].is_object() ? meta["metadata"]
                                                                        : nlohmann::json::object();

  // Only the keys: without a data pointer LMDB does not touch the values' overflow pages.
  auto keys = std::make_shared<std::vector<std::uint64_t>>();
  keys->reserve(std::min<std::uint64_t>(count, 1u << 24));
  lmdb::Cursor cursor(txn, dbi_, path);
  int step = mdb_cursor_get(cursor.get(), &k, nullptr, MDB_FIRST);
  for (std::uint64_t index = 0; step == MDB_SUCCESS; ++index) {
    if (k.mv_size == lmdb::kKeyBytes) {
      keys->push_back(lmdb::decode_key(k.mv_data));
    } else if (!is_meta_key(k)) {
      fail(path, "entry " + std::to_string(index) + " has a key of " + std::to_string(k.mv_size) +
                     " bytes (" + hex_bytes(k) +
                     "), expected an 8-byte big-endian sample key or \"meta\"");
    }
    step = mdb_cursor_get(cursor.get(), &k, nullptr, MDB_NEXT);
  }
  if (step != MDB_NOTFOUND) check(step, path, "cannot walk the keys");
  if (keys->size() != count) {
    fail(path, "holds " + std::to_string(keys->size()) + " records but its \"meta\" entry says " +
                   std::to_string(count));
  }
  keys_ = std::move(keys);
}

LmdbRecordSet::~LmdbRecordSet() = default;

std::string LmdbRecordSet::name() const {
  return (path_.has_filename() ? path_ : path_.parent_path()).filename().string();
}

std::unique_ptr<RecordReader> LmdbRecordSet::open_reader() const {
  return std::make_unique<LmdbReader>(env_, dbi_, keys_, spec_.payload_bytes(), spec_.describe());
}

}  // namespace tb::data
