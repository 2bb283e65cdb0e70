// Raw sqlite3 access for the store's tests: files SessionStore would never make, and reads that
// bypass it (to see what is really on disk).
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb::store::testing_raw {

namespace fs = std::filesystem;

// Raw sqlite3, so the tests make files SessionStore would never make.
inline void raw_exec(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path.string());
  }
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("raw sql failed: " + text);
}

// The first column of every row, as text.
inline std::vector<std::string> raw_query(const fs::path& path, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path.string());
  }
  auto collect = [](void* out, int, char** values, char**) {
    static_cast<std::vector<std::string>*>(out)->emplace_back(values[0] ? values[0] : "NULL");
    return 0;
  };
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), collect, &rows, &message);
  const std::string text = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("raw query failed: " + text);
  return rows;
}

inline std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `count` finished sessions (ids after the existing ones) as runs leave them: 7 projects, 5
// optimizers, throughput and best accuracy varying by row, every third session tagged, written in
// one statement into a database SessionStore has created.
inline void generate_sessions(const fs::path& path, int count) {
  raw_exec(path, R"sql(
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < )sql" +
                     std::to_string(count - 1) + R"sql()
INSERT INTO sessions (name, created, finished, status, project_json, git_revision, host, seed,
                      summary_json, project, dataset, model, optimizer, precision, best_accuracy,
                      samples_per_s, duration_s)
SELECT 'run ' || i, '2026-11-01T00:00:00Z', '2026-11-01T00:10:00Z',
       CASE WHEN i % 50 = 7 THEN 'failed' ELSE 'completed' END, '{}', 'rev', 'host', 1, '{}',
       'project' || (i % 7), 'fashion-mnist', CASE WHEN i % 2 = 0 THEN 'mlp' ELSE 'cnn' END,
       CASE i % 5 WHEN 0 THEN 'sgd' WHEN 1 THEN 'adam' WHEN 2 THEN 'adamw' WHEN 3 THEN 'lion'
                  ELSE 'rmsprop' END,
       CASE WHEN i % 3 = 0 THEN 'bf16' ELSE 'fp32' END, 0.80 + (i % 100) / 1000.0,
       1000 + i % 997, 60 + i % 600
FROM n;
INSERT INTO session_tags (session_id, tag) SELECT id, 'tag' || (id % 4) FROM sessions
  WHERE id % 3 = 0;
)sql");
}

}  // namespace tb::store::testing_raw
