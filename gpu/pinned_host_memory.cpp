#include "gpu/pinned_host_memory.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <string>

#include "core/util/error.h"

namespace tb::gpu {
namespace {

class CudaPinnedMemory final : public tensor::HostMemory {
 public:
  explicit CudaPinnedMemory(int device) : device_(device) {}
  void* allocate(std::size_t bytes) override {
    // Loader workers allocate: on a thread that never chose a device, the runtime would make
    // device 0's context (memory on GPU 0, or a failure where GPU 0 is taken).
    if (const cudaError_t status = cudaSetDevice(device_); status != cudaSuccess) {
      cudaGetLastError();
      throw Error("pinning host memory for batches: cannot select CUDA device " +
                  std::to_string(device_) + ": " + cudaGetErrorName(status));
    }
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

 private:
  int device_;
};

}  // namespace

std::shared_ptr<tensor::HostMemory> pinned_host_memory(int device) {
  static std::mutex mutex;
  static auto* caches = new std::map<int, tensor::CachingHostMemory*>;
  const std::lock_guard lock(mutex);
  auto& cache = (*caches)[device];
  if (cache == nullptr) cache = new tensor::CachingHostMemory(*new CudaPinnedMemory(device));
  return std::shared_ptr<tensor::HostMemory>(cache, [](tensor::HostMemory*) {});
}

}  // namespace tb::gpu
