// Choosing a backend by the project's device: "cpu", "cuda" (one clear line where the build has
// no CUDA or the machine no GPU), "auto" (the GPU where usable, else the CPU), "cuda:N".
#include <gtest/gtest.h>

#include "core/tensor/backend_registry.h"
#include "core/util/error.h"

namespace tb::tensor {
namespace {

// Restores "no CUDA backend registered" however a test ends.
struct RegistryGuard {
  ~RegistryGuard() { register_cuda_backend_factory({}); }
};

std::string error_of(std::string_view device) {
  try {
    make_backend(device, 1);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BackendRegistry, CpuIsAlwaysThere) {
  const RegistryGuard guard;
  const auto backend = make_backend("cpu", 2);
  EXPECT_EQ(backend->device(), Device::cpu);
  EXPECT_EQ(backend->threads(), 2);
}

TEST(BackendRegistry, WithoutCudaInTheBuildCudaFailsAndAutoIsTheCpu) {
  const RegistryGuard guard;
  register_cuda_backend_factory({});
  EXPECT_FALSE(cuda_backend_registered());
  EXPECT_EQ(error_of("cuda"),
            "device \"cuda\": this build has no CUDA support (built without the CUDA toolkit); "
            "use \"cpu\" or \"auto\"");
  EXPECT_EQ(make_backend("auto", 1)->device(), Device::cpu);
  const DeviceChoice choice = resolve_auto_device();
  EXPECT_EQ(choice.device, "cpu");
  EXPECT_NE(choice.reason.find("no CUDA support"), std::string::npos);
}

TEST(BackendRegistry, WithoutAGpuCudaSaysWhyAndAutoIsTheCpu) {
  const RegistryGuard guard;
  int made = 0;
  register_cuda_backend_factory({[] { return std::string("no CUDA device"); },
                                 [&](int) {
                                   ++made;
                                   return make_cpu_backend(1);
                                 }});
  EXPECT_TRUE(cuda_backend_registered());
  EXPECT_EQ(error_of("cuda"), "device \"cuda\": no CUDA device; use \"cpu\" or \"auto\"");
  EXPECT_EQ(make_backend("auto", 1)->device(), Device::cpu);
  EXPECT_EQ(resolve_auto_device().reason, "no CUDA device");
  EXPECT_EQ(made, 0);
}

TEST(BackendRegistry, WithAGpuCudaAndAutoUseTheFactoryWithTheIndex) {
  const RegistryGuard guard;
  std::vector<int> indices;
  register_cuda_backend_factory({[] { return std::string(); },
                                 [&](int index) {
                                   indices.push_back(index);
                                   return make_cpu_backend(1);  // stands in for the GPU's
                                 }});
  make_backend("cuda", 1);
  make_backend("auto", 1);
  make_backend("cuda:3", 1);
  EXPECT_EQ(indices, (std::vector<int>{0, 0, 3}));
  EXPECT_EQ(resolve_auto_device().device, "cuda");
  EXPECT_NE(error_of("cuda:x").find("not a device"), std::string::npos);
  EXPECT_NE(error_of("cuda:-1").find("not a device"), std::string::npos);
  EXPECT_EQ(error_of("tpu"), "device \"tpu\": unknown (\"cpu\", \"cuda\" or \"auto\")");
}

}  // namespace
}  // namespace tb::tensor
