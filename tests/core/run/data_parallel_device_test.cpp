// Which device a data-parallel rank trains on: one GPU a process, by the rank's place among the
// processes on its machine (mpirun's OMPI_COMM_WORLD_LOCAL_RANK), as NCCL needs; and a rank's
// batches on a device, which are uploaded one step ahead.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/run/data_parallel.h"
#include "core/run/workload.h"
#include "tests/support/forwarding_backend.h"
#include "tests/support/test_data.h"

namespace tb::run::detail {
namespace {

// Sets the local rank mpirun would, and takes it away after.
struct LocalRank {
  explicit LocalRank(const char* value) { ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", value, 1); }
  ~LocalRank() { ::unsetenv("OMPI_COMM_WORLD_LOCAL_RANK"); }
};

TEST(DataParallelDevice, CudaBecomesTheGpuOfTheLocalRank) {
  const LocalRank rank("3");
  EXPECT_EQ(data_parallel_device("cuda"), "cuda:3");
}

TEST(DataParallelDevice, OutsideMpirunItIsTheFirstGpu) {
  ::unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  EXPECT_EQ(data_parallel_device("cuda"), "cuda:0");
}

TEST(DataParallelDevice, CpuAndAnExplicitGpuStayAsTheProjectSays) {
  const LocalRank rank("1");
  EXPECT_EQ(data_parallel_device("cpu"), "cpu");
  EXPECT_EQ(data_parallel_device("cuda:0"), "cuda:0");
  // No CUDA backend is registered in this program: "auto" means the CPU and stays "auto".
  EXPECT_EQ(data_parallel_device("auto"), "auto");
}

// Each next_batch() of an epoch: (this rank's slice, the global batch it is a slice of).
std::vector<std::pair<std::int64_t, std::int64_t>> epoch_slices(tensor::Backend& backend,
                                                                const Project& project, int rank) {
  const auto work = make_workload(backend, project, nullptr, {rank, 2, nullptr});
  work->start_epoch(0);
  std::vector<std::pair<std::int64_t, std::int64_t>> slices;
  while (true) {
    const std::int64_t local = work->next_batch();
    const std::int64_t global = work->global_batch_size();
    if (local == 0 && global == 0) break;  // the runner's end of the epoch
    slices.emplace_back(local, global);
  }
  return slices;
}

TEST(DataParallelDevice, BatchesUploadedAheadKeepTheirGlobalSizeAndEmptySlices) {
  // On a device the batch the loader gave last is the one uploaded ahead, not the one the step
  // trains on: the global size (each rank's gradient weight) and an empty last slice (which
  // must still join the collectives) have to come from the batch the step trains on. 1000
  // samples in global batches of 2 x 16: the last is 8 samples, all rank 0's.
  tb::testing::TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 1000, 100);
  Project project;
  project.data.path = dir.path().string();
  project.data.batch_size = 16;
  project.model.hidden = {8};
  for (const int rank : {0, 1}) {
    const auto cpu = tensor::make_cpu_backend(1);
    tb::testing::GpuStandIn device;
    const auto on_cpu = epoch_slices(*cpu, project, rank);
    const auto on_device = epoch_slices(device, project, rank);
    ASSERT_EQ(on_cpu.size(), 32u) << "rank " << rank;
    for (std::size_t b = 0; b + 1 < on_cpu.size(); ++b) {
      EXPECT_EQ(on_cpu[b], (std::pair<std::int64_t, std::int64_t>{16, 32})) << "batch " << b;
    }
    EXPECT_EQ(on_cpu.back(), (std::pair<std::int64_t, std::int64_t>{rank == 0 ? 8 : 0, 8}));
    EXPECT_EQ(on_device, on_cpu) << "rank " << rank;
  }
}

}  // namespace
}  // namespace tb::run::detail
