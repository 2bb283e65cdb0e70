// The session's trace in the database: a trace reads back field for field; many small appends
// store what one big append does, in few chunks; a window loads exactly the spans overlapping
// it; damage and missing sessions are StoreErrors, never crashes.
#include "core/store/trace_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tests/core/store/trace_test_util.h"
#include "tests/support/test_data.h"

namespace tb::store {
namespace {

using testing::FlatSpan;
using testing::RawDb;

NewSession make_session(const std::string& name) {
  return {name, "{}", "rev", "host", 1};
}

// The message of the StoreError `body` throws ("" and a test failure when it throws none).
template <typename Body>
std::string store_error(Body&& body) {
  try {
    body();
  } catch (const StoreError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a StoreError";
  return "";
}

void expect_contains(const std::string& text, const std::vector<std::string>& words) {
  for (const auto& word : words) {
    EXPECT_NE(text.find(word), std::string::npos) << "no '" << word << "' in: " << text;
  }
}

// Tracks and counters by content, in the order the trace has them.
using FlatTrack = std::tuple<std::string, std::string, int, std::int64_t>;
std::vector<FlatTrack> flat_tracks(const trace::Trace& trace) {
  std::vector<FlatTrack> tracks;
  for (const auto& track : trace.tracks()) {
    tracks.emplace_back(track.process, track.name, static_cast<int>(track.kind), track.rank);
  }
  return tracks;
}
using FlatCounter = std::tuple<std::string, std::string, std::vector<testing::FlatPoint>>;
std::vector<FlatCounter> flat_counters(const trace::Trace& trace) {
  std::vector<FlatCounter> counters;
  for (const auto& counter : trace.counters()) {
    counters.emplace_back(counter.name, counter.unit, testing::flat_points(counter));
  }
  return counters;
}
template <typename T>
std::vector<T> sorted(std::vector<T> items) {
  std::sort(items.begin(), items.end());
  return items;
}

// Same content; with `same_order`, tracks and counters also in the same order (ids equal).
void expect_same_trace(const trace::Trace& got, const trace::Trace& want, bool same_order = true) {
  if (same_order) {
    EXPECT_EQ(flat_tracks(got), flat_tracks(want));
    EXPECT_EQ(flat_counters(got), flat_counters(want));
  } else {
    EXPECT_EQ(sorted(flat_tracks(got)), sorted(flat_tracks(want)));
    EXPECT_EQ(sorted(flat_counters(got)), sorted(flat_counters(want)));
  }
  EXPECT_EQ(testing::flat_spans(got), testing::flat_spans(want));
  EXPECT_EQ(testing::flat_flows(got), testing::flat_flows(want));
}

TEST(TraceStore, RoundTripsEveryField) {
  ::tb::testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = store.create_session(make_session("round-trip"));

  trace::Trace trace;
  const auto engine = trace.add_track({"engine", trace::TrackKind::cpu_thread, "trainbench", 0});
  const auto worker =
      trace.add_track({"loader worker 1", trace::TrackKind::loader_worker, "trainbench", 0});
  const auto stream = trace.add_track({"stream 7", trace::TrackKind::gpu_stream, "GPU 1", 3});
  const auto kernel = trace.intern("volta_sgemm_128x64_nn");
  const auto args = trace.add_args(R"({"grid":[1,2,1],"stream":7})");
  // Extreme values: negative and huge times, a span over most of the int64 range, steps that
  // go down, every category.
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  trace.add_span({-5'000, 10, 3, engine, trace.intern("step"), {}, trace::Category::step});
  trace.add_span({std::numeric_limits<std::int64_t>::min() / 2,
                  big / 2,
                  -7,
                  engine,
                  trace.intern("everything"),
                  {},
                  trace::Category::other});
  trace.add_span({big - 10, big, 2, worker, trace.intern("decode"), {}, trace::Category::data});
  for (int c = 0; c < trace::kCategoryCount; ++c) {
    trace.add_span({100 * c, 100 * c + 50, c, stream, kernel, c % 2 ? args : trace::ArgsId{},
                    static_cast<trace::Category>(c)});
  }
  // More spans on one track than a chunk holds, so the track has several chunks.
  for (int i = 0; i < 40'000; ++i) {
    trace.add_span({i * 1000LL,
                    i * 1000LL + 900,
                    i / 10,
                    worker,
                    trace.intern("batch"),
                    {},
                    trace::Category::data});
  }
  trace.add_span({7, 7, 0, engine, trace.intern(""), {}, trace::Category::annotation});
  const auto memory = trace.add_counter("memory allocated (cpu)", "bytes");
  const auto scale = trace.add_counter("loss_scale", "");
  trace.add_counter_point(memory, -3, 0.0);
  trace.add_counter_point(memory, 5, 1.5e9);
  trace.add_counter_point(scale, 0, std::numeric_limits<double>::quiet_NaN());
  trace.add_counter_point(scale, 1, -std::numeric_limits<double>::infinity());
  trace.add_counter_point(scale, 2, 65536.0);
  trace.add_counter("never sampled", "bytes");
  trace.add_flow({0xFFFF'FFFF'FFFF'FFFFull, engine, 20, stream, 10});  // a flow back in time
  trace.add_flow({42, worker, 1000, engine, 2000});
  trace.metadata = {{"source", "pytorch-kineto"}, {"file", "trace.json"}, {"skipped", 3}};
  trace.finish();

  TraceWriter writer(store, id);
  writer.append(trace);
  writer.set_metadata({{"skipped", 4}, {"deviceProperties", {{"name", "H100"}}}});

  const trace::Trace loaded = load_trace(store, id);
  expect_same_trace(loaded, trace);
  EXPECT_EQ(loaded.metadata, (nlohmann::json{{"source", "pytorch-kineto"},
                                             {"file", "trace.json"},
                                             {"skipped", 4},
                                             {"deviceProperties", {{"name", "H100"}}}}));
  // finish()ed: by start, a parent before the children it encloses.
  EXPECT_TRUE(std::is_sorted(
      loaded.spans().begin(), loaded.spans().end(),
      [](const trace::Span& a, const trace::Span& b) { return a.start_ns < b.start_ns; }));
  EXPECT_EQ(loaded.args_count(), 1u);

  const TraceExtent extent = trace_extent(store, id);
  EXPECT_EQ(extent.spans, static_cast<std::int64_t>(trace.spans().size()));
  EXPECT_EQ(extent.begin_ns, trace.begin_ns());
  EXPECT_EQ(extent.end_ns, trace.end_ns());
  RawDb raw(dir / "s.db");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trace_span_chunks WHERE track_id = 2"), 3);
}

// The engine's pattern: a batch every ~100 ms, each a small Trace with its own ids (here with
// names interned in a different order each time), some batches through a second writer.
TEST(TraceStore, SmallAppendsStoreWhatOneAppendDoesInFewChunks) {
  ::tb::testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId whole = store.create_session(make_session("one append"));
  const SessionId parts = store.create_session(make_session("many appends"));

  trace::Trace all = testing::random_trace(7, 4, 3000);
  all.finish();
  TraceWriter(store, whole).append(all);

  // Cut the finished trace into batches of ~150 spans by start, as a recorder drains them.
  std::mt19937 rng(11);
  std::size_t next_span = 0;
  std::vector<std::size_t> next_point(all.counters().size(), 0);
  std::size_t next_flow = 0;
  int batches = 0;
  auto writer = std::make_unique<TraceWriter>(store, parts);
  while (next_span < all.spans().size()) {
    const std::size_t end_span = std::min(all.spans().size(), next_span + 100 + rng() % 100);
    const std::int64_t until = end_span == all.spans().size()
                                   ? std::numeric_limits<std::int64_t>::max()
                                   : all.spans()[end_span].start_ns;
    trace::Trace batch;
    // Tracks and counters of the batch in reverse order: ids differ from the session's.
    std::vector<trace::TrackId> tracks(all.tracks().size() + 1);
    for (std::size_t t = all.tracks().size(); t >= 1; --t) {
      tracks[t] = batch.add_track(all.tracks()[t - 1]);
    }
    for (; next_span < end_span; ++next_span) {
      trace::Span span = all.spans()[next_span];
      span.track = tracks[static_cast<std::size_t>(span.track.value)];
      span.name = batch.intern(all.name(span.name));
      span.args = batch.add_args(std::string(all.args(span.args)));
      batch.add_span(span);
    }
    for (std::size_t c = all.counters().size(); c >= 1; --c) {
      const auto& counter = all.counters()[c - 1];
      const auto id = batch.add_counter(counter.name, counter.unit);
      for (auto& at = next_point[c - 1];
           at < counter.points.size() && counter.points[at].time_ns < until; ++at) {
        batch.add_counter_point(id, counter.points[at].time_ns, counter.points[at].value);
      }
    }
    for (; next_flow < all.flows().size() && all.flows()[next_flow].from_ns < until; ++next_flow) {
      trace::Flow flow = all.flows()[next_flow];
      flow.from_track = tracks[static_cast<std::size_t>(flow.from_track.value)];
      flow.to_track = tracks[static_cast<std::size_t>(flow.to_track.value)];
      batch.add_flow(flow);
    }
    writer->append(batch);
    // Halfway, a new writer (a resumed run, another process) continues the stored trace.
    if (++batches == 40) writer = std::make_unique<TraceWriter>(store, parts);
  }
  ASSERT_GT(batches, 100);

  // The batches named tracks and counters in reverse order: the session numbers them as it
  // first saw them, the content is the same.
  expect_same_trace(load_trace(store, parts), load_trace(store, whole), /*same_order=*/false);
  expect_same_trace(load_trace(store, whole), all);

  // Few chunks: the full ones one append makes, and per track a few open ones whose sizes
  // halve from the oldest to the newest (chunk_tail.h), not one per batch.
  RawDb raw(dir / "s.db");
  const auto chunks = [&](const char* table, SessionId id) {
    return raw.integer(std::string("SELECT count(*) FROM ") + table +
                       " WHERE session_id = " + std::to_string(id.value));
  };
  const auto full = [&](SessionId id) {
    return raw.integer("SELECT count(*) FROM trace_span_chunks WHERE span_count = " +
                       std::to_string(kSpansPerChunk) +
                       " AND session_id = " + std::to_string(id.value));
  };
  const auto tracks = static_cast<std::int64_t>(all.tracks().size());
  const std::int64_t open_bound = 15;  // log2(kSpansPerChunk) + 1
  EXPECT_EQ(chunks("trace_span_chunks", whole), full(whole) + tracks);
  EXPECT_EQ(full(parts), full(whole));
  EXPECT_LE(chunks("trace_span_chunks", parts), full(parts) + tracks * open_bound);
  EXPECT_LT(chunks("trace_span_chunks", parts) * 10, batches);
  EXPECT_LE(chunks("trace_counter_chunks", parts), 2 * open_bound);
  EXPECT_LE(chunks("trace_flow_chunks", parts), open_bound);
  std::printf("%d appends made %lld span chunks (%lld full) and %lld counter chunks\n", batches,
              static_cast<long long>(chunks("trace_span_chunks", parts)),
              static_cast<long long>(full(parts)),
              static_cast<long long>(chunks("trace_counter_chunks", parts)));
}

// Brute force over the whole trace is the reference for every window.
TEST(TraceStore, AWindowLoadsExactlyWhatOverlapsIt) {
  ::tb::testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = store.create_session(make_session("windows"));
  trace::Trace all = testing::random_trace(3, 5, 4000, /*origin=*/-1'000'000);
  // A span over the whole trace, and one long span in the middle: chunks with wide ranges.
  const auto long_track = all.add_track({"long", trace::TrackKind::rank, "", 1});
  all.add_span(
      {all.begin_ns(), all.end_ns(), 0, long_track, all.intern("run"), {}, trace::Category::other});
  all.add_span({0, all.end_ns() / 2, 0, long_track, all.intern("half"), all.add_args(R"({"a":1})"),
                trace::Category::other});
  all.finish();
  TraceWriter(store, id).append(all);
  const trace::Trace full = load_trace(store, id);
  ASSERT_EQ(full.spans().size(), all.spans().size());

  std::mt19937_64 rng(5);
  const std::int64_t lo = all.begin_ns() - 1000, hi = all.end_ns() + 1000;
  std::vector<TimeWindow> windows = {{lo, hi}, {lo, lo + 1}, {hi - 1, hi}, {0, 0}, {10, 5}};
  for (int i = 0; i < 60; ++i) {
    const std::int64_t a = std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    const std::int64_t length =
        std::uniform_int_distribution<std::int64_t>(0, (hi - lo) / (i % 3 ? 100 : 5))(rng);
    windows.push_back({a, a + length});
  }
  // Windows starting exactly at span starts and ends: the boundaries of "overlapping".
  for (int i = 0; i < 20; ++i) {
    const auto& span = all.spans()[rng() % all.spans().size()];
    windows.push_back({span.start_ns, span.start_ns + 1});
    windows.push_back({span.end_ns, span.end_ns + 500});
    windows.push_back({span.start_ns - 500, span.start_ns});
  }
  for (const TimeWindow& window : windows) {
    SCOPED_TRACE("window [" + std::to_string(window.start_ns) + ", " +
                 std::to_string(window.end_ns) + ")");
    const trace::Trace got = load_trace(store, id, window);
    std::vector<FlatSpan> want;
    for (const auto& span : all.spans()) {
      const bool overlaps = span.start_ns < window.end_ns &&
                            (span.end_ns > window.start_ns ||
                             (span.start_ns == span.end_ns && span.start_ns >= window.start_ns));
      if (overlaps) want.push_back(testing::flat(all, span));
    }
    std::sort(want.begin(), want.end());
    ASSERT_EQ(testing::flat_spans(got), want);
    EXPECT_EQ(got.tracks().size(), all.tracks().size());
    // Only the args of the loaded spans come along.
    std::size_t with_args = 0;
    for (const auto& span : got.spans()) with_args += span.args.valid();
    EXPECT_LE(got.args_count(), with_args);

    for (std::size_t c = 0; c < all.counters().size(); ++c) {
      std::vector<testing::FlatPoint> points;
      std::optional<testing::FlatPoint> before;
      for (const auto& point : all.counters()[c].points) {
        if (point.time_ns < window.start_ns) before = {point.time_ns, testing::bits(point.value)};
        if (point.time_ns >= window.start_ns && point.time_ns < window.end_ns) {
          points.emplace_back(point.time_ns, testing::bits(point.value));
        }
      }
      if (before) points.insert(points.begin(), *before);
      EXPECT_EQ(testing::flat_points(got.counters()[c]), points) << all.counters()[c].name;
    }
    std::vector<testing::FlatFlow> flows;
    const auto inside = [&](std::int64_t t) { return t >= window.start_ns && t < window.end_ns; };
    for (const auto& flow : all.flows()) {
      if (inside(flow.from_ns) || inside(flow.to_ns)) {
        flows.emplace_back(flow.id, all.track(flow.from_track).name, flow.from_ns,
                           all.track(flow.to_track).name, flow.to_ns);
      }
    }
    std::sort(flows.begin(), flows.end());
    EXPECT_EQ(testing::flat_flows(got), flows);
  }
}

// One track's chunks, damaged in every way a disk or another program could: each load is a
// StoreError naming the file, session, track and chunk; nothing crashes.
TEST(TraceStore, ADamagedChunkIsAStoreErrorNamingIt) {
  ::tb::testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionId id;
  {
    SessionStore store(path);
    id = store.create_session(make_session("damaged"));
    TraceWriter(store, id).append(testing::random_trace(9, 2, 4000));
  }
  RawDb raw(path);
  const std::string chunk = "FROM trace_span_chunks WHERE track_id = 2 AND seq = 1";
  const std::vector<std::uint8_t> good = raw.blob("SELECT data " + chunk);
  ASSERT_GT(good.size(), 100u);
  const std::string other_track =
      "SELECT data FROM trace_span_chunks WHERE track_id = 1 AND seq = 1";

  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> damage = {
      {"empty", {}},
      {"version", good},
      {"truncated", {good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2)}},
      {"one byte", {good.begin(), good.begin() + 1}},
      {"not zstd", std::vector<std::uint8_t>(64, 0x01)},
      {"another chunk's data", raw.blob(other_track)},
  };
  damage[1].second[0] = 99;
  std::mt19937 rng(1);
  for (int i = 0; i < 40; ++i) {  // flipped bytes anywhere in the frame
    auto bytes = good;
    for (int k = 0; k < 1 + i % 4; ++k) bytes[1 + rng() % (bytes.size() - 1)] ^= 1 + rng() % 255;
    damage.emplace_back("flipped " + std::to_string(i), bytes);
  }
  const std::string set_chunk =
      "UPDATE trace_span_chunks SET data = ?1 WHERE track_id = 2 AND seq = 1";
  for (const auto& [what, bytes] : damage) {
    SCOPED_TRACE(what);
    raw.with_blob(set_chunk, bytes);
    SessionStore store(path, SessionStore::Mode::read_only);
    // Every flip is caught (the frames carry a checksum), wherever it lands.
    expect_contains(store_error([&] { load_trace(store, id); }),
                    {path.string(), "session " + std::to_string(id.value), "track 2", "seq 1"});
  }
  // A row that disagrees with its blob.
  raw.with_blob(set_chunk, good);
  raw.exec(
      "UPDATE trace_span_chunks SET span_count = span_count + 1 WHERE track_id = 2 AND "
      "seq = 1");
  {
    SessionStore store(path, SessionStore::Mode::read_only);
    expect_contains(store_error([&] { load_trace(store, id); }), {"track 2", "seq 1", "row says"});
  }
  raw.exec(
      "UPDATE trace_span_chunks SET span_count = span_count - 1 WHERE track_id = 2 AND "
      "seq = 1");

  // A writer continuing the session decodes each track's open last chunk, and refuses a
  // damaged one.
  const std::int64_t last =
      raw.integer("SELECT max(seq) FROM trace_span_chunks WHERE track_id = 1");
  const std::string last_chunk =
      "FROM trace_span_chunks WHERE track_id = 1 AND seq = " + std::to_string(last);
  const auto last_good = raw.blob("SELECT data " + last_chunk);
  raw.with_blob(
      "UPDATE trace_span_chunks SET data = ?1 WHERE track_id = 1 AND seq = " + std::to_string(last),
      {last_good.begin(), last_good.begin() + 10});
  {
    SessionStore store(path);
    TraceWriter writer(store, id);
    expect_contains(store_error([&] { writer.append(testing::random_trace(2, 1, 1)); }),
                    {path.string(), "track 1", "seq " + std::to_string(last), "damaged"});
  }
  raw.with_blob(
      "UPDATE trace_span_chunks SET data = ?1 WHERE track_id = 1 AND seq = " + std::to_string(last),
      last_good);
  SessionStore store(path);
  EXPECT_NO_THROW(load_trace(store, id));
  // A name id the session does not have, inside an intact blob.
  raw.exec("DELETE FROM trace_names WHERE name_id > 3");
  expect_contains(store_error([&] { load_trace(store, id); }), {"track 1", "seq 1", "name id"});
}

TEST(TraceStore, AMissingSessionIsAStoreError) {
  ::tb::testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionStore store(path);
  const SessionId real = store.create_session(make_session("real"));
  const SessionId missing(real.value + 7);
  for (const auto& message : {store_error([&] { load_trace(store, missing); }), store_error([&] {
                                load_trace(store, missing, TimeWindow{0, 10});
                              }),
                              store_error([&] { trace_extent(store, missing); }),
                              store_error([&] { TraceWriter writer(store, missing); })}) {
    expect_contains(message,
                    {path.string(), "session " + std::to_string(missing.value), "no such session"});
  }
  // A session without a trace is an empty one.
  const trace::Trace empty = load_trace(store, real);
  EXPECT_TRUE(empty.spans().empty());
  EXPECT_TRUE(empty.tracks().empty());
  EXPECT_EQ(trace_extent(store, real).spans, 0);
}

TEST(TraceStore, ABadBatchIsRefusedWholeAndTheWriterGoesOn) {
  ::tb::testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionStore store(path);
  const SessionId id = store.create_session(make_session("bad batch"));
  TraceWriter writer(store, id);
  writer.append(testing::random_trace(1, 2, 10));
  const auto before = testing::flat_spans(load_trace(store, id));

  trace::Trace bad;
  const auto track = bad.add_track({"engine", trace::TrackKind::cpu_thread, "trainbench", 0});
  bad.add_span({0, 10, 0, track, bad.intern("fine"), {}, trace::Category::other});
  bad.add_span({20, 10, 0, track, bad.intern("backwards"), {}, trace::Category::other});
  expect_contains(store_error([&] { writer.append(bad); }),
                  {path.string(), "span 1 of the batch", "before it starts"});
  trace::Trace stray;
  stray.add_span({0, 10, 0, trace::TrackId(3), stray.intern("x"), {}, trace::Category::other});
  expect_contains(store_error([&] { writer.append(stray); }), {"track 3"});
  EXPECT_EQ(testing::flat_spans(load_trace(store, id)), before);  // nothing of either stored

  trace::Trace more = testing::random_trace(2, 3, 10);
  writer.append(more);
  EXPECT_EQ(load_trace(store, id).spans().size(), before.size() + more.spans().size());
}

TEST(TraceStore, AReadOnlyStoreLoads) {
  ::tb::testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionId id;
  trace::Trace all = testing::random_trace(4, 3, 500);
  {
    SessionStore store(path);
    id = store.create_session(make_session("read only"));
    TraceWriter(store, id).append(all);
  }
  SessionStore reader(path, SessionStore::Mode::read_only);
  expect_same_trace(load_trace(reader, id), all);
  const auto middle = (all.begin_ns() + all.end_ns()) / 2;
  EXPECT_FALSE(load_trace(reader, id, TimeWindow{middle, middle + 10'000}).spans().empty());
  EXPECT_EQ(trace_extent(reader, id).spans, static_cast<std::int64_t>(all.spans().size()));
  EXPECT_THROW(TraceWriter(reader, id).append(all), StoreError);
}

// Every trace table refers to its session ON DELETE CASCADE: deleting a session leaves nothing of
// its trace, and nothing of another session's is touched.
TEST(TraceStore, DeletingASessionDeletesItsTrace) {
  ::tb::testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionId gone, kept;
  {
    SessionStore store(path);
    gone = store.create_session(make_session("gone"));
    kept = store.create_session(make_session("kept"));
    for (const SessionId id : {gone, kept}) {
      trace::Trace trace = testing::random_trace(8, 3, 50);
      trace.metadata = {{"source", "test"}};
      TraceWriter(store, id).append(trace);
    }
  }
  RawDb raw(path);
  raw.exec("PRAGMA foreign_keys = ON; DELETE FROM sessions WHERE id = " +
           std::to_string(gone.value));
  for (const char* table :
       {"trace_tracks", "trace_names", "trace_args", "trace_span_chunks", "trace_counters",
        "trace_counter_chunks", "trace_flow_chunks", "trace_metadata"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM ") + table +
                          " WHERE session_id = " + std::to_string(gone.value)),
              0)
        << table;
    EXPECT_GT(raw.integer(std::string("SELECT count(*) FROM ") + table +
                          " WHERE session_id = " + std::to_string(kept.value)),
              0)
        << table;
  }
  SessionStore store(path, SessionStore::Mode::read_only);
  expect_same_trace(load_trace(store, kept), testing::random_trace(8, 3, 50));
}

}  // namespace
}  // namespace tb::store
