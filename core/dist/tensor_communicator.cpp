#include "core/dist/tensor_communicator.h"

#include <mutex>
#include <utility>

#include "core/util/error.h"

namespace tb::dist {
namespace {

std::mutex factory_mutex;
DeviceCommunicatorFactory& cuda_factory() {
  static DeviceCommunicatorFactory factory;
  return factory;
}

}  // namespace

void register_cuda_communicator_factory(DeviceCommunicatorFactory factory) {
  const std::lock_guard lock(factory_mutex);
  cuda_factory() = std::move(factory);
}

TensorCommunicator::TensorCommunicator(tensor::Backend& backend, Communicator& host) {
  if (backend.device() == tensor::Device::cpu) {
    communicator_ = &host;
    return;
  }
  DeviceCommunicatorFactory factory;
  {
    const std::lock_guard lock(factory_mutex);
    factory = cuda_factory();
  }
  if (!factory) {
    throw Error("parallel.data: this build has no NCCL communicator for GPU tensors (" +
                backend.name() + " backend); train on device \"cpu\" or build with CUDA");
  }
  owned_ = factory(backend, host);
  communicator_ = owned_.get();
}

}  // namespace tb::dist
