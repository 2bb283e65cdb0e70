#include "core/trace/chrome_trace.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/util/error.h"
#include "tests/support/test_data.h"
#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

using nlohmann::json;

// Not finish()ed on purpose: spans out of time order; the loader's first span after the engine's.
Trace hand_built() {
  tb::testing::TraceBuilder b;
  const auto engine = b.track("engine");
  const auto loader = b.track("loader worker 1", TrackKind::loader_worker);
  const auto stream = b.track("stream 7", TrackKind::gpu_stream, "GPU 0");
  b.span(engine, "forward", Category::forward, 2'500, 4'000, 1, R"({"layers":3})");
  b.span(engine, "step", Category::step, 1'000, 9'000'000, 1);
  b.span(loader, "decode", Category::data, 1'200, 2'001'234, 0, R"({"batch":5})");
  b.span(engine, "data", Category::data, 1'000, 2'500, 1);
  b.span(stream, "gemm", Category::kernel, 3'000, 3'500, 0, R"({"step": 99, "grid": [1]})");
  const auto loss = b.counter("train_loss", "");
  b.point(loss, 9'000'000, 2.25);
  b.point(loss, 18'000'000, 1.5);
  const auto memory = b.counter("memory allocated (cpu)", "bytes");
  b.point(memory, 1'000, 4096);
  b.flow(engine, 2'600, stream, 3'100, 11);
  b.trace.metadata = {{"name", "tiny"}};
  return std::move(b.trace);
}

std::string to_text(const Trace& trace, const ChromeTraceOptions& options = {}) {
  std::string text;
  write_chrome_trace(
      trace, [&](std::string_view piece) { text.append(piece); }, options);
  return text;
}

TEST(ChromeTrace, SpansAreCompleteEventsOnNamedRowsInMicroseconds) {
  ChromeTraceOptions options;
  options.default_process = "trainbench session 7: tiny";
  const std::string text = to_text(hand_built(), options);
  const auto doc = json::parse(text);
  EXPECT_EQ(doc["displayTimeUnit"], "ms");
  EXPECT_EQ(doc["otherData"]["name"], "tiny");
  // otherData (with the export's description of its tracks) comes before the events.
  EXPECT_LT(text.find("\"otherData\""), text.find("\"traceEvents\""));
  const auto& marker = doc["otherData"][kExportMarker];
  EXPECT_EQ(marker["tracks"].size(), 3u);
  EXPECT_EQ(marker["tracks"][1]["kind"], "loader_worker");
  EXPECT_EQ(marker["counter_units"]["memory allocated (cpu)"], "bytes");

  std::map<int, std::string> processes, threads;
  std::map<int, int> thread_pid, sort_index;
  std::vector<json> spans, counters, flows;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name") processes[e["pid"]] = e["args"]["name"];
    if (e["ph"] == "M" && e["name"] == "thread_name") {
      threads[e["tid"]] = e["args"]["name"];
      thread_pid[e["tid"]] = e["pid"];
    }
    if (e["ph"] == "M" && e["name"] == "thread_sort_index") {
      sort_index[e["tid"]] = e["args"]["sort_index"];
    }
    if (e["ph"] == "X") spans.push_back(e);
    if (e["ph"] == "C") counters.push_back(e);
    if (e["ph"] == "s" || e["ph"] == "f") flows.push_back(e);
  }
  // Tracks that name no process go in the default row group; one pid per process.
  EXPECT_EQ(processes,
            (std::map<int, std::string>{{1, "trainbench session 7: tiny"}, {2, "GPU 0"}}));
  // Rows in the order their first span starts: engine (1.0 us), loader (1.2 us), stream (3 us).
  EXPECT_EQ(threads,
            (std::map<int, std::string>{{1, "engine"}, {2, "loader worker 1"}, {3, "stream 7"}}));
  EXPECT_EQ(thread_pid[3], 2);
  EXPECT_EQ(sort_index, (std::map<int, int>{{1, 0}, {2, 1}, {3, 2}}));

  // Every span once, by start time; nanoseconds kept as three decimals of microseconds.
  ASSERT_EQ(spans.size(), 5u);
  EXPECT_EQ(spans[0]["name"], "step");
  EXPECT_EQ(spans[0]["cat"], "step");
  EXPECT_EQ(spans[0]["ts"], 1);
  EXPECT_EQ(spans[0]["dur"], 8999);
  EXPECT_EQ(spans[0]["args"], json({{"step", 1}}));
  EXPECT_EQ(spans[1]["name"], "data");
  EXPECT_DOUBLE_EQ(spans[1]["dur"].get<double>(), 1.5);
  EXPECT_EQ(spans[2]["name"], "decode");
  EXPECT_EQ(spans[2]["tid"], 2);
  EXPECT_DOUBLE_EQ(spans[2]["ts"].get<double>(), 1.2);
  EXPECT_NE(text.find("\"dur\":2000.034"), std::string::npos);
  EXPECT_EQ(spans[2]["args"], json({{"batch", 5}}));  // no step: args as they are
  EXPECT_EQ(spans[3]["name"], "forward");
  EXPECT_EQ(spans[3]["args"], json({{"step", 1}, {"layers", 3}}));  // args and the step
  EXPECT_EQ(spans[4]["name"], "gemm");
  EXPECT_EQ(spans[4]["args"], json({{"step", 99}, {"grid", {1}}}));  // step 0: args untouched

  // Counters: one event per point, the value under the unit (or "value").
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[0]["name"], "train_loss");
  EXPECT_EQ(counters[0]["ts"], 9000);
  EXPECT_EQ(counters[0]["args"]["value"], 2.25);
  EXPECT_EQ(counters[2]["name"], "memory allocated (cpu)");
  EXPECT_EQ(counters[2]["args"]["bytes"], 4096);

  // A flow: a start on the engine, an end bound to the enclosing slice on the stream.
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0]["ph"], "s");
  EXPECT_EQ(flows[0]["id"], 11);
  EXPECT_EQ(flows[0]["tid"], 1);
  EXPECT_DOUBLE_EQ(flows[0]["ts"].get<double>(), 2.6);
  EXPECT_EQ(flows[1]["ph"], "f");
  EXPECT_EQ(flows[1]["bp"], "e");
  EXPECT_EQ(flows[1]["tid"], 3);
  EXPECT_EQ(flows[1]["cat"], flows[0]["cat"]);
}

