// GPU activity records (what the CUPTI tracer hands over) into the trace model: tracks per
// stream, launch -> kernel flows, steps from the external correlation, args, device memory; and
// the occupancy estimate against the CUDA occupancy calculator's rules.
#include "core/trace/gpu_activity.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tb::trace {
namespace {

// An H100 SXM as cudaGetDeviceProperties describes it.
GpuDeviceLimits h100() {
  GpuDeviceLimits d;
  d.name = "NVIDIA H100 80GB HBM3";
  d.compute_major = 9;
  d.sm_count = 132;
  d.max_threads_per_sm = 2048;
  d.max_blocks_per_sm = 32;
  d.registers_per_sm = 65536;
  d.max_registers_per_block = 65536;
  d.shared_memory_per_sm = 233472;
  d.shared_memory_per_block_optin = 232448;
  d.reserved_shared_memory_per_block = 1024;
  return d;
}

TEST(OccupancyEstimate, FollowsTheOccupancyCalculator) {
  const auto d = h100();
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 256, 32, 0), 1.0);
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 256, 128, 0), 0.25);  // registers: 2 blocks of 8 warps
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 1024, 64, 0), 0.5);   // registers: 1 block of 32 warps
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 256, 40, 0), 0.75);   // 1280 registers a warp: 6 blocks
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 128, 0, 48 * 1024), 0.25);  // shared memory: 4 blocks
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 32, 16, 0), 0.5);           // 32 blocks of 1 warp at most
  EXPECT_DOUBLE_EQ(occupancy_estimate(d, 33, 16, 0), 1.0);           // 2 warps a block, 32 blocks
  EXPECT_EQ(occupancy_estimate(d, 1024, 255, 0), 0.0);               // does not fit one block
  EXPECT_EQ(occupancy_estimate(d, 128, 32, 300 * 1024), 0.0);  // more shared memory than allowed
  GpuDeviceLimits unknown;
  unknown.max_threads_per_sm = 0;
  EXPECT_EQ(occupancy_estimate(unknown, 128, 32, 0), 0.0);
}

TEST(ExternalId, CarriesStepAndPhase) {
  const auto id = external_id_of(12345, Category::backward);
  EXPECT_EQ(step_of_external_id(id), 12345);
  EXPECT_EQ(phase_of_external_id(id), Category::backward);
  EXPECT_EQ(step_of_external_id(external_id_of(0, Category::eval)), 0);
}

const Span* find_span(const Trace& t, std::string_view name) {
  for (const auto& s : t.spans()) {
    if (t.name(s.name) == name) return &s;
  }
  return nullptr;
}

GpuActivity one_step() {
  GpuActivity a;
  a.api_calls.push_back({"cudaLaunchKernel", 100, 110, 7, 5});
  a.api_calls.push_back({"cudaMemcpyAsync", 40, 45, 7, 6});
  a.external_ids[5] = external_id_of(3, Category::forward);
  a.external_ids[6] = external_id_of(3, Category::data);
  GpuKernelRecord k;
  k.name = "sgemm_128x64";
  k.start_ns = 200;
  k.end_ns = 300;
  k.stream = 7;
  k.correlation = 5;
  k.grid[0] = 264;
  k.block[0] = 256;
  k.registers_per_thread = 32;
  a.kernels.push_back(k);
  a.copies.push_back({GpuCopyKind::host_to_device, true, 1'000'000, 50, 150, 0, 13, 6});
  a.memsets.push_back({4096, 310, 320, 0, 7, 0});
  a.syncs.push_back({"stream synchronize", 120, 330, 7, 0, 7});
  a.overheads.push_back({"CUPTI buffer flush", 400, 410});
  a.memory.push_back({true, 1000, 10, 0, 0x1000});
  a.memory.push_back({false, 1000, 30, 0, 0x1000});
  a.memory.push_back({true, 500, 20, 0, 0x2000});
  a.dropped_records = 2;
  return a;
}

