#include "gpu/cupti_library.h"

#include <dlfcn.h>

#include <mutex>

#include "core/util/error.h"

namespace tb::gpu {
namespace {

struct Loaded {
  CuptiLibrary library;
  std::string why;  // empty when loaded
};

template <class Fn>
bool find(void* handle, Fn& out, const char* name, std::string& why) {
  out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!out && why.empty()) why = std::string("CUPTI has no ") + name + " (too old a CUPTI)";
  return out != nullptr;
}

Loaded load() {
  Loaded loaded;
  void* handle = nullptr;
  // The toolkit's major version first, then whatever libcupti.so the loader finds.
  for (const char* name : {"libcupti.so.13", "libcupti.so.12", "libcupti.so"}) {
    if ((handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  }
  if (!handle) {
    loaded.why =
        "libcupti.so was not found (add the folder holding it, e.g. a Python environment's "
        "nvidia/cuda_cupti/lib, to LD_LIBRARY_PATH)";
    return loaded;
  }
  auto& l = loaded.library;
  std::string& why = loaded.why;
  find(handle, l.get_result_string, "cuptiGetResultString", why);
  find(handle, l.subscribe, "cuptiSubscribe", why);
  find(handle, l.unsubscribe, "cuptiUnsubscribe", why);
  find(handle, l.get_callback_name, "cuptiGetCallbackName", why);
  find(handle, l.get_timestamp, "cuptiGetTimestamp", why);
  find(handle, l.enable, "cuptiActivityEnable", why);
  find(handle, l.disable, "cuptiActivityDisable", why);
  find(handle, l.register_callbacks, "cuptiActivityRegisterCallbacks", why);
  // Optional (CUPTI 11.6 on): without it CUPTI's own clock is put on the engine's by an offset.
  l.register_timestamp_callback = reinterpret_cast<decltype(l.register_timestamp_callback)>(
      dlsym(handle, "cuptiActivityRegisterTimestampCallback"));
  find(handle, l.flush_all, "cuptiActivityFlushAll", why);
  find(handle, l.flush_period, "cuptiActivityFlushPeriod", why);
  find(handle, l.get_next_record, "cuptiActivityGetNextRecord", why);
  find(handle, l.get_num_dropped_records, "cuptiActivityGetNumDroppedRecords", why);
  find(handle, l.push_external_correlation_id, "cuptiActivityPushExternalCorrelationId", why);
  find(handle, l.pop_external_correlation_id, "cuptiActivityPopExternalCorrelationId", why);
  // The handle stays open for the process: CUPTI's callbacks may run until exit.
  return loaded;
}

}  // namespace

std::string CuptiLibrary::describe(CUptiResult result) const {
  const char* text = nullptr;
  if (get_result_string == nullptr || get_result_string(result, &text) != CUPTI_SUCCESS ||
      text == nullptr) {
    return "CUPTI error " + std::to_string(static_cast<int>(result));
  }
  return text;
}

void CuptiLibrary::check(CUptiResult result, const char* what) const {
  if (result != CUPTI_SUCCESS) throw Error(std::string(what) + ": " + describe(result));
}

const CuptiLibrary* cupti_library(std::string& why) {
  static const Loaded loaded = load();
  why = loaded.why;
  return loaded.why.empty() ? &loaded.library : nullptr;
}

}  // namespace tb::gpu