TEST(ChromeTrace, AStepIsMergedIntoArgsThatNameOneAlready) {
  Trace trace;
  const auto track = trace.add_track({"engine", TrackKind::cpu_thread, "trainbench", 0});
  trace.add_span({0, 10, 4, track, trace.intern("x"), trace.add_args(R"({"step": 1, "k": 2})"),
                  Category::other});
  trace.add_span({0, 10, 4, track, trace.intern("y"), trace.add_args(R"( { } )"), Category::other});
  const auto doc = json::parse(to_text(trace));
  std::vector<json> args;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") args.push_back(e["args"]);
  }
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], json({{"step", 4}, {"k", 2}}));
  EXPECT_EQ(args[1], json({{"step", 4}}));
}

TEST(ChromeTrace, MicrosecondsKeepNanoseconds) {
  const auto micros = [](std::int64_t ns) {
    std::string out;
    append_micros(out, ns);
    return out;
  };
  EXPECT_EQ(micros(0), "0");
  EXPECT_EQ(micros(1'000), "1");
  EXPECT_EQ(micros(1'500), "1.5");
  EXPECT_EQ(micros(1), "0.001");
  EXPECT_EQ(micros(2'000'034), "2000.034");
  EXPECT_EQ(micros(-1'500), "-1.5");
  EXPECT_EQ(micros(1'623'142'623'460'111'123LL), "1623142623460111.123");
}

TEST(ChromeTrace, AnEmptyTraceIsStillValidJson) {
  Trace empty;
  ChromeTraceOptions options;
  options.default_process = "nothing";
  const auto doc = json::parse(to_text(empty, options));
  ASSERT_EQ(doc["traceEvents"].size(), 2u);  // the process's name and sort index
  EXPECT_EQ(doc["traceEvents"][0]["args"]["name"], "nothing");
}

std::string read_gzip(const std::filesystem::path& file) {
  gzFile in = gzopen(file.c_str(), "rb");
  EXPECT_NE(in, nullptr);
  std::string text;
  char chunk[4096];
  int n;
  while ((n = gzread(in, chunk, sizeof chunk)) > 0) text.append(chunk, static_cast<std::size_t>(n));
  gzclose(in);
  return text;
}

TEST(ChromeTrace, SavesPlainAndGzipFilesWithNothingHalfWritten) {
  tb::testing::TempDir dir;
  const auto trace = hand_built();
  save_chrome_trace(trace, dir / "t.json");
  save_chrome_trace(trace, dir / "t.json.gz");
  std::ifstream plain(dir / "t.json");
  std::stringstream text;
  text << plain.rdbuf();
  EXPECT_EQ(text.str(), to_text(trace));
  EXPECT_EQ(read_gzip(dir / "t.json.gz"), to_text(trace));
  EXPECT_LT(std::filesystem::file_size(dir / "t.json.gz"),
            std::filesystem::file_size(dir / "t.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "t.json.tmp"));
  try {
    save_chrome_trace(trace, dir / "missing" / "t.json");
    FAIL() << "wrote into a folder that does not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "missing" / "t.json").string()), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

}  // namespace
}  // namespace tb::trace
