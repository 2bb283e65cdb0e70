#include "core/run/data_parallel.h"

#include <algorithm>
#include <span>
#include <unordered_map>

#include "core/dist/tensor_span.h"
#include "core/tensor/backend_registry.h"
#include "core/util/error.h"

namespace tb::run::detail {
namespace {

std::vector<tensor::Tensor*> gradients_of(const std::vector<nn::Parameter*>& parameters) {
  std::vector<tensor::Tensor*> grads;
  for (nn::Parameter* p : parameters) grads.push_back(&p->grad);
  return grads;
}

}  // namespace

std::string data_parallel_device(std::string_view project_device) {
  const bool gpu = project_device == "cuda" ||
                   (project_device == "auto" && tensor::resolve_auto_device().device == "cuda");
  if (!gpu) return std::string(project_device);
  return "cuda:" + std::to_string(dist::launched_local_rank());
}

// Backward writes the last layer's gradients first: the buckets are filled in that order, so the
// first bucket is complete, and on the wire, while the earlier layers are still computing.
DataParallel::DataParallel(dist::Communicator& host, tensor::Backend& backend, Workload& work,
                           double bucket_mib)
    : host_(host),
      backend_(backend),
      tensors_(backend, host),
      work_(work),
      parameters_(work.parameters_in_gradient_order()),
      buckets_(tensors_.get(), backend, gradients_of(parameters_),
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
  for (nn::Parameter* p : parameters_) tensors_.get().broadcast(dist::tensor_span(p->value), 0);
}

float DataParallel::gradient_weight(std::int64_t local, std::int64_t global) const {
  if (global <= 0) return 0.0f;
  return static_cast<float>(static_cast<double>(local) * host_.size() /
                            static_cast<double>(global));
}

void DataParallel::reduce_gradients(bool computed) {
  if (!computed) {
    // Nothing of this batch reached this rank: it adds zeros to the sum, and still takes part.
    for (nn::Parameter* p : parameters_) backend_.fill(p->grad, 0.0f);
  }
  buckets_.finish();
}

float DataParallel::global_loss(float local_loss, std::int64_t local, std::int64_t global) {
  float weighted[1] = {
      global > 0 ? local_loss * static_cast<float>(local) / static_cast<float>(global) : 0.0f};
  host_.all_reduce(weighted, dist::ReduceOp::sum);
  return weighted[0];
}

}  // namespace tb::run::detail
