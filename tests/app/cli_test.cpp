// The `trainbench` binary end to end: runs, stores, lists, shows, and answers bad input with one
// line and a non-zero exit code.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "tests/support/cli_support.h"
#include "tests/support/test_data.h"

namespace tb::app {
namespace {

using nlohmann::json;
using tb::testing::TempDir;

using tb::testing::project_path;
using tb::testing::trainbench;
using tb::testing::write_one_epoch_project;

TEST(Cli, RunsAFewHundredStepsOnFashionMnistAndStoresTheSession) {
  if (tb::testing::system_fashion_mnist().empty())
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDir dir;
  const auto db = (dir / "sessions.db").string();
  const auto run = trainbench(
      "run " + project_path("fashion_mlp.json") +
          " --max-steps 300 --set data.test_limit=2000 --set train.threads=1 --json --db " + db,
      dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto result = json::parse(run.out);
  for (const char* key : {"session_id", "test_accuracy", "train_loss", "samples_per_s", "epochs",
                          "steps", "precision", "activation_bytes", "activation_workspace_bytes",
                          "weight_bytes", "skipped_steps"}) {
    EXPECT_TRUE(result.contains(key)) << key;
  }
  EXPECT_EQ(result["steps"], 300);
  EXPECT_EQ(result["precision"], "fp32");
  // fashion_mlp at batch 128: input, two Linear+ReLU pairs and the logits, all f32.
  EXPECT_EQ(result["activation_bytes"], 128 * (784 + 256 + 256 + 128 + 128 + 10) * 4);
  EXPECT_EQ(result["weight_bytes"], result["parameters"].get<std::int64_t>() * 4);
  EXPECT_EQ(result["status"], "completed");
  EXPECT_GT(result["test_accuracy"].get<double>(), 0.70);
  EXPECT_GT(result["samples_per_s"].get<double>(), 0.0);

  // The loss falls: the mean of the last 50 steps is well under that of the first 50.
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto id = store::SessionId{result["session_id"].get<std::int64_t>()};
  const auto loss = store.metrics(id, "train_loss");
  ASSERT_EQ(loss.size(), 300u);
  auto mean = [](auto first, auto last) {
    return std::accumulate(first, last, 0.0, [](double s, const auto& p) { return s + p.value; }) /
           static_cast<double>(last - first);
  };
  const double early = mean(loss.begin(), loss.begin() + 50);
  const double late = mean(loss.end() - 50, loss.end());
  EXPECT_LT(late, 0.7 * early) << "early " << early << " late " << late;

  const auto listed = trainbench("sessions --json --db " + db, dir);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto sessions = json::parse(listed.out)["sessions"];
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]["session_id"], result["session_id"]);
  EXPECT_EQ(sessions[0]["status"], "completed");

  const auto shown = trainbench("show " + std::to_string(id.value) + " --json --db " + db, dir);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const auto session = json::parse(shown.out);
  EXPECT_EQ(session["params"]["optimizer.type"], "sgd");
  EXPECT_EQ(session["metrics"]["train_loss"]["count"], 300);
  EXPECT_EQ(session["project"]["model"]["hidden"], json({256, 128}));
  EXPECT_EQ(session["checkpoint_steps"], json::array());  // train.checkpoint defaults to "none"
  // Where the step time went: 300 steps, the last 100 of them, phases inside the step time.
  const auto& run_breakdown = session["breakdown"]["run"];
  EXPECT_EQ(run_breakdown["steps"], 300);
  EXPECT_EQ(session["breakdown"]["last_100_steps"]["steps"], 100);
  const double phases =
      run_breakdown["data_s"].get<double>() + run_breakdown["forward_s"].get<double>() +
      run_breakdown["backward_s"].get<double>() + run_breakdown["optimizer_s"].get<double>();
  EXPECT_GT(run_breakdown["forward_s"].get<double>(), 0.0);
  EXPECT_GT(run_breakdown["backward_s"].get<double>(), 0.0);
  EXPECT_LE(phases, run_breakdown["step_s"].get<double>() + 1e-9);
  EXPECT_GT(phases, 0.9 * run_breakdown["step_s"].get<double>());
  EXPECT_GT(run_breakdown["eval_s"].get<double>(), 0.0);  // the evaluation at the end

