#include "core/compare/compare_summary.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace tb::compare {
namespace {

using nlohmann::json;
using Value = std::optional<double>;

Value number(const json& summary, const char* key) {
  const auto it = summary.find(key);
  if (it == summary.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? Value(v) : std::nullopt;
}

const MetricSeries* metric(const SessionData& s, const char* key) {
  const auto it = s.metrics.find(key);
  return it == s.metrics.end() || it->second.empty() ? nullptr : &it->second;
}

Value last_of(const MetricSeries* series) {
  return series ? Value(series->value.back()) : std::nullopt;
}

Value max_of(const MetricSeries* series) {
  if (!series) return std::nullopt;
  Value best;
  for (const double v : series->value) {
    if (std::isfinite(v) && (!best || v > *best)) best = v;
  }
  return best;
}

// The earliest evaluation at or above the target: its wall time and its step.
std::optional<std::pair<double, std::int64_t>> reached(const SessionData& s, double target) {
  const auto* accuracy = metric(s, "test_accuracy");
  if (!accuracy) return std::nullopt;
  std::optional<std::pair<double, std::int64_t>> first;
  for (std::size_t i = 0; i < accuracy->size(); ++i) {
    if (!(accuracy->value[i] >= target)) continue;
    if (!first || accuracy->wall_time[i] < first->first)
      first = {accuracy->wall_time[i], accuracy->step[i]};
  }
  return first;
}

// The index of the one best value; none when no value is known or the best is shared (a tie
// names no winner: marking one of equals would say more than the numbers do).
std::optional<std::size_t> best_of(const std::vector<Value>& values, Better better) {
  if (better == Better::none) return std::nullopt;
  std::optional<std::size_t> best;
  bool tied = false;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!values[i]) continue;
    if (!best) {
      best = i;
      continue;
    }
    const double v = *values[i], b = *values[*best];
    if (v == b) {
      tied = true;
    } else if (better == Better::higher ? v > b : v < b) {
      best = i;
      tied = false;
    }
  }
  return tied ? std::nullopt : best;
}

std::string percent_label(double target) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * target);
  return text;
}

// RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The shortest text that reads back as the same double.
std::string number_text(double v) {
  char text[32];
  const auto [end, error] = std::to_chars(text, text + sizeof text, v);
  return error == std::errc() ? std::string(text, end) : std::string();
}

void csv_line(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += csv_field(fields[i]);
  }
  out += "\r\n";  // RFC 4180's line break
}

}  // namespace

std::vector<SummaryRow> summarize(const std::vector<SessionData>& sessions,
                                  double target_accuracy) {
  std::vector<SummaryRow> rows;
  const auto add = [&](std::string key, std::string label, std::string unit, Better better,
                       auto value_of) {
    SummaryRow row{std::move(key), std::move(label), std::move(unit), better, {}, std::nullopt};
    for (const auto& s : sessions) row.values.push_back(value_of(s));
    row.best = best_of(row.values, better);
    rows.push_back(std::move(row));
  };
  const std::string target = percent_label(target_accuracy);

  add("samples_per_s", "samples/s", "samples/s", Better::higher,
      [](const SessionData& s) { return number(s.summary, "samples_per_s"); });
  add("time_to_target_s", "time to " + target + " test accuracy (s)", "s", Better::lower,
      [&](const SessionData& s) -> Value {
        const auto hit = reached(s, target_accuracy);
        return hit ? Value(hit->first) : std::nullopt;
      });
  add("steps_to_target", "steps to " + target + " test accuracy", "", Better::lower,
      [&](const SessionData& s) -> Value {
        const auto hit = reached(s, target_accuracy);
        return hit ? Value(static_cast<double>(hit->second)) : std::nullopt;
      });
  add("best_test_accuracy", "best test accuracy", "", Better::higher, [](const SessionData& s) {
    const Value curve = max_of(metric(s, "test_accuracy"));
    return curve ? curve : number(s.summary, "test_accuracy");
  });
  // The final values come from the summary; a run that stored none (stopped before it was
  // written) still has the last evaluation of the same quantity among its curves.
  add("final_test_accuracy", "final test accuracy", "", Better::higher, [](const SessionData& s) {
    const Value v = number(s.summary, "test_accuracy");
    return v ? v : last_of(metric(s, "test_accuracy"));
  });
  add("final_test_loss", "final test loss", "", Better::lower, [](const SessionData& s) {
    const Value v = number(s.summary, "test_loss");
    return v ? v : last_of(metric(s, "test_loss"));
  });
  // The summary's train loss is the mean over the last epoch, as epoch_train_loss is (the
  // per-step train_loss is noisier and is not the same quantity).
  add("final_train_loss", "final train loss", "", Better::lower, [](const SessionData& s) {
    const Value v = number(s.summary, "train_loss");
    return v ? v : last_of(metric(s, "epoch_train_loss"));
  });
  add("peak_memory_bytes", "peak memory (bytes)", "bytes", Better::lower, [](const SessionData& s) {
    const Value v = number(s.summary, "peak_memory_bytes");
    return v ? v : max_of(metric(s, "memory_bytes"));
  });
  add("data_wait_share", "data-wait share (%)", "%", Better::lower,
      [](const SessionData& s) -> Value {
        const Value wait = number(s.summary, "data_wait_s");
        const Value train = number(s.summary, "train_s");
        if (!wait || !train || *train <= 0.0) return std::nullopt;
        return 100.0 * *wait / *train;
      });
  add("duration_s", "duration (s)", "s", Better::lower,
      [](const SessionData& s) { return number(s.summary, "wall_s"); });
  add("steps", "steps", "", Better::none,
      [](const SessionData& s) { return number(s.summary, "steps"); });
  return rows;
}

std::vector<std::string> summary_metric_keys() {
  return {"test_accuracy", "test_loss", "epoch_train_loss", "memory_bytes"};
}

std::string compare_csv(const std::vector<SessionData>& sessions,
                        const std::vector<SettingsRow>& settings,
                        const std::vector<SummaryRow>& summary) {
  // Columns: what the row is (setting or summary), its key, what it says (the summary's label,
  // which carries the target), then one per session.
  std::string out;
  std::vector<std::string> fields = {"section", "key", "label"};
  for (const auto& s : sessions)
    fields.push_back(std::to_string(s.record.id.value) + " " + s.record.name);
  csv_line(out, fields);
  for (const auto& row : settings) {
    fields = {"setting", row.key, row.key};
    for (const auto& v : row.values) fields.push_back(v.value_or(""));
    csv_line(out, fields);
  }
  for (const auto& row : summary) {
    fields = {"summary", row.key, row.label};
    for (const auto& v : row.values) fields.push_back(v ? number_text(*v) : "");
    csv_line(out, fields);
  }
  return out;
}

}  // namespace tb::compare
