// trainbench export-trace ID -o FILE.json[.gz]: a stored session as Chrome trace JSON.
#include <cstdio>
#include <filesystem>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/store/session_store.h"
#include "core/trace/chrome_trace.h"
#include "core/trace/session_trace.h"

namespace tb::app {

int export_trace(const ExportTraceCommand& command) {
  if (!std::filesystem::exists(command.db_path)) {
    std::fprintf(stderr, "error: no session database at %s\n", command.db_path.c_str());
    return kExitBadInput;
  }
  const store::SessionStore store(command.db_path, store::SessionStore::Mode::read_only);
  const store::SessionId id{command.session};
  const auto session = store.session(id);
  if (!session) {
    std::fprintf(stderr, "error: no session %lld in %s\n", static_cast<long long>(command.session),
                 command.db_path.c_str());
    return kExitBadInput;
  }
  const auto trace = trace::session_trace(store, id);
  trace::ChromeTraceOptions options;
  options.default_process = "trainbench session " + std::to_string(id.value) + ": " + session->name;
  trace::save_chrome_trace(trace, command.output, options);
  std::size_t points = 0;
  for (const auto& counter : trace.counters()) points += counter.points.size();
  std::printf(
      "session %lld: %zu spans on %zu tracks, %zu flows, %zu counters (%zu points) "
      "written to %s\n",
      static_cast<long long>(command.session), trace.spans().size(), trace.tracks().size(),
      trace.flows().size(), trace.counters().size(), points, command.output.c_str());
  return kExitOk;
}

}  // namespace tb::app
