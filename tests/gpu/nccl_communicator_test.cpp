// The NCCL communicator in a world of one GPU: the semantic checks of the world of one process
// (tests/core/dist/local_communicator_test.cpp) on device memory, bit for bit, plus what only a
// GPU communicator has (host pointers refused, streams ordered). Labelled `gpu`: the tests that
// need a GPU and NCCL skip with the reason elsewhere; the NcclSetup ones run everywhere and check
// that a machine without either gets a clear tb::Error, not a crash or a hang.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/gradient_buckets.h"
#include "gpu/nccl_communicator.h"
#include "gpu/nccl_library.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu {
namespace {

using dist::Communicator;
using dist::ReduceOp;
using testing::cpu;
using testing::cuda;
using testing::error_of;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// In a TEST body: skips where there is no GPU or no NCCL, naming which.
#define TB_REQUIRE_NCCL()                                              \
  do {                                                                 \
    TB_REQUIRE_GPU();                                                  \
    const std::string why = nccl_unavailable_reason();                 \
    if (!why.empty()) GTEST_SKIP() << "no NCCL communicator: " << why; \
  } while (0)

// A float vector copied to the GPU (the backend's stream is synchronised, so the communicator's
// stream sees the data), and back.
tensor::Tensor to_device(const std::vector<float>& values) {
  tensor::Tensor host = cpu().empty(tensor::Shape{static_cast<std::int64_t>(values.size())});
  std::copy(values.begin(), values.end(), host.data());
  tensor::Tensor device = testing::to_gpu(host);
  cuda()->synchronize();
  return device;
}

std::vector<float> to_host(const tensor::Tensor& device) {
  const tensor::Tensor host = testing::to_cpu(device);
  return {host.data(), host.data() + host.numel()};
}

// Bit patterns, so -0.0 against 0.0 or a changed NaN payload counts as a difference.
std::vector<std::uint32_t> bits(const std::vector<float>& values) {
  std::vector<std::uint32_t> out;
  for (float v : values) out.push_back(std::bit_cast<std::uint32_t>(v));
  return out;
}

// Values an all-reduce over one rank must not touch: signs, zeros, a denormal, extremes.
std::vector<float> awkward_values() {
  std::vector<float> v = {1.0f,   -2.0f,   3.5f,    -0.0f,       0.0f,
                          1e-40f, 3.4e38f, -1e-30f, 0.1f + 0.2f, 123456.7f};
  for (int i = 0; i < 1000; ++i) v.push_back(static_cast<float>(i) * 0.37f - 91.0f);
  return v;
}

TEST(NcclCommunicator, CollectivesOverOneGpuKeepTheDataBitForBit) {
  TB_REQUIRE_NCCL();
  const auto comm = make_nccl_communicator(0);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->name(), "nccl");
  EXPECT_EQ(comm->device(), 0);
  EXPECT_NE(comm->stream(), nullptr);
  EXPECT_GE(std::stoi(comm->nccl_version()), 2);

  const std::vector<float> values = awkward_values();
  tensor::Tensor data = to_device(values);
  comm->all_reduce(device_span(data), ReduceOp::sum);
  EXPECT_EQ(bits(to_host(data)), bits(values)) << "sum";
  comm->all_reduce(device_span(data), ReduceOp::avg);
  EXPECT_EQ(bits(to_host(data)), bits(values)) << "avg";
  comm->all_reduce_async(device_span(data), ReduceOp::avg)->wait();
  EXPECT_EQ(bits(to_host(data)), bits(values)) << "async avg";
  comm->broadcast(device_span(data), 0);
  EXPECT_EQ(bits(to_host(data)), bits(values)) << "broadcast";

  tensor::Tensor gathered = to_device(std::vector<float>(values.size(), 7.0f));
  comm->all_gather(device_span(data), device_span(gathered));
  EXPECT_EQ(bits(to_host(gathered)), bits(values)) << "all_gather";
  tensor::Tensor scattered = to_device(std::vector<float>(values.size(), 7.0f));
  comm->reduce_scatter(device_span(data), device_span(scattered), ReduceOp::sum);
  EXPECT_EQ(bits(to_host(scattered)), bits(values)) << "reduce_scatter";
  comm->barrier();
  // Empty spans are nothing to do, as on the host.
  comm->all_reduce({}, ReduceOp::sum);
  comm->all_reduce_async({}, ReduceOp::sum)->wait();
}

