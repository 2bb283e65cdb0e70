// Data parallelism end to end through the Runner, on 2 and 4 ranks: N ranks of batch b end with
// the parameters one process of batch N*b ends with, with buckets that start during backward
// and with one bucket started after it, on a training set whose last global batch leaves some
// ranks a short slice and some none.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::TempDir;

std::map<std::string, std::vector<float>> final_parameters(const std::filesystem::path& db,
                                                           store::SessionId session) {
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto checkpoint = store.checkpoint(session);
  std::map<std::string, std::vector<float>> parameters;
  if (!checkpoint) return parameters;
  for (const auto& t : checkpoint->tensors) {
    if (t.name.starts_with("model/")) parameters[t.name] = t.values;
  }
  return parameters;
}

class MpiDataParallel : public ::testing::TestWithParam<double> {
 protected:
  void SetUp() override {
    world_ = dist::make_mpi_communicator();
    // Every rank writes the same generated set (same seed) into its own folder. 1000 samples in
    // global batches of 16 * N: the last one is 8 (N = 2) or 40 (N = 4) samples, so rank 1 (or
    // ranks 2 and 3) get a short or empty slice.
    tb::testing::write_synthetic_fashion_mnist(dir_.path(), 1000, 200);
    project_.name = "data-parallel";
    project_.data.path = dir_.path().string();
    project_.data.batch_size = 16;
    project_.model.hidden = {48, 24};
    project_.optimizer.type = "adam";
    project_.optimizer.lr = 0.003;
    project_.train.epochs = 2;
    project_.train.threads = 1;
    project_.train.eval_batch_size = 200;
    project_.train.checkpoint = "end";
  }
  std::unique_ptr<dist::Communicator> world_;
  TempDir dir_;
  Project project_;
};

TEST_P(MpiDataParallel, NRanksOfBatchBTrainAsOneProcessOfBatchNB) {
  const int n = world_->size();
  const auto db = dir_ / "sessions.db";
  Project parallel = project_;
  parallel.parallel.data = n;
  parallel.parallel.bucket_mib = GetParam();
  parallel.parallel.timeout_s = 120;
  RunOptions options;
  options.db_path = db;
  options.communicator = world_.get();
  const auto result = Runner(parallel, options).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_EQ(result.ranks, n);
  EXPECT_EQ(result.steps, 2 * ((1000 + 16 * n - 1) / (16 * n)));
  if (GetParam() < 0.01) {
    // Several buckets: the all-reduces ran, and some of their time was under backward.
    EXPECT_GT(result.communication_s, 0.0);
  }
  world_->barrier();
  if (world_->rank() != 0) {
    EXPECT_FALSE(result.session.valid());  // rank 0 alone stores the session
    world_->barrier();
    return;
  }
  Project single = project_;
  single.data.batch_size = 16 * n;
  RunOptions single_options;
  single_options.db_path = db;
  const auto local = dist::make_local_communicator();
  single_options.communicator = local.get();
  const auto reference = Runner(single, single_options).run();
  ASSERT_EQ(reference.status, "completed") << reference.error;
  EXPECT_EQ(reference.steps, result.steps);
  EXPECT_NEAR(result.train_loss, reference.train_loss, 1e-4 * std::abs(reference.train_loss));

  // Every rank's tracks are in rank 0's session: rank r's in process "trainbench rank r", its
  // training loop and (with buckets started during backward) its all-reduces' thread.
  {
    store::SessionStore store(db, store::SessionStore::Mode::read_only);
    const auto trace = store::load_trace(store, result.session);
    for (int r = 1; r < n; ++r) {
      std::size_t engine_spans = 0, communication_spans = 0;
      for (const auto& span : trace.spans()) {
        const auto& track = trace.track(span.track);
        if (track.rank != r || track.process != "trainbench rank " + std::to_string(r)) continue;
        if (track.name == "engine" && span.category == trace::Category::step) ++engine_spans;
        if (span.category == trace::Category::communication) ++communication_spans;
      }
      EXPECT_EQ(engine_spans, static_cast<std::size_t>(result.steps)) << "rank " << r;
      if (GetParam() < 0.01) {
        EXPECT_GE(communication_spans, static_cast<std::size_t>(result.steps)) << "rank " << r;
      }
    }
  }

  const auto got = final_parameters(db, result.session);
  const auto want = final_parameters(db, reference.session);
  ASSERT_EQ(got.size(), 6u);  // three Linear layers' weights and biases
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, values] : want) {
    const auto& other = got.at(name);
    ASSERT_EQ(other.size(), values.size()) << name;
    double worst = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(other[i] - values[i])));
    }
    // Adam's steps are about lr each: fp32 sums in another order move a weight by far less.
    EXPECT_LT(worst, 2e-4) << name << ": the largest difference after " << result.steps << " steps";
  }
  world_->barrier();
}

// Buckets of 4 KiB (several, started during backward) and of 64 MiB (one, started at the end).
INSTANTIATE_TEST_SUITE_P(Buckets, MpiDataParallel, ::testing::Values(0.004, 64.0));

TEST(MpiDataParallelErrors, AWorldOfTheWrongSizeFailsBeforeTraining) {
  // A failed parallel run ends the whole job (abort), so the size check is asked of a world of
  // one that the project says should be two.
  Project project;
  project.parallel.data = 2;
  const auto local = dist::make_local_communicator();
  RunOptions options;
  options.communicator = local.get();
  const auto result = Runner(project, options).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("the project trains on 2 rank(s)"), std::string::npos)
      << result.error;
  EXPECT_NE(result.error.find("1 process(es) were started"), std::string::npos) << result.error;
}

}  // namespace
}  // namespace tb::run
