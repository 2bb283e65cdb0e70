#include "core/data/pipeline/worker_threads.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace tb::data {

bool yield_to_the_training_loop() {
#if defined(__linux__)
  sched_param param{};
  param.sched_priority = 0;  // the only priority SCHED_BATCH takes
  return pthread_setschedparam(pthread_self(), SCHED_BATCH, &param) == 0;
#else
  return false;
#endif
}

}  // namespace tb::data
