// CUPTI, loaded at run time (dlopen), not linked: a machine whose CUDA libraries lack CUPTI (or
// a Python environment without nvidia-cuda-cupti) still runs Trainbench, just without kernel
// tracing, and says why. The functions are CUPTI's own, through pointers of their declared types.
#pragma once

#include <cupti.h>

#include <cstdint>
#include <string>

namespace tb::gpu {

struct CuptiLibrary {
  decltype(&cuptiGetResultString) get_result_string = nullptr;
  decltype(&cuptiSubscribe) subscribe = nullptr;
  decltype(&cuptiUnsubscribe) unsubscribe = nullptr;
  decltype(&cuptiGetCallbackName) get_callback_name = nullptr;
  decltype(&cuptiGetTimestamp) get_timestamp = nullptr;
  decltype(&cuptiActivityEnable) enable = nullptr;
  decltype(&cuptiActivityDisable) disable = nullptr;
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
  decltype(&cuptiActivityRegisterTimestampCallback) register_timestamp_callback = nullptr;
  decltype(&cuptiActivityFlushAll) flush_all = nullptr;
  decltype(&cuptiActivityFlushPeriod) flush_period = nullptr;
  decltype(&cuptiActivityGetNextRecord) get_next_record = nullptr;
  decltype(&cuptiActivityGetNumDroppedRecords) get_num_dropped_records = nullptr;
  decltype(&cuptiActivityPushExternalCorrelationId) push_external_correlation_id = nullptr;
  decltype(&cuptiActivityPopExternalCorrelationId) pop_external_correlation_id = nullptr;

  // "CUPTI_ERROR_...: text" for a result.
  std::string describe(CUptiResult result) const;
  // Throws tb::Error "`what`: <CUPTI's result>" unless result is CUPTI_SUCCESS.
  void check(CUptiResult result, const char* what) const;
};

// The process's CUPTI, loaded at the first call; null when it cannot be loaded, with the reason
// in `why` (the library or one of its functions was not found, or it is another major version).
const CuptiLibrary* cupti_library(std::string& why);

// Why a CUPTI whose cuptiGetVersion says `version` cannot be used; empty when it can. The
// activity records are read through the structs of the CUPTI headers built against
// (cupti_records.h), so the library must be of the same CUDA major version: a CUPTI 12 (API
// versions up to 28) is not meant to trace the CUDA 13 runtime linked in, and a later major may
// lay its records out anew.
std::string cupti_version_problem(std::uint32_t version);

}  // namespace tb::gpu
