// Which communicator carries a backend's tensors: the host world for CPU tensors; for GPU
// tensors the factory gpu/ registers (NCCL), or a clear error in a build without one. A backend
// that says it is on a GPU stands in for the CUDA backend here; the NCCL factory itself is
// tested on a GPU (tests/gpu/nccl_communicator_test.cpp).
#include "core/dist/tensor_communicator.h"

#include <gtest/gtest.h>

#include <string>

#include "core/util/error.h"
#include "tests/support/error_message.h"
#include "tests/support/forwarding_backend.h"

namespace tb::dist {
namespace {

// Removes whatever factory a test installed.
struct FactoryReset {
  ~FactoryReset() { register_cuda_communicator_factory(nullptr); }
};

TEST(TensorCommunicator, CpuTensorsTravelThroughTheHostWorld) {
  const FactoryReset reset;
  register_cuda_communicator_factory(
      [](tensor::Backend&, Communicator&) -> std::unique_ptr<Communicator> {
        throw Error("the GPU factory must not be asked for CPU tensors");
      });
  const auto host = make_local_communicator();
  const auto cpu = tensor::make_cpu_backend(1);
  TensorCommunicator tensors(*cpu, *host);
  EXPECT_EQ(&tensors.get(), host.get());
  EXPECT_FALSE(tensors.own());
}

TEST(TensorCommunicator, GpuTensorsTravelThroughTheRegisteredFactorysCommunicator) {
  const FactoryReset reset;
  const auto host = make_local_communicator();
  testing::GpuStandIn gpu;
  const tensor::Backend* seen_backend = nullptr;
  const Communicator* seen_host = nullptr;
  register_cuda_communicator_factory([&](tensor::Backend& backend, Communicator& world) {
    seen_backend = &backend;
    seen_host = &world;
    return make_local_communicator();
  });
  TensorCommunicator tensors(gpu, *host);
  EXPECT_EQ(seen_backend, &gpu);
  EXPECT_EQ(seen_host, host.get());
  EXPECT_TRUE(tensors.own());
  EXPECT_NE(&tensors.get(), host.get());
}

TEST(TensorCommunicator, GpuTensorsWithoutAFactoryAreRefusedWithTheReason) {
  const FactoryReset reset;
  const auto host = make_local_communicator();
  testing::GpuStandIn gpu;
  const std::string error = tb::testing::error_of([&] { TensorCommunicator tensors(gpu, *host); });
  EXPECT_NE(error.find("no NCCL communicator for GPU tensors"), std::string::npos) << error;
}

}  // namespace
}  // namespace tb::dist
