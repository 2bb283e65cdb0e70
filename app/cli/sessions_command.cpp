#include <cstdio>
#include <iostream>
#include <limits>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/trace/span_index.h"

namespace tb::app {
namespace {

nlohmann::json breakdown_json(const trace::PhaseBreakdown& b) {
  return {{"steps", b.steps},         {"step_s", b.step_s},         {"data_s", b.data_s},
          {"forward_s", b.forward_s}, {"backward_s", b.backward_s}, {"optimizer_s", b.optimizer_s},
          {"other_s", b.other_s},     {"eval_s", b.eval_s},         {"loader_s", b.loader_s}};
}

void print_phase(const char* label, double whole, double recent, bool percent) {
  if (percent) {
    std::printf("  %-26s %9.1f %16.1f\n", label, whole, recent);
  } else {
    std::printf("  %-26s %9.3f %16.3f\n", label, whole, recent);
  }
}

using nlohmann::json;

json summary_of(const store::SessionRecord& s) {
  json summary = json::parse(s.summary_json.empty() ? "{}" : s.summary_json, nullptr, false);
  return summary.is_discarded() ? json::object() : summary;
}

double number_or(const json& object, const char* key, double fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : fallback;
}

json session_json(const store::SessionRecord& s) {
  return {{"session_id", s.id.value},       {"name", s.name},     {"created", s.created},
          {"finished", s.finished},         {"status", s.status}, {"seed", s.seed},
          {"git_revision", s.git_revision}, {"host", s.host},     {"summary", summary_of(s)}};
}

// Reading commands never create a database: a missing one simply has no sessions.
std::unique_ptr<store::SessionStore> open_for_reading(const std::filesystem::path& db_path) {
  if (!std::filesystem::exists(db_path)) return nullptr;
  return std::make_unique<store::SessionStore>(db_path, store::SessionStore::Mode::read_only);
}

}  // namespace

int list_sessions(const std::filesystem::path& db_path, bool as_json) {
  auto store = open_for_reading(db_path);
  const auto sessions = store ? store->list_sessions() : std::vector<store::SessionRecord>{};
  if (as_json) {
    json list = json::array();
    for (const auto& s : sessions) list.push_back(session_json(s));
    std::cout << json{{"db", db_path.string()}, {"sessions", list}}.dump() << std::endl;
    return kExitOk;
  }
  if (sessions.empty()) {
    std::printf("no sessions in %s\n", db_path.c_str());
    return kExitOk;
  }
  std::printf("%6s  %-24s  %-20s  %-9s  %8s  %10s  %8s\n", "id", "name", "created", "status",
              "test acc", "samples/s", "steps");
  for (const auto& s : sessions) {
    const json summary = summary_of(s);
    std::printf("%6lld  %-24.24s  %-20s  %-9s  %8.4f  %10.0f  %8.0f\n",
                static_cast<long long>(s.id.value), s.name.c_str(), s.created.c_str(),
                s.status.c_str(), number_or(summary, "test_accuracy", 0.0),
                number_or(summary, "samples_per_s", 0.0), number_or(summary, "steps", 0.0));
  }
  return kExitOk;
}

int show_session(const std::filesystem::path& db_path, std::int64_t id, bool as_json) {
  auto store = open_for_reading(db_path);
  const auto session = store ? store->session(store::SessionId{id}) : std::nullopt;
  if (!session) {
    std::fprintf(stderr, "error: no session %lld in %s\n", static_cast<long long>(id),
                 db_path.c_str());
    return kExitBadInput;
  }
  json metrics = json::object();
  for (const auto& key : store->metric_keys(session->id)) {
    const auto points = store->metrics(session->id, key);
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& p : points) {
      lo = std::min(lo, p.value);
      hi = std::max(hi, p.value);
    }
    metrics[key] = {{"count", points.size()},
                    {"first", points.empty() ? 0.0 : points.front().value},
                    {"last", points.empty() ? 0.0 : points.back().value},
                    {"min", points.empty() ? 0.0 : lo},
                    {"max", points.empty() ? 0.0 : hi}};
  }
  json params = json::object();
  for (const auto& [key, value] : store->params(session->id)) params[key] = value;
  const auto stored = store::load_trace(*store, session->id);
  const auto span_count = stored.spans().size();
  std::vector<trace::SpanRecord> records;
  records.reserve(span_count);
  for (const auto& s : stored.spans()) {
    records.push_back({stored.track(s.track).name, std::string(stored.name(s.name)),
                       trace::category_name(s.category), s.start_ns, s.end_ns, s.step});
  }
  const trace::SpanIndex spans(std::move(records));
  // Where the step time went: over the whole run, and over its last 100 steps (the steady state,
  // after warm-up effects).
  const auto whole = spans.breakdown(spans.begin_ns(), spans.end_ns());
  const auto [recent_start, recent_end] = spans.last_steps_window(100);
  const auto recent = spans.breakdown(recent_start, recent_end);
  const auto checkpoints = store->checkpoint_steps(session->id);

