#include "core/compare/settings_diff.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>

namespace tb::compare {
namespace {

using nlohmann::json;

void flatten_into(const json& value, const std::string& key, FlatSettings& out) {
  // Objects open into dotted keys; an empty one has no keys to open into, so it stays a value
  // ("{}") and the diff can still tell it from a missing setting.
  if (value.is_object() && !value.empty()) {
    for (const auto& [name, child] : value.items()) {
      flatten_into(child, key + "." + name, out);
    }
    return;
  }
  out.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
}

}  // namespace

// nlohmann::json keeps an object's keys sorted, so "document order" is key order at each level.
FlatSettings flatten_settings(const json& document) {
  FlatSettings out;
  if (document.is_null()) return out;
  // The root opens even when empty: a document of no settings has no rows, not one "{}" row.
  if (document.is_object()) {
    for (const auto& [name, child] : document.items()) flatten_into(child, name, out);
    return out;
  }
  flatten_into(document, "", out);
  return out;
}

std::vector<SettingsRow> diff_settings(const std::vector<FlatSettings>& sessions) {
  std::vector<SettingsRow> rows;
  std::unordered_map<std::string, std::size_t> row_of;
  for (std::size_t s = 0; s < sessions.size(); ++s) {
    for (const auto& [key, value] : sessions[s]) {
      auto [it, added] = row_of.try_emplace(key, rows.size());
      if (added)
        rows.push_back({key, std::vector<std::optional<std::string>>(sessions.size()), false});
      // A key stored twice for one session (a later fact correcting an earlier one): the last
      // value holds.
      rows[it->second].values[s] = value;
    }
  }
  for (auto& row : rows) {
    row.differs = std::any_of(row.values.begin(), row.values.end(),
                              [&](const auto& v) { return v != row.values.front(); });
  }
  std::stable_partition(rows.begin(), rows.end(), [](const SettingsRow& r) { return r.differs; });
  return rows;
}

std::vector<SettingsRow> differing_rows(const std::vector<SettingsRow>& rows) {
  std::vector<SettingsRow> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
               [](const SettingsRow& r) { return r.differs; });
  return out;
}

}  // namespace tb::compare
