#include "gpu/cupti_library.h"

#include <dlfcn.h>

#include <cstdint>
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

// The records' layouts are those of the headers built against; see cupti_version_problem.
static_assert(CUPTI_API_VERSION >= 130000, "built against CUPTI 13's headers or later");
constexpr std::uint32_t kCuptiMajor = CUPTI_API_VERSION / 10000;

// Why the CUPTI behind `handle` cannot be used; empty when it can.
std::string version_problem_of(void* handle) {
  const auto get_version =
      reinterpret_cast<decltype(&cuptiGetVersion)>(dlsym(handle, "cuptiGetVersion"));
  if (get_version == nullptr) return "it has no cuptiGetVersion";
  std::uint32_t version = 0;
  if (get_version(&version) != CUPTI_SUCCESS) return "its cuptiGetVersion failed";
  return cupti_version_problem(version);
}

Loaded load() {
  Loaded loaded;
  void* handle = nullptr;
  std::string refused;  // why the first library found cannot be used
  // The toolkit's major version first, then whatever libcupti.so the loader finds.
  // libcupti.so.12 never passes the version check: it is opened to say why it is refused.
  for (const char* name : {"libcupti.so.13", "libcupti.so.12", "libcupti.so"}) {
    if ((handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) == nullptr) continue;
    const std::string problem = version_problem_of(handle);
    if (problem.empty()) break;
    if (refused.empty()) refused = std::string(name) + " cannot be used: " + problem;
    // Nothing of it was started, only its version asked: closed, so that a later candidate is
    // the one CUPTI in the process.
    dlclose(handle);
    handle = nullptr;
  }
  if (!handle) {
    loaded.why = !refused.empty()
                     ? refused
                     : "libcupti.so was not found (add the folder holding it, e.g. a Python "
                       "environment's nvidia/cuda_cupti/lib, to LD_LIBRARY_PATH)";
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

std::string cupti_version_problem(std::uint32_t version) {
  // From CUPTI 13 on a version reads xxyyzz (CUDA xx.yy); before, it was a count (28: CUDA 12.9).
  const std::uint32_t major = version / 10000;
  if (major == kCuptiMajor) return "";
  const std::string found =
      version < 10000
          ? "CUPTI API version " + std::to_string(version) + " (CUDA 12 or older)"
          : "CUPTI " + std::to_string(major) + "." + std::to_string(version / 100 % 100) +
                " (API version " + std::to_string(version) + ")";
  const std::string wanted = std::to_string(kCuptiMajor);
  return "it is " + found + ", but Trainbench reads the activity records of CUPTI " + wanted +
         " (CUDA " + wanted + ".x); add the folder holding CUDA " + wanted + "'s libcupti.so." +
         wanted + " to LD_LIBRARY_PATH";
}

const CuptiLibrary* cupti_library(std::string& why) {
  static const Loaded loaded = load();
  why = loaded.why;
  return loaded.why.empty() ? &loaded.library : nullptr;
}

}  // namespace tb::gpu
