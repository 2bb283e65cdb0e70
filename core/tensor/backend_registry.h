// Choosing a backend by the project's `device` ("cpu", "cuda", "auto").
//
// core/ cannot depend on gpu/ (gpu/ builds on core/), so the CUDA backend registers its factory
// here when the program starts (app/ calls gpu::register_cuda_backend() where it was built with
// CUDA); everything that runs a project asks make_backend() and never names a device's backend.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/tensor/backend.h"

namespace tb::tensor {

struct CudaBackendFactory {
  // "" when a GPU can be used, else why not ("no CUDA device").
  std::function<std::string()> unavailable_reason;
  std::function<std::unique_ptr<Backend>(int device)> make;
};

// Installs (or, with an empty factory, removes) the CUDA backend's factory.
void register_cuda_backend_factory(CudaBackendFactory factory);
bool cuda_backend_registered();

// The backend for `device`: "cpu"; "cuda" (or "cuda:N"), which throws tb::Error in one line
// saying why where the build has no CUDA or the machine no GPU; "auto": the GPU where one can
// be used, else the CPU. `threads` is the CPU backend's thread count.
std::unique_ptr<Backend> make_backend(std::string_view device, int threads);

// What "auto" resolves to here ("cuda" or "cpu"), and why when it is the CPU.
struct DeviceChoice {
  std::string device;
  std::string reason;  // empty for cuda
};
DeviceChoice resolve_auto_device();

}  // namespace tb::tensor
