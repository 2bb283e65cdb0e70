// The settings diff of the compare view and `trainbench compare`: the flattened settings of
// 2 to 20 sessions side by side, the rows that differ first.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tb::compare {

using FlatSettings = std::vector<std::pair<std::string, std::string>>;  // dotted key -> value

// A JSON document as dotted keys ("optimizer.lr", "model.hidden" -> "[256,128]"), in document
// order; strings unquoted, other values as compact JSON; an empty object or array is one value.
FlatSettings flatten_settings(const nlohmann::json& document);

struct SettingsRow {
  std::string key;
  std::vector<std::optional<std::string>> values;  // one per session; nullopt: not set there
  bool differs = false;  // not every session has the same value (a missing one differs)
};

// One row per key any session has. Differing rows first, then equal ones; inside each group, in
// the order keys first appear (session 0's settings, then keys only later sessions have).
std::vector<SettingsRow> diff_settings(const std::vector<FlatSettings>& sessions);

// The rows that differ (the "differences only" view).
std::vector<SettingsRow> differing_rows(const std::vector<SettingsRow>& rows);

}  // namespace tb::compare
