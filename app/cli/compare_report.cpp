#include "app/cli/compare_report.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace tb::app {
namespace {

using nlohmann::json;

// Session and value columns stay readable side by side on a terminal even with 20 sessions;
// the key column holds the longest dotted keys of a project.
constexpr std::size_t kValueWidth = 24;
constexpr std::size_t kKeyWidth = 40;

// Characters on screen: UTF-8 continuation bytes take no column (names may hold any text).
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// At most `width` columns: a longer text keeps its start and ends in "…".
std::string fitted(const std::string& text, std::size_t width) {
  if (display_width(text) <= width) return text;
  std::string out;
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool starts_character = (text[i] & 0xC0) != 0x80;
    if (starts_character && ++columns > width - 1) break;
    out += text[i];
  }
  return out + "…";
}

std::string padded(const std::string& text, std::size_t width, bool right) {
  const std::string pad(width - std::min(width, display_width(text)), ' ');
  return right ? pad + text : text + pad;
}

// Prints rows of cells: the first column left-aligned, the others as `right_aligned` says,
// each column as wide as its widest cell up to its cap.
void print_table(const std::vector<std::vector<std::string>>& rows, bool right_aligned) {
  if (rows.empty()) return;
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::size_t cap = c == 0 ? kKeyWidth : kValueWidth;
      widths[c] = std::max(widths[c], std::min(cap, display_width(row[c])));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += "  ";  // an indent before the first column, a gap between the others
      line += padded(fitted(row[c], widths[c]), widths[c], c > 0 && right_aligned);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

// Each row's values as its unit reads best; '-' where a session has none.
std::string value_text(const compare::SummaryRow& row, double v) {
  const char* format = "%.4f";  // accuracies and losses
  if (row.unit == "samples/s" || row.unit == "%") {
    format = "%.1f";
  } else if (row.unit == "s") {
    format = "%.2f";
  } else if (row.unit == "bytes" || row.key.starts_with("steps")) {
    format = "%.0f";
  }
  char text[64];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

const char* better_name(compare::Better better) {
  switch (better) {
    case compare::Better::higher:
      return "higher";
    case compare::Better::lower:
      return "lower";
    case compare::Better::none:
      break;
  }
  return "none";
}

// A word the shell reads back as it is: quoted when it holds anything but plain path characters.
std::string shell_word(const std::string& text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           (c != '\0' && std::strchr("_./-+:=@%", c) != nullptr);
  });
  if (plain) return text;
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string session_heading(const compare::SessionData& session) {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, wrongly) on "#" + std::to_string(...).
  std::string heading = "#";
  heading += std::to_string(session.record.id.value);
  return heading;
}

void print_sessions(const std::vector<compare::SessionData>& sessions) {
  std::size_t width = 0;
  for (const auto& s : sessions) width = std::max(width, session_heading(s).size());
  std::printf("sessions:\n");
  for (const auto& s : sessions) {
    std::printf("  %-*s  %s  (%s, %s)\n", static_cast<int>(width), session_heading(s).c_str(),
                s.record.name.c_str(), s.record.status.c_str(), s.record.created.c_str());
  }
}

void print_settings_table(const std::vector<compare::SessionData>& sessions,
                          const std::vector<compare::SettingsRow>& shown, std::size_t total,
                          bool all) {
  const auto differing = static_cast<std::size_t>(
      std::count_if(shown.begin(), shown.end(), [](const auto& r) { return r.differs; }));
  if (all) {
    std::printf("settings (%zu, %zu differ):\n", total, differing);
  } else if (differing == 0) {
    std::printf("settings: all %zu are the same (--all lists them)\n", total);
    return;
  } else {
    std::printf("settings that differ (%zu of %zu; --all for every one):\n", differing, total);
  }
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> heading = {"setting"};
  for (const auto& s : sessions) heading.push_back(session_heading(s));
  table.push_back(std::move(heading));
  for (const auto& row : shown) {
    std::vector<std::string> cells = {row.key};
    // An empty value would look like a missing one: quotes show it is there.
    for (const auto& v : row.values) cells.push_back(!v ? "-" : v->empty() ? "\"\"" : *v);
    table.push_back(std::move(cells));
  }
  print_table(table, false);
}

void print_summary_table(const std::vector<compare::SessionData>& sessions,
                         const std::vector<compare::SummaryRow>& rows) {
  std::printf(sessions.size() > 1 ? "summary (* best):\n" : "summary:\n");
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> heading = {""};
  for (const auto& s : sessions) heading.push_back(session_heading(s));
  table.push_back(std::move(heading));
  for (const auto& row : rows) {
    std::vector<std::string> cells = {row.label};
    for (std::size_t i = 0; i < row.values.size(); ++i) {
      const auto& v = row.values[i];
      // The mark takes a column of its own, so marked and unmarked values stay aligned.
      const bool marked = sessions.size() > 1 && row.best == i;  // one session beats no one
      cells.push_back(v ? value_text(row, *v) + (marked ? "*" : " ") : "- ");
    }
    table.push_back(std::move(cells));
  }
  print_table(table, true);
}

json sessions_json(const std::vector<compare::SessionData>& sessions) {
  json out = json::array();
  for (const auto& s : sessions) {
    out.push_back({{"session_id", s.record.id.value},
                   {"name", s.record.name},
                   {"status", s.record.status},
                   {"created", s.record.created},
                   {"finished", s.record.finished},
                   {"batch_size", s.batch_size},
                   {"summary", s.summary}});
  }
  return out;
}

json settings_json(const std::vector<compare::SettingsRow>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    json values = json::array();
    for (const auto& v : row.values) values.push_back(v ? json(*v) : json(nullptr));
    out.push_back({{"key", row.key}, {"values", values}, {"differs", row.differs}});
  }
  return out;
}

json summary_json(const std::vector<compare::SummaryRow>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    json values = json::array();
    for (const auto& v : row.values) values.push_back(v ? json(*v) : json(nullptr));
    out.push_back({{"key", row.key},
                   {"label", row.label},
                   {"unit", row.unit},
                   {"better", better_name(row.better)},
                   {"values", values},
                   {"best", row.best ? json(*row.best) : json(nullptr)}});
  }
  return out;
}

std::string compare_command_line(const std::vector<store::SessionId>& ids,
                                 const std::filesystem::path& db_path) {
  std::string line = "trainbench compare";
  for (const auto id : ids) {
    line += ' ';
    line += std::to_string(id.value);
  }
  if (db_path != store::SessionStore::default_path())
    line += " --db " + shell_word(db_path.string());
  return line;
}

}  // namespace tb::app
