// The comparison as `trainbench compare` and `trainbench sweep` print it: the settings diff and
// the summary table in the terminal, and the same rows as JSON.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compare/compare_data.h"
#include "core/compare/compare_summary.h"
#include "core/compare/settings_diff.h"

namespace tb::app {

// "#3": a session's column heading. Names of a sweep share a long start and would all be cut to
// the same text in a column: they are listed once, above the tables, by print_sessions().
std::string session_heading(const compare::SessionData& session);

// One line per session: heading, full name, status and when it was created.
void print_sessions(const std::vector<compare::SessionData>& sessions);

// The settings table: a key column and one column per session, widths fitted to the content,
// long values ellipsized. `shown` are the rows to print, out of `total` settings rows.
void print_settings_table(const std::vector<compare::SessionData>& sessions,
                          const std::vector<compare::SettingsRow>& shown, std::size_t total,
                          bool all);

// The summary table, the best value of each row marked with '*'.
void print_summary_table(const std::vector<compare::SessionData>& sessions,
                         const std::vector<compare::SummaryRow>& rows);

nlohmann::json sessions_json(const std::vector<compare::SessionData>& sessions);
nlohmann::json settings_json(const std::vector<compare::SettingsRow>& rows);
nlohmann::json summary_json(const std::vector<compare::SummaryRow>& rows);

// "trainbench compare 3 4 5 --db PATH" (--db only where it is not the default database).
std::string compare_command_line(const std::vector<store::SessionId>& ids,
                                 const std::filesystem::path& db_path);

}  // namespace tb::app
