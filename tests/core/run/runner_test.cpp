// The training loop on a small generated dataset: it learns, reports, stores, and stops.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/tensor/backend_registry.h"
#include "tests/support/run_support.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::TempDir;

class RecordingObserver : public RunObserver {
 public:
  void on_start(const RunInfo& i) override {
    info = i;
    ++starts;
  }
  void on_step(const StepReport& s) override { steps.push_back(s); }
  void on_epoch(const EpochReport& e) override { epochs.push_back(e); }
  void on_finish(const RunResult& r) override {
    result = r;
    ++finishes;
  }
  RunInfo info;
  std::vector<StepReport> steps;
  std::vector<EpochReport> epochs;
  RunResult result;
  int starts = 0, finishes = 0;
};

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tb::testing::write_synthetic_fashion_mnist(dir_.path(), 1024, 256);
    project_.name = "synthetic";
    project_.data.path = dir_.path().string();
    project_.data.batch_size = 64;
    project_.model.hidden = {32};
    project_.train.epochs = 3;
    project_.train.threads = 1;
  }
  TempDir dir_;
  Project project_;
};

TEST_F(RunnerTest, LearnsReportsAndStoresTheSession) {
  RecordingObserver observer;
  const auto db = dir_ / "s.db";
  Runner runner(project_, {db, &observer, "synthetic.json", {}, {}, {}});
  const auto result = runner.run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_EQ(observer.starts, 1);
  EXPECT_EQ(observer.finishes, 1);
  EXPECT_EQ(observer.info.steps_per_epoch, 16);
  EXPECT_EQ(observer.info.total_steps, 48);
  EXPECT_EQ(observer.info.parameters, 784 * 32 + 32 + 32 * 10 + 10);
  ASSERT_EQ(observer.steps.size(), 48u);
  ASSERT_EQ(observer.epochs.size(), 3u);
  EXPECT_EQ(result.steps, 48);
  EXPECT_EQ(result.epochs, 3);
  EXPECT_GT(result.test_accuracy, 0.9);  // a bar per class: easy to learn
  EXPECT_LT(observer.epochs.back().train_loss, observer.epochs.front().train_loss);
  EXPECT_LT(observer.steps.back().train_loss, observer.steps.front().train_loss);
  EXPECT_GT(result.samples_per_s, 0.0);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto session = store.session(result.session);
  ASSERT_TRUE(session);
  EXPECT_EQ(session->status, "completed");
  EXPECT_EQ(session->name, "synthetic");
  EXPECT_EQ(session->seed, 42u);
  EXPECT_FALSE(session->git_revision.empty());
  EXPECT_FALSE(session->host.empty());
  const auto summary = nlohmann::json::parse(session->summary_json);
  EXPECT_DOUBLE_EQ(summary["test_accuracy"].get<double>(), result.test_accuracy);
  EXPECT_EQ(store.metrics(result.session, "train_loss").size(), 48u);
  EXPECT_EQ(store.metrics(result.session, "test_accuracy").size(), 3u);
  EXPECT_EQ(store.metrics(result.session, "test_accuracy").back().step, 48);
  // On the engine's track, five spans a step (step, data, forward, backward, optimizer) and one
  // evaluation an epoch; on the loader workers' tracks, a decode span per batch they filled:
  // 48 training batches and the test set's batches at each of the 3 evaluations.
  const auto stored = store::load_trace(store, result.session);
  std::size_t engine = 0, decode = 0;
  for (const auto& s : stored.spans()) {
    EXPECT_LE(s.start_ns, s.end_ns);
    const auto& track = stored.track(s.track);
    EXPECT_EQ(track.process, "trainbench");
    if (track.name == "engine") ++engine;
    if (stored.name(s.name) == "decode") {
      ++decode;
      EXPECT_EQ(track.name.rfind("loader worker ", 0), 0u) << track.name;
      EXPECT_EQ(track.kind, trace::TrackKind::loader_worker);
      EXPECT_EQ(s.category, trace::Category::data);
    }
  }
  EXPECT_EQ(engine, 48u * 5 + 3);
  EXPECT_EQ(engine + decode, stored.spans().size());
  EXPECT_GE(decode, 48u + 3u);
  EXPECT_EQ(store.metrics(result.session, "loader_queue_depth").size(), 48u);
  const auto params = store.params(result.session);
  auto param = [&](const std::string& key) {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(param("dataset.train.fingerprint").rfind("crc32:", 0), 0u);
  EXPECT_NE(param("dataset.train.fingerprint"), param("dataset.test.fingerprint"));
  EXPECT_EQ(param("dataset.train.samples"), "1024");
  EXPECT_NE(param("env.eigen"), "<missing>");
  EXPECT_NE(param("env.sqlite"), "<missing>");
  EXPECT_NE(std::find(params.begin(), params.end(),
                      std::make_pair(std::string("data.batch_size"), std::string("64"))),
            params.end());
}

TEST_F(RunnerTest, CheckpointsHoldTheModelAndTheOptimizerState) {
  const auto db = dir_ / "s.db";
  project_.train.checkpoint = "epoch";
  const auto result = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(store.checkpoint_steps(result.session), (std::vector<std::int64_t>{16, 32, 48}));
  const auto last = store.checkpoint(result.session);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->step, 48);
  EXPECT_EQ(last->optimizer_step, 48);
  std::vector<std::string> names;
  std::size_t model_values = 0;
  for (const auto& t : last->tensors) {
    names.push_back(t.name);
    if (t.name.rfind("model/", 0) == 0) model_values += t.values.size();
    for (float v : t.values) ASSERT_TRUE(std::isfinite(v)) << t.name;
  }
  EXPECT_EQ(model_values, static_cast<std::size_t>(result.parameters));
  EXPECT_NE(std::find(names.begin(), names.end(), "model/1.weight"), names.end());
  // SGD with momentum keeps one velocity buffer per parameter.
  EXPECT_NE(std::find(names.begin(), names.end(), "optimizer/1.weight.momentum_buffer"),
            names.end())
      << ::testing::PrintToString(names);

  project_.train.checkpoint = "none";
  const auto plain = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  EXPECT_TRUE(store.checkpoint_steps(plain.session).empty());
}

