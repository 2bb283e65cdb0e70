#include <cuda_runtime.h>

#include "gpu/device.h"

namespace tb::gpu {

std::vector<DeviceInfo> list_devices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return {};
  }
  std::vector<DeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    devices.push_back({i, prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                       static_cast<std::uint64_t>(prop.totalGlobalMem)});
  }
  return devices;
}

std::string unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  cudaGetLastError();
  if (status == cudaSuccess && count > 0) return "";
  if (status == cudaSuccess || status == cudaErrorNoDevice) return "no CUDA device";
  if (status == cudaErrorInsufficientDriver) {
    return "no usable NVIDIA driver (none installed, or older than the CUDA " + runtime_version() +
           " runtime)";
  }
  return cudaGetErrorString(status);
}

std::string runtime_version() {
  const int v = CUDART_VERSION;
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace tb::gpu
