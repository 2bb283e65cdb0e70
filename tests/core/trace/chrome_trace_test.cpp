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

namespace tb::trace {
namespace {

using nlohmann::json;

ExportTrace hand_built() {
  ExportTrace trace;
  trace.process_name = "trainbench session 7: tiny";
  // Out of time order on purpose; two tracks, the loader's first span after the engine's.
  trace.spans = {{"engine", "forward", "forward", 2'500, 4'000, 1},
                 {"engine", "step", "other", 1'000, 9'000'000, 1},
                 {"loader worker 1", "decode", "data", 1'200, 2'001'234, 0},
                 {"engine", "data", "data", 1'000, 2'500, 1}};
  trace.counters = {{"train_loss", {{9'000'000, 2.25}, {18'000'000, 1.5}}},
                    {"loader_queue_depth", {{1'000, 3.0}}}};
  trace.metadata = {{"name", "tiny"}};
  return trace;
}

std::string to_text(const ExportTrace& trace) {
  std::string text;
  write_chrome_trace(trace, [&](std::string_view piece) { text.append(piece); });
  return text;
}

TEST(ChromeTrace, SpansAreCompleteEventsOnNamedRowsInMicroseconds) {
  const auto doc = json::parse(to_text(hand_built()));
  EXPECT_EQ(doc["displayTimeUnit"], "ms");
  EXPECT_EQ(doc["otherData"]["name"], "tiny");
  std::map<int, std::string> thread_names;
  std::map<int, int> sort_index;
  std::vector<json> spans, counters;
  std::string process;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") thread_names[e["tid"]] = e["args"]["name"];
    if (e["ph"] == "M" && e["name"] == "thread_sort_index") {
      sort_index[e["tid"]] = e["args"]["sort_index"];
    }
    if (e["ph"] == "M" && e["name"] == "process_name") process = e["args"]["name"];
    if (e["ph"] == "X") spans.push_back(e);
    if (e["ph"] == "C") counters.push_back(e);
  }
  EXPECT_EQ(process, "trainbench session 7: tiny");
  // Rows in the order their first span starts: the engine's (1.0 us), then the loader's (1.2 us).
  ASSERT_EQ(thread_names.size(), 2u);
  EXPECT_EQ(thread_names[1], "engine");
  EXPECT_EQ(thread_names[2], "loader worker 1");
  EXPECT_EQ(sort_index[1], 0);
  EXPECT_EQ(sort_index[2], 1);
  // Every span once, by start time; nanoseconds kept as fractional microseconds.
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans[0]["name"], "step");
  EXPECT_EQ(spans[0]["ts"], 1);
  EXPECT_EQ(spans[0]["dur"], 8999);
  EXPECT_EQ(spans[0]["args"]["step"], 1);
  EXPECT_EQ(spans[1]["name"], "data");
  EXPECT_EQ(spans[1]["cat"], "data");
  EXPECT_DOUBLE_EQ(spans[1]["dur"].get<double>(), 1.5);
  EXPECT_EQ(spans[2]["name"], "decode");
  EXPECT_EQ(spans[2]["tid"], 2);
  EXPECT_DOUBLE_EQ(spans[2]["ts"].get<double>(), 1.2);
  EXPECT_DOUBLE_EQ(spans[2]["dur"].get<double>(), 2000.034);
  EXPECT_FALSE(spans[2].contains("args"));  // no step
  EXPECT_EQ(spans[3]["name"], "forward");
  // Counters: one event per point, the value under the counter's name.
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[0]["name"], "train_loss");
  EXPECT_EQ(counters[0]["ts"], 9000);
  EXPECT_EQ(counters[0]["args"]["train_loss"], 2.25);
  EXPECT_EQ(counters[2]["name"], "loader_queue_depth");
}

TEST(ChromeTrace, AnEmptyTraceIsStillValidJson) {
  ExportTrace empty;
  empty.process_name = "nothing";
  const auto doc = json::parse(to_text(empty));
  EXPECT_EQ(doc["traceEvents"].size(), 1u);  // the process name
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