TEST(NcclCommunicator, AsyncAllReducesOverlapAndAreWaitedForInAnyOrder) {
  TB_REQUIRE_NCCL();
  const auto comm = make_nccl_communicator(0);
  std::vector<std::vector<float>> values;
  std::vector<tensor::Tensor> buckets;
  for (int b = 0; b < 4; ++b) {
    values.push_back(std::vector<float>(1 << (10 + 2 * b), static_cast<float>(b) - 1.5f));
    buckets.push_back(to_device(values.back()));
  }
  std::vector<std::unique_ptr<Communicator::Request>> requests;
  for (auto& bucket : buckets) {
    requests.push_back(comm->all_reduce_async(device_span(bucket), ReduceOp::avg));
  }
  for (std::size_t b = requests.size(); b-- > 0;) requests[b]->wait();
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    EXPECT_EQ(bits(to_host(buckets[b])), bits(values[b])) << "bucket " << b;
  }
}

TEST(NcclCommunicator, AnAsyncAllReduceSaysWhenItRanOnTheSteadyClock) {
  TB_REQUIRE_NCCL();
  const auto comm = make_nccl_communicator(0);
  tensor::Tensor data = to_device(std::vector<float>(1 << 22, 1.0f));
  const auto steady_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  for (int round = 0; round < 3; ++round) {  // the clock's anchor is made once, then reused
    const std::int64_t before = steady_ns();
    auto request = comm->all_reduce_async(device_span(data), ReduceOp::sum);
    request->wait();
    const std::int64_t after = steady_ns();
    EXPECT_GT(request->began_ns, 0) << "round " << round;
    EXPECT_GE(request->ended_ns, request->began_ns) << "round " << round;
    // Inside the host's window around it, give or take the anchor's few microseconds.
    EXPECT_GE(request->began_ns, before - 100'000) << "round " << round;
    EXPECT_LE(request->ended_ns, after + 100'000) << "round " << round;
  }
}

// Data-parallel gradient averaging on the GPU: the buckets packed by the CUDA backend, reduced by
// NCCL ordered after the backend's stream (make_nccl_communicator_for), unpacked in place.
TEST(NcclCommunicator, GradientBucketsOnTheCudaBackendKeepEveryGradient) {
  TB_REQUIRE_NCCL();
  const auto local = dist::make_local_communicator();
  const auto comm = make_nccl_communicator_for(*cuda(), *local);
  EXPECT_EQ(comm->device(), 0);
  std::vector<std::vector<float>> values;
  std::vector<tensor::Tensor> grads;
  std::vector<tensor::Tensor*> pointers;
  for (const int n : {10, 300, 5, 2000, 1}) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      v[static_cast<std::size_t>(i)] = static_cast<float>(i) * 0.5f - 3.0f;
    values.push_back(v);
    grads.push_back(to_device(v));
  }
  for (auto& g : grads) pointers.push_back(&g);
  dist::GradientBuckets buckets(*comm, *cuda(), pointers, 400 * sizeof(float));
  ASSERT_EQ(buckets.buckets().size(), 3u);
  for (int step = 0; step < 2; ++step) {
    // The backend writes the gradients on its own stream, as backward does, without the host
    // waiting: the all-reduce must still read what was written.
    for (std::size_t j = 0; j < grads.size(); ++j) {
      cuda()->scale(grads[j], 2.0f);
      for (float& v : values[j]) v *= 2.0f;
      buckets.mark_ready(j);
    }
    buckets.finish();
    EXPECT_EQ(buckets.started_early(), 3u);
    EXPECT_GT(buckets.communication_s(), 0.0);
    cuda()->synchronize();
    for (std::size_t j = 0; j < grads.size(); ++j) {
      EXPECT_EQ(bits(to_host(grads[j])), bits(values[j])) << "step " << step << ", gradient " << j;
    }
  }
  EXPECT_NE(error_of([&] { make_nccl_communicator_for(cpu(), *local); }).find("not on a CUDA"),
            std::string::npos);
}

TEST(NcclCommunicator, RefusesBadLengthsAndRanksWithTheSharedWords) {
  TB_REQUIRE_NCCL();
  const auto comm = make_nccl_communicator(0);
  tensor::Tensor data = to_device(std::vector<float>(4, 1.0f));
  tensor::Tensor two = to_device(std::vector<float>(2, 1.0f));
  EXPECT_EQ(error_of([&] { comm->all_gather(device_span(data), device_span(two)); }),
            "all_gather: out holds 2 values, not 1 ranks x 4");
  EXPECT_EQ(
      error_of([&] { comm->reduce_scatter(device_span(data), device_span(two), ReduceOp::sum); }),
      "reduce_scatter: in holds 4 values, not 1 ranks x 2");
  EXPECT_EQ(error_of([&] { comm->broadcast(device_span(data), 1); }),
            "broadcast: root 1 is not a rank of this world (0..0)");
  EXPECT_EQ(error_of([&] { comm->send(device_span(data), 1, 0); }),
            "send: peer 1 is not a rank of this world (0..0)");
  EXPECT_EQ(error_of([&] { comm->send(device_span(data), 0, 1); }),
            "send: a world of one GPU has nobody to send to");
  EXPECT_EQ(error_of([&] { comm->recv_async(device_span(data), 0, 1); }),
            "recv: a world of one GPU has nobody to receive from");
  // The communicator is still usable after refusals.
  comm->all_reduce(device_span(data), ReduceOp::sum);
  EXPECT_EQ(to_host(data), std::vector<float>(4, 1.0f));
}

TEST(NcclCommunicator, RefusesHostMemoryInsteadOfFaulting) {
  TB_REQUIRE_NCCL();
  const auto comm = make_nccl_communicator(0);
  std::vector<float> host(8, 1.0f);
  EXPECT_EQ(error_of([&] { comm->all_reduce(host, ReduceOp::sum); }),
            "all_reduce: data is host memory, not memory on CUDA device 0 (the NCCL communicator "
            "takes device_span() of a CUDA tensor)");
  tensor::Tensor device = to_device(host);
  std::vector<float> out(8);
  EXPECT_TRUE(starts_with(error_of([&] { comm->all_gather(device_span(device), out); }),
                          "all_gather: out is host memory"));
  tensor::Tensor on_cpu = cpu().empty(tensor::Shape{3});
  EXPECT_EQ(error_of([&] { device_span(on_cpu); }),
            "device_span: the tensor is on the CPU, not on a CUDA device");
  // Nothing was queued by the refused calls: the communicator goes on working.
  comm->all_reduce(device_span(device), ReduceOp::avg);
  EXPECT_EQ(to_host(device), host);
}

TEST(NcclCommunicator, OrdersItsOpsAfterAProducerStreamAndBeforeAConsumer) {
  TB_REQUIRE_NCCL();
  const auto comm = make_nccl_communicator(0);
  constexpr std::size_t n = 1 << 20;
  tensor::Tensor in = to_device(std::vector<float>(n, 0.0f));
  tensor::Tensor out = to_device(std::vector<float>(n, 0.0f));
  cudaStream_t producer = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking), cudaSuccess);
  // The producer writes 0x3f3f3f3f (0.747...) into `in`; the gather must see it, not the zeros.
  ASSERT_EQ(cudaMemsetAsync(in.raw(), 0x3f, n * sizeof(float), producer), cudaSuccess);
  comm->wait_for(producer);
  comm->all_gather(device_span(in), device_span(out));
  // Through the plain interface: every op waits for the producer stream.
  comm->set_producer_stream(producer);
  ASSERT_EQ(cudaMemsetAsync(in.raw(), 0x40, n * sizeof(float), producer), cudaSuccess);
  auto request = comm->all_reduce_async(device_span(in), ReduceOp::sum);
  // The consumer reads the result without the host waiting for it first.
  comm->make_wait(producer);
  std::vector<float> result(n);
  ASSERT_EQ(
      cudaMemcpyAsync(result.data(), in.raw(), n * sizeof(float), cudaMemcpyDeviceToHost, producer),
      cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(producer), cudaSuccess);
  request->wait();
  comm->set_producer_stream(nullptr);
  cudaStreamDestroy(producer);

  float first = 0.0f, second = 0.0f;
  const std::uint32_t pattern_3f = 0x3f3f3f3fu, pattern_40 = 0x40404040u;
  std::memcpy(&first, &pattern_3f, sizeof first);
  std::memcpy(&second, &pattern_40, sizeof second);
  EXPECT_EQ(to_host(out), std::vector<float>(n, first));
  EXPECT_EQ(result, std::vector<float>(n, second));
}

