// What the compare view and `trainbench compare` read of each session: its record, settings and
// summary, and the metric curves asked for, loaded from the store on worker threads (one
// read-only connection each) so 20 sessions x 100,000 points arrive in well under a second.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compare/settings_diff.h"
#include "core/store/session_store.h"

namespace tb::compare {

// One metric of one session, by step (a column each; all the same length).
struct MetricSeries {
  std::vector<std::int64_t> step;
  std::vector<double> wall_time;  // seconds since the run started
  std::vector<double> value;
  bool empty() const { return step.empty(); }
  std::size_t size() const { return step.size(); }
};

struct SessionData {
  store::SessionRecord record;
  FlatSettings settings;        // the stored params (the flattened project, plus run facts)
  nlohmann::json summary;       // the run's summary_json, parsed ({} when unreadable)
  std::int64_t batch_size = 0;  // data.batch_size (0 when unknown): samples seen = step x this
  std::map<std::string, MetricSeries> metrics;  // the keys asked for that the session has
};

// Sessions in the order of `ids`, each with the metrics named in `metric_keys`. Throws StoreError
// naming the first id that is not in the store. threads 0: as many as the machine has, at most
// one per session.
std::vector<SessionData> load_sessions(const std::filesystem::path& db_path,
                                       const std::vector<store::SessionId>& ids,
                                       const std::vector<std::string>& metric_keys,
                                       unsigned threads = 0);

// The metric keys any of the sessions has, sorted, with the common training curves first
// (train_loss, test_accuracy, test_loss, samples_per_s, loss_scale, memory_bytes).
std::vector<std::string> metric_keys_of(const std::filesystem::path& db_path,
                                        const std::vector<store::SessionId>& ids);

}  // namespace tb::compare