  const auto table = trainbench("sessions --db " + db, dir);
  EXPECT_NE(table.out.find("fashion_mlp"), std::string::npos) << table.out;
  const auto text = trainbench("show " + std::to_string(id.value) + " --db " + db, dir);
  EXPECT_NE(text.out.find("train_loss"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("where the step time went"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("backward %"), std::string::npos) << text.out;
}

TEST(Cli, RunsTheSparseProjectsAndReportsTheGradientMemory) {
  TempDir dir;
  const std::string db = (dir / "s.db").string();
  const auto bow = trainbench("run " + project_path("sparse_bow.json") +
                                  " --max-steps 40 --set data.bow.train_samples=8000"
                                  " --set data.bow.test_samples=1000 --json --db " +
                                  db,
                              dir);
  ASSERT_EQ(bow.exit_code, 0) << bow.err;
  const auto b = json::parse(bow.out);
  EXPECT_EQ(b["status"], "completed");
  EXPECT_EQ(b["steps"], 40);
  EXPECT_EQ(b["session_id"], 1);
  // 20 classes: chance is 0.05; 40 steps of Adam already do better than twice that (0.165).
  EXPECT_GT(b["test_accuracy"].get<double>(), 0.12);
  EXPECT_EQ(b["parameters"], 30000 * 64 + 64 + 64 * 20 + 20);
  EXPECT_FALSE(b.contains("dense_grad_bytes"));

  const auto rec = trainbench("run " + project_path("recsys_embedding.json") +
                                  " --max-steps 30 --set data.recsys.train_samples=20000"
                                  " --set data.recsys.test_samples=2000 --json --db " +
                                  db,
                              dir);
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto r = json::parse(rec.out);
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["session_id"], 2);
  // Tables of 20000 users and 10000 items, 32 floats a row, dense; a step of 512 interactions
  // touches at most 512 rows of each (an int64 id and 32 floats a row).
  EXPECT_EQ(r["dense_grad_bytes"], (20000 + 10000) * 32 * 4);
  EXPECT_GT(r["sparse_grad_bytes"].get<std::int64_t>(), 512 * (32 * 4 + 8));
  EXPECT_LE(r["sparse_grad_bytes"].get<std::int64_t>(), 2 * 512 * (32 * 4 + 8));

  // The human-readable summary says it too.
  const auto text = trainbench("run " + project_path("recsys_embedding.json") +
                                   " --max-steps 5 --set data.recsys.train_samples=2000"
                                   " --set data.recsys.test_samples=200 --db " +
                                   db,
                               dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("embedding gradients: row-sparse"), std::string::npos) << text.out;

  const auto bad = trainbench(
      "run " + project_path("recsys_embedding.json") + " --set optimizer.type=lion --db " + db,
      dir);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("optimizer.type"), std::string::npos) << bad.err;
}

TEST(Cli, FileWithoutDisplayRunsInTheTerminal) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "data", 256, 64);
  std::ofstream(dir / "tiny.json")
      << R"({"name": "tiny", "data": {"path": ")" << (dir / "data").string()
      << R"("}, "model": {"hidden": [16]}, "train": {"epochs": 1, "threads": 1}})";
  const auto run =
      trainbench((dir / "tiny.json").string() + " --db " + (dir / "s.db").string(), dir);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("no display"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("test accuracy"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("session 1 stored"), std::string::npos) << run.out;
}

TEST(Cli, BadInputIsOneLineAndANonZeroExit) {
  TempDir dir;
  const auto db = " --db " + (dir / "s.db").string();
  auto missing = trainbench("run /nonexistent/project.json" + db, dir);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("project.json"), std::string::npos) << missing.err;

  std::ofstream(dir / "bad.json") << "{\"name\": ";
  auto bad_json = trainbench("run " + (dir / "bad.json").string() + db, dir);
  EXPECT_EQ(bad_json.exit_code, 2);
  EXPECT_NE(bad_json.err.find("not valid JSON"), std::string::npos) << bad_json.err;
  EXPECT_EQ(std::count(bad_json.err.begin(), bad_json.err.end(), '\n'), 1) << bad_json.err;

  auto unknown = trainbench(
      "run " + project_path("fashion_mlp.json") + " --set optimizer.learning_rate=0.1" + db, dir);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("optimizer.learning_rate"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("unknown key"), std::string::npos) << unknown.err;

  auto no_session = trainbench("show 999" + db, dir);
  EXPECT_EQ(no_session.exit_code, 2);
  EXPECT_NE(no_session.err.find("no session 999"), std::string::npos) << no_session.err;

  auto usage = trainbench("run", dir);
  EXPECT_EQ(usage.exit_code, 2);

  EXPECT_FALSE(std::filesystem::exists(dir / "s.db")) << "bad input must not create a database";
}

TEST(Cli, EverySubcommandHasHelp) {
  TempDir dir;
  for (const char* command : {"",
                              "run",
                              "sessions",
                              "sessions rename",
                              "sessions tag",
                              "sessions delete",
                              "show",
                              "gui",
                              "devices",
                              "optim-path",
                              "data check",
                              "data pack",
                              "data inspect",
                              "tune-loader",
                              "export-trace",
                              "import-trace",
                              "profile",
                              "kernels",
                              "trace-diff",
                              "compare",
                              "sweep"}) {
    const auto help = trainbench(std::string(command) + " --help", dir);
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.out.find("--"), std::string::npos) << command;
  }
}

