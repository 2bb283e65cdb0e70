// The runner's device path without a GPU: a CPU backend that says it is a GPU (GpuStandIn) takes
// it, so what the runner does for a device is tested here, while the CUDA kernels themselves are
// tested on a GPU (tests/gpu). Batches are uploaded one step ahead, the device's reserved memory
// becomes a metric per step, a trace counter and the summary's peak, and running out of device
// memory fails the session in one line with what was stored so far kept.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/tensor/backend_registry.h"
#include "core/util/error.h"
#include "tests/support/fake_device_tracer.h"
#include "tests/support/forwarding_backend.h"
#include "tests/support/run_support.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::TempDir;

// What the stand-in device saw, shared with the test (the runner owns the backend).
struct DeviceLog {
  std::int64_t reserved = 0;  // bytes of every tensor made so far: a cache that never frees
  std::int64_t peak_resets = 0;
  std::int64_t allocations = 0;
  std::int64_t fail_at_allocation = -1;  // this allocation runs out of memory (-1: none does)
};

class MemoryReportingStandIn final : public tb::testing::GpuStandIn {
 public:
  explicit MemoryReportingStandIn(std::shared_ptr<DeviceLog> log) : log_(std::move(log)) {}
  std::int64_t reserved_bytes() const override { return log_->reserved; }
  std::int64_t peak_reserved_bytes() const override { return log_->reserved; }
  void reset_peak_memory() override { ++log_->peak_resets; }
  std::optional<tensor::DeviceProperties> device_properties() const override {
    return tensor::DeviceProperties{3, "Stand-in H100", 132, 9, 0, 85'899'345'920};
  }
  Tensor empty(Shape shape, DType dtype) override {
    if (++log_->allocations == log_->fail_at_allocation) {
      throw Error("out of device memory: 1048576 bytes asked, 4194304 reserved, 0 free of 8388608");
    }
    Tensor t = GpuStandIn::empty(std::move(shape), dtype);
    log_->reserved += static_cast<std::int64_t>(t.bytes());
    return t;
  }

 private:
  std::shared_ptr<DeviceLog> log_;
};

class DeviceRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tb::testing::write_synthetic_fashion_mnist(dir_.path(), 512, 128);
    project_ = tb::testing::small_project(dir_.path());
    tensor::register_cuda_backend_factory({[] { return std::string(); },
                                           [log = log_](int) -> std::unique_ptr<tensor::Backend> {
                                             return std::make_unique<MemoryReportingStandIn>(log);
                                           }});
  }
  void TearDown() override { tensor::register_cuda_backend_factory({}); }

  TempDir dir_;
  Project project_;
  std::shared_ptr<DeviceLog> log_ = std::make_shared<DeviceLog>();
};

TEST_F(DeviceRunnerTest, BatchesUploadedAheadTrainAsOnTheCpu) {
  const auto on_cpu = Runner(project_, {}).run();
  ASSERT_EQ(on_cpu.status, "completed") << on_cpu.error;
  project_.device = "cuda";
  const auto on_device = Runner(project_, {}).run();
  ASSERT_EQ(on_device.status, "completed") << on_device.error;
  EXPECT_EQ(on_device.steps, on_cpu.steps);
  // The same batches in the same order through the same ops: the same floats.
  EXPECT_EQ(on_device.train_loss, on_cpu.train_loss);
  EXPECT_EQ(on_device.test_accuracy, on_cpu.test_accuracy);
}

