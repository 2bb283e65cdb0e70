// The trace store's figures from the storage issue ("scaling to 10M spans per session: chunked,
// compressed, indexed by time, so that loading any window is fast; loading 1M spans <= 1 s"),
// each beside its peer measured in the same run.
//
// A realistic trace (8 tracks: the engine, 3 loader workers, 4 GPU streams; steps of nested
// phase and op spans; ~200 distinct names; args on a tenth of the kernels) is written to a
// temporary session database through TraceWriter, then:
//   - load_trace of the whole session (requirement: 1M spans <= 1 s),
//   - load_trace of a 1% window in the middle,
//   - the database file's size.
// The peer: the same spans one row per span in a plain SQLite table (track, name, category,
// start_ns, end_ns, step; indexed by start_ns), loaded with one SELECT into the same Trace
// (names interned, tracks looked up), and the window as start_ns < t1 AND end_ns > t0.
// Loads run --repeats times (page cache warm); best and median are printed.
//
//   build/bench/bench_trace_store [--spans=1000000] [--big=10000000 (0: skip)] [--repeats=5]
//                                 [--dir=TMP]
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/trace/model.h"

namespace {

namespace fs = std::filesystem;
using namespace tb;
using Clock = std::chrono::steady_clock;

double seconds(const std::function<void()>& body) {
  const auto start = Clock::now();
  body();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Timing {
  double best = 0.0;
  double median = 0.0;
};

Timing repeat(int repeats, const std::function<void()>& body) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) times.push_back(seconds(body));
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2]};
}

// Steps on 8 tracks until `spans` spans: per step the engine has a step span enclosing data /
// forward / backward / optimizer phases enclosing ops; each loader worker decodes a batch; each
// GPU stream runs the step's kernels. Times in ns from 0; a step is ~10 ms.
trace::Trace make_trace(std::size_t spans, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  const auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  trace::Trace trace;
  const auto engine = trace.add_track({"engine", trace::TrackKind::cpu_thread, "trainbench", 0});
  std::vector<trace::TrackId> workers, streams;
  for (int i = 1; i <= 3; ++i) {
    workers.push_back(trace.add_track(
        {"loader worker " + std::to_string(i), trace::TrackKind::loader_worker, "trainbench", 0}));
  }
  for (int i = 0; i < 4; ++i) {
    streams.push_back(trace.add_track(
        {"stream " + std::to_string(7 + i), trace::TrackKind::gpu_stream, "GPU 0", 0}));
  }
  std::vector<trace::NameId> ops, kernels;
  for (int i = 0; i < 100; ++i) ops.push_back(trace.intern("aten::op_" + std::to_string(i)));
  for (int i = 0; i < 90; ++i) {
    kernels.push_back(trace.intern("volta_sgemm_" + std::to_string(i) + "_128x64_nn"));
  }
  const trace::NameId step_name = trace.intern("step");
  const trace::NameId decode = trace.intern("decode");
  const trace::NameId phase_names[4] = {trace.intern("data"), trace.intern("forward"),
                                        trace.intern("backward"), trace.intern("optimizer")};
  const trace::Category phase_categories[4] = {trace::Category::data, trace::Category::forward,
                                               trace::Category::backward,
                                               trace::Category::optimizer};
  std::int64_t time = 0;
  for (std::int64_t step = 1; trace.spans().size() < spans; ++step) {
    const std::int64_t step_start = time;
    std::int64_t at = step_start;
    for (int p = 0; p < 4 && trace.spans().size() < spans; ++p) {
      const std::int64_t phase_start = at + uniform(1'000, 5'000);
      std::int64_t op_at = phase_start;
      const int op_count = p == 0 ? 1 : static_cast<int>(uniform(4, 14));
      for (int o = 0; o < op_count; ++o) {
        const std::int64_t op_start = op_at + uniform(500, 3'000);
        const std::int64_t op_end = op_start + uniform(5'000, 200'000);
        trace.add_span({op_start,
                        op_end,
                        step,
                        engine,
                        ops[static_cast<std::size_t>(uniform(0, 99))],
                        {},
                        trace::Category::cpu_op});
        // Its kernel on a stream, starting a little after the launch.
        const std::int64_t kernel_start = op_start + uniform(5'000, 50'000);
        trace::ArgsId args;
        if (uniform(0, 9) == 0) {
          args = trace.add_args(R"({"grid":[)" + std::to_string(uniform(1, 1024)) +
                                R"(,1,1],"block":[256,1,1]})");
        }
        trace.add_span({kernel_start, kernel_start + uniform(2'000, 400'000), step,
                        streams[static_cast<std::size_t>(o % 4)],
                        kernels[static_cast<std::size_t>(uniform(0, 89))], args,
                        trace::Category::kernel});
        op_at = op_end;
      }
      const std::int64_t phase_end = op_at + uniform(1'000, 5'000);
      trace.add_span(
          {phase_start, phase_end, step, engine, phase_names[p], {}, phase_categories[p]});
      at = phase_end;
    }
    for (const auto worker : workers) {
      const std::int64_t start = step_start + uniform(0, 2'000'000);
      trace.add_span({start,
                      start + uniform(1'000'000, 3'000'000),
                      step,
                      worker,
                      decode,
                      {},
                      trace::Category::data});
    }
    const std::int64_t step_end = at + uniform(10'000, 100'000);
    trace.add_span({step_start, step_end, step, engine, step_name, {}, trace::Category::step});
    time = step_end + uniform(1'000, 20'000);
  }
  trace.finish();
  return trace;
}

// The peer: one row per span, strings as text, an index on start.
class PlainTable {
 public:
  explicit PlainTable(const fs::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error(path.string());
    exec("PRAGMA journal_mode = WAL");
    exec(
        "CREATE TABLE IF NOT EXISTS spans (track TEXT NOT NULL, name TEXT NOT NULL, category "
        "TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, step INTEGER NOT "
        "NULL); CREATE INDEX IF NOT EXISTS spans_by_start ON spans(start_ns)");
  }
  ~PlainTable() { sqlite3_close(db_); }

  void write(const trace::Trace& trace) {
    exec("BEGIN");
    sqlite3_stmt* insert = prepare("INSERT INTO spans VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (const auto& span : trace.spans()) {
      const auto& track = trace.track(span.track).name;
      const auto name = trace.name(span.name);
      const char* category = trace::category_name(span.category);
      sqlite3_bind_text(insert, 1, track.data(), static_cast<int>(track.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 3, category, -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 4, span.start_ns);
      sqlite3_bind_int64(insert, 5, span.end_ns);
      sqlite3_bind_int64(insert, 6, span.step);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    exec("COMMIT");
  }

  // The same Trace load_trace gives: tracks by name, names interned, categories parsed.
  trace::Trace load(const store::TimeWindow* window) {
    sqlite3_stmt* query = prepare(
        window ? "SELECT track, name, category, start_ns, end_ns, step FROM spans WHERE start_ns "
                 "< ?1 AND end_ns > ?2 ORDER BY start_ns"
               : "SELECT track, name, category, start_ns, end_ns, step FROM spans ORDER BY "
                 "start_ns");
    if (window) {
      sqlite3_bind_int64(query, 1, window->end_ns);
      sqlite3_bind_int64(query, 2, window->start_ns);
    }
    trace::Trace trace;
    std::unordered_map<std::string, trace::TrackId> tracks;
    while (sqlite3_step(query) == SQLITE_ROW) {
      const auto text = [&](int column) {
        return std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(query, column)),
                                static_cast<std::size_t>(sqlite3_column_bytes(query, column)));
      };
      auto track = tracks.find(std::string(text(0)));
      if (track == tracks.end()) {
        const std::string name(text(0));
        track = tracks.emplace(name, trace.track_named(name, trace::TrackKind::cpu_thread)).first;
      }
      trace.add_span({sqlite3_column_int64(query, 3),
                      sqlite3_column_int64(query, 4),
                      sqlite3_column_int64(query, 5),
                      track->second,
                      trace.intern(text(1)),
                      {},
                      trace::category_from_name(text(2)).value_or(trace::Category::other)});
    }
    sqlite3_finalize(query);
    trace.finish();
    return trace;
  }

 private:
  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message ? message : "";
      sqlite3_free(message);
      throw std::runtime_error(std::string(sql) + ": " + text);
    }
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db_));
    }
    return stmt;
  }

  sqlite3* db_ = nullptr;
};

