// The world of one process: collectives are identities, and bad lengths and ranks are refused
// with the same words the MPI world uses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/util/error.h"
#include "tests/support/error_message.h"

namespace tb::dist {
namespace {

TEST(LocalCommunicator, CollectivesOverOneRankKeepTheData) {
  const auto comm = make_local_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->name(), "local");
  std::vector<float> data = {1.0f, -2.0f, 3.5f};
  comm->all_reduce(data, ReduceOp::sum);
  comm->all_reduce(data, ReduceOp::avg);
  comm->all_reduce_async(data, ReduceOp::avg)->wait();
  comm->broadcast(data, 0);
  EXPECT_EQ(data, (std::vector<float>{1.0f, -2.0f, 3.5f}));
  std::vector<float> gathered(3);
  comm->all_gather(data, gathered);
  EXPECT_EQ(gathered, data);
  std::vector<float> scattered(3);
  comm->reduce_scatter(data, scattered, ReduceOp::sum);
  EXPECT_EQ(scattered, data);
  comm->barrier();
}

using tb::testing::error_of;

TEST(LocalCommunicator, RefusesBadLengthsAndRanks) {
  const auto comm = make_local_communicator();
  std::vector<float> data(4), two(2);
  EXPECT_EQ(error_of([&] { comm->all_gather(data, two); }),
            "all_gather: out holds 2 values, not 1 ranks x 4");
  EXPECT_EQ(error_of([&] { comm->reduce_scatter(data, two, ReduceOp::sum); }),
            "reduce_scatter: in holds 4 values, not 1 ranks x 2");
  EXPECT_EQ(error_of([&] { comm->broadcast(data, 1); }),
            "broadcast: root 1 is not a rank of this world (0..0)");
  EXPECT_EQ(error_of([&] { comm->send(data, 0, 1); }),
            "send: a world of one process has nobody to send to");
}

TEST(LocalCommunicator, WithoutMpirunTheWorldIsOneProcess) {
  if (launched_by_mpirun()) GTEST_SKIP() << "started by mpirun";
  EXPECT_EQ(make_world_communicator()->name(), "local");
}

}  // namespace
}  // namespace tb::dist
