// The summary table of a comparison: one row per outcome (throughput, time to a target accuracy,
// peak memory, data-wait share, final metrics), one column per session, the best value of each
// row marked.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/compare/compare_data.h"
#include "core/compare/settings_diff.h"

namespace tb::compare {

enum class Better { higher, lower, none };

struct SummaryRow {
  std::string key;    // stable id: "samples_per_s", "time_to_target_s", ...
  std::string label;  // what the user reads: "samples/s", "time to 85.0% test accuracy (s)"
  std::string unit;   // "samples/s", "s", "bytes", "%", ""
  Better better = Better::none;
  std::vector<std::optional<double>> values;  // one per session; nullopt: not known
  std::optional<std::size_t> best;            // the best session's index (none on ties of all)
};

// Rows, in this order: samples/s, time to target accuracy (s; the first evaluation at or above
// target_accuracy, by wall time), steps to target, best test accuracy, final test accuracy, final
// test loss, final train loss, peak memory (bytes), data-wait share (%), duration (s), steps.
// A session that never reaches the target has no value in the target rows.
std::vector<SummaryRow> summarize(const std::vector<SessionData>& sessions, double target_accuracy);

// The metric curves summarize() reads (time to target and best accuracy from test_accuracy; the
// final values and peak memory of runs whose summary lacks them): what load_sessions() should be
// asked for, besides the curves to draw.
std::vector<std::string> summary_metric_keys();

// The compare table as CSV (RFC 4180 quoting): a header row of session ids and names, the
// settings rows (all, or only differing ones), then the summary rows.
std::string compare_csv(const std::vector<SessionData>& sessions,
                        const std::vector<SettingsRow>& settings,
                        const std::vector<SummaryRow>& summary);

}  // namespace tb::compare