TEST(NcclCommunicator, AWorldOfOneBootstrapGivesAWorldOfOneGpu) {
  TB_REQUIRE_NCCL();
  const auto local = dist::make_local_communicator();
  const auto comm = make_nccl_communicator(0, local.get());
  EXPECT_EQ(comm->size(), 1);
  tensor::Tensor data = to_device({2.0f, 4.0f});
  comm->all_reduce(device_span(data), ReduceOp::avg);
  EXPECT_EQ(to_host(data), (std::vector<float>{2.0f, 4.0f}));
}

// A bootstrap world of two seen from one rank: the other rank's part of the all-reduce and of
// rank 0's broadcast are made up, so the agreement before NCCL starts is checked in one process.
class FakeBootstrap final : public Communicator {
 public:
  FakeBootstrap(int rank, float other_failed, bool id_made)
      : rank_(rank), other_failed_(other_failed), id_made_(id_made) {}
  int rank() const override { return rank_; }
  int size() const override { return 2; }
  std::string name() const override { return "fake"; }
  void all_reduce(std::span<float> data, ReduceOp) override { data[0] += other_failed_; }
  std::unique_ptr<Request> all_reduce_async(std::span<float>, ReduceOp) override { fail(); }
  void broadcast(std::span<float> data, int) override {
    if (rank_ != 0) data[0] = id_made_ ? 1.0f : 0.0f;
  }
  void all_gather(std::span<const float>, std::span<float>) override { fail(); }
  void reduce_scatter(std::span<const float>, std::span<float>, ReduceOp) override { fail(); }
  void send(std::span<const float>, int, int) override { fail(); }
  void recv(std::span<float>, int, int) override { fail(); }
  std::unique_ptr<Request> send_async(std::span<const float>, int, int) override { fail(); }
  std::unique_ptr<Request> recv_async(std::span<float>, int, int) override { fail(); }
  void barrier() override { fail(); }

