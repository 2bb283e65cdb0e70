// End to end on the GPU: the runner trains the same project on "cuda" as on "cpu" and ends where
// the CPU ends (same data order and initial weights; fp32 sums in another order, so close, not
// bitwise), in fp32, bf16 and fp16 with dynamic loss scaling; the allocator's reserved memory is
// stored per step and in the trace, never above the run's peak. The real projects/fashion_mlp.json
// runs where Fashion-MNIST is found.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "tests/gpu/gpu_test_support.h"
#include "tests/support/test_data.h"

namespace tb::gpu::testing {
namespace {

// A loss scale that makes the first steps' scaled gradients overflow fp16 (largest 65504): 2^28
// backs off to a scale that fits in a handful of skipped steps (5 of the CNN test's 32 on the
// CPU), leaving most of the run to train.
constexpr double kFp16OverflowingScale = 268435456.0;

run::RunResult train_on(run::Project project, const std::string& device,
                        const std::filesystem::path& db = {}) {
  register_cuda_backend();
  project.device = device;
  run::RunOptions options;
  options.db_path = db;
  run::Runner runner(std::move(project), options);
  return runner.run();
}

// A small MLP project over a synthetic Fashion-MNIST of train_count + test_count images, written
// into `dir`.
run::Project synthetic_mlp(const std::filesystem::path& dir, int train_count, int test_count,
                           int epochs) {
  tb::testing::write_synthetic_fashion_mnist(dir, train_count, test_count);
  run::Project project;
  project.name = "synthetic";
  project.data.path = dir.string();
  project.data.batch_size = 64;
  project.model.hidden = {64, 32};
  project.train.epochs = epochs;
  return project;
}

// projects/fashion_cnn.json over a synthetic Fashion-MNIST of 1024 + 256 images written into
// `dir`, in `precision`.
run::Project synthetic_cnn(const std::filesystem::path& dir, const std::string& precision,
                           int epochs) {
  tb::testing::write_synthetic_fashion_mnist(dir, 1024, 256);
  auto project = run::Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) / "projects" /
                                    "fashion_cnn.json");
  project.data.path = dir.string();
  project.precision = precision;
  project.train.epochs = epochs;
  return project;
}

TEST(CudaTraining, SyntheticMlpEndsWhereTheCpuEnds) {
  TB_REQUIRE_GPU();
  tb::testing::TempDir dir;
  const auto project = synthetic_mlp(dir.path(), 2048, 512, 3);
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
  const auto project = synthetic_cnn(dir.path(), "bf16", 2);
  const auto cpu_run = train_on(project, "cpu");
  const auto gpu_run = train_on(project, "cuda");
  ASSERT_EQ(cpu_run.status, "completed") << cpu_run.error;
  ASSERT_EQ(gpu_run.status, "completed") << gpu_run.error;
  // bf16 products round differently on Tensor Cores: the same learning, within a few percent.
  EXPECT_NEAR(gpu_run.test_accuracy, cpu_run.test_accuracy, 0.05);
}

// fp16 needs loss scaling: a scale past fp16's range makes the first steps' gradients overflow on
// both devices, and each run skips those steps, backs the scale off and then learns. The GPU sums
// in another order, so its gradients may come back within fp16's range a step or two apart from
// the CPU's, and the accuracy lands within a few percent.
TEST(CudaTraining, SyntheticCnnInFp16WithLossScalingEndsNearTheCpu) {
  TB_REQUIRE_GPU();
  tb::testing::TempDir dir;
  auto project = synthetic_cnn(dir.path(), "fp16", 4);
  project.amp.init_scale = kFp16OverflowingScale;
  const auto cpu_run = train_on(project, "cpu");
  const auto gpu_run = train_on(project, "cuda", dir / "s.db");
  ASSERT_EQ(cpu_run.status, "completed") << cpu_run.error;
  ASSERT_EQ(gpu_run.status, "completed") << gpu_run.error;
  EXPECT_EQ(gpu_run.precision, "fp16");
  EXPECT_EQ(gpu_run.steps, cpu_run.steps);
  RecordProperty("cpu_skipped_steps", std::to_string(cpu_run.skipped_steps));
  RecordProperty("gpu_skipped_steps", std::to_string(gpu_run.skipped_steps));
  EXPECT_GT(gpu_run.skipped_steps, 0);
  EXPECT_LE(std::abs(gpu_run.skipped_steps - cpu_run.skipped_steps), 2);
  EXPECT_LT(gpu_run.skipped_steps, gpu_run.steps / 4);  // then it trains
  // Every skip counted in the session, one metric point each.
  const store::SessionStore sessions(dir / "s.db", store::SessionStore::Mode::read_only);
  EXPECT_EQ(static_cast<std::int64_t>(sessions.metrics(gpu_run.session, "skipped_steps").size()),
            gpu_run.skipped_steps);
  EXPECT_NEAR(gpu_run.test_accuracy, cpu_run.test_accuracy, 0.05);
}

// After a run on the GPU: the allocator's reserved memory is stored at every step (as a metric and
// as the trace counter the memory plot draws), never 0 and never above the run's peak.
TEST(CudaTraining, ReservedMemoryIsStoredEachStepAndThePeakCoversIt) {
  TB_REQUIRE_GPU();
  tb::testing::TempDir dir;
  const auto project = synthetic_mlp(dir.path(), 1024, 256, 1);
  const auto run = train_on(project, "cuda", dir / "s.db");
  ASSERT_EQ(run.status, "completed") << run.error;
  EXPECT_GT(run.peak_reserved_bytes, 0);
  const store::SessionStore sessions(dir / "s.db", store::SessionStore::Mode::read_only);
  const auto reserved = sessions.metrics(run.session, "memory_reserved_bytes");
  ASSERT_EQ(reserved.size(), static_cast<std::size_t>(run.steps));
  for (const auto& point : reserved) {
    EXPECT_GT(point.value, 0.0) << "step " << point.step;
    EXPECT_LE(point.value, static_cast<double>(run.peak_reserved_bytes)) << "step " << point.step;
  }
  const auto trace = store::load_trace(sessions, run.session);
  const auto counter = trace.find_counter("memory reserved (cuda)");
  ASSERT_TRUE(counter.has_value());
  const auto& points = trace.counter(*counter).points;
  EXPECT_EQ(points.size(), reserved.size());
  for (const auto& p : points) {
    EXPECT_GT(p.value, 0.0);
    EXPECT_LE(p.value, static_cast<double>(run.peak_reserved_bytes));
  }
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
