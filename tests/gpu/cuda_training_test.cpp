// End to end on the GPU: the runner trains the same project on "cuda" as on "cpu" and ends where
// the CPU ends (same data order and initial weights; fp32 sums in another order, so close, not
// bitwise). The real projects/fashion_mlp.json runs where Fashion-MNIST is found.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "tests/gpu/gpu_test_support.h"
#include "tests/support/test_data.h"

namespace tb::gpu::testing {
namespace {

run::RunResult train_on(run::Project project, const std::string& device,
                        const std::filesystem::path& db = {}) {
  register_cuda_backend();
  project.device = device;
  run::RunOptions options;
  options.db_path = db;
  run::Runner runner(std::move(project), options);
  return runner.run();
}

TEST(CudaTraining, SyntheticMlpEndsWhereTheCpuEnds) {
  TB_REQUIRE_GPU();
  tb::testing::TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 2048, 512);
  run::Project project;
  project.name = "synthetic";
  project.data.path = dir.path().string();
  project.data.batch_size = 64;
  project.model.hidden = {64, 32};
  project.train.epochs = 3;
  const auto cpu_run = train_on(project, "cpu");
  const auto gpu_run = train_on(project, "cuda", dir / "s.db");
  ASSERT_EQ(cpu_run.status, "completed") << cpu_run.error;
  ASSERT_EQ(gpu_run.status, "completed") << gpu_run.error;
  EXPECT_EQ(gpu_run.steps, cpu_run.steps);
  // The caching allocator's memory: reserved covers what was allocated, stored per step.
  EXPECT_GE(gpu_run.peak_reserved_bytes, gpu_run.peak_memory_bytes);
  EXPECT_GT(gpu_run.peak_memory_bytes, 0);
  EXPECT_EQ(cpu_run.peak_reserved_bytes, 0);
  const store::SessionStore sessions(dir / "s.db", store::SessionStore::Mode::read_only);
  EXPECT_EQ(sessions.metrics(gpu_run.session, "memory_reserved_bytes").size(),
            static_cast<std::size_t>(gpu_run.steps));
  EXPECT_NEAR(gpu_run.train_loss, cpu_run.train_loss, 1e-3 * std::max(1.0, cpu_run.train_loss));
  EXPECT_NEAR(gpu_run.test_accuracy, cpu_run.test_accuracy, 2.0 / 512);  // a sample or two
}

TEST(CudaTraining, SyntheticCnnInBf16EndsNearTheCpu) {
  TB_REQUIRE_GPU();
  tb::testing::TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 1024, 256);
  auto project = run::Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) / "projects" /
                                    "fashion_cnn.json");
  project.data.path = dir.path().string();
  project.precision = "bf16";
  project.train.epochs = 2;
  const auto cpu_run = train_on(project, "cpu");
  const auto gpu_run = train_on(project, "cuda");
  ASSERT_EQ(cpu_run.status, "completed") << cpu_run.error;
  ASSERT_EQ(gpu_run.status, "completed") << gpu_run.error;
  // bf16 products round differently on Tensor Cores: the same learning, within a few percent.
  EXPECT_NEAR(gpu_run.test_accuracy, cpu_run.test_accuracy, 0.05);
}

// The end-to-end check: projects/fashion_mlp.json on cuda reaches the CPU's accuracy.
// Fashion-MNIST is read from TRAINBENCH_FASHION_MNIST, else the Debian package's folder.
TEST(CudaTraining, FashionMlpProjectReachesTheCpuAccuracy) {
  TB_REQUIRE_GPU();
  const char* env = std::getenv("TRAINBENCH_FASHION_MNIST");
  const std::filesystem::path data = env ? env : "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(data / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "no Fashion-MNIST at " << data << " (set TRAINBENCH_FASHION_MNIST)";
  }
  auto project = run::Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) / "projects" /
                                    "fashion_mlp.json");
  project.data.path = data.string();
  const auto cpu_run = train_on(project, "cpu");
  const auto gpu_run = train_on(project, "cuda");
  ASSERT_EQ(cpu_run.status, "completed") << cpu_run.error;
  ASSERT_EQ(gpu_run.status, "completed") << gpu_run.error;
  RecordProperty("cpu_accuracy", std::to_string(cpu_run.test_accuracy));
  RecordProperty("gpu_accuracy", std::to_string(gpu_run.test_accuracy));
  RecordProperty("gpu_samples_per_s", std::to_string(gpu_run.samples_per_s));
  EXPECT_GE(gpu_run.test_accuracy, cpu_run.test_accuracy - 0.005);
  EXPECT_GE(gpu_run.test_accuracy, 0.88);  // the project's target
}

}  // namespace
}  // namespace tb::gpu::testing
