#include "core/dist/tensor_communicator.h"

#include <utility>

#include "core/util/error.h"
#include "core/util/registered_factory.h"

namespace tb::dist {
namespace {

RegisteredFactory<DeviceCommunicatorFactory>& cuda_factory() {
  static RegisteredFactory<DeviceCommunicatorFactory> slot;
  return slot;
}

}  // namespace

void register_cuda_communicator_factory(DeviceCommunicatorFactory factory) {
  cuda_factory().set(std::move(factory));
}

TensorCommunicator::TensorCommunicator(tensor::Backend& backend, Communicator& host) {
  if (backend.device() == tensor::Device::cpu) {
    communicator_ = &host;
    return;
  }
  const DeviceCommunicatorFactory factory = cuda_factory().get();
  if (!factory) {
    throw Error("parallel.data: this build has no NCCL communicator for GPU tensors (" +
                backend.name() + " backend); train on device \"cpu\" or build with CUDA");
  }
  owned_ = factory(backend, host);
  communicator_ = owned_.get();
}

}  // namespace tb::dist
