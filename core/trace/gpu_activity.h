// GPU activity (what CUPTI's Activity API reports: kernels, copies, memsets, runtime calls,
// synchronisations, overhead, device memory) as plain records, and their conversion into the one
// trace model.
//
// The records are CUPTI-free, so the conversion runs and is tested everywhere; gpu/cupti_tracer
// fills them from CUPTI's buffers. Times are already on the engine's trace clock (nanoseconds
// since the Recorder's origin): the tracer converts CUPTI's timestamps before they get here, so
// the kernels line up with the engine's spans.
//
// What the conversion makes of them (append_gpu_activity):
// - one gpu_stream track per (device, stream), "stream 7" in process "GPU 0"; kernels, copies
//   and memsets on it, with their launch parameters in the span's args;
// - runtime calls (cudaLaunchKernel, cudaMemcpyAsync, ...) and synchronisations on a cpu_thread
//   track per host thread, "CUDA API (thread 1234)" in process "trainbench";
// - a flow from each runtime call to the device work it started (same correlation id);
// - each device span's `step` from the engine phase that was open when it was launched (the
//   external correlation id pushed around each phase, see external_id_of); its phase the step
//   analyses find through the flow to the launch, made inside that engine phase span;
// - "memory reserved (GPU n, CUPTI)" counters from the memory records: every device allocation
//   the driver saw (cuBLAS workspaces too), on the memory plot beside the allocator's counters;
// - overhead as spans of category other on a "CUPTI overhead" track.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {

// What an occupancy estimate needs of the device (cudaDeviceProp's fields).
struct GpuDeviceLimits {
  std::string name;  // "NVIDIA H100 80GB HBM3"
  int device = 0;
  int compute_major = 0, compute_minor = 0;
  int sm_count = 0;
  int warp_size = 32;
  int max_threads_per_sm = 2048;
  int max_blocks_per_sm = 32;
  int registers_per_sm = 65536;
  int max_registers_per_block = 65536;
  std::int64_t shared_memory_per_sm = 0;              // bytes usable by blocks on one SM
  std::int64_t shared_memory_per_block_optin = 0;     // the most one block may ask for
  std::int64_t reserved_shared_memory_per_block = 0;  // taken by the system per block (1 KiB)
  std::int64_t total_memory = 0;                      // bytes of device memory
};

struct GpuKernelRecord {
  std::string name;  // demangled where CUPTI gave a mangled name
  std::int64_t start_ns = 0, end_ns = 0;
  std::uint32_t device = 0, stream = 0, correlation = 0;
  int grid[3] = {1, 1, 1};
  int block[3] = {1, 1, 1};
  int registers_per_thread = 0;
  std::int64_t static_shared_bytes = 0, dynamic_shared_bytes = 0;
};

enum class GpuCopyKind : std::uint8_t {
  host_to_device,
  device_to_host,
  device_to_device,
  host_to_host,
  peer,
  other
};
const char* gpu_copy_kind_name(GpuCopyKind kind);  // "HtoD", "DtoH", "DtoD", "HtoH", "PtoP", "copy"

struct GpuCopyRecord {
  GpuCopyKind kind = GpuCopyKind::other;
  bool pinned_host = false;  // the host side is page-locked (an asynchronous DMA)
  std::int64_t bytes = 0;
  std::int64_t start_ns = 0, end_ns = 0;
  std::uint32_t device = 0, stream = 0, correlation = 0;
};

struct GpuMemsetRecord {
  std::int64_t bytes = 0;
  std::int64_t start_ns = 0, end_ns = 0;
  std::uint32_t device = 0, stream = 0, correlation = 0;
};

// A CUDA runtime or driver call on a host thread.
struct GpuApiRecord {
  std::string name;  // "cudaLaunchKernel", "cuLaunchKernelEx"
  std::int64_t start_ns = 0, end_ns = 0;
  std::uint32_t thread = 0, correlation = 0;
};

