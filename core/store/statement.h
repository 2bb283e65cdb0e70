// Internal to core/store: RAII wrappers of SQLite prepared statements and transactions, whose
// failures become StoreError naming the database path and what was being done.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>

#include "core/store/schema.h"

namespace tb::store::detail {

namespace fs = std::filesystem;

// A prepared statement, finalized when it goes. Failures become StoreError naming the database
// path and `what` the statement was doing.
class Statement {
 public:
  Statement(sqlite3* db, const fs::path& path, std::string_view sql, std::string what)
      : db_(db), path_(path), what_(std::move(what)) {
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK) {
      throw_sqlite(db_, path_, what_);
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind_int(int index, std::int64_t value) { check(sqlite3_bind_int64(stmt_, index, value)); }
  void bind_real(int index, double value) { check(sqlite3_bind_double(stmt_, index, value)); }
  void bind_blob(int index, const void* data, std::size_t bytes) {
    // An empty vector's data() may be null, which SQLite would store as NULL, not as a blob.
    check(bytes == 0 ? sqlite3_bind_zeroblob(stmt_, index, 0)
                     : sqlite3_bind_blob64(stmt_, index, data, bytes, SQLITE_TRANSIENT));
  }
  void bind_text(int index, std::string_view value) {
    // SQLITE_TRANSIENT copies: a caller may bind a temporary that dies before step().
    check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8));
  }

  // True while there is a row to read; false when done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, path_, what_);
  }
  // Runs a statement that returns no rows and makes it ready for the next set of bindings.
  void run() {
    step();
    reset();
  }
  void reset() { sqlite3_reset(stmt_); }

  bool column_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::int64_t column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
  // NULL reads as NaN: SQLite stores a bound NaN as NULL.
  double column_real(int column) const {
    if (column_null(column)) return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(stmt_, column);
  }
  const void* column_blob(int column) const { return sqlite3_column_blob(stmt_, column); }
  std::size_t column_bytes(int column) const {
    return static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  }
  std::string column_text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    if (text == nullptr) return {};
    return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) throw_sqlite(db_, path_, what_);
  }

  sqlite3* db_;
  const fs::path& path_;
  std::string what_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if commit() is not reached. IMMEDIATE takes the write
// lock at BEGIN, where busy_timeout applies; a deferred transaction that upgrades from read to
// write later may get SQLITE_BUSY at once, without waiting.
class Transaction {
 public:
  Transaction(sqlite3* db, const fs::path& path, const std::string& what)
      : db_(db), path_(path), what_(what) {
    exec(db_, path_, "BEGIN IMMEDIATE", what_ + " (starting the transaction)");
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    exec(db_, path_, "COMMIT", what_ + " (committing)");
    done_ = true;
  }

 private:
  sqlite3* db_;
  const fs::path& path_;
  std::string what_;
  bool done_ = false;
};

// `text` in double quotes, for the `what` of errors and messages ("adding track \"engine\"").
inline std::string in_quotes(std::string_view text) {
  // Appended piece by piece: "\"" + std::string(text) trips GCC 12's -Wrestrict false positive.
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

}  // namespace tb::store::detail