TEST(Cli, OptimPathPrintsTheStartThenOnePointPerStep) {
  TempDir dir;
  const auto out = trainbench(
      "optim-path --optimizer adam --lr 0.1 --betas 0.9,0.99 --fn rosenbrock --start -1,1 "
      "--steps 25 --json",
      dir);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const auto result = json::parse(out.out);
  const auto& path = result["path"];
  ASSERT_EQ(path.size(), 26u);
  EXPECT_EQ(path[0], json({-1.0, 1.0, 4.0}));  // f(-1, 1) = 4
  for (const auto& point : path) ASSERT_EQ(point.size(), 3u);
  EXPECT_EQ(result["optimizer"]["betas"], json({0.9, 0.99}));
  EXPECT_DOUBLE_EQ(result["optimizer"]["lr"].get<double>(), 0.1);

  const auto lookahead = trainbench(
      "optim-path --optimizer sgd --momentum 0.5 --nesterov --lookahead-k 3 --lookahead-alpha 0.5 "
      "--fn quadratic --steps 9 --json",
      dir);
  ASSERT_EQ(lookahead.exit_code, 0) << lookahead.err;
  EXPECT_EQ(json::parse(lookahead.out)["optimizer"]["lookahead"]["k"], 3);

  const auto bad =
      trainbench("optim-path --optimizer sgd --nesterov --momentum 0 --fn saddle --steps 3", dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("optimizer.nesterov"), std::string::npos) << bad.err;
  const auto bad_betas =
      trainbench("optim-path --optimizer adam --betas 0.9,1.5 --fn beale --steps 3", dir);
  EXPECT_EQ(bad_betas.exit_code, 2);
  EXPECT_NE(bad_betas.err.find("optimizer.betas[1]"), std::string::npos) << bad_betas.err;
  const auto bad_fn = trainbench("optim-path --optimizer adam --fn himmelblau --steps 3", dir);
  EXPECT_EQ(bad_fn.exit_code, 2);
  EXPECT_NE(bad_fn.err.find("rosenbrock"), std::string::npos) << bad_fn.err;
}

TEST(Cli, ResumeContinuesAStoppedSessionFromItsCheckpoint) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "data", 512, 64);
  std::ofstream(dir / "tiny.json")
      << R"({"name": "tiny", "data": {"path": ")" << (dir / "data").string()
      << R"(", "batch_size": 64}, "model": {"hidden": [16]},
                                          "train": {"epochs": 2, "threads": 1, "checkpoint": "end"}})";
  const auto db = " --db " + (dir / "s.db").string();
  const auto first =
      trainbench("run " + (dir / "tiny.json").string() + " --max-steps 5 --json" + db, dir);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(json::parse(first.out)["steps"], 5);
  const auto resumed = trainbench("run --resume 1 --json" + db, dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto result = json::parse(resumed.out);
  EXPECT_EQ(result["session_id"], 2);
  EXPECT_EQ(result["steps"], 16);  // 2 epochs of 8 steps, 11 of them in this session
  EXPECT_EQ(result["epochs"], 2);
  const auto shown = json::parse(trainbench("show 2 --json" + db, dir).out);
  EXPECT_EQ(shown["params"]["resumed_from"], "1");
  EXPECT_EQ(shown["params"]["resumed_at_step"], "5");

  const auto missing = trainbench("run --resume 9" + db, dir);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no session 9"), std::string::npos) << missing.err;
  const auto neither = trainbench("run" + db, dir);
  EXPECT_EQ(neither.exit_code, 2);
}

TEST(Cli, DataCheckReportsDuplicatesLeakageBalanceAndABaseline) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "data", 600, 200, 3);
  const auto project =
      project_path("fashion_mlp.json") + " --set data.path=" + (dir / "data").string();
  const auto text = trainbench("data check " + project, dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* expected :
       {"class balance", "exact duplicates", "near-duplicates", "kNN baseline", "T-shirt/top"}) {
    EXPECT_NE(text.out.find(expected), std::string::npos) << expected << "\n" << text.out;
  }
  const auto run = trainbench("data check " + project + " --json --near-rms 0.1 --knn 3", dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto report = json::parse(run.out);
  EXPECT_EQ(report["train"]["samples"], 600);
  EXPECT_EQ(report["test"]["samples"], 200);
  const auto counts = report["train"]["classes"].get<std::vector<std::int64_t>>();
  EXPECT_EQ(counts.size(), 10u);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}), 600);
  EXPECT_EQ(report["near"]["rms_threshold"], 0.1);
  EXPECT_EQ(report["knn"]["k"], 3);
  // The synthetic classes are bars at distinct places: a kNN classifier separates them.
  EXPECT_GT(report["knn"]["test_accuracy"].get<double>(), 0.9);

  const auto bad = trainbench("data check " + project + " --projection-dims 5000", dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("projection_dims"), std::string::npos) << bad.err;
}

