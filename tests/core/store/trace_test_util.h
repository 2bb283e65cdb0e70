// What the trace store's tests share: traces compared by content (names and tracks as text, not
// ids, which a store renumbers), random traces, and raw sqlite3 access to damage a database.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/trace/model.h"

namespace tb::store::testing {

// A span by content: every field, ids resolved to the text they stand for.
struct FlatSpan {
  std::string process, track, name, args;
  int category = 0;
  std::int64_t start_ns = 0, end_ns = 0, step = 0;
  auto operator<=>(const FlatSpan&) const = default;
};

inline FlatSpan flat(const trace::Trace& trace, const trace::Span& span) {
  const auto& track = trace.track(span.track);
  return {track.process,
          track.name,
          std::string(trace.name(span.name)),
          std::string(trace.args(span.args)),
          static_cast<int>(span.category),
          span.start_ns,
          span.end_ns,
          span.step};
}

// Every span of `trace` by content, sorted (order among equal starts is not compared).
inline std::vector<FlatSpan> flat_spans(const trace::Trace& trace) {
  std::vector<FlatSpan> spans;
  spans.reserve(trace.spans().size());
  for (const auto& span : trace.spans()) spans.push_back(flat(trace, span));
  std::sort(spans.begin(), spans.end());
  return spans;
}

// A counter point's value as bits: NaN compares equal to itself.
inline std::uint64_t bits(double value) {
  std::uint64_t out;
  std::memcpy(&out, &value, sizeof out);
  return out;
}

using FlatPoint = std::pair<std::int64_t, std::uint64_t>;
inline std::vector<FlatPoint> flat_points(const trace::Counter& counter) {
  std::vector<FlatPoint> points;
  for (const auto& point : counter.points) points.emplace_back(point.time_ns, bits(point.value));
  return points;
}

using FlatFlow = std::tuple<std::uint64_t, std::string, std::int64_t, std::string, std::int64_t>;
inline std::vector<FlatFlow> flat_flows(const trace::Trace& trace) {
  std::vector<FlatFlow> flows;
  for (const auto& flow : trace.flows()) {
    flows.emplace_back(flow.id, trace.track(flow.from_track).name, flow.from_ns,
                       trace.track(flow.to_track).name, flow.to_ns);
  }
  std::sort(flows.begin(), flows.end());
  return flows;
}

// A random trace on `tracks` tracks: per track, steps of nested spans (a step span enclosing
// phase spans enclosing op spans), some zero-length, some with args; two counters and flows
// between tracks. Times from `origin` on; built unsorted, as an import would.
inline trace::Trace random_trace(std::uint32_t seed, int tracks, int steps_per_track,
                                 std::int64_t origin = 0) {
  std::mt19937_64 rng(seed);
  const auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  trace::Trace trace;
  std::vector<trace::NameId> names;
  for (int i = 0; i < 40; ++i) names.push_back(trace.intern("op_" + std::to_string(i * 7919 % 97)));
  for (int t = 0; t < tracks; ++t) {
    const auto kind = static_cast<trace::TrackKind>(t % 4);
    const auto track = trace.add_track(
        {"track " + std::to_string(t), kind, t % 2 ? "GPU 0" : "trainbench", t / 2});
    std::int64_t time = origin + uniform(0, 1000);
    for (int step = 1; step <= steps_per_track; ++step) {
      const std::int64_t step_start = time;
      const int phases = static_cast<int>(uniform(1, 4));
      std::int64_t at = step_start;
      for (int p = 0; p < phases; ++p) {
        const std::int64_t phase_start = at + uniform(0, 50);
        std::int64_t op_at = phase_start;
        const int ops = static_cast<int>(uniform(0, 5));
        for (int o = 0; o < ops; ++o) {
          const std::int64_t op_start = op_at + uniform(0, 20);
          const std::int64_t op_end = op_start + uniform(0, 300);  // 0: an instant
          trace::ArgsId args;
          if (uniform(0, 3) == 0) {
            args = trace.add_args(R"({"grid":[)" + std::to_string(uniform(1, 64)) + R"(,1,1]})");
          }
          trace.add_span({op_start, op_end, step, track,
                          names[static_cast<std::size_t>(uniform(0, 39))], args,
                          static_cast<trace::Category>(uniform(7, trace::kCategoryCount - 1))});
          op_at = op_end;
        }
        const std::int64_t phase_end = op_at + uniform(0, 50);
        trace.add_span({phase_start,
                        phase_end,
                        step,
                        track,
                        trace.intern("phase"),
                        {},
                        static_cast<trace::Category>(uniform(1, 6))});
        at = phase_end;
      }
      const std::int64_t step_end = at + uniform(0, 100);
      trace.add_span(
          {step_start, step_end, step, track, trace.intern("step"), {}, trace::Category::step});
      time = step_end + uniform(0, 200);
    }
  }
  const auto depth = trace.add_counter("loader queue depth", "batches");
  const auto memory = trace.add_counter("memory allocated (cpu)", "bytes");
  const std::int64_t end = trace.end_ns();
  for (std::int64_t t = origin; t < end; t += uniform(1, 5000)) {
    trace.add_counter_point(depth, t, static_cast<double>(uniform(0, 8)));
    if (uniform(0, 1))
      trace.add_counter_point(memory, t + 1, static_cast<double>(uniform(0, 1 << 30)));
  }
  if (tracks > 1) {
    for (int i = 0; i < steps_per_track; ++i) {
      const std::int64_t from = uniform(origin, end);
      trace.add_flow({static_cast<std::uint64_t>(i) * 3 + 1, trace::TrackId(uniform(1, tracks)),
                      from, trace::TrackId(uniform(1, tracks)), from + uniform(0, 2000)});
    }
  }
  return trace;
}

// Raw sqlite3 on the database file, for what SessionStore would never do.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path.string());
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message ? message : "";
    sqlite3_free(message);
    if (rc != SQLITE_OK) throw std::runtime_error("raw sql failed: " + text + " in " + sql);
  }
  std::int64_t integer(const std::string& sql) {
    sqlite3_stmt* stmt = prepare(sql);
    const std::int64_t value =
        sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return value;
  }
  std::vector<std::uint8_t> blob(const std::string& sql) {
    sqlite3_stmt* stmt = prepare(sql);
    std::vector<std::uint8_t> out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, 0));
      out.assign(data, data + sqlite3_column_bytes(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  // Runs `sql` with `bytes` bound to ?1.
  void with_blob(const std::string& sql, const std::vector<std::uint8_t>& bytes) {
    sqlite3_stmt* stmt = prepare(sql);
    if (bytes.empty()) {
      sqlite3_bind_zeroblob(stmt, 1, 0);  // an empty vector's null data() would bind NULL
    } else {
      sqlite3_bind_blob64(stmt, 1, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
    }
    const int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error("raw blob update failed: " + sql);
  }

 private:
  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("raw prepare failed: ") + sqlite3_errmsg(db_));
    }
    return stmt;
  }

  sqlite3* db_ = nullptr;
};

}  // namespace tb::store::testing