 private:
  [[noreturn]] static void fail() { throw Error("FakeBootstrap: not used by the NCCL setup"); }
  int rank_;
  float other_failed_;
  bool id_made_;
};

TEST(NcclSetup, WithoutAGpuOrNcclTheErrorSaysWhy) {
  const std::string why = nccl_unavailable_reason();
  const std::string error = error_of([] { make_nccl_communicator(0); });
  if (list_devices().empty()) {
    EXPECT_TRUE(starts_with(why, "NCCL communicator: no CUDA device")) << why;
  }
  if (!why.empty()) {
    EXPECT_EQ(error, why);
    EXPECT_TRUE(starts_with(error, "NCCL communicator: no CUDA device") ||
                starts_with(error, "NCCL not found (") || starts_with(error, "NCCL ("))
        << error;
  }
  // Whatever this machine has, a device that does not exist is refused in words.
  const std::string missing = error_of([] { make_nccl_communicator(1000); });
  EXPECT_TRUE(starts_with(missing, list_devices().empty()
                                       ? "NCCL communicator: no CUDA device"
                                       : "NCCL communicator: there is no CUDA device 1000"))
      << missing;
}

TEST(NcclSetup, AMissingLibraryIsNamedWithWhereToLook) {
  std::string why;
  EXPECT_EQ(load_nccl_library("libnccl-not-there.so.2", why), nullptr);
  EXPECT_TRUE(starts_with(why, "NCCL not found (libnccl-not-there.so.2): ")) << why;
  EXPECT_NE(why.find("LD_LIBRARY_PATH"), std::string::npos) << why;
}

TEST(NcclSetup, TheInstalledLibraryLoadsWhereThereIsOne) {
  std::string why;
  const NcclLibrary* nccl = nccl_library(why);
  if (nccl == nullptr) GTEST_SKIP() << why;
  EXPECT_EQ(why, "");
  EXPECT_GE(nccl->version, kMinNcclVersion);
  const std::string version = nccl->version_string();
  EXPECT_EQ(std::count(version.begin(), version.end(), '.'), 2) << version;
  // NCCL's own words in the error, after the op's name.
  const std::string error = error_of([&] { nccl->check(ncclInvalidArgument, "all_reduce"); });
  EXPECT_TRUE(starts_with(error, "all_reduce: NCCL invalid argument")) << error;
  EXPECT_EQ(error_of([&] { nccl->check(ncclSuccess, "all_reduce"); }), "(no tb::Error thrown)");
}

TEST(NcclSetup, EveryRankThrowsWhenOneCannotStart) {
  // This rank's own reason where it has one; else the count of the ranks that failed. Either
  // way no rank goes on into ncclCommInitRank to wait for the others forever.
  FakeBootstrap other_failed(1, 1.0f, true);
  const std::string why = nccl_unavailable_reason();
  const std::string error = error_of([&] { make_nccl_communicator(0, &other_failed); });
  if (!why.empty()) {
    EXPECT_EQ(error, why);
  } else {
    EXPECT_EQ(error, "NCCL communicator: 1 of the 2 ranks cannot start NCCL (each says why)");
  }
}

TEST(NcclSetup, ARankWithoutRankZerosIdThrows) {
  TB_REQUIRE_NCCL();
  FakeBootstrap no_id(1, 0.0f, false);
  EXPECT_EQ(error_of([&] { make_nccl_communicator(0, &no_id); }),
            "NCCL communicator: rank 0 could not make NCCL's unique id (it says why)");
}

}  // namespace
}  // namespace tb::gpu
