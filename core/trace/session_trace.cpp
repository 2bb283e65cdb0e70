#include "core/trace/session_trace.h"

#include <cmath>
#include <string>

#include "core/util/error.h"

namespace tb::trace {
namespace {

nlohmann::json parsed_or_text(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  return doc.is_discarded() ? nlohmann::json(text) : doc;
}

}  // namespace

ExportTrace session_trace(const store::SessionStore& store, store::SessionId id) {
  const auto session = store.session(id);
  if (!session) {
    throw Error(store.path().string() + ": no session " + std::to_string(id.value));
  }
  ExportTrace trace;
  trace.process_name = "trainbench session " + std::to_string(id.value) + ": " + session->name;
  for (auto& row : store.spans(id)) {
    trace.spans.push_back({std::move(row.track), std::move(row.name), std::move(row.category),
                           row.start_ns, row.end_ns, row.step});
  }
  for (const auto& key : store.metric_keys(id)) {
    ExportCounter counter;
    counter.name = key;
    for (const auto& point : store.metrics(id, key)) {
      if (!std::isfinite(point.value)) continue;  // JSON has no NaN or infinity
      counter.points.push_back({std::llround(point.wall_time * 1e9), point.value});
    }
    trace.counters.push_back(std::move(counter));
  }
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [key, value] : store.params(id)) params[key] = value;
  trace.metadata = {{"trainbench_session", id.value},
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
  return trace;
}

}  // namespace tb::trace
