#include "core/trace/session_trace.h"

#include <cmath>
#include <string>

#include "core/store/trace_store.h"
#include "core/util/error.h"

namespace tb::trace {
namespace {

nlohmann::json parsed_or_text(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  return doc.is_discarded() ? nlohmann::json(text) : doc;
}

}  // namespace

Trace session_trace(const store::SessionStore& store, store::SessionId id) {
  const auto session = store.session(id);
  if (!session) {
    throw Error(store.path().string() + ": no session " + std::to_string(id.value));
  }
  // Sessions of older builds are in the same tables: schema version 5 moved their spans there.
  Trace trace = store::load_trace(store, id);

  for (const auto& key : store.metric_keys(id)) {
    const auto existing = trace.find_counter(key);
    const CounterId counter = existing ? *existing : trace.add_counter(key, "");
    for (const auto& point : store.metrics(id, key)) {
      if (!std::isfinite(point.value) || !std::isfinite(point.wall_time)) continue;
      trace.add_counter_point(counter, std::llround(point.wall_time * 1e9), point.value);
    }
  }

  nlohmann::json params = nlohmann::json::object();
  for (const auto& [key, value] : store.params(id)) params[key] = value;
  nlohmann::json metadata = trace.metadata.is_object() ? trace.metadata : nlohmann::json::object();
  const nlohmann::json record = {{"trainbench_session", id.value},
                                 {"name", session->name},
                                 {"created", session->created},
                                 {"finished", session->finished},
                                 {"status", session->status},
                                 {"git_revision", session->git_revision},
                                 {"host", session->host},
                                 {"seed", session->seed},
                                 {"project", parsed_or_text(session->project_json)},
                                 {"summary", parsed_or_text(session->summary_json)},
                                 {"params", params}};
  for (const auto& [key, value] : record.items()) metadata[key] = value;
  trace.metadata = std::move(metadata);
  trace.finish();
  return trace;
}

}  // namespace tb::trace
