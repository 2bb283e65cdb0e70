#include "core/data/pipeline/worker_threads.h"

#include <gtest/gtest.h>

#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace tb::data {
namespace {

// The loader's threads run under SCHED_BATCH, the training thread stays as it was.
TEST(WorkerThreads, LoaderThreadsRunUnderBatchSchedulingOthersAreUntouched) {
#if defined(__linux__)
  const int before = sched_getscheduler(0);
  int in_worker = -1;
  bool changed = false;
  std::thread worker([&] {
    changed = yield_to_the_training_loop();
    in_worker = sched_getscheduler(0);
  });
  worker.join();
  EXPECT_TRUE(changed);
  EXPECT_EQ(in_worker, SCHED_BATCH);
  EXPECT_EQ(sched_getscheduler(0), before);
#else
  EXPECT_FALSE(yield_to_the_training_loop());
#endif
}

}  // namespace
}  // namespace tb::data
