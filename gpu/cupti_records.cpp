#include "gpu/cupti_records.h"

#include <cxxabi.h>

#include <cstdlib>
#include <unordered_map>
#include <utility>

namespace tb::gpu {
namespace {

std::string demangle(const char* name) {
  if (name == nullptr) return "(unnamed kernel)";
  int status = 0;
  char* text = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || text == nullptr) return name;
  std::string out(text);
  std::free(text);
  return out;
}

std::string api_name(const CuptiRecordContext& context, CUpti_CallbackDomain domain,
                     CUpti_CallbackId id) {
  const char* name = nullptr;
  if (context.get_callback_name == nullptr ||
      context.get_callback_name(domain, id, &name) != CUPTI_SUCCESS || name == nullptr) {
    return "CUDA API " + std::to_string(id);
  }
  return strip_api_version(name);
}

// A forced flush hands over device work still running: CUPTI leaves its timestamps 0, and a
// span that ends before it starts would be drawn backwards.
bool finished(std::uint64_t start, std::uint64_t end) {
  return start != 0 && end != 0 && start <= end;
}

trace::GpuCopyKind copy_kind(std::uint8_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD:
      return trace::GpuCopyKind::host_to_device;
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH:
      return trace::GpuCopyKind::device_to_host;
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD:
      return trace::GpuCopyKind::device_to_device;
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH:
      return trace::GpuCopyKind::host_to_host;
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP:
      return trace::GpuCopyKind::peer;
    default:
      return trace::GpuCopyKind::other;
  }
}

const char* sync_name(CUpti_ActivitySynchronizationType type) {
  switch (type) {
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE:
      return "event synchronize";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT:
      return "stream wait event";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE:
      return "stream synchronize";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE:
      return "context synchronize";
    default:
      return "synchronize";
  }
}

const char* overhead_name(CUpti_ActivityOverheadKind kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_OVERHEAD_DRIVER_COMPILER:
      return "driver compiler";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH:
      return "CUPTI buffer flush";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_INSTRUMENTATION:
      return "CUPTI instrumentation";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_RESOURCE:
      return "CUPTI resource";
    case CUPTI_ACTIVITY_OVERHEAD_LAZY_FUNCTION_LOADING:
      return "lazy function loading";
    default:
      return "CUPTI overhead";
  }
}

void append_kernel(const CUpti_ActivityKernel10& k, const CuptiRecordContext& c,
                   trace::GpuActivity& out) {
  if (!finished(k.start, k.end)) return;
  trace::GpuKernelRecord r;
  r.name = demangle(k.name);
  r.start_ns = c.engine_ns(k.start);
  r.end_ns = c.engine_ns(k.end);
  r.device = k.deviceId;
  r.stream = k.streamId;
  r.correlation = k.correlationId;
  r.grid[0] = k.gridX, r.grid[1] = k.gridY, r.grid[2] = k.gridZ;
  r.block[0] = k.blockX, r.block[1] = k.blockY, r.block[2] = k.blockZ;
  r.registers_per_thread = k.registersPerThread;
  r.static_shared_bytes = k.staticSharedMemory;
  r.dynamic_shared_bytes = k.dynamicSharedMemory;
  out.kernels.push_back(std::move(r));
}

void append_copy(const CUpti_ActivityMemcpy6& m, const CuptiRecordContext& c,
                 trace::GpuActivity& out) {
  if (!finished(m.start, m.end)) return;
  trace::GpuCopyRecord r;
  r.kind = copy_kind(m.copyKind);
  r.pinned_host = m.srcKind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED ||
                  m.dstKind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED;
  r.bytes = static_cast<std::int64_t>(m.bytes);
  r.start_ns = c.engine_ns(m.start);
  r.end_ns = c.engine_ns(m.end);
  r.device = m.deviceId;
  r.stream = m.streamId;
  r.correlation = m.correlationId;
  out.copies.push_back(r);
}

