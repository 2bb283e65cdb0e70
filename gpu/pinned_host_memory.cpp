#include "gpu/pinned_host_memory.h"

#include <cuda_runtime_api.h>

#include <string>

#include "core/util/error.h"

namespace tb::gpu {
namespace {

class CudaPinnedMemory final : public tensor::HostMemory {
 public:
  void* allocate(std::size_t bytes) override {
    void* block = nullptr;
    const cudaError_t status = cudaHostAlloc(&block, bytes, cudaHostAllocPortable);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw Error("pinning " + std::to_string(bytes) + " bytes of host memory for batches: " +
                  cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
    }
    return block;  // page-aligned
  }
  void deallocate(void* block, std::size_t) override {
    if (cudaFreeHost(block) != cudaSuccess) cudaGetLastError();  // at exit, nothing to do
  }
  bool pinned() const override { return true; }
};

}  // namespace

std::shared_ptr<tensor::HostMemory> pinned_host_memory() {
  static auto* upstream = new CudaPinnedMemory;
  static auto* cached = new tensor::CachingHostMemory(*upstream);
  return std::shared_ptr<tensor::HostMemory>(cached, [](tensor::HostMemory*) {});
}

}  // namespace tb::gpu
