// Pipeline stages and tensor-parallel layers through the Runner (parallel.pipeline.stages and
// parallel.tensor at the world's size, 2 and 4 ranks): the run ends where one process training
// the unsplit model on the same batches ends (losses and test accuracy), and stores the
// pipeline's predicted and measured bubble.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/dist/communicator.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::TempDir;

class MpiModelParallelRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = dist::make_mpi_communicator();
    tb::testing::write_synthetic_fashion_mnist(dir_.path(), 600, 120);
    project_.name = "model-parallel";
    project_.data.path = dir_.path().string();
    project_.data.batch_size = 40;
    project_.model.hidden = {32, 24, 16};  // 8 layers; hidden pairs divisible by 4 ranks
    project_.optimizer.type = "adam";
    project_.optimizer.lr = 0.003;
    project_.train.epochs = 2;
    project_.train.threads = 1;
    project_.train.eval_batch_size = 120;
  }

  // The parallel run on every rank, then the unsplit reference on rank 0, compared there.
  void expect_same_as_one_process(const Project& parallel) {
    const auto db = dir_ / "sessions.db";
    RunOptions options;
    options.db_path = db;
    options.communicator = world_.get();
    const auto result = Runner(parallel, options).run();
    ASSERT_EQ(result.status, "completed") << result.error;
    world_->barrier();
    if (world_->rank() == 0) {
      const auto local = dist::make_local_communicator();
      RunOptions single;
      single.db_path = db;
      single.communicator = local.get();
      const auto reference = Runner(project_, single).run();
      ASSERT_EQ(reference.status, "completed") << reference.error;
      EXPECT_EQ(result.steps, reference.steps);
      EXPECT_NEAR(result.train_loss, reference.train_loss, 1e-4 * reference.train_loss);
      EXPECT_NEAR(result.test_loss, reference.test_loss, 1e-4 * reference.test_loss);
      EXPECT_NEAR(result.test_accuracy, reference.test_accuracy, 1.0 / 120 + 1e-9);
      stored_ =
          store::SessionStore(db, store::SessionStore::Mode::read_only).params(result.session);
    }
    world_->barrier();
  }

  std::string stored(const std::string& key) const {
    for (const auto& [k, v] : stored_) {
      if (k == key) return v;
    }
    return "";
  }

  std::unique_ptr<dist::Communicator> world_;
  TempDir dir_;
  Project project_;
  store::Params stored_;
};

TEST_F(MpiModelParallelRunner, PipelineStagesTrainAsTheUnsplitModel) {
  for (const char* schedule : {"gpipe", "1f1b"}) {
    Project parallel = project_;
    parallel.parallel.pipeline.stages = world_->size();
    parallel.parallel.pipeline.microbatches = 4;
    parallel.parallel.pipeline.schedule = schedule;
    expect_same_as_one_process(parallel);
    if (world_->rank() == 0) {
      const double p = world_->size(), m = 4;
      EXPECT_NEAR(std::stod(stored("parallel.pipeline.predicted_bubble")), (p - 1) / (m + p - 1),
                  1e-6);
      const double measured = std::stod(stored("parallel.pipeline.measured_bubble"));
      EXPECT_GT(measured, 0.0) << schedule;
      EXPECT_LT(measured, 1.0) << schedule;
    }
  }
}

TEST_F(MpiModelParallelRunner, TensorParallelLayersTrainAsTheUnsplitModel) {
  Project parallel = project_;
  parallel.parallel.tensor = world_->size();
  expect_same_as_one_process(parallel);
  if (world_->rank() == 0) {
    EXPECT_EQ(stored("parallel.ranks"), std::to_string(world_->size()));
  }
}

}  // namespace
}  // namespace tb::run
