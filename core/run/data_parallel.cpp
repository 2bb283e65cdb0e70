#include "core/run/data_parallel.h"

#include <algorithm>
#include <span>
#include <unordered_map>

#include "core/util/error.h"

namespace tb::run::detail {
namespace {

std::vector<tensor::Tensor*> gradients_of(const std::vector<nn::Parameter*>& parameters) {
  std::vector<tensor::Tensor*> grads;
  for (nn::Parameter* p : parameters) {
    if (p->value.device() != tensor::Device::cpu) {
      throw Error("parallel.data: parameter " + p->name +
                  " is on a GPU; data-parallel gradient averaging runs on host tensors over MPI "
                  "(NCCL gradient averaging is not wired into training yet): use device \"cpu\"");
    }
    grads.push_back(&p->grad);
  }
  return grads;
}

std::span<float> host_floats(tensor::Tensor& t) {
  return {t.data(), static_cast<std::size_t>(t.numel())};
}

}  // namespace

// Backward writes the last layer's gradients first: the buckets are filled in that order, so the
// first bucket is complete, and on the wire, while the earlier layers are still computing.
DataParallel::DataParallel(dist::Communicator& comm, Workload& work, double bucket_mib)
    : comm_(comm),
      work_(work),
      parameters_(work.parameters_in_gradient_order()),
      buckets_(comm, gradients_of(parameters_),
               static_cast<std::size_t>(std::max(bucket_mib, 0.0) * 1024.0 * 1024.0)) {
  std::unordered_map<const nn::Parameter*, std::size_t> index;
  for (std::size_t i = 0; i < parameters_.size(); ++i) index[parameters_[i]] = i;
  work_.set_gradient_ready([this, index = std::move(index)](nn::Parameter& p) {
    const auto it = index.find(&p);
    if (it != index.end()) buckets_.mark_ready(it->second);
  });
}

DataParallel::~DataParallel() {
  try {
    work_.set_gradient_ready(nullptr);
  } catch (...) {
    // A workload without the hook never had it installed.
  }
}

void DataParallel::broadcast_parameters() {
  for (nn::Parameter* p : parameters_) comm_.broadcast(host_floats(p->value), 0);
}

float DataParallel::gradient_weight(std::int64_t local, std::int64_t global) const {
  if (global <= 0) return 0.0f;
  return static_cast<float>(static_cast<double>(local) * comm_.size() /
                            static_cast<double>(global));
}

void DataParallel::reduce_gradients(bool computed) {
  if (!computed) {
    // Nothing of this batch reached this rank: it adds zeros to the sum, and still takes part.
    for (nn::Parameter* p : parameters_) std::fill_n(p->grad.data(), p->grad.numel(), 0.0f);
  }
  buckets_.finish();
}

float DataParallel::global_loss(float local_loss, std::int64_t local, std::int64_t global) {
  float weighted[1] = {
      global > 0 ? local_loss * static_cast<float>(local) / static_cast<float>(global) : 0.0f};
  comm_.all_reduce(weighted, dist::ReduceOp::sum);
  return weighted[0];
}

}  // namespace tb::run::detail
