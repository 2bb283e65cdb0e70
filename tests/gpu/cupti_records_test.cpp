// CUPTI's activity records, filled by hand in the structs CUPTI 13 delivers, through the
// conversion CuptiTracer applies to each record of a completed buffer: kernels, copies, memsets,
// runtime calls, synchronisations, overhead, device memory and external ids, with what is passed
// over, on the engine's clock. Runs without a GPU.
#include <gtest/gtest.h>

#include <cupti.h>

#include <cstdint>
#include <string>
#include <utility>

#include "gpu/cupti_records.h"

namespace tb::gpu {
namespace {

using trace::GpuActivity;

// CUPTI's clock runs this far ahead of the engine's: every timestamp must come back less it.
constexpr std::uint64_t kCuptiAhead = 5'000'000'000'000;

// Stands in for the loaded CUPTI's cuptiGetCallbackName: names two calls, one per domain.
CUptiResult callback_name(CUpti_CallbackDomain domain, std::uint32_t cbid, const char** name) {
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API &&
      cbid == CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000) {
    *name = "cudaLaunchKernel_v7000";
    return CUPTI_SUCCESS;
  }
  if (domain == CUPTI_CB_DOMAIN_DRIVER_API && cbid == CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2) {
    *name = "cuMemAlloc_v2";
    return CUPTI_SUCCESS;
  }
  return CUPTI_ERROR_INVALID_PARAMETER;
}

CuptiRecordContext context() {
  CuptiRecordContext c;
  c.offset_ns = -static_cast<std::int64_t>(kCuptiAhead);
  c.get_callback_name = &callback_name;
  return c;
}

// A CUPTI timestamp `engine_ns` after the engine's origin.
constexpr std::uint64_t at(std::uint64_t engine_ns) {
  return kCuptiAhead + engine_ns;
}

// A converted record's start and end, on the engine's clock.
using Span = std::pair<std::int64_t, std::int64_t>;
template <class Record>
Span span(const Record& r) {
  return {r.start_ns, r.end_ns};
}

// A record of `kind` as CUPTI hands it over: zeroed but for what the test sets.
template <class Record>
Record blank(CUpti_ActivityKind kind) {
  Record r{};
  r.kind = kind;
  return r;
}

template <class Record>
void add(const Record& record, GpuActivity& out, const CuptiRecordContext& c = context()) {
  append_cupti_record(reinterpret_cast<const CUpti_Activity*>(&record), c, out);
}

template <class Record>
GpuActivity converted(const Record& record, const CuptiRecordContext& c = context()) {
  GpuActivity out;
  add(record, out, c);
  return out;
}

CUpti_ActivityKernel10 kernel(std::uint64_t start, std::uint64_t end) {
  auto k = blank<CUpti_ActivityKernel10>(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  k.name = "_Z6matmulPKfPfi";
  k.start = start;
  k.end = end;
  k.completed = end;
  k.deviceId = 1;
  k.contextId = 3;
  k.streamId = 7;
  k.correlationId = 42;
  k.gridX = 64, k.gridY = 8, k.gridZ = 2;
  k.blockX = 256, k.blockY = 2, k.blockZ = 1;
  k.registersPerThread = 40;
  k.staticSharedMemory = 1024;
  k.dynamicSharedMemory = 49152;
  return k;
}

TEST(CuptiRecords, KernelKeepsItsLaunchOnTheEngineClock) {
  const GpuActivity out = converted(kernel(at(1000), at(4500)));
  ASSERT_EQ(out.kernels.size(), 1u);
  const auto& k = out.kernels[0];
  EXPECT_EQ(k.name, "matmul(float const*, float*, int)");
  EXPECT_EQ(span(k), Span(1000, 4500));
  EXPECT_EQ(k.device, 1u);
  EXPECT_EQ(k.stream, 7u);
  EXPECT_EQ(k.correlation, 42u);
  EXPECT_EQ(k.grid[0], 64);
  EXPECT_EQ(k.grid[1], 8);
  EXPECT_EQ(k.grid[2], 2);
  EXPECT_EQ(k.block[0], 256);
  EXPECT_EQ(k.block[1], 2);
  EXPECT_EQ(k.block[2], 1);
  EXPECT_EQ(k.registers_per_thread, 40);
  EXPECT_EQ(k.static_shared_bytes, 1024);
  EXPECT_EQ(k.dynamic_shared_bytes, 49152);
  EXPECT_EQ(out.record_count(), 1u);
}

TEST(CuptiRecords, SerialKernelsAndPlainNamesToo) {
  auto serial = kernel(at(10), at(20));
  serial.kind = CUPTI_ACTIVITY_KIND_KERNEL;
  serial.name = "ampere_sgemm_128x64_nn";  // extern "C": no mangling to undo
  auto unnamed = kernel(at(30), at(40));
  unnamed.name = nullptr;
  GpuActivity out;
  add(serial, out);
  add(unnamed, out);
  ASSERT_EQ(out.kernels.size(), 2u);
  EXPECT_EQ(out.kernels[0].name, "ampere_sgemm_128x64_nn");
  EXPECT_EQ(span(out.kernels[0]), Span(10, 20));
  EXPECT_EQ(out.kernels[1].name, "(unnamed kernel)");
}

TEST(CuptiRecords, UnfinishedKernelsArePassedOver) {
  GpuActivity out;
  add(kernel(at(1000), 0), out);       // still running at a forced flush
  add(kernel(0, 0), out);              // not started
  add(kernel(at(5000), at(10)), out);  // ends before it starts
  add(kernel(at(10), at(10)), out);    // a zero-length kernel did finish
  ASSERT_EQ(out.kernels.size(), 1u);
  EXPECT_EQ(span(out.kernels[0]), Span(10, 10));
}

CUpti_ActivityMemcpy6 copy(CUpti_ActivityMemcpyKind kind, CUpti_ActivityMemoryKind src,
                           CUpti_ActivityMemoryKind dst, std::uint64_t bytes) {
  auto m = blank<CUpti_ActivityMemcpy6>(CUPTI_ACTIVITY_KIND_MEMCPY);
  m.copyKind = static_cast<std::uint8_t>(kind);
  m.srcKind = static_cast<std::uint8_t>(src);
  m.dstKind = static_cast<std::uint8_t>(dst);
  m.bytes = bytes;
  m.start = at(2000);
  m.end = at(2600);
  m.deviceId = 0;
  m.streamId = 13;
  m.correlationId = 77;
  m.runtimeCorrelationId = 76;
  m.copyCount = 1;
  return m;
}

TEST(CuptiRecords, CopiesSayTheirDirectionAndWhetherTheHostSideIsPinned) {
  GpuActivity out;
  add(copy(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PINNED,
           CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 1 << 20),
      out);
  add(copy(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE,
           CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE, 4096),
      out);
  add(copy(CUPTI_ACTIVITY_MEMCPY_KIND_PTOP, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE,
           CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 64),
      out);
  ASSERT_EQ(out.copies.size(), 3u);
  const auto& up = out.copies[0];
  EXPECT_EQ(up.kind, trace::GpuCopyKind::host_to_device);
  EXPECT_TRUE(up.pinned_host);
  EXPECT_EQ(up.bytes, 1 << 20);
  EXPECT_EQ(span(up), Span(2000, 2600));
  EXPECT_EQ(up.stream, 13u);
  EXPECT_EQ(up.correlation, 77u);  // the driver's id, which the kernels and launches share
  const auto& down = out.copies[1];
  EXPECT_EQ(down.kind, trace::GpuCopyKind::device_to_host);
  EXPECT_FALSE(down.pinned_host);
  EXPECT_EQ(down.bytes, 4096);
  EXPECT_EQ(out.copies[2].kind, trace::GpuCopyKind::peer);
}

TEST(CuptiRecords, UnfinishedCopiesAndMemsetsArePassedOver) {
  auto c = copy(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, CUPTI_ACTIVITY_MEMORY_KIND_PINNED,
                CUPTI_ACTIVITY_MEMORY_KIND_DEVICE, 8);
  c.end = 0;
  auto m = blank<CUpti_ActivityMemset4>(CUPTI_ACTIVITY_KIND_MEMSET);
  m.start = at(50);
  GpuActivity out;
  add(c, out);
  add(m, out);
  EXPECT_TRUE(out.copies.empty());
  EXPECT_TRUE(out.memsets.empty());
}

TEST(CuptiRecords, Memset) {
  auto m = blank<CUpti_ActivityMemset4>(CUPTI_ACTIVITY_KIND_MEMSET);
  m.value = 0;
  m.bytes = 8192;
  m.start = at(300);
  m.end = at(340);
  m.deviceId = 2;
  m.streamId = 9;
  m.correlationId = 5;
  m.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  const GpuActivity out = converted(m);
  ASSERT_EQ(out.memsets.size(), 1u);
  const auto& r = out.memsets[0];
  EXPECT_EQ(r.bytes, 8192);
  EXPECT_EQ(span(r), Span(300, 340));
  EXPECT_EQ(r.device, 2u);
  EXPECT_EQ(r.stream, 9u);
  EXPECT_EQ(r.correlation, 5u);
}

CUpti_ActivityAPI api_call(CUpti_ActivityKind kind, CUpti_CallbackId cbid) {
  auto a = blank<CUpti_ActivityAPI>(kind);
  a.cbid = cbid;
  a.start = at(100);
  a.end = at(180);
  a.processId = 4000;
  a.threadId = 4321;
  a.correlationId = 42;
  return a;
}

TEST(CuptiRecords, RuntimeCallsAreNamedWithoutTheirVersion) {
  const GpuActivity out = converted(
      api_call(CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000));
  ASSERT_EQ(out.api_calls.size(), 1u);
  const auto& a = out.api_calls[0];
  EXPECT_EQ(a.name, "cudaLaunchKernel");
  EXPECT_EQ(span(a), Span(100, 180));
  EXPECT_EQ(a.thread, 4321u);
  EXPECT_EQ(a.correlation, 42u);
}

TEST(CuptiRecords, DriverCallsAreLookedUpInTheDriverDomain) {
  GpuActivity out;
  add(api_call(CUPTI_ACTIVITY_KIND_DRIVER, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2), out);
  // The same id in the runtime domain is another call, which the lookup does not know.
  add(api_call(CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2), out);
  ASSERT_EQ(out.api_calls.size(), 2u);
  EXPECT_EQ(out.api_calls[0].name, "cuMemAlloc");
  EXPECT_EQ(out.api_calls[1].name,
            "CUDA API " + std::to_string(CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2));
}

TEST(CuptiRecords, RuntimeCallsEnabledOnlyForTheCorrelationAreDropped) {
  CuptiRecordContext c = context();
  c.keep_api_calls = false;
  auto e = blank<CUpti_ActivityExternalCorrelation>(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  e.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0;
  e.externalId = 99;
  e.correlationId = 42;
  GpuActivity out;
  add(api_call(CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000), out,
      c);
  add(e, out, c);
  EXPECT_TRUE(out.api_calls.empty());
  EXPECT_EQ(out.external_ids.at(42), 99u);  // what they were enabled for still arrives
}

TEST(CuptiRecords, ApiVersionSuffixes) {
  EXPECT_EQ(strip_api_version("cudaLaunchKernel_v7000"), "cudaLaunchKernel");
  EXPECT_EQ(strip_api_version("cudaMemcpyAsync_v3020"), "cudaMemcpyAsync");
  // Only the last suffix goes: "_v2" is part of the function's own name.
  EXPECT_EQ(strip_api_version("cudaStreamGetCaptureInfo_v2_v11030"), "cudaStreamGetCaptureInfo_v2");
  EXPECT_EQ(strip_api_version("cudaFree"), "cudaFree");
}

CUpti_ActivitySynchronization2 sync(CUpti_ActivitySynchronizationType type, std::uint32_t stream,
                                    std::uint32_t correlation) {
  auto s = blank<CUpti_ActivitySynchronization2>(CUPTI_ACTIVITY_KIND_SYNCHRONIZATION);
  s.type = type;
  s.start = at(700);
  s.end = at(950);
  s.correlationId = correlation;
  s.contextId = 1;
  s.streamId = stream;
  s.cudaEventId = CUPTI_SYNCHRONIZATION_INVALID_VALUE;
  s.cudaEventSyncId = CUPTI_SYNCHRONIZATION_INVALID_VALUE;
  return s;
}

TEST(CuptiRecords, SynchronisationsSayWhatWasWaitedFor) {
  GpuActivity out;
  add(sync(CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE, 7, 60), out);
  // Not about one stream: CUPTI marks the stream invalid.
  add(sync(CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE,
           CUPTI_SYNCHRONIZATION_INVALID_VALUE, 61),
      out);
  ASSERT_EQ(out.syncs.size(), 2u);
  const auto& s = out.syncs[0];
  EXPECT_EQ(s.what, "stream synchronize");
  EXPECT_EQ(span(s), Span(700, 950));
  EXPECT_EQ(s.stream, 7u);
  EXPECT_EQ(s.correlation, 60u);
  EXPECT_EQ(s.thread, 0u);  // until resolve_sync_threads
  EXPECT_EQ(out.syncs[1].what, "context synchronize");
  EXPECT_EQ(out.syncs[1].stream, 0u);
}

TEST(CuptiRecords, SynchronisationsTakeTheirCallsThreadElseTheBusiestOne) {
  GpuActivity a;
  a.api_calls = {{"cudaLaunchKernel", 0, 1, 10, 1},
                 {"cudaStreamSynchronize", 2, 3, 20, 2},
                 {"cudaLaunchKernel", 4, 5, 20, 3}};
  a.syncs = {{"stream synchronize", 2, 3, 0, 2, 7},
             {"event synchronize", 6, 7, 0, 1, 0},
             {"context synchronize", 8, 9, 0, 99, 0}};  // its runtime call is in no buffer
  resolve_sync_threads(a);
  EXPECT_EQ(a.syncs[0].thread, 20u);
  EXPECT_EQ(a.syncs[1].thread, 10u);
  EXPECT_EQ(a.syncs[2].thread, 20u);
}

TEST(CuptiRecords, Overhead) {
  auto o = blank<CUpti_ActivityOverhead3>(CUPTI_ACTIVITY_KIND_OVERHEAD);
  o.overheadKind = CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH;
  o.objectKind = CUPTI_ACTIVITY_OBJECT_THREAD;
  o.start = at(20);
  o.end = at(95);
  const GpuActivity out = converted(o);
  ASSERT_EQ(out.overheads.size(), 1u);
  EXPECT_EQ(out.overheads[0].what, "CUPTI buffer flush");
  EXPECT_EQ(span(out.overheads[0]), Span(20, 95));
}

CUpti_ActivityMemory4 memory(CUpti_ActivityMemoryOperationType operation,
                             CUpti_ActivityMemoryKind kind) {
  auto m = blank<CUpti_ActivityMemory4>(CUPTI_ACTIVITY_KIND_MEMORY2);
  m.memoryOperationType = operation;
  m.memoryKind = kind;
  m.address = 0x7f0000200000;
  m.bytes = 2 << 20;
  m.timestamp = at(400);
  m.deviceId = 1;
  m.streamId = CUPTI_INVALID_STREAM_ID;
  return m;
}

TEST(CuptiRecords, DeviceAllocationsAndReleases) {
  GpuActivity out;
  add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE),
      out);
  add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE), out);
  ASSERT_EQ(out.memory.size(), 2u);
  const auto& a = out.memory[0];
  EXPECT_TRUE(a.allocation);
  EXPECT_EQ(a.bytes, 2 << 20);
  EXPECT_EQ(a.time_ns, 400);
  EXPECT_EQ(a.device, 1u);
  EXPECT_EQ(a.address, 0x7f0000200000u);
  EXPECT_FALSE(out.memory[1].allocation);
}

