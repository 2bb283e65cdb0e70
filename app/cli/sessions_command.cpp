#include <cstdio>
#include <iostream>
#include <limits>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/store/session_catalog.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/trace/span_index.h"
#include "core/util/error.h"

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

store::SessionColumn parse_column(const std::string& name) {
  using store::SessionColumn;
  static const std::pair<const char*, SessionColumn> kColumns[] = {
      {"id", SessionColumn::id},
      {"name", SessionColumn::name},
      {"created", SessionColumn::created},
      {"status", SessionColumn::status},
      {"project", SessionColumn::project},
      {"dataset", SessionColumn::dataset},
      {"model", SessionColumn::model},
      {"optimizer", SessionColumn::optimizer},
      {"precision", SessionColumn::precision},
      {"best_accuracy", SessionColumn::best_accuracy},
      {"samples_per_s", SessionColumn::samples_per_s},
      {"duration_s", SessionColumn::duration_s},
      {"tags", SessionColumn::tags},
  };
  for (const auto& [key, column] : kColumns) {
    if (name == key) return column;
  }
  throw Error("--sort: unknown column \"" + name +
              "\" (id, name, created, status, project, dataset, model, optimizer, precision, "
              "best_accuracy, samples_per_s, duration_s, tags)");
}

std::string optional_text(const std::optional<double>& value, const char* format) {
  if (!value) return "";
  char text[64];
  std::snprintf(text, sizeof text, format, *value);
  return text;
}

json overview_json(const store::SessionOverview& s) {
  auto number = [](const std::optional<double>& value) { return value ? json(*value) : json(); };
  return {{"project", s.project},
          {"dataset", s.dataset},
          {"model", s.model},
          {"optimizer", s.optimizer},
          {"precision", s.precision},
          {"best_accuracy", number(s.best_accuracy)},
          {"samples_per_s", number(s.samples_per_s)},
          {"duration_s", number(s.duration_s)},
          {"tags", s.tags},
          {"notes", s.notes},
          {"sweep_id", s.sweep.valid() ? json(s.sweep.value) : json()}};
}

}  // namespace

int list_sessions(const ListSessionsCommand& command) {
  store::SessionQuery query;
  query.text = command.filter;
  if (!command.project.empty()) query.project = command.project;
  query.tag = command.tag;
  query.sweep = store::SweepId(command.sweep);
  query.sort = parse_column(command.sort);
  query.descending = !command.ascending;
  auto store = open_for_reading(command.db_path);
  std::vector<store::SessionOverview> sessions;
  std::int64_t total = 0;
  if (store) {
    total = store::count_sessions(*store, query);
    sessions = store::query_sessions(*store, query, 0, command.limit > 0 ? command.limit : total);
  }
  if (command.json) {
    json list = json::array();
    for (const auto& s : sessions) {
      const auto record = store->session(s.id);
      json row = session_json(*record);
      row.update(overview_json(s));
      list.push_back(std::move(row));
    }
    std::cout << json{{"db", command.db_path.string()}, {"total", total}, {"sessions", list}}.dump()
              << std::endl;
    return kExitOk;
  }
  if (sessions.empty()) {
    const bool filtered =
        !query.text.empty() || query.project || !query.tag.empty() || query.sweep.valid();
    std::printf("no sessions in %s%s\n", command.db_path.c_str(), filtered ? " match" : "");
    return kExitOk;
  }
  std::printf("%6s  %-24s  %-20s  %-9s  %-12s  %-9s  %-5s  %8s  %10s  %9s  %s\n", "id", "name",
              "created", "status", "project", "optimizer", "prec", "best acc", "samples/s",
              "duration", "tags");
  for (const auto& s : sessions) {
    std::string tags;
    for (const auto& tag : s.tags) {
      if (!tags.empty()) tags += ',';
      tags += tag;
    }
    std::printf("%6lld  %-24.24s  %-20s  %-9s  %-12.12s  %-9.9s  %-5.5s  %8s  %10s  %9s  %s\n",
                static_cast<long long>(s.id.value), s.name.c_str(), s.created.c_str(),
                s.status.c_str(), s.project.c_str(), s.optimizer.c_str(), s.precision.c_str(),
                optional_text(s.best_accuracy, "%.4f").c_str(),
                optional_text(s.samples_per_s, "%.0f").c_str(),
                optional_text(s.duration_s, "%.1f s").c_str(), tags.c_str());
  }
  if (static_cast<std::int64_t>(sessions.size()) < total) {
    std::printf("(%zu of %lld sessions; --limit 0 lists all)\n", sessions.size(),
                static_cast<long long>(total));
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