// The host waiting for the device (stream, event, context or device synchronisation).
struct GpuSyncRecord {
  std::string what;  // "stream synchronize", "event synchronize", ...
  std::int64_t start_ns = 0, end_ns = 0;
  std::uint32_t thread = 0, correlation = 0;
  std::uint32_t stream = 0;  // 0 when not about one stream
};

// Time CUPTI itself took (buffer flushes, instrumentation): shown so it is not blamed on the run.
struct GpuOverheadRecord {
  std::string what;  // "CUPTI buffer flush", "driver compiler", ...
  std::int64_t start_ns = 0, end_ns = 0;
};

// One device memory allocation or release (MEMORY2).
struct GpuMemoryRecord {
  bool allocation = true;  // false: a release
  std::int64_t bytes = 0;
  std::int64_t time_ns = 0;
  std::uint32_t device = 0;
  std::uint64_t address = 0;
};

// A batch of converted activity, as the tracer hands it over at each flush.
struct GpuActivity {
  std::vector<GpuKernelRecord> kernels;
  std::vector<GpuCopyRecord> copies;
  std::vector<GpuMemsetRecord> memsets;
  std::vector<GpuApiRecord> api_calls;
  std::vector<GpuSyncRecord> syncs;
  std::vector<GpuOverheadRecord> overheads;
  std::vector<GpuMemoryRecord> memory;
  // correlation id of a runtime call -> the external id pushed when it was made (the phase).
  std::unordered_map<std::uint32_t, std::uint64_t> external_ids;
  std::int64_t dropped_records = 0;  // CUPTI's count of records it had no buffer for

  bool empty() const;
  std::size_t record_count() const;
};

// The external correlation id the runner pushes around a phase of a step, and back: the step in
// the high bits and the phase's category in the low byte.
std::uint64_t external_id_of(std::int64_t step, Category phase);
std::int64_t step_of_external_id(std::uint64_t id);
Category phase_of_external_id(std::uint64_t id);

// Theoretical occupancy of a kernel on the device: resident warps per SM over the most an SM
// holds, limited by threads, blocks, registers and shared memory per SM (the CUDA occupancy
// calculator's rules: registers allocated per warp in units of 256, shared memory in units of
// 128 bytes plus the per-block reservation). 0 when the kernel cannot run (too many threads,
// registers or bytes for one block) or the limits are unknown.
double occupancy_estimate(const GpuDeviceLimits& device, int threads_per_block,
                          int registers_per_thread, std::int64_t shared_bytes_per_block);

// Converts activity into spans, flows and counters appended to `batch` (tracks and counters are
// found or added by name, so successive batches extend the same ones once stored). State kept
// between batches: device memory in use per device, each runtime call's external id, and
// launches whose device work has not come yet (CUPTI may hand a launch and its kernel over in
// different buffers). `devices` gives each device's limits for the occupancy estimate.
class GpuActivityConverter {
 public:
  explicit GpuActivityConverter(std::vector<GpuDeviceLimits> devices = {});
  void append(const GpuActivity& activity, Trace& batch);
  std::int64_t records_converted() const { return converted_; }
  std::int64_t dropped_records() const { return dropped_; }

 private:
  const GpuDeviceLimits* limits(std::uint32_t device) const;

  std::vector<GpuDeviceLimits> devices_;
  std::map<std::uint32_t, std::int64_t> memory_in_use_;  // by device
  // Correlation id -> external id, kept across batches: a runtime call's record and its
  // kernel's may come in different flushes.
  std::unordered_map<std::uint32_t, std::uint64_t> external_ids_;
  // Correlation id -> the runtime call (thread, start) whose device work has not come yet.
  struct PendingLaunch {
    std::uint32_t thread = 0;
    std::int64_t start_ns = 0;
  };
  std::unordered_map<std::uint32_t, PendingLaunch> pending_launches_;
  std::int64_t converted_ = 0;
  std::int64_t dropped_ = 0;
};

}  // namespace tb::trace