TEST(Cli, DataPackInspectAndRunOnShards) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 600, 150, 6);
  const auto packed = (dir / "packed").string();
  const auto pack = trainbench("data pack " + (dir / "idx").string() + " -o " + packed +
                                   " --shard-size 100KiB --zstd 3 --json",
                               dir);
  ASSERT_EQ(pack.exit_code, 0) << pack.err;
  const auto packing = json::parse(pack.out);
  EXPECT_EQ(packing["train"]["records"], 600);
  EXPECT_EQ(packing["test"]["records"], 150);
  EXPECT_GT(packing["train"]["shards"].get<int>(), 1);
  EXPECT_GT(packing["train"]["compression_ratio"].get<double>(), 1.0);

  const auto inspect = trainbench("data inspect " + packed + " --json", dir);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto summary = json::parse(inspect.out);
  const auto& train = summary["splits"]["train"];
  EXPECT_EQ(train["records"], 600);
  EXPECT_EQ(train["first_key"], 0);
  EXPECT_EQ(train["last_key"], 599);
  EXPECT_EQ(train["sample"]["shape"], json::array({1, 28, 28}));
  EXPECT_EQ(train["metadata"]["name"], "fashion-mnist/train");
  EXPECT_TRUE(train["verify"]["ok"].get<bool>());
  EXPECT_EQ(summary["splits"]["test"]["records"], 150);
  const auto text = trainbench("data inspect " + packed + "/test/shard-00000.tbs", dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("verified OK"), std::string::npos) << text.out;

  // Training on the shards is training on the IDX files, bit for bit.
  const auto db = " --db " + (dir / "s.db").string();
  const auto common =
      project_path("fashion_mlp.json") + " --set train.epochs=1 --set train.threads=1 --json" + db;
  const auto on_idx =
      trainbench("run " + common + " --set data.path=" + (dir / "idx").string(), dir);
  const auto on_shards =
      trainbench("run " + common + " --set data.dataset=shards --set data.path=" + packed, dir);
  ASSERT_EQ(on_idx.exit_code, 0) << on_idx.err;
  ASSERT_EQ(on_shards.exit_code, 0) << on_shards.err;
  const auto a = json::parse(on_idx.out), b = json::parse(on_shards.out);
  EXPECT_EQ(a["test_accuracy"], b["test_accuracy"]);
  EXPECT_EQ(a["train_loss"], b["train_loss"]);

  // Bad input: one line, exit 2, naming what is wrong.
  const auto again = trainbench("data pack " + (dir / "idx").string() + " -o " + packed, dir);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already holds shards"), std::string::npos) << again.err;
  const auto size = trainbench(
      "data pack " + (dir / "idx").string() + " -o " + (dir / "o2").string() + " --shard-size 5XB",
      dir);
  EXPECT_EQ(size.exit_code, 2);
  EXPECT_NE(size.err.find("--shard-size"), std::string::npos) << size.err;
  const auto missing = trainbench("data pack /nonexistent -o " + (dir / "o3").string(), dir);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent"), std::string::npos) << missing.err;

  const auto shard = dir / "packed" / "train" / "shard-00000.tbs";
  std::fstream corrupt(shard, std::ios::in | std::ios::out | std::ios::binary);
  corrupt.seekp(1000);  // inside a record, past the header and its metadata
  corrupt.put('\x7f');
  corrupt.close();
  const auto bad = trainbench("data inspect " + packed, dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find(shard.string() + ": at byte "), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("checksum"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  const auto bad_run =
      trainbench("run " + common + " --set data.dataset=shards --set data.path=" + packed, dir);
  EXPECT_EQ(bad_run.exit_code, 1);
  EXPECT_NE(bad_run.err.find("checksum"), std::string::npos) << bad_run.err;
}

// tune-loader trains briefly with each worker count and prefetch depth: every trial runs, the
// list is sorted fastest first, and the best setting is the first row.
TEST(Cli, TuneLoaderTriesEachSettingAndNamesTheFastest) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "data", 512, 64, 4);
  std::ofstream(dir / "tiny.json")
      << R"({"name": "tiny", "data": {"path": ")" << (dir / "data").string()
      << R"(", "batch_size": 32}, "model": {"hidden": [16]}, "train": {"threads": 1}})";
  const auto tune =
      trainbench("tune-loader " + (dir / "tiny.json").string() + " --seconds 0.2 --json", dir);
  ASSERT_EQ(tune.exit_code, 0) << tune.err;
  const auto out = json::parse(tune.out);
  const auto& trials = out["trials"];
  ASSERT_GE(trials.size(), 5u);  // workers 0; 1 and 2 with prefetch 2 and 8
  for (std::size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i]["error"], "") << trials[i].dump();
    EXPECT_GT(trials[i]["samples_per_s"].get<double>(), 0.0);
    EXPECT_GE(trials[i]["data_wait_share"].get<double>(), 0.0);
    EXPECT_LT(trials[i]["data_wait_share"].get<double>(), 1.0);
    if (i > 0) {
      EXPECT_LE(trials[i]["samples_per_s"].get<double>(),
                trials[i - 1]["samples_per_s"].get<double>());
    }
  }
  EXPECT_EQ(out["best"]["workers"], trials[0]["workers"]);
  EXPECT_EQ(out["best"]["prefetch"], trials[0]["prefetch"]);
  // Streaming: worker counts from 1, and `run` says what the stream read and left out.
  const auto stream_tune = trainbench("tune-loader " + (dir / "tiny.json").string() +
                                          " --seconds 0.2 --json --set data.loader.mode=stream",
                                      dir);
  ASSERT_EQ(stream_tune.exit_code, 0) << stream_tune.err;
  for (const auto& trial : json::parse(stream_tune.out)["trials"]) {
    EXPECT_GE(trial["workers"].get<int>(), 1);
    EXPECT_EQ(trial["error"], "") << trial.dump();
  }
  const auto stream_run = trainbench(
      "run " + (dir / "tiny.json").string() +
          " --set data.loader.mode=stream --set train.epochs=1 --db " + (dir / "s.db").string(),
      dir);
  ASSERT_EQ(stream_run.exit_code, 0) << stream_run.err;
  EXPECT_NE(stream_run.out.find("stream: 512 records read, "), std::string::npos) << stream_run.out;
  const auto synthetic = trainbench("tune-loader " + project_path("sparse_bow.json"), dir);
  EXPECT_EQ(synthetic.exit_code, 2);
  EXPECT_NE(synthetic.err.find("generated"), std::string::npos) << synthetic.err;
}

