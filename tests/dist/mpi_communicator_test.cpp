// The MPI communicator under mpirun (2 and 4 ranks): each collective against its definition,
// computed on every rank from what each rank contributed.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "core/dist/communicator.h"
#include "core/util/error.h"

namespace tb::dist {
namespace {

Communicator& world() {
  static const auto comm = make_mpi_communicator();
  return *comm;
}

// Rank r contributes value(r, i) at position i.
float value(int rank, std::size_t i) {
  return static_cast<float>(rank * 1000 + static_cast<int>(i));
}

TEST(MpiCommunicator, IsTheWorldMpirunStarted) {
  EXPECT_EQ(world().name(), "mpi");
  EXPECT_GE(world().size(), 2);
  EXPECT_GE(world().rank(), 0);
  EXPECT_LT(world().rank(), world().size());
  EXPECT_TRUE(launched_by_mpirun());
  EXPECT_EQ(make_world_communicator()->name(), "mpi");
}

TEST(MpiCommunicator, AllReduceSumsAndAverages) {
  const int n = world().size();
  std::vector<float> data(1000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = value(world().rank(), i);
  world().all_reduce(data, ReduceOp::sum);
  const int rank_sum = n * (n - 1) / 2;
  for (std::size_t i = 0; i < data.size(); ++i) {
    ASSERT_EQ(data[i], static_cast<float>(rank_sum * 1000 + n * static_cast<int>(i))) << i;
  }
  std::vector<float> avg(3, static_cast<float>(world().rank()));
  world().all_reduce(avg, ReduceOp::avg);
  for (float v : avg) EXPECT_FLOAT_EQ(v, static_cast<float>(n - 1) / 2.0f);
}

TEST(MpiCommunicator, AsyncAllReduceFinishesAtWait) {
  const int n = world().size();
  std::vector<float> a(1 << 16, 1.0f), b(100, static_cast<float>(world().rank()));
  auto first = world().all_reduce_async(a, ReduceOp::sum);
  auto second = world().all_reduce_async(b, ReduceOp::avg);
  second->wait();
  first->wait();
  first->wait();  // a second wait is harmless
  EXPECT_EQ(a.front(), static_cast<float>(n));
  EXPECT_EQ(a.back(), static_cast<float>(n));
  EXPECT_FLOAT_EQ(b[50], static_cast<float>(n - 1) / 2.0f);
}

TEST(MpiCommunicator, BroadcastFromAnyRoot) {
  for (int root = 0; root < world().size(); ++root) {
    std::vector<float> data(17);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = value(world().rank(), i);
    world().broadcast(data, root);
    for (std::size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], value(root, i));
  }
  std::vector<float> data(1);
  EXPECT_THROW(world().broadcast(data, world().size()), Error);
}

TEST(MpiCommunicator, AllGatherInRankOrder) {
  const int n = world().size();
  std::vector<float> in(5);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = value(world().rank(), i);
  std::vector<float> out(in.size() * static_cast<std::size_t>(n));
  world().all_gather(in, out);
  for (int r = 0; r < n; ++r) {
    for (std::size_t i = 0; i < in.size(); ++i) {
      ASSERT_EQ(out[static_cast<std::size_t>(r) * in.size() + i], value(r, i));
    }
  }
  std::vector<float> short_out(in.size());
  EXPECT_THROW(world().all_gather(in, short_out), Error);
}

TEST(MpiCommunicator, ReduceScatterGivesEachRankItsBlock) {
  const int n = world().size();
  const std::size_t block = 6;
  std::vector<float> in(block * static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = value(world().rank(), i);
  std::vector<float> out(block);
  world().reduce_scatter(in, out, ReduceOp::sum);
  const int rank_sum = n * (n - 1) / 2;
  for (std::size_t j = 0; j < block; ++j) {
    const auto i = static_cast<std::size_t>(world().rank()) * block + j;
    ASSERT_EQ(out[j], static_cast<float>(rank_sum * 1000 + n * static_cast<int>(i)));
  }
  std::vector<float> avg(block);
  world().reduce_scatter(in, avg, ReduceOp::avg);
  EXPECT_FLOAT_EQ(avg[0], out[0] / static_cast<float>(n));
}

TEST(MpiCommunicator, SendAndReceiveAroundARing) {
  const int n = world().size(), r = world().rank();
  std::vector<float> mine(8, static_cast<float>(r)), got(8);
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  // Even ranks send first, odd ones receive first: no two ranks wait on each other.
  if (r % 2 == 0) {
    world().send(mine, next, 7);
    world().recv(got, prev, 7);
  } else {
    world().recv(got, prev, 7);
    world().send(mine, next, 7);
  }
  for (float v : got) EXPECT_EQ(v, static_cast<float>(prev));
  world().barrier();
}

}  // namespace
}  // namespace tb::dist