TEST(GpuActivityConverter, StreamsKernelsCopiesAndFlows) {
  GpuActivityConverter converter({h100()});
  Trace t;
  converter.append(one_step(), t);
  t.finish();

  const Span* kernel = find_span(t, "sgemm_128x64");
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->category, Category::kernel);
  EXPECT_EQ(kernel->step, 3);  // from the phase open at its launch
  EXPECT_EQ(t.track(kernel->track).name, "stream 7");
  EXPECT_EQ(t.track(kernel->track).process, "GPU 0");
  EXPECT_EQ(t.track(kernel->track).kind, TrackKind::gpu_stream);
  const auto args = nlohmann::json::parse(t.args(kernel->args));
  EXPECT_EQ(args["grid"], nlohmann::json({264, 1, 1}));
  EXPECT_EQ(args["block"], nlohmann::json({256, 1, 1}));
  EXPECT_EQ(args["registers per thread"], 32);
  EXPECT_DOUBLE_EQ(args["est. occupancy %"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(args["blocks per SM"].get<double>(), 2.0);

  const Span* copy = find_span(t, "Memcpy HtoD");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->category, Category::memcpy);
  EXPECT_EQ(t.track(copy->track).name, "stream 13");
  const auto copy_args = nlohmann::json::parse(t.args(copy->args));
  EXPECT_DOUBLE_EQ(copy_args["memory bandwidth (GB/s)"].get<double>(), 10000.0);  // 1 MB in 100 ns
  EXPECT_EQ(copy_args["host memory"], "pinned");

  const Span* launch = find_span(t, "cudaLaunchKernel");
  ASSERT_NE(launch, nullptr);
  EXPECT_EQ(launch->category, Category::runtime);
  EXPECT_EQ(t.track(launch->track).name, "CUDA API (thread 7)");
  EXPECT_EQ(find_span(t, "stream synchronize")->category, Category::sync);
  EXPECT_EQ(find_span(t, "Memset")->category, Category::memset);
  EXPECT_EQ(t.track(find_span(t, "CUPTI buffer flush")->track).name, "CUPTI overhead");

  // Launch -> kernel and copy call -> copy, by correlation id.
  ASSERT_EQ(t.flows().size(), 2u);
  for (const auto& flow : t.flows()) {
    if (flow.id == 5) {
      EXPECT_EQ(flow.from_track, launch->track);
      EXPECT_EQ(flow.from_ns, 100);
      EXPECT_EQ(flow.to_track, kernel->track);
      EXPECT_EQ(flow.to_ns, 200);
    } else {
      EXPECT_EQ(flow.id, 6u);
      EXPECT_EQ(flow.to_track, copy->track);
    }
  }

  // Memory in use over time, in time order whatever the record order.
  const auto memory = t.find_counter("memory reserved (GPU 0, CUPTI)");
  ASSERT_TRUE(memory.has_value());
  const auto& points = t.counter(*memory).points;
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].value, 1000.0);
  EXPECT_EQ(points[1].value, 1500.0);
  EXPECT_EQ(points[2].value, 500.0);
  EXPECT_EQ(t.counter(*memory).unit, "bytes");

  EXPECT_EQ(converter.records_converted(), 10);
  EXPECT_EQ(converter.dropped_records(), 2);
}

// A launch in one flush and its kernel in the next still get their flow and step; memory keeps
// its running total.
TEST(GpuActivityConverter, LinksLaunchesAcrossBatches) {
  GpuActivityConverter converter;
  GpuActivity first;
  first.api_calls.push_back({"cudaLaunchKernel", 100, 110, 9, 42});
  first.external_ids[42] = external_id_of(8, Category::backward);
  first.memory.push_back({true, 256, 5, 1, 0x10});
  Trace batch1;
  converter.append(first, batch1);
  EXPECT_TRUE(batch1.flows().empty());

  GpuActivity second;
  GpuKernelRecord k;
  k.name = "ncclDevKernel_AllReduce_Sum_f32_RING_LL";
  k.start_ns = 500;
  k.end_ns = 900;
  k.device = 1;
  k.stream = 3;
  k.correlation = 42;
  second.kernels.push_back(k);
  second.memory.push_back({true, 256, 600, 1, 0x20});
  Trace batch2;
  converter.append(second, batch2);
  batch2.finish();
  ASSERT_EQ(batch2.spans().size(), 1u);
  const Span& kernel = batch2.spans()[0];
  EXPECT_EQ(kernel.step, 8);
  EXPECT_EQ(kernel.category, Category::communication);
  EXPECT_EQ(batch2.track(kernel.track).process, "GPU 1");
  ASSERT_EQ(batch2.flows().size(), 1u);
  EXPECT_EQ(batch2.track(batch2.flows()[0].from_track).name, "CUDA API (thread 9)");
  EXPECT_EQ(batch2.flows()[0].from_ns, 100);
  const auto memory = batch2.find_counter("memory reserved (GPU 1, CUPTI)");
  ASSERT_TRUE(memory.has_value());
  EXPECT_EQ(batch2.counter(*memory).points.back().value, 512.0);
  // No estimate without the device's limits.
  EXPECT_FALSE(nlohmann::json::parse(batch2.args(kernel.args)).contains("est. occupancy %"));
}

TEST(GpuActivityConverter, WorkWithoutAKnownLaunchHasNoStepAndNoFlow) {
  GpuActivityConverter converter;
  GpuActivity a;
  a.memsets.push_back({64, 10, 20, 0, 1, 77});
  Trace t;
  converter.append(a, t);
  ASSERT_EQ(t.spans().size(), 1u);
  EXPECT_EQ(t.spans()[0].step, 0);
  EXPECT_TRUE(t.flows().empty());
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(GpuActivity{}.empty());
}

}  // namespace
}  // namespace tb::trace
