#include "core/store/integrity.h"

#include <sqlite3.h>

#include <memory>
#include <vector>

namespace tb::store {

namespace {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

int collect(void* out, int columns, char** values, char** /*names*/) {
  if (columns > 0 && values[0] != nullptr) {
    static_cast<std::vector<std::string>*>(out)->emplace_back(values[0]);
  }
  return 0;
}

}  // namespace

std::string check_integrity(const std::filesystem::path& path, const std::atomic<bool>* cancel) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, CloseDb> db(raw);
  if (rc != SQLITE_OK) return path.string() + ": cannot be opened: " + sqlite3_errmsg(raw);
  if (cancel != nullptr) {
    // Asked every 10,000 virtual machine steps; non-zero aborts the statement.
    sqlite3_progress_handler(
        db.get(), 10000,
        [](void* flag) -> int { return static_cast<const std::atomic<bool>*>(flag)->load(); },
        const_cast<std::atomic<bool>*>(cancel));
  }
  std::vector<std::string> findings;
  const int check = sqlite3_exec(db.get(), "PRAGMA quick_check(5)", collect, &findings, nullptr);
  if (cancel != nullptr && cancel->load()) return {};
  if (check != SQLITE_OK) {
    return path.string() + ": damaged (" + sqlite3_errmsg(db.get()) + ")";
  }
  if (findings.size() == 1 && findings.front() == "ok") return {};
  std::string out = path.string() + ": damaged:";
  for (const auto& finding : findings) out += " " + finding + ";";
  out.pop_back();
  return out;
}

}  // namespace tb::store
