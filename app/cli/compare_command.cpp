// trainbench compare ID ID... [--metric M] [--target ACC] [--csv FILE] [--json] [--all]: the
// settings that differ between 2 to 20 stored sessions, their outcomes side by side with the best
// marked, and one metric curve summed up per session.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "app/cli/compare_report.h"
#include "core/compare/compare_data.h"
#include "core/compare/compare_summary.h"
#include "core/compare/settings_diff.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

using nlohmann::json;

// Two is the least that compares; twenty columns still fit a wide terminal and the GUI's view.
constexpr std::size_t kMinSessions = 2;
constexpr std::size_t kMaxSessions = 20;

struct MetricStats {
  std::size_t points = 0;
  double final = 0.0;
  std::int64_t final_step = 0;
  std::optional<double> min, max;  // over the finite values
  std::int64_t min_step = 0, max_step = 0;
};

std::optional<MetricStats> stats_of(const compare::SessionData& session, const std::string& key) {
  const auto it = session.metrics.find(key);
  if (it == session.metrics.end() || it->second.empty()) return std::nullopt;
  const auto& series = it->second;
  MetricStats stats;
  stats.points = series.size();
  stats.final = series.value.back();
  stats.final_step = series.step.back();
  for (std::size_t i = 0; i < series.size(); ++i) {
    const double v = series.value[i];
    if (!std::isfinite(v)) continue;
    if (!stats.min || v < *stats.min) {
      stats.min = v;
      stats.min_step = series.step[i];
    }
    if (!stats.max || v > *stats.max) {
      stats.max = v;
      stats.max_step = series.step[i];
    }
  }
  return stats;
}

json metric_json(const std::vector<compare::SessionData>& sessions, const std::string& key) {
  json values = json::array();
  for (const auto& s : sessions) {
    json entry = {{"session_id", s.record.id.value},
                  {"points", 0},
                  {"final", nullptr},
                  {"final_step", nullptr},
                  {"min", nullptr},
                  {"min_step", nullptr},
                  {"max", nullptr},
                  {"max_step", nullptr}};
    if (const auto stats = stats_of(s, key)) {
      entry["points"] = stats->points;
      entry["final"] = stats->final;
      entry["final_step"] = stats->final_step;
      if (stats->min) {
        entry["min"] = *stats->min;
        entry["min_step"] = stats->min_step;
        entry["max"] = *stats->max;
        entry["max_step"] = stats->max_step;
      }
    }
    values.push_back(std::move(entry));
  }
  return {{"key", key}, {"sessions", values}};
}

void print_metric(const std::vector<compare::SessionData>& sessions, const std::string& key,
                  const std::filesystem::path& db_path) {
  std::printf("%s:\n", key.c_str());
  bool any = false;
  for (const auto& s : sessions) {
    const auto stats = stats_of(s, key);
    const std::string heading = session_heading(s);
    if (!stats) {
      std::printf("  %s: no %s\n", heading.c_str(), key.c_str());
      continue;
    }
    any = true;
    std::printf("  %s: final %.4g at step %lld", heading.c_str(), stats->final,
                static_cast<long long>(stats->final_step));
    if (stats->min) {
      std::printf(", min %.4g at step %lld", *stats->min, static_cast<long long>(stats->min_step));
    }
    std::printf(" (%zu points)\n", stats->points);
  }
  if (any) return;
  // A name mistyped, or a session from elsewhere (an imported trace): say what there is.
  std::vector<store::SessionId> ids;
  for (const auto& s : sessions) ids.push_back(s.record.id);
  std::string known;
  for (const auto& k : compare::metric_keys_of(db_path, ids))
    known += (known.empty() ? "" : ", ") + k;
  std::printf("  (the sessions' metrics: %s; --metric picks one)\n",
              known.empty() ? "none" : known.c_str());
}

// Written beside the target and renamed over it, so a reader never sees half a file and a
// failed write leaves an older file as it was.
void write_replacing(const std::filesystem::path& file, const std::string& text) {
  auto temporary = file;
  temporary += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      throw Error("--csv " + file.string() + ": cannot write the file");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, file, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw Error("--csv " + file.string() + ": " + error.message());
  }
}

}  // namespace

int compare_sessions(const CompareCommand& command) {
  const std::size_t count = command.sessions.size();
  if (count < kMinSessions || count > kMaxSessions) {
    std::fprintf(stderr, "error: compare takes %zu to %zu session ids, got %zu\n", kMinSessions,
                 kMaxSessions, count);
    return kExitBadInput;
  }
  std::set<std::int64_t> seen;
  std::vector<store::SessionId> ids;
  for (const auto id : command.sessions) {
    if (!seen.insert(id).second) {
      std::fprintf(stderr, "error: session %lld is given twice\n", static_cast<long long>(id));
      return kExitBadInput;
    }
    ids.emplace_back(id);
  }
  // Accuracies are stored as fractions; "--target 85" can only mean a percentage.
  double target = command.target;
  if (!(target > 0.0 && target <= 100.0)) {
    std::fprintf(stderr, "error: --target %g: expected a test accuracy in 0..1 (or 1..100 %%)\n",
                 target);
    return kExitBadInput;
  }
  if (target > 1.0) target /= 100.0;
  // A comparison never creates a database.
  if (!std::filesystem::exists(command.db_path)) {
    std::fprintf(stderr, "error: no session database at %s\n", command.db_path.c_str());
    return kExitBadInput;
  }

  // The curves the summary reads, and the one asked for.
  auto keys = compare::summary_metric_keys();
  keys.push_back(command.metric);
  const auto sessions = compare::load_sessions(command.db_path, ids, keys);
  std::vector<compare::FlatSettings> flat;
  for (const auto& s : sessions) flat.push_back(s.settings);
  const auto rows = compare::diff_settings(flat);
  const auto shown = command.all ? rows : compare::differing_rows(rows);
  const auto summary = compare::summarize(sessions, target);

  if (!command.csv.empty())
    write_replacing(command.csv, compare::compare_csv(sessions, shown, summary));

  if (command.json) {
    std::cout << json{{"db", command.db_path.string()},
                      {"target_accuracy", target},
                      {"sessions", sessions_json(sessions)},
                      {"settings", settings_json(shown)},
                      {"summary", summary_json(summary)},
                      {"metric", metric_json(sessions, command.metric)}}
                     .dump()
              << std::endl;
    return kExitOk;
  }
  print_sessions(sessions);
  print_settings_table(sessions, shown, rows.size(), command.all);
  print_summary_table(sessions, summary);
  print_metric(sessions, command.metric, command.db_path);
  if (!command.csv.empty()) std::printf("CSV written to %s\n", command.csv.c_str());
  return kExitOk;
}

}  // namespace tb::app
