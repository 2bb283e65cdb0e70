// Which device a data-parallel rank trains on: one GPU a process, by the rank's place among the
// processes on its machine (mpirun's OMPI_COMM_WORLD_LOCAL_RANK), as NCCL needs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/run/data_parallel.h"

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

}  // namespace
}  // namespace tb::run::detail