TEST(Cli, ExportTraceWritesTheSessionAsChromeTraceJson) {
  TempDir dir;
  write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  const auto run = trainbench("run " + (dir / "tiny.json").string() + " --json --db " + db, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto id = json::parse(run.out)["session_id"].get<std::int64_t>();
  const auto file = dir / "trace.json";
  const auto exported = trainbench(
      "export-trace " + std::to_string(id) + " -o " + file.string() + " --db " + db, dir);
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.out.find("spans"), std::string::npos) << exported.out;

  std::ifstream in(file);
  const auto doc = json::parse(in);
  std::size_t spans = 0;
  std::set<std::string> tracks, counters;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") ++spans;
    if (e["ph"] == "C") counters.insert(e["name"].get<std::string>());
    if (e["ph"] == "M" && e["name"] == "thread_name") tracks.insert(e["args"]["name"]);
  }
  store::SessionStore store(dir / "s.db", store::SessionStore::Mode::read_only);
  EXPECT_EQ(spans, store::load_trace(store, store::SessionId{id}).spans().size());
  EXPECT_GT(spans, 8u);  // a data, forward, backward, optimizer span per step at least
  // A worker's row: which of the two decoded first depends on scheduling (on a loaded machine
  // one may take every batch of so short a run).
  EXPECT_TRUE(std::any_of(tracks.begin(), tracks.end(), [](const std::string& t) {
    return t.rfind("loader worker ", 0) == 0;
  })) << doc["traceEvents"].size();
  EXPECT_TRUE(counters.contains("train_loss"));
  EXPECT_TRUE(counters.contains("loader_queue_depth"));
  EXPECT_EQ(doc["otherData"]["name"], "tiny");
  EXPECT_EQ(doc["otherData"]["params"]["loader.mode"], "batch");

  const auto missing = trainbench("export-trace 999 -o " + file.string() + " --db " + db, dir);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no session 999"), std::string::npos) << missing.err;
}

TEST(Cli, DevicesListsTheCpu) {
  TempDir dir;
  const auto devices = trainbench("devices --json", dir);
  ASSERT_EQ(devices.exit_code, 0) << devices.err;
  const auto list = json::parse(devices.out);
  EXPECT_EQ(list["devices"][0]["device"], "cpu");
  EXPECT_TRUE(list.contains("cuda"));
  if (list["devices"].size() == 1) {
    EXPECT_EQ(list["auto"], "cpu");  // no GPU: auto is the CPU
  }
}

TEST(Cli, DeviceCudaWithoutAGpuFailsInOneLineAndAutoRunsOnTheCpu) {
  TempDir dir;
  const auto devices = json::parse(trainbench("devices --json", dir).out);
  if (devices["devices"].size() > 1) GTEST_SKIP() << "a GPU is here: cuda would run";
  tb::testing::write_synthetic_fashion_mnist(dir / "data", 128, 32, 4);
  for (const char* device : {"cuda", "auto"}) {
    std::ofstream(dir / "p.json") << R"({"name": "p", "device": ")" << device
                                  << R"(", "data": {"path": ")" << (dir / "data").string()
                                  << R"(", "batch_size": 32}, "model": {"hidden": [8]},
                                         "train": {"threads": 1, "epochs": 1}})";
    const auto run =
        trainbench("run " + (dir / "p.json").string() + " --db " + (dir / "s.db").string(), dir);
    if (std::string(device) == "cuda") {
      EXPECT_NE(run.exit_code, 0);
      // This build may or may not have CUDA; either way one line says why and what to use.
      const auto at = run.err.find("device \"cuda\": ");
      ASSERT_NE(at, std::string::npos) << run.err;
      const auto line_end = run.err.find('\n', at);
      EXPECT_NE(run.err.substr(at, line_end - at).find("use \"cpu\" or \"auto\""),
                std::string::npos)
          << run.err;
    } else {
      EXPECT_EQ(run.exit_code, 0) << run.err;
    }
  }
}

