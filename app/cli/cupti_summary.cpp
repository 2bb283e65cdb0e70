#include "app/cli/cupti_summary.h"

#include <charconv>
#include <string_view>

#include "core/trace/verdict.h"

namespace tb::app {
namespace {

constexpr std::string_view kOff = "off: ";

// A count as DeviceProfiling writes it; anything else counts as none rather than failing the
// command that shows it.
std::int64_t count_of(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value > 0 ? value : 0;
}

}  // namespace

std::optional<CuptiTracing> cupti_tracing(const store::Params& params) {
  CuptiTracing out;
  bool asked = false;
  for (const auto& [key, value] : params) {
    if (key == "profile.cupti") {
      // The project's "true"/"false" stays where no CUDA run replaced it with its outcome.
      out.on = value == "on";
      asked = out.on || value.rfind(kOff, 0) == 0;
      if (!out.on && asked) out.off_reason = value.substr(kOff.size());
    } else if (key == "profile.cupti_records") {
      out.records = count_of(value);
    }
  }
  // Read as the verdict reads it, so the line and the verdict's warning agree.
  out.dropped_records = trace::session_facts(params).cupti_dropped_records;
  return asked ? std::optional(out) : std::nullopt;
}

std::string cupti_line(const CuptiTracing& tracing) {
  if (!tracing.on) return "CUPTI: off: " + tracing.off_reason;
  std::string line = "CUPTI: " + std::to_string(tracing.records) + " records traced, ";
  if (tracing.dropped_records == 0) return line + "none dropped";
  return line + std::to_string(tracing.dropped_records) +
         " dropped: the kernel timeline is incomplete";
}

nlohmann::json cupti_json(const CuptiTracing& tracing) {
  nlohmann::json out = {{"on", tracing.on},
                        {"records", tracing.records},
                        {"dropped_records", tracing.dropped_records}};
  if (!tracing.on) out["off_reason"] = tracing.off_reason;
  return out;
}

std::optional<CuptiTracing> stored_cupti_tracing(const std::filesystem::path& db_path,
                                                 store::SessionId id) {
  if (!id.valid() || !std::filesystem::exists(db_path)) return std::nullopt;
  const store::SessionStore store(db_path, store::SessionStore::Mode::read_only);
  auto tracing = cupti_tracing(store.params(id));
  return tracing && tracing->on ? std::move(tracing) : std::nullopt;
}

}  // namespace tb::app
