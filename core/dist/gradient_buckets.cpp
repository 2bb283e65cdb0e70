#include "core/dist/gradient_buckets.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "core/dist/tensor_span.h"
#include "core/util/error.h"

namespace tb::dist {

GradientBuckets::GradientBuckets(Communicator& comm, tensor::Backend& backend,
                                 std::vector<tensor::Tensor*> grads, std::size_t bucket_bytes)
    : comm_(comm), backend_(backend), grads_(std::move(grads)) {
  const std::size_t cap = std::max<std::size_t>(bucket_bytes / sizeof(float), 1);
  bucket_of_.resize(grads_.size());
  for (std::size_t i = 0; i < grads_.size(); ++i) {
    const tensor::Tensor* g = grads_[i];
    if (g == nullptr || g->dtype() != tensor::DType::f32 || g->device() != backend.device()) {
      throw Error("gradient buckets: gradient " + std::to_string(i) +
                  " is not an f32 tensor of the " + backend.name() + " backend");
    }
    const auto n = static_cast<std::size_t>(g->numel());
    // A new bucket when this gradient would overflow a bucket that already holds something.
    if (buckets_.empty() || (buckets_.back().elements > 0 && buckets_.back().elements + n > cap)) {
      buckets_.emplace_back();
    }
    buckets_.back().members.push_back(i);
    buckets_.back().elements += n;
    bucket_of_[i] = buckets_.size() - 1;
  }
  flat_.resize(buckets_.size());
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    flat_[b] = backend_.empty({static_cast<std::int64_t>(buckets_[b].elements)});
  }
  requests_.resize(buckets_.size());
  pending_.resize(buckets_.size());
  for (std::size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].members.size();
  ready_.assign(grads_.size(), false);
}

GradientBuckets::~GradientBuckets() {
  // A request still in flight writes into flat_: let it land before the buffers go.
  for (auto& request : requests_) {
    if (!request) continue;
    try {
      request->wait();
    } catch (...) {
      // The run is failing already; the error was or will be reported by whoever saw it first.
    }
  }
}

void GradientBuckets::start(std::size_t b) {
  std::int64_t offset = 0;
  for (const std::size_t i : buckets_[b].members) {
    const tensor::Tensor& g = *grads_[i];
    backend_.copy_range(g, 0, flat_[b], offset, g.numel());
    offset += g.numel();
  }
  requests_[b] = comm_.all_reduce_async(tensor_span(flat_[b]), ReduceOp::avg);
}

void GradientBuckets::mark_ready(std::size_t index) {
  if (index >= grads_.size()) {
    throw Error("gradient buckets: no gradient " + std::to_string(index) + " (" +
                std::to_string(grads_.size()) + " in all)");
  }
  if (ready_[index]) {
    throw Error("gradient buckets: gradient " + std::to_string(index) +
                " was marked ready twice in one step");
  }
  ready_[index] = true;
  --pending_[bucket_of_[index]];
  // Buckets start in their own order, whatever order their gradients came in: every rank must
  // issue the same collectives in the same order (a rank whose batch slice was empty marks
  // nothing and starts them all in finish()).
  while (next_start_ < buckets_.size() && pending_[next_start_] == 0) {
    start(next_start_++);
    ++started_early_;
  }
}

void GradientBuckets::finish() {
  const auto waited_from = std::chrono::steady_clock::now();
  const std::int64_t finish_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(waited_from.time_since_epoch()).count();
  while (next_start_ < buckets_.size()) start(next_start_++);
  std::int64_t communication_ns = 0, hidden_ns = 0;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    requests_[b]->wait();
    const auto began = requests_[b]->began_ns, ended = requests_[b]->ended_ns;
    if (began > 0 && ended >= began) {
      communication_ns += ended - began;
      hidden_ns += std::max<std::int64_t>(0, std::min(ended, finish_ns) - began);
    }
    requests_[b].reset();
    std::int64_t offset = 0;
    for (const std::size_t i : buckets_[b].members) {
      tensor::Tensor& g = *grads_[i];
      backend_.copy_range(flat_[b], offset, g, 0, g.numel());
      offset += g.numel();
    }
  }
  exposed_wait_s_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - waited_from).count();
  communication_s_ = static_cast<double>(communication_ns) * 1e-9;
  hidden_s_ = static_cast<double>(hidden_ns) * 1e-9;
  // The next step.
  last_started_early_ = started_early_;
  started_early_ = 0;
  std::fill(ready_.begin(), ready_.end(), false);
  next_start_ = 0;
  for (std::size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].members.size();
}

}  // namespace tb::dist