TEST_F(RunnerTest, ResumingFromACheckpointGivesTheUninterruptedRun) {
  const auto db = dir_ / "s.db";
  project_.optimizer.type = "adam";
  project_.optimizer.lr = 1e-3;
  // Dropout draws a new mask every step: the resumed run must continue the same sequence.
  project_.model.dropout = 0.25;
  const auto straight = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(straight.status, "completed") << straight.error;

  // Interrupted inside the second epoch (step 21 of 16 per epoch), then resumed to the end.
  auto first_part = project_;
  first_part.train.max_steps = 21;
  first_part.train.checkpoint = "end";
  const auto part = Runner(first_part, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(part.steps, 21);
  RecordingObserver observer;
  RunOptions options{db, &observer, "", {}, {}, {}};
  options.resume_from = part.session;
  const auto resumed = Runner(project_, options).run();
  ASSERT_EQ(resumed.status, "completed") << resumed.error;
  EXPECT_EQ(resumed.steps, straight.steps);
  EXPECT_EQ(resumed.epochs, 3);
  EXPECT_EQ(observer.steps.size(), 48u - 21u);
  EXPECT_EQ(observer.steps.front().step, 22);
  // Same data order, same weights, same optimizer state: the same numbers, bit for bit.
  EXPECT_EQ(resumed.test_accuracy, straight.test_accuracy);
  EXPECT_EQ(resumed.test_loss, straight.test_loss);
  EXPECT_EQ(observer.epochs.back().train_loss, resumed.train_loss);
  EXPECT_GT(resumed.activation_bytes, 0);
  EXPECT_EQ(resumed.activation_bytes, straight.activation_bytes);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto params = store.params(resumed.session);
  EXPECT_NE(
      std::find(params.begin(), params.end(),
                std::make_pair(std::string("resumed_from"), std::to_string(part.session.value))),
      params.end());
}

TEST_F(RunnerTest, ResumingNeedsAFittingCheckpoint) {
  const auto db = dir_ / "s.db";
  project_.train.epochs = 1;
  const auto without = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  RunOptions options{db, nullptr, "", {}, {}, {}};
  options.resume_from = without.session;
  auto result = Runner(project_, options).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("no checkpoint"), std::string::npos) << result.error;

  project_.train.checkpoint = "end";
  const auto with = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  auto wider = project_;
  wider.model.hidden = {64};
  options.resume_from = with.session;
  result = Runner(wider, options).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("does not fit this model"), std::string::npos) << result.error;
}