  if (as_json) {
    json out = session_json(*session);
    out["project"] = json::parse(session->project_json, nullptr, false);
    out["params"] = params;
    out["metrics"] = metrics;
    out["spans"] = span_count;
    out["breakdown"] = {{"run", breakdown_json(whole)}, {"last_100_steps", breakdown_json(recent)}};
    out["checkpoint_steps"] = checkpoints;
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::printf("session %lld: %s\n", static_cast<long long>(id), session->name.c_str());
  std::printf(
      "  status    %s\n  created   %s\n  finished  %s\n  seed      %llu\n  revision  %s\n  host    "
      "  %s\n",
      session->status.c_str(), session->created.c_str(), session->finished.c_str(),
      static_cast<unsigned long long>(session->seed), session->git_revision.c_str(),
      session->host.c_str());
  std::printf("  summary   %s\n", summary_of(*session).dump().c_str());
  std::printf("settings:\n");
  for (const auto& [key, value] : params.items()) {
    std::printf("  %-28s %s\n", key.c_str(), value.get<std::string>().c_str());
  }
  std::printf("metrics (count, first, last, min, max):\n");
  for (const auto& [key, m] : metrics.items()) {
    std::printf("  %-18s %8lld  %10.4f  %10.4f  %10.4f  %10.4f\n", key.c_str(),
                static_cast<long long>(m["count"].get<std::size_t>()), m["first"].get<double>(),
                m["last"].get<double>(), m["min"].get<double>(), m["max"].get<double>());
  }
  std::printf("trace: %zu spans\n", span_count);
  if (whole.steps > 0) {
    std::printf("where the step time went      whole run   last 100 steps\n");
    std::printf("  %-26s %9lld %16lld\n", "steps", static_cast<long long>(whole.steps),
                static_cast<long long>(recent.steps));
    print_phase("step time (s)", whole.step_s, recent.step_s, false);
    const double w = whole.step_s > 0 ? 100.0 / whole.step_s : 0.0;
    const double r = recent.step_s > 0 ? 100.0 / recent.step_s : 0.0;
    print_phase("data wait %", whole.data_s * w, recent.data_s * r, true);
    print_phase("forward %", whole.forward_s * w, recent.forward_s * r, true);
    print_phase("backward %", whole.backward_s * w, recent.backward_s * r, true);
    print_phase("optimizer %", whole.optimizer_s * w, recent.optimizer_s * r, true);
    print_phase("other %", whole.other_s * w, recent.other_s * r, true);
    std::printf("  evaluation (s, outside steps) %.3f\n", whole.eval_s);
    if (whole.loader_s > 0) {
      std::printf("  loader workers decoding (s, beside the steps) %.3f\n", whole.loader_s);
    }
  }
  std::printf("checkpoints: %zu", checkpoints.size());
  for (auto step : checkpoints) std::printf(" %lld", static_cast<long long>(step));
  std::printf("\n");
  return kExitOk;
}

}  // namespace tb::app
