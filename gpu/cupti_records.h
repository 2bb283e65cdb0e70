// CUPTI's activity records turned into trace's plain records (core/trace/gpu_activity.h): what
// CuptiTracer does with each record of a completed buffer. Kept apart from the tracer so that the
// conversion runs without a GPU, in tests that fill CUPTI's structs by hand.
//
// Each kind is read through the struct CUDA 13's cupti_activity.h names for it (the one CUPTI 13
// delivers): CONCURRENT_KERNEL and KERNEL CUpti_ActivityKernel10, MEMCPY CUpti_ActivityMemcpy6,
// MEMSET CUpti_ActivityMemset4, RUNTIME and DRIVER CUpti_ActivityAPI, SYNCHRONIZATION
// CUpti_ActivitySynchronization2, OVERHEAD CUpti_ActivityOverhead3, MEMORY2
// CUpti_ActivityMemory4, EXTERNAL_CORRELATION CUpti_ActivityExternalCorrelation. The loader
// (cupti_library.cpp) refuses a CUPTI of another major version.
#pragma once

#include <cupti.h>

#include <cstdint>
#include <string>

#include "core/trace/gpu_activity.h"

namespace tb::gpu {

// What converting a record needs besides the record.
struct CuptiRecordContext {
  // Engine time minus CUPTI time, added to every CUPTI timestamp (CuptiTracer measures it per
  // buffer, so a drift between the clocks never builds up).
  std::int64_t offset_ns = 0;
  // False where runtime records were enabled only for the external correlation: then they
  // become no api_calls.
  bool keep_api_calls = true;
  // Names a runtime or driver call: the loaded CUPTI's cuptiGetCallbackName. Null, or a failed
  // lookup, gives "CUDA API <id>".
  decltype(&cuptiGetCallbackName) get_callback_name = nullptr;

  std::int64_t engine_ns(std::uint64_t cupti_ns) const {
    return static_cast<std::int64_t>(cupti_ns) + offset_ns;
  }
};

// Appends what `record` says to `out`. Passed over: device work without both timestamps or
// ending before it starts (not finished when a forced flush came), memory records other than a
// device allocation or release, external ids of another kind than CUSTOM0 (the runner's phases),
// and kinds the tracer does not enable.
void append_cupti_record(const CUpti_Activity* record, const CuptiRecordContext& context,
                         trace::GpuActivity& out);

// "cudaLaunchKernel_v7000" -> "cudaLaunchKernel": CUPTI's callback names carry the version the
// call's signature dates from.
std::string strip_api_version(std::string name);

// Synchronisation records carry no thread: each gets the thread of the runtime call with its
// correlation id, else the thread that made the most calls (the training loop). Runs once all
// of a take()'s records are in, since the call and its synchronisation may come in different
// buffers.
void resolve_sync_threads(trace::GpuActivity& activity);

}  // namespace tb::gpu
