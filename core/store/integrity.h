// A whole-file check of a session database: SQLite's quick_check (every page's structure, every
// index against its table), read-only, on a connection of its own. A damaged database found
// this way is opened read-only by the browser, so nothing more is written into it.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

namespace tb::store {

// Empty when the file is sound; otherwise what is wrong, naming the file (the first few of
// SQLite's findings). Reads every page, so a large database takes seconds: run it off the GUI
// thread. Setting `cancel` from another thread stops the check early (the answer is then empty).
std::string check_integrity(const std::filesystem::path& path,
                            const std::atomic<bool>* cancel = nullptr);

}  // namespace tb::store