// The database file with its WAL, as a user's disk holds it.
double megabytes(const fs::path& path) {
  std::error_code error;
  double bytes = static_cast<double>(fs::file_size(path, error));
  const auto wal = fs::path(path.string() + "-wal");
  if (fs::exists(wal)) bytes += static_cast<double>(fs::file_size(wal, error));
  return bytes / 1e6;
}

// A batch of the spans starting in [t0, t1), as the engine's recorder would hand it over.
trace::Trace slice(const trace::Trace& all, std::size_t& next, std::int64_t t1) {
  trace::Trace batch;
  for (const auto& track : all.tracks()) batch.add_track(track);
  for (; next < all.spans().size() && all.spans()[next].start_ns < t1; ++next) {
    trace::Span span = all.spans()[next];
    span.name = batch.intern(all.name(span.name));
    span.args = batch.add_args(std::string(all.args(span.args)));
    batch.add_span(span);
  }
  return batch;
}

void run(std::size_t span_count, int repeats, const fs::path& dir, bool with_peer,
         bool with_engine_appends) {
  std::printf("\n== %zu spans ==\n", span_count);
  trace::Trace all;
  const double made = seconds([&] { all = make_trace(span_count, 42); });
  std::printf(
      "generated in %.2f s: %zu spans on %zu tracks, %zu names, %zu args, %.1f s of trace\n", made,
      all.spans().size(), all.tracks().size(), all.names().size(), all.args_count(),
      static_cast<double>(all.end_ns() - all.begin_ns()) / 1e9);

  const auto db = dir / ("trace-" + std::to_string(span_count) + ".db");
  fs::remove(db);
  store::SessionId id;
  double written = 0.0;
  {
    store::SessionStore writer_store(db);
    id = writer_store.create_session({"bench", "{}", "rev", "host", 1});
    written = seconds([&] { store::TraceWriter(writer_store, id).append(all); });
  }  // closing the last connection checkpoints the WAL into the file
  std::printf("trace store: one append (an import) %.2f s; file %.1f MB\n", written, megabytes(db));
  // Loads through a read-only store, as the GUI opens a session.
  store::SessionStore store(db, store::SessionStore::Mode::read_only);

  const auto middle = (all.begin_ns() + all.end_ns()) / 2;
  const auto width = (all.end_ns() - all.begin_ns()) / 100;
  const store::TimeWindow window{middle, middle + width};
  std::size_t loaded = 0, in_window = 0;
  const Timing whole =
      repeat(repeats, [&] { loaded = store::load_trace(store, id).spans().size(); });
  const Timing part =
      repeat(repeats, [&] { in_window = store::load_trace(store, id, window).spans().size(); });
  std::printf("trace store: load all %zu spans: best %.3f s, median %.3f s\n", loaded, whole.best,
              whole.median);
  std::printf("trace store: load 1%% window (%zu spans): best %.4f s, median %.4f s\n", in_window,
              part.best, part.median);
  if (loaded != all.spans().size()) std::printf("ERROR: loaded %zu spans\n", loaded);

  if (with_engine_appends) {
    // The engine's pattern: a batch every 100 ms of trace time, through one writer.
    const auto engine_db = dir / ("trace-appends-" + std::to_string(span_count) + ".db");
    fs::remove(engine_db);
    std::size_t next = 0, batches = 0;
    double appended = 0.0;
    {
      store::SessionStore engine_store(engine_db);
      const auto engine_id = engine_store.create_session({"bench", "{}", "rev", "host", 1});
      appended = seconds([&] {
        store::TraceWriter writer(engine_store, engine_id);
        for (std::int64_t t = all.begin_ns() + 100'000'000; next < all.spans().size();
             t += 100'000'000) {
          writer.append(slice(all, next, t));
          ++batches;
        }
      });
    }
    std::printf(
        "trace store: %zu appends of 100 ms each %.2f s (%.2f ms an append); file %.1f MB\n",
        batches, appended, appended * 1e3 / static_cast<double>(batches), megabytes(engine_db));
    fs::remove(engine_db);
    fs::remove(engine_db.string() + "-wal");
    fs::remove(engine_db.string() + "-shm");
  }

  if (with_peer) {
    const auto peer_db = dir / ("plain-" + std::to_string(span_count) + ".db");
    fs::remove(peer_db);
    double peer_written = 0.0;
    {
      PlainTable writer(peer_db);
      peer_written = seconds([&] { writer.write(all); });
    }
    std::printf("peer (row per span): write %.2f s; file %.1f MB\n", peer_written,
                megabytes(peer_db));
    PlainTable peer(peer_db);
    std::size_t peer_loaded = 0, peer_window = 0;
    const Timing peer_whole =
        repeat(repeats, [&] { peer_loaded = peer.load(nullptr).spans().size(); });
    const Timing peer_part =
        repeat(repeats, [&] { peer_window = peer.load(&window).spans().size(); });
    std::printf("peer (row per span): load all %zu spans: best %.3f s, median %.3f s\n",
                peer_loaded, peer_whole.best, peer_whole.median);
    std::printf("peer (row per span): load 1%% window (%zu spans): best %.4f s, median %.4f s\n",
                peer_window, peer_part.best, peer_part.median);
    std::printf("ratio peer/store: load all %.2fx, window %.2fx, file %.2fx\n",
                peer_whole.best / whole.best, peer_part.best / part.best,
                megabytes(peer_db) / megabytes(db));
    fs::remove(peer_db);
    fs::remove(peer_db.string() + "-wal");
    fs::remove(peer_db.string() + "-shm");
  }
  fs::remove(db);
  fs::remove(db.string() + "-wal");
  fs::remove(db.string() + "-shm");
}

std::size_t flag(int argc, char** argv, const std::string& name, std::size_t fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with(prefix)) return std::stoull(arg.substr(prefix.size()));
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t spans = flag(argc, argv, "spans", 1'000'000);
  const std::size_t big = flag(argc, argv, "big", 10'000'000);
  const int repeats = static_cast<int>(std::max<std::size_t>(1, flag(argc, argv, "repeats", 5)));
  fs::path dir = fs::temp_directory_path() / ("trainbench-trace-bench-" + std::to_string(getpid()));
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("--dir=")) dir = fs::path(arg.substr(6)) / "trainbench-trace-bench";
  }
  fs::create_directories(dir);
  try {
    run(spans, repeats, dir, /*with_peer=*/true, /*with_engine_appends=*/true);
    if (big > 0)
      run(big, std::min(repeats, 3), dir, /*with_peer=*/true, /*with_engine_appends=*/false);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