TEST(Cli, ProfileBreaksDownTheStepsAndJudgesThemAndTraceDiffComparesTwo) {
  TempDir dir;
  write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  std::vector<std::int64_t> ids;
  for (const char* workers : {"0", "2"}) {
    const auto run = trainbench("run " + (dir / "tiny.json").string() +
                                    " --json --set data.loader.workers=" + workers + " --db " + db,
                                dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    ids.push_back(json::parse(run.out)["session_id"].get<std::int64_t>());
  }
  const auto profile = trainbench("profile " + std::to_string(ids[0]) + " --json --db " + db, dir);
  ASSERT_EQ(profile.exit_code, 0) << profile.err;
  const auto out = json::parse(profile.out);
  EXPECT_EQ(out["session_id"], ids[0]);
  EXPECT_EQ(out["loader_workers"], 0);
  ASSERT_EQ(out["steps"].size(), 8u);  // 256 samples in batches of 32
  for (const auto& step : out["steps"]) {
    std::int64_t sum = 0;
    for (const auto& [part, ns] : step["parts_ns"].items()) sum += ns.get<std::int64_t>();
    EXPECT_EQ(sum, step["duration_ns"].get<std::int64_t>()) << step.dump();
    EXPECT_GT(step["duration_ns"].get<std::int64_t>(), 0);
  }
  double shares = 0.0;
  for (const auto& [part, share] : out["mean_parts_share"].items()) shares += share.get<double>();
  EXPECT_NEAR(shares, 1.0, 1e-9);
  EXPECT_EQ(out["warmup_steps_skipped"], 1);
  EXPECT_TRUE(out["gpu_idle_share"].is_null());  // a CPU run has no device tracks
  // The engine's own phase spans: forward and backward take time in every run.
  EXPECT_GT(out["mean_parts_ns"]["forward"].get<double>(), 0.0);
  EXPECT_GT(out["mean_parts_ns"]["backward"].get<double>(), 0.0);
  const std::set<std::string> bounds = {"input-bound",        "compute-bound", "memory-bound",
                                        "launch-bound",       "balanced",      "unknown",
                                        "communication-bound"};
  const auto& verdict = out["verdict"];
  EXPECT_TRUE(bounds.contains(verdict["bound"].get<std::string>())) << verdict.dump();
  EXPECT_NE(verdict["bound"], "unknown");
  EXPECT_FALSE(verdict["headline"].get<std::string>().empty());
  EXPECT_GE(verdict["evidence"].size(), 2u);
  EXPECT_FALSE(out["top_host_ops"].empty());
  EXPECT_EQ(out["top_device_ops"].size(), 0u);
  // The text form lists only the slowest steps when asked for fewer than there are.
  const auto slowest =
      trainbench("profile " + std::to_string(ids[0]) + " --steps 3 --db " + db, dir);
  ASSERT_EQ(slowest.exit_code, 0) << slowest.err;
  EXPECT_NE(slowest.out.find("the 3 slowest of 8 steps"), std::string::npos) << slowest.out;

  const auto text = trainbench("profile " + std::to_string(ids[0]) + " --top 3 --db " + db, dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("mean step"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("verdict: "), std::string::npos) << text.out;

  const auto diff = trainbench(
      "trace-diff " + std::to_string(ids[0]) + " " + std::to_string(ids[1]) + " --json --db " + db,
      dir);
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  const auto diffs = json::parse(diff.out);
  ASSERT_FALSE(diffs["diffs"].empty());
  double previous = 1e300;
  for (const auto& d : diffs["diffs"]) {  // sorted by |delta per step|, largest first
    const double signed_delta = d["delta_per_step_ns"].get<double>();
    const double delta = signed_delta < 0 ? -signed_delta : signed_delta;
    EXPECT_LE(delta, previous);
    previous = delta;
  }
  const auto missing = trainbench("profile 999 --db " + db, dir);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no session 999"), std::string::npos) << missing.err;
}

// What CUPTI dropped is shown, not only stored: a session whose settings say CUPTI traced it
// (as run::DeviceProfiling stores them on a GPU; here added to a CPU run's session) gets a
// CUPTI line in `trainbench profile` and, with dropped records, a warning in the verdict.
TEST(Cli, ProfileShowsTheRecordsCuptiTracedAndDropped) {
  TempDir dir;
  write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    const auto run = trainbench("run " + (dir / "tiny.json").string() + " --json --db " + db, dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const auto result = json::parse(run.out);
    EXPECT_FALSE(result.contains("cupti")) << run.out;  // a CPU run is not traced with CUPTI
    ids.push_back(std::to_string(result["session_id"].get<std::int64_t>()));
  }
  // A CPU run's profile.cupti is the project's "true": no CUPTI outcome to show.
  const auto untraced = trainbench("profile " + ids[0] + " --json --db " + db, dir);
  ASSERT_EQ(untraced.exit_code, 0) << untraced.err;
  EXPECT_TRUE(json::parse(untraced.out)["cupti"].is_null()) << untraced.out;
  {
    store::SessionStore store(db);
    store.add_params(store::SessionId{std::stoll(ids[0])},
                     {{"profile.cupti", "on"},
                      {"profile.cupti_records", "1200"},
                      {"profile.cupti_dropped_records", "34"}});
    store.add_params(store::SessionId{std::stoll(ids[1])},
                     {{"profile.cupti", "on"},
                      {"profile.cupti_records", "500"},
                      {"profile.cupti_dropped_records", "0"}});
  }

  const auto text = trainbench("profile " + ids[0] + " --db " + db, dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("\nCUPTI: 1200 records traced, 34 dropped: the kernel timeline is "
                          "incomplete\n"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("  - CUPTI dropped 34 records: the kernel timeline is incomplete"),
            std::string::npos)
      << text.out;
  const auto doc = json::parse(trainbench("profile " + ids[0] + " --json --db " + db, dir).out);
  EXPECT_EQ(doc["cupti"], (json{{"on", true}, {"records", 1200}, {"dropped_records", 34}}));
  EXPECT_EQ(doc["verdict"]["evidence"].back(),
            "CUPTI dropped 34 records: the kernel timeline is incomplete, so the GPU idle, kernel "
            "and gap figures are approximate");

  // Traced without a drop: the count, and no warning.
  const auto complete = trainbench("profile " + ids[1] + " --db " + db, dir);
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_NE(complete.out.find("\nCUPTI: 500 records traced, none dropped\n"), std::string::npos)
      << complete.out;
  EXPECT_EQ(complete.out.find("CUPTI dropped"), std::string::npos) << complete.out;

  // Asked for and not traced: why.
  store::SessionStore(db).add_params(store::SessionId{std::stoll(ids[1])},
                                     {{"profile.cupti", "off: another profiler holds CUPTI"}});
  const auto off = trainbench("profile " + ids[1] + " --db " + db, dir);
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_NE(off.out.find("\nCUPTI: off: another profiler holds CUPTI\n"), std::string::npos)
      << off.out;
}

// A small Kineto trace: a step, an op, a launch and its kernel joined by a flow, a memory point,
// and an instant event that is not memory (skipped and counted).
const char* kSmallKinetoTrace = R"({"schemaVersion": 1, "traceEvents": [
  {"ph": "M", "name": "thread_name", "pid": 0, "tid": 7, "args": {"name": "stream 7"}},
  {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 10, "tid": 10, "ts": 100, "dur": 50},
  {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 10, "tid": 10, "ts": 101.5, "dur": 10},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 10, "tid": 10, "ts": 103, "dur": 2},
  {"ph": "s", "id": 1, "pid": 10, "tid": 10, "ts": 103, "cat": "ac2g", "name": "ac2g"},
  {"ph": "X", "cat": "kernel", "name": "sgemm", "pid": 0, "tid": 7, "ts": 106, "dur": 4.25},
  {"ph": "f", "id": 1, "pid": 0, "tid": 7, "ts": 106, "cat": "ac2g", "name": "ac2g", "bp": "e"},
  {"ph": "i", "s": "t", "name": "[memory]", "pid": 10, "tid": 10, "ts": 104, "args": {"Device Type": 1, "Device Id": 0, "Total Allocated": 2048, "Total Reserved": 4096}},
  {"ph": "i", "s": "g", "name": "Record Window End", "pid": "", "tid": "", "ts": 200}
]})";

