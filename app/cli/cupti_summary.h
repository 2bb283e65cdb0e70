// What a session's settings say about its CUPTI tracing, for the end-of-run summary and
// `trainbench profile`: records CUPTI dropped leave holes in the kernel timeline that every
// figure drawn from it inherits, so they are shown, not only stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/store/session_store.h"

namespace tb::app {

struct CuptiTracing {
  bool on = false;
  std::string off_reason;  // why not, when the run asked for tracing and did not trace
  std::int64_t records = 0;
  std::int64_t dropped_records = 0;
};

// From the params run::DeviceProfiling stores on a CUDA device (profile.cupti "on" or "off: why",
// profile.cupti_records, profile.cupti_dropped_records); nullopt without them (a CPU run, whose
// profile.cupti is the project's "true", an import).
std::optional<CuptiTracing> cupti_tracing(const store::Params& params);

// "CUPTI: 1200 records traced, 34 dropped: the kernel timeline is incomplete", or
// "CUPTI: off: why".
std::string cupti_line(const CuptiTracing& tracing);
// {"on", "records", "dropped_records"}, with "off_reason" when off.
nlohmann::json cupti_json(const CuptiTracing& tracing);

// The CUPTI tracing stored with session `id` of the database at `db_path`; nullopt when it did
// not trace (off, a CPU run, no such session).
std::optional<CuptiTracing> stored_cupti_tracing(const std::filesystem::path& db_path,
                                                 store::SessionId id);

}  // namespace tb::app