TEST(CuptiRecords, MemoryOtherThanDeviceAllocationsIsPassedOver) {
  GpuActivity out;
  add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_PINNED),
      out);
  add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, CUPTI_ACTIVITY_MEMORY_KIND_MANAGED),
      out);
  add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE,
             CUPTI_ACTIVITY_MEMORY_KIND_DEVICE_STATIC),
      out);
  add(memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_INVALID, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE), out);
  EXPECT_TRUE(out.memory.empty());
}

TEST(CuptiRecords, ExternalIdsOfTheRunnersPhasesOnly) {
  auto phase = blank<CUpti_ActivityExternalCorrelation>(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  phase.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0;
  phase.externalId = 0x1234'0000'0000'0005;  // 64 bits, kept whole
  phase.correlationId = 42;
  auto other = phase;
  other.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM1;
  other.externalId = 7;
  other.correlationId = 43;
  GpuActivity out;
  add(phase, out);
  add(other, out);
  ASSERT_EQ(out.external_ids.size(), 1u);
  EXPECT_EQ(out.external_ids.at(42), 0x1234'0000'0000'0005u);
}

TEST(CuptiRecords, KindsTheTracerDoesNotEnableAreIgnored) {
  auto marker = blank<CUpti_ActivityMarker2>(CUPTI_ACTIVITY_KIND_MARKER);
  marker.timestamp = at(10);
  const GpuActivity out = converted(marker);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(out.external_ids.empty());
}

}  // namespace
}  // namespace tb::gpu
