// The communicator that carries a backend's tensors: the host world itself for CPU tensors, and
// for GPU tensors NCCL, bootstrapped over the host world.
//
// core/ cannot depend on gpu/ (gpu/ builds on core/), so the NCCL communicator registers its
// factory here when the program starts (gpu::register_cuda_backend() does it, as it registers
// the CUDA backend); data-parallel training asks for a TensorCommunicator and never names NCCL.
#pragma once

#include <functional>
#include <memory>

#include "core/dist/communicator.h"
#include "core/tensor/backend.h"

namespace tb::dist {

// Makes the communicator for `backend`'s device tensors, one rank per rank of `host` (a
// collective over host: every rank calls it). Throws tb::Error saying why it cannot.
using DeviceCommunicatorFactory =
    std::function<std::unique_ptr<Communicator>(tensor::Backend& backend, Communicator& host)>;

// Installs (or, with an empty function, removes) the factory for CUDA tensors.
void register_cuda_communicator_factory(DeviceCommunicatorFactory factory);

class TensorCommunicator {
 public:
  // `host` for a CPU backend; for a CUDA backend, the registered factory's communicator, or
  // tb::Error "parallel.data: this build has no NCCL communicator for GPU tensors ..." where
  // none is registered. host must outlive this.
  TensorCommunicator(tensor::Backend& backend, Communicator& host);

  Communicator& get() { return *communicator_; }
  // Whether the tensors travel on a communicator of their own (NCCL), not the host world.
  bool own() const { return owned_ != nullptr; }

 private:
  std::unique_ptr<Communicator> owned_;
  Communicator* communicator_ = nullptr;
};

}  // namespace tb::dist
