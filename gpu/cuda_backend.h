// The CUDA backend: tensor::Backend on an NVIDIA GPU (kernels in gpu/kernels/, matrix products
// through cuBLAS, device memory through the CachingAllocator). Qt-free.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>
#include <optional>
#include <string>

#include "core/tensor/backend.h"
#include "gpu/caching_allocator.h"

namespace tb::gpu {

// A backend on CUDA device `device`. Throws tb::Error with one clear line where there is no GPU
// ("device \"cuda\": no CUDA device (...)") or the device index does not exist.
std::unique_ptr<tensor::Backend> make_cuda_backend(int device = 0);

// Makes make_cuda_backend what tensor::make_backend() uses for "cuda" and "auto", and the NCCL
// communicator what data-parallel training uses for its tensors (dist::TensorCommunicator). The
// app calls it once at start; core/ cannot call gpu/ itself.
void register_cuda_backend();

// Where a backend make_cuda_backend made runs: its device, and the stream its ops are queued on
// (what a communicator reading the backend's tensors must wait for). nullopt for another backend.
struct CudaPlacement {
  int device = 0;
  cudaStream_t stream = nullptr;
};
std::optional<CudaPlacement> cuda_placement(const tensor::Backend& backend);

// The allocator's counters of the backend made by make_cuda_backend (for the runner's memory
// metrics); null for another backend.
const CachingAllocator* device_allocator(const tensor::Backend& backend);

}  // namespace tb::gpu
