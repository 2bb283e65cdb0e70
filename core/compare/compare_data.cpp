#include "core/compare/compare_data.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <memory>
#include <set>
#include <thread>

namespace tb::compare {
namespace {

using store::SessionStore;

[[noreturn]] void throw_missing(const std::filesystem::path& db_path, store::SessionId id) {
  throw store::StoreError("no session " + std::to_string(id.value) + " in " + db_path.string());
}

std::int64_t batch_size_of(const FlatSettings& settings) {
  for (const auto& [key, value] : settings) {
    if (key != "data.batch_size") continue;
    try {
      std::size_t used = 0;
      const long long parsed = std::stoll(value, &used);
      return used == value.size() && parsed > 0 ? parsed : 0;
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

MetricSeries series_of(const std::vector<store::MetricPoint>& points) {
  MetricSeries series;
  series.step.reserve(points.size());
  series.wall_time.reserve(points.size());
  series.value.reserve(points.size());
  for (const auto& p : points) {
    series.step.push_back(p.step);
    series.wall_time.push_back(p.wall_time);
    series.value.push_back(p.value);
  }
  return series;
}

SessionData load_one(const SessionStore& store, store::SessionId id,
                     const std::vector<std::string>& metric_keys) {
  auto record = store.session(id);
  if (!record) throw_missing(store.path(), id);
  SessionData data;
  data.record = std::move(*record);
  data.settings = store.params(id);
  data.batch_size = batch_size_of(data.settings);
  data.summary = nlohmann::json::parse(data.record.summary_json, nullptr, false);
  if (!data.summary.is_object()) data.summary = nlohmann::json::object();
  // Only the keys the session has: asking the store for an absent one would cost a query each.
  const auto stored = store.metric_keys(id);
  const std::set<std::string> present(stored.begin(), stored.end());
  for (const auto& key : metric_keys) {
    if (!present.contains(key) || data.metrics.contains(key)) continue;
    auto series = series_of(store.metrics(id, key));
    if (!series.empty()) data.metrics.emplace(key, std::move(series));
  }
  return data;
}

}  // namespace

std::vector<SessionData> load_sessions(const std::filesystem::path& db_path,
                                       const std::vector<store::SessionId>& ids,
                                       const std::vector<std::string>& metric_keys,
                                       unsigned threads) {
  std::vector<SessionData> sessions(ids.size());
  if (ids.empty()) return sessions;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, ids.size()));

  // Each worker takes the next session and has its own read-only connection: a connection may
  // not be shared between threads, and SQLite in WAL mode serves readers side by side.
  std::vector<std::exception_ptr> errors(ids.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    std::unique_ptr<SessionStore> store;
    for (std::size_t i = next++; i < ids.size(); i = next++) {
      try {
        if (!store) store = std::make_unique<SessionStore>(db_path, SessionStore::Mode::read_only);
        sessions[i] = load_one(*store, ids[i], metric_keys);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  if (threads == 1) {
    work();
  } else {
    std::vector<std::jthread> workers;
    for (unsigned t = 0; t < threads; ++t) workers.emplace_back(work);
  }
  // The first failing id in the caller's order, whichever thread met it first.
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  return sessions;
}

std::vector<std::string> metric_keys_of(const std::filesystem::path& db_path,
                                        const std::vector<store::SessionId>& ids) {
  const SessionStore store(db_path, SessionStore::Mode::read_only);
  std::set<std::string> keys;
  for (const auto id : ids) {
    if (!store.session(id)) throw_missing(db_path, id);
    for (auto& key : store.metric_keys(id)) keys.insert(std::move(key));
  }
  // The curves people compare first lead the list, in this order; the rest follow by name.
  static constexpr std::array<const char*, 6> kCommon = {
      "train_loss", "test_accuracy", "test_loss", "samples_per_s", "loss_scale", "memory_bytes"};
  std::vector<std::string> out;
  for (const char* key : kCommon) {
    if (keys.erase(key) > 0) out.emplace_back(key);
  }
  out.insert(out.end(), keys.begin(), keys.end());
  return out;
}

}  // namespace tb::compare