TEST_F(RunnerTest, SameSeedSameResult) {
  project_.train.epochs = 1;
  const auto a = Runner(project_, {}).run();
  const auto b = Runner(project_, {}).run();
  EXPECT_EQ(a.train_loss, b.train_loss);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  project_.seed = 43;
  const auto c = Runner(project_, {}).run();
  EXPECT_NE(a.train_loss, c.train_loss);
}

TEST_F(RunnerTest, MaxStepsEndsInsideAnEpochAndStillEvaluates) {
  project_.train.max_steps = 10;
  RecordingObserver observer;
  const auto result = Runner(project_, {{}, &observer, "", {}, {}, {}}).run();
  EXPECT_EQ(result.status, "completed");
  EXPECT_EQ(result.steps, 10);
  EXPECT_EQ(result.epochs, 0);
  EXPECT_EQ(observer.info.total_steps, 10);
  EXPECT_EQ(observer.epochs.size(), 1u);
  EXPECT_GT(result.test_accuracy, 0.0);
}

TEST_F(RunnerTest, BackgroundRunStopsWhenAsked) {
  project_.train.epochs = 1000;
  class StopAfter : public RecordingObserver {
   public:
    void on_step(const StepReport& s) override {
      RecordingObserver::on_step(s);
      if (s.step == 5 && run) run->request_stop();
    }
    BackgroundRun* run = nullptr;
  } observer;
  const auto db = dir_ / "s.db";
  BackgroundRun run(project_, {db, &observer, "", {}, {}, {}});
  observer.run = &run;
  const auto result = run.wait();
  EXPECT_TRUE(run.finished());
  EXPECT_EQ(result.status, "stopped");
  EXPECT_GE(result.steps, 5);
  EXPECT_LT(result.steps, 16 * 3);
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(store.session(result.session)->status, "stopped");
  EXPECT_EQ(store.metrics(result.session, "train_loss").size(),
            static_cast<std::size_t>(result.steps));
}

TEST_F(RunnerTest, MissingDataFailsCleanlyAndIsStoredAsFailed) {
  project_.data.path = (dir_ / "nowhere").string();
  RecordingObserver observer;
  const auto db = dir_ / "s.db";
  const auto result = Runner(project_, {db, &observer, "", {}, {}, {}}).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("nowhere"), std::string::npos) << result.error;
  EXPECT_EQ(observer.finishes, 1);
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(store.session(result.session)->status, "failed");
}

TEST_F(RunnerTest, CudaWithoutBackendFailsWithOneClearLine) {
  project_.device = "cuda";
  const auto result = Runner(project_, {}).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("device \"cuda\": this build has no CUDA support"), std::string::npos)
      << result.error;
  EXPECT_EQ(result.error.find('\n'), std::string::npos);
}

TEST_F(RunnerTest, CudaWithoutAGpuFailsWithOneClearLineAndAutoFallsBackToTheCpu) {
  // A build with CUDA on a machine without a GPU, as the registered factory reports it.
  tensor::register_cuda_backend_factory(
      {[] { return std::string("no CUDA device"); },
       [](int) -> std::unique_ptr<tensor::Backend> { throw Error("not to be called"); }});
  project_.device = "cuda";
  const auto failed = Runner(project_, {}).run();
  EXPECT_EQ(failed.status, "failed");
  EXPECT_EQ(failed.error, "device \"cuda\": no CUDA device; use \"cpu\" or \"auto\"");

  testing::TempDir dir;
  const auto db = dir / "s.db";
  project_.device = "auto";
  const auto result = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  tensor::register_cuda_backend_factory({});
  ASSERT_EQ(result.status, "completed") << result.error;
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(tb::testing::param(store.params(result.session), "device.backend"), "cpu");
}