TEST_F(DeviceRunnerTest, ReservedMemoryIsAMetricPerStepACounterAndThePeak) {
  const auto db = dir_ / "s.db";
  project_.device = "cuda";
  RunOptions options;
  options.db_path = db;
  const auto result = Runner(project_, options).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_EQ(log_->peak_resets, 1);  // the peak counts this run only
  EXPECT_GT(log_->reserved, 0);
  EXPECT_EQ(result.peak_reserved_bytes, log_->reserved);
  EXPECT_EQ(to_json(result)["peak_reserved_bytes"], log_->reserved);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto reserved = store.metrics(result.session, "memory_reserved_bytes");
  ASSERT_EQ(static_cast<std::int64_t>(reserved.size()), result.steps);
  for (std::size_t i = 1; i < reserved.size(); ++i) {
    EXPECT_GE(reserved[i].value, reserved[i - 1].value);  // this stand-in's cache never frees
  }
  EXPECT_GT(reserved.front().value, 0.0);
  EXPECT_LE(reserved.back().value, static_cast<double>(log_->reserved));

  const auto trace = store::load_trace(store, result.session);
  const auto counter = trace.find_counter("memory reserved (cuda)");
  ASSERT_TRUE(counter.has_value());
  const auto& points = trace.counter(*counter).points;
  ASSERT_EQ(points.size(), reserved.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].value, reserved[i].value) << "step " << i + 1;
  }
}

TEST_F(DeviceRunnerTest, TheDevicesPropertiesAreStoredWithTheSessionUntraced) {
  const auto db = dir_ / "s.db";
  project_.device = "cuda";
  project_.profile.cupti = false;
  project_.train.epochs = 1;
  RunOptions options;
  options.db_path = db;
  const auto result = Runner(project_, options).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto params = store.params(result.session);
  using tb::testing::param;
  EXPECT_EQ(param(params, "device.backend"), "cuda (stand-in)");
  EXPECT_EQ(param(params, "device.3.name"), "Stand-in H100");
  EXPECT_EQ(param(params, "device.3.sm_count"), "132");
  EXPECT_EQ(param(params, "device.3.compute_capability"), "9.0");
  EXPECT_EQ(param(params, "device.3.memory_bytes"), "85899345920");
}

TEST_F(DeviceRunnerTest, ProfileFlushStepHandsEachStepsKernelsOverAsTheStepEnds) {
  tb::testing::RegisteredFakeTracer tracer;
  project_.device = "cuda";
  project_.train.epochs = 1;  // 8 steps: traced from the start, no overhead windows
  const auto by_period = Runner(project_, {}).run();
  const int period_flushes = std::exchange(tracer.log.flushes, 0);
  project_.profile.flush = "step";
  const auto by_step = Runner(project_, {}).run();
  ASSERT_EQ(by_period.status, "completed") << by_period.error;
  ASSERT_EQ(by_step.status, "completed") << by_step.error;
  EXPECT_GE(tracer.log.flushes, by_step.steps + 1);  // every step, and the run's end
  EXPECT_LT(period_flushes, by_period.steps);        // about once a second: these runs take less
}

// Arms the stand-in at step 2: its next allocation (the epoch's short last batch, 512 = 10 x 48
// + 32, or the evaluation) runs out of memory.
class OutOfMemoryAtStepTwo final : public RunObserver {
 public:
  explicit OutOfMemoryAtStepTwo(std::shared_ptr<DeviceLog> log) : log_(std::move(log)) {}
  void on_step(const StepReport& s) override {
    if (s.step == 2) log_->fail_at_allocation = log_->allocations + 1;
  }

 private:
  std::shared_ptr<DeviceLog> log_;
};

TEST_F(DeviceRunnerTest, RunningOutOfDeviceMemoryFailsTheSessionInOneLine) {
  const auto db = dir_ / "s.db";
  project_.device = "cuda";
  project_.data.batch_size = 48;
  OutOfMemoryAtStepTwo arm(log_);
  RunOptions options;
  options.db_path = db;
  options.observer = &arm;
  const auto result = Runner(project_, options).run();
  EXPECT_EQ(result.status, "failed");
  EXPECT_NE(result.error.find("out of device memory: 1048576 bytes asked"), std::string::npos)
      << result.error;
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << result.error;
  EXPECT_GE(result.steps, 2);  // it failed while training, not before
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(store.session(result.session)->status, "failed");
  EXPECT_EQ(static_cast<std::int64_t>(store.metrics(result.session, "train_loss").size()),
            result.steps);
}

}  // namespace
}  // namespace tb::run