// The kernel table of an imported trace: the one sgemm with its launch; a run without kernels
// says so; a missing session is bad input.
TEST(Cli, KernelsListsTheKernelTableOfASession) {
  TempDir dir;
  const auto file = dir / "small.pt.trace.json";
  std::ofstream(file) << kSmallKinetoTrace;
  const std::string db = (dir / "s.db").string();
  const auto imported = trainbench("import-trace " + file.string() + " --json --db " + db, dir);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const auto id = json::parse(imported.out)["session_id"].get<std::int64_t>();

  const auto listed = trainbench("kernels " + std::to_string(id) + " --json --db " + db, dir);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto kernels = json::parse(listed.out)["kernels"];
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0]["name"], "sgemm");
  EXPECT_EQ(kernels[0]["count"], 1);
  EXPECT_EQ(kernels[0]["total_ns"], 4250);
  EXPECT_DOUBLE_EQ(kernels[0]["share"].get<double>(), 1.0);

  const auto text = trainbench("kernels " + std::to_string(id) + " --db " + db, dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("sgemm"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("occ%"), std::string::npos) << text.out;

  const auto missing = trainbench("kernels 999 --db " + db, dir);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no session 999"), std::string::npos) << missing.err;
}

TEST(Cli, ImportTraceStoresAProfilerTraceAsASessionThatExportsBack) {
  TempDir dir;
  const auto file = dir / "small.pt.trace.json";
  std::ofstream(file) << kSmallKinetoTrace;
  const std::string db = (dir / "s.db").string();

  const auto imported = trainbench("import-trace " + file.string() + " --json --db " + db, dir);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const auto result = json::parse(imported.out);
  const auto id = result["session_id"].get<std::int64_t>();
  EXPECT_EQ(result["spans"], 4);
  EXPECT_EQ(result["steps"], 1);
  EXPECT_EQ(result["flows"], 1);
  EXPECT_EQ(result["memory_points"], 1);
  EXPECT_EQ(result["tracks"], 2);
  EXPECT_EQ(result["source"], "pytorch-kineto");
  EXPECT_EQ(result["skipped"]["instant event"], 1);
  EXPECT_EQ(result["name"], "small.pt.trace.json");

  const auto named = trainbench("import-trace " + file.string() + " --name mine --db " + db, dir);
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_NE(named.out.find("imported " + file.string() + " as session " + std::to_string(id + 1) +
                           ": 4 spans on 2 tracks, 1 steps, 1 flows, 1 memory points; skipped: "
                           "1 instant event"),
            std::string::npos)
      << named.out;
  {
    store::SessionStore store(dir / "s.db", store::SessionStore::Mode::read_only);
    const auto session = store.session(store::SessionId{id + 1});
    ASSERT_TRUE(session.has_value());
    EXPECT_EQ(session->name, "mine");
    EXPECT_EQ(session->status, "completed");
    EXPECT_EQ(json::parse(session->summary_json)["spans"], 4);
    const auto stored = store::load_trace(store, store::SessionId{id});
    EXPECT_EQ(stored.spans().size(), 4u);
    EXPECT_EQ(stored.flows().size(), 1u);
    EXPECT_EQ(stored.metadata["schemaVersion"], 1);
  }

  // Export: Chrome trace JSON with the tracks named, the flow and the memory counter kept.
  const auto exported_file = dir / "back.json.gz";
  const auto exported = trainbench(
      "export-trace " + std::to_string(id) + " -o " + exported_file.string() + " --db " + db, dir);
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto plain_file = dir / "back.json";
  ASSERT_EQ(
      trainbench(
          "export-trace " + std::to_string(id) + " -o " + plain_file.string() + " --db " + db, dir)
          .exit_code,
      0);
  std::ifstream in(plain_file);
  const auto doc = json::parse(in);
  std::map<std::string, int> phases;
  std::set<std::string> threads, counters;
  for (const auto& e : doc["traceEvents"]) {
    ++phases[e["ph"].get<std::string>()];
    if (e["ph"] == "M" && e["name"] == "thread_name") threads.insert(e["args"]["name"]);
    if (e["ph"] == "C") counters.insert(e["name"].get<std::string>());
  }
  EXPECT_EQ(phases["X"], 4);
  EXPECT_EQ(phases["s"], 1);
  EXPECT_EQ(phases["f"], 1);
  EXPECT_TRUE(threads.contains("stream 7"));
  EXPECT_TRUE(counters.contains("memory allocated (cuda:0)"));

  // ... and the export imports back with every span.
  const auto again =
      trainbench("import-trace " + exported_file.string() + " --json --db " + db, dir);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const auto back = json::parse(again.out);
  EXPECT_EQ(back["source"], "trainbench");
  EXPECT_EQ(back["spans_by_category"], result["spans_by_category"]);
  EXPECT_EQ(back["flows"], 1);
  EXPECT_EQ(back["skipped"], json::object());

  // A file that is not a trace: exit 2, one line naming the file.
  std::ofstream(dir / "broken.json") << R"({"traceEvents": [{"ph": "X",)";
  const auto broken =
      trainbench("import-trace " + (dir / "broken.json").string() + " --db " + db, dir);
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_NE(broken.err.find((dir / "broken.json").string()), std::string::npos) << broken.err;
  EXPECT_NE(broken.err.find("malformed JSON at byte"), std::string::npos) << broken.err;
  EXPECT_EQ(std::count(broken.err.begin(), broken.err.end(), '\n'), 1) << broken.err;

  const auto help = trainbench("import-trace --help", dir);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--name"), std::string::npos) << help.out;

  // A real profiler trace, where the shared fixtures are present.
  const auto resnet = std::filesystem::path(TRAINBENCH_SOURCE_DIR) / ".." / "shared" / "fixtures" /
                      "resnet50_gpu_workers0.pt.trace.json.gz";
  if (std::filesystem::exists(resnet)) {
    const auto real = trainbench("import-trace " + resnet.string() + " --json --db " + db, dir);
    ASSERT_EQ(real.exit_code, 0) << real.err;
    EXPECT_EQ(json::parse(real.out)["steps"], 6);
  }
}

}  // namespace
}  // namespace tb::app