TEST_F(RunnerTest, CnnWithBatchNormTrains) {
  project_.model.type = "cnn";
  project_.model.conv = {{4, 3, 2, true}};
  project_.model.hidden = {16};
  project_.model.dropout = 0.1;
  project_.train.epochs = 2;
  const auto result = Runner(project_, {}).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_GT(result.test_accuracy, 0.8);
}

TEST_F(RunnerTest, DivergenceIsAFailureWithAHint) {
  project_.optimizer.lr = 900.0;
  // |1 - lr * weight_decay| = 899: the weights grow 899-fold a step and overflow.
  project_.optimizer.weight_decay = 1.0;
  const auto result = Runner(project_, {}).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("optimizer.lr"), std::string::npos) << result.error;
}

// bf16 learns as well as fp32 here, reports half the activation memory, and skips no step.
TEST_F(RunnerTest, Bf16LearnsAndStoresItsActivationMemory) {
  const auto db = dir_ / "bf16.db";
  const auto fp32 = Runner(project_, {}).run();
  project_.precision = "bf16";
  const auto bf16 = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(bf16.status, "completed") << bf16.error;
  EXPECT_EQ(bf16.precision, "bf16");
  EXPECT_GT(bf16.test_accuracy, 0.9);
  EXPECT_NEAR(bf16.test_accuracy, fp32.test_accuracy, 0.02);
  EXPECT_GT(fp32.activation_bytes, 0);
  EXPECT_LE(static_cast<double>(bf16.activation_bytes), 0.55 * fp32.activation_bytes);
  EXPECT_GT(bf16.activation_workspace_bytes, 0);
  EXPECT_EQ(fp32.activation_workspace_bytes, 0);
  EXPECT_EQ(bf16.skipped_steps, 0);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto memory = store.metrics(bf16.session, "activation_bytes");
  ASSERT_EQ(memory.size(), 1u);
  EXPECT_EQ(memory[0].value, static_cast<double>(bf16.activation_bytes));
  EXPECT_TRUE(store.metrics(bf16.session, "loss_scale").empty());  // bf16 needs no scaling
  const auto params = store.params(bf16.session);
  auto has = [&](const std::string& key, const std::string& value) {
    for (const auto& [k, v] : params)
      if (k == key) return v == value;
    return false;
  };
  EXPECT_TRUE(has("precision", "bf16"));
  EXPECT_TRUE(has("memory.activation_bytes", std::to_string(bf16.activation_bytes)));
  const auto summary = to_json(bf16);
  EXPECT_EQ(summary["activation_bytes"], bf16.activation_bytes);
}

// An fp16 loss scale far past fp16's range: the first steps overflow, are skipped, and back the
// scale off until it fits, each recorded as a metric; then the run trains normally.
TEST_F(RunnerTest, Fp16OverflowSkipsStepsAndBacksOffRecordingEach) {
  const auto db = dir_ / "fp16.db";
  project_.precision = "fp16";
  project_.amp.init_scale = 1e12;
  project_.amp.growth_interval = 20;
  const auto result = Runner(project_, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_GT(result.test_accuracy, 0.9);
  EXPECT_GT(result.skipped_steps, 5);
  EXPECT_LT(result.skipped_steps, 30);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto skipped = store.metrics(result.session, "skipped_steps");
  ASSERT_EQ(static_cast<std::int64_t>(skipped.size()), result.skipped_steps);
  for (std::size_t i = 0; i < skipped.size(); ++i) {
    EXPECT_EQ(skipped[i].value, static_cast<double>(i + 1));
  }
  const auto scale = store.metrics(result.session, "loss_scale");
  ASSERT_GE(scale.size(), skipped.size() + 1);
  EXPECT_EQ(scale[0].step, 0);
  EXPECT_EQ(scale[0].value, 1e12f);
  EXPECT_EQ(scale[1].step, 1);
  EXPECT_EQ(scale[1].value, 5e11f);  // backed off by the default 0.5
  // Growth after 20 clean steps in a row shows up too: 48 steps leave room for at least one.
  bool grew = false;
  for (std::size_t i = 1; i < scale.size(); ++i) grew |= scale[i].value > scale[i - 1].value;
  EXPECT_TRUE(grew);
}

}  // namespace
}  // namespace tb::run