void append_memory(const CUpti_ActivityMemory4& m, const CuptiRecordContext& c,
                   trace::GpuActivity& out) {
  // Device memory only: the counters it feeds are "memory reserved (GPU n)".
  if (m.memoryKind != CUPTI_ACTIVITY_MEMORY_KIND_DEVICE) return;
  const bool allocation = m.memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
  if (!allocation && m.memoryOperationType != CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE) return;
  out.memory.push_back({allocation, static_cast<std::int64_t>(m.bytes), c.engine_ns(m.timestamp),
                        m.deviceId, m.address});
}

// The struct CUPTI documents for the record's kind (see the header).
template <class Record>
const Record& as(const CUpti_Activity* record) {
  return *reinterpret_cast<const Record*>(record);
}

}  // namespace

void append_cupti_record(const CUpti_Activity* record, const CuptiRecordContext& c,
                         trace::GpuActivity& out) {
  switch (record->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
      append_kernel(as<CUpti_ActivityKernel10>(record), c, out);
      break;
    case CUPTI_ACTIVITY_KIND_MEMCPY:
      append_copy(as<CUpti_ActivityMemcpy6>(record), c, out);
      break;
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      const auto& m = as<CUpti_ActivityMemset4>(record);
      if (!finished(m.start, m.end)) break;
      out.memsets.push_back({static_cast<std::int64_t>(m.bytes), c.engine_ns(m.start),
                             c.engine_ns(m.end), m.deviceId, m.streamId, m.correlationId});
      break;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: {
      if (!c.keep_api_calls) break;
      const auto& a = as<CUpti_ActivityAPI>(record);
      const auto domain = record->kind == CUPTI_ACTIVITY_KIND_RUNTIME ? CUPTI_CB_DOMAIN_RUNTIME_API
                                                                      : CUPTI_CB_DOMAIN_DRIVER_API;
      out.api_calls.push_back({api_name(c, domain, a.cbid), c.engine_ns(a.start),
                               c.engine_ns(a.end), a.threadId, a.correlationId});
      break;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
      const auto& s = as<CUpti_ActivitySynchronization2>(record);
      // The thread is filled in by resolve_sync_threads.
      out.syncs.push_back({sync_name(s.type), c.engine_ns(s.start), c.engine_ns(s.end), 0,
                           s.correlationId,
                           s.streamId == CUPTI_SYNCHRONIZATION_INVALID_VALUE ? 0u : s.streamId});
      break;
    }
    case CUPTI_ACTIVITY_KIND_OVERHEAD: {
      const auto& o = as<CUpti_ActivityOverhead3>(record);
      out.overheads.push_back(
          {overhead_name(o.overheadKind), c.engine_ns(o.start), c.engine_ns(o.end)});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMORY2:
      append_memory(as<CUpti_ActivityMemory4>(record), c, out);
      break;
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
      const auto& e = as<CUpti_ActivityExternalCorrelation>(record);
      if (e.externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) {
        out.external_ids[e.correlationId] = e.externalId;
      }
      break;
    }
    default:
      break;
  }
}

std::string strip_api_version(std::string name) {
  if (const auto v = name.rfind("_v"); v != std::string::npos && v > 0) name.resize(v);
  return name;
}

void resolve_sync_threads(trace::GpuActivity& activity) {
  if (activity.syncs.empty()) return;
  std::unordered_map<std::uint32_t, std::uint32_t> thread_of;
  std::unordered_map<std::uint32_t, std::size_t> calls_by_thread;
  for (const auto& call : activity.api_calls) {
    thread_of[call.correlation] = call.thread;
    ++calls_by_thread[call.thread];
  }
  std::uint32_t busiest = 0;
  std::size_t most = 0;
  for (const auto& [thread, calls] : calls_by_thread) {
    if (calls > most) most = calls, busiest = thread;
  }
  for (auto& sync : activity.syncs) {
    const auto it = thread_of.find(sync.correlation);
    sync.thread = it != thread_of.end() ? it->second : busiest;
  }
}

}  // namespace tb::gpu
