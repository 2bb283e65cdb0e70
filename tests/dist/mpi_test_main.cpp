// GoogleTest under mpirun: MPI is initialised by the first communicator; every rank runs every
// test (run with --gtest_brief=1, so each prints its failures and one summary line), and a
// rank's exit status is its own result, which mpirun passes on.
#include <gtest/gtest.h>

#include "core/dist/communicator.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const auto world = tb::dist::make_mpi_communicator();
  const int result = RUN_ALL_TESTS();
  world->barrier();
  return result;
}
