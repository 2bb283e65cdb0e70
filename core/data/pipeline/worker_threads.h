// How the pipeline's threads (decode workers, the streaming reader) run beside the training loop.
#pragma once

namespace tb::data {

// Puts the calling thread under SCHED_BATCH on Linux (nothing elsewhere): a woken worker then
// does not preempt the thread that woke it. Without it, each next() that woke a worker to refill
// the queue handed the training thread's core to that worker for a whole batch's decoding:
// fashion_mlp on 2 cores waited on data for 5.5% of its step time, with it 0.7%. Workers keep
// their fair share of the CPU. Returns false when the system refused (the thread runs as before).
bool yield_to_the_training_loop();

}  // namespace tb::data
