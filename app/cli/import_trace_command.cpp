// trainbench import-trace FILE [--name N]: a PyTorch profiler trace (or a Trainbench export)
// stored as a completed session, its trace in the session's trace tables like a run's.
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/trace/pytorch_import.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

using nlohmann::json;

json counts_json(const std::map<std::string, trace::SkipCount>& counts) {
  json out = json::object();
  for (const auto& [what, count] : counts) out[what] = count.events;
  return out;
}

// What the import made of the file: the session's summary and the --json output.
json import_summary(const std::filesystem::path& file, const trace::ImportStats& stats) {
  json by_category = json::object();
  for (int c = 0; c < trace::kCategoryCount; ++c) {
    const auto category = static_cast<trace::Category>(c);
    if (stats.spans_in(category) > 0) {
      by_category[trace::category_name(category)] = stats.spans_in(category);
    }
  }
  return {{"source", stats.source},
          {"file", file.string()},
          {"events", stats.events},
          {"spans", stats.spans},
          {"spans_by_category", by_category},
          {"tracks", stats.tracks},
          {"steps", stats.steps},
          {"flows", stats.flows},
          {"memory_points", stats.memory_points},
          {"counter_points", stats.counter_points},
          {"skipped", counts_json(stats.skipped)},
          {"skipped_categories", counts_json(stats.skipped_categories)}};
}

// "nothing", or "12 instant event, 2 flow end without a start, 1 unknown category \"foo\"".
std::string skipped_text(const trace::ImportStats& stats) {
  std::string text;
  const auto add = [&](const std::string& what, std::int64_t events) {
    if (!text.empty()) text += ", ";
    text += std::to_string(events) + " " + what;
  };
  for (const auto& [reason, count] : stats.skipped) add(reason, count.events);
  for (const auto& [cat, count] : stats.skipped_categories) {
    add("of unknown category \"" + cat + "\"", count.events);
  }
  return text.empty() ? "nothing" : text;
}

}  // namespace

int import_trace(const ImportTraceCommand& command) {
  trace::ImportStats stats;
  trace::Trace imported;
  try {
    imported = trace::import_pytorch_trace(command.file, &stats);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());  // names the file (and the offset)
    return kExitBadInput;
  }
  const std::string name = command.name.empty() ? command.file.filename().string() : command.name;
  const json summary = import_summary(command.file, stats);

  store::SessionStore store(command.db_path);
  store::NewSession session;
  session.name = name;
  session.project_json =
      json{{"name", name},
           {"import",
            {{"file", std::filesystem::absolute(command.file).string()}, {"format", stats.source}}}}
          .dump();
  session.git_revision = run::build_revision();
  session.host = run::host_name();
  const store::SessionId id = store.create_session(session);
  try {
    store.add_params(
        id, {{"import.file", command.file.filename().string()}, {"import.format", stats.source}});
    store::TraceWriter writer(store, id);
    writer.append(imported);
    writer.set_metadata(imported.metadata);
    store.finish_session(id, "completed", summary.dump());
  } catch (const Error& e) {
    // The session stays, marked failed, so that what went wrong can be seen in `sessions`.
    store.finish_session(id, "failed", json{{"error", e.what()}}.dump());
    throw;
  }

  if (command.json) {
    json out = summary;
    out["session_id"] = id.value;
    out["name"] = name;
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf(
        "imported %s as session %lld: %lld spans on %lld tracks, %lld steps, %lld flows, %lld "
        "memory points; skipped: %s\n",
        command.file.string().c_str(), static_cast<long long>(id.value),
        static_cast<long long>(stats.spans), static_cast<long long>(stats.tracks),
        static_cast<long long>(stats.steps), static_cast<long long>(stats.flows),
        static_cast<long long>(stats.memory_points), skipped_text(stats).c_str());
  }
  return kExitOk;
}

}  // namespace tb::app
