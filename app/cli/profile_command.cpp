// trainbench profile ID [--json] [--top N]: where a session's step time goes (the step breakdown,
// per step and on average), its top host and device ops, the GPU idle share, what CUPTI traced
// and dropped, and the verdict.
// trainbench trace-diff A B [--top N] [--json]: ops and kernels added, removed, faster and slower.
// trainbench kernels ID [--top N] [--group] [--copies] [--json]: the kernel table.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "app/cli/cupti_summary.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/trace/breakdown.h"
#include "core/trace/kernel_table.h"
#include "core/trace/top_ops.h"
#include "core/trace/verdict.h"

namespace tb::app {
namespace {

using nlohmann::json;

// Opens the database and checks each session exists; prints the error and returns null else.
std::unique_ptr<store::SessionStore> open_sessions(const std::filesystem::path& db_path,
                                                   std::initializer_list<std::int64_t> ids) {
  if (!std::filesystem::exists(db_path)) {
    std::fprintf(stderr, "error: no session database at %s\n", db_path.c_str());
    return nullptr;
  }
  auto store = std::make_unique<store::SessionStore>(db_path, store::SessionStore::Mode::read_only);
  for (const std::int64_t id : ids) {
    if (!store->session(store::SessionId{id})) {
      std::fprintf(stderr, "error: no session %lld in %s\n", static_cast<long long>(id),
                   db_path.c_str());
      return nullptr;
    }
  }
  return store;
}

double share(double part, double whole) {
  return whole > 0 ? part / whole : 0.0;
}

json op_json(const trace::OpStat& op) {
  return {{"name", op.name},       {"category", trace::category_name(op.category)},
          {"count", op.count},     {"total_ns", op.total_ns},
          {"mean_ns", op.mean_ns}, {"share", op.share}};
}

json parts_json(const std::array<std::int64_t, trace::kStepPartCount>& parts) {
  json out = json::object();
  for (int p = 0; p < trace::kStepPartCount; ++p) {
    out[trace::step_part_name(static_cast<trace::StepPart>(p))] =
        parts[static_cast<std::size_t>(p)];
  }
  return out;
}

json breakdown_json(const trace::BreakdownReport& b) {
  json steps = json::array();
  for (const auto& s : b.steps) {
    steps.push_back({{"step", s.step},
                     {"start_ns", s.start_ns},
                     {"end_ns", s.end_ns},
                     {"duration_ns", s.end_ns - s.start_ns},
                     {"parts_ns", parts_json(s.part_ns)}});
  }
  json mean_parts = json::object(), mean_shares = json::object();
  for (int p = 0; p < trace::kStepPartCount; ++p) {
    const char* name = trace::step_part_name(static_cast<trace::StepPart>(p));
    const double ns = b.mean_part_ns[static_cast<std::size_t>(p)];
    mean_parts[name] = ns;
    mean_shares[name] = share(ns, b.mean_step_ns);
  }
  return {{"steps", steps},
          {"mean_step_ns", b.mean_step_ns},
          {"mean_parts_ns", mean_parts},
          {"mean_parts_share", mean_shares},
          {"gpu_idle_share", b.gpu_idle_share ? json(*b.gpu_idle_share) : json(nullptr)},
          {"device_tracks", b.device_tracks},
          {"warmup_steps_skipped", b.warmup_steps_skipped}};
}

json verdict_json(const trace::Verdict& v) {
  return {{"bound", trace::bound_name(v.bound)},
          {"headline", v.headline},
          {"evidence", v.evidence},
          {"suggestion", v.suggestion},
          {"setting", v.setting},
          {"expected_speedup", v.expected_speedup},
          {"share", v.share}};
}

// The ops of one side (host or device), at most `top`.
std::vector<trace::OpStat> side(const std::vector<trace::OpStat>& ops, bool device,
                                std::size_t top) {
  std::vector<trace::OpStat> out;
  for (const auto& op : ops) {
    if (trace::is_device_category(op.category) != device) continue;
    if (top > 0 && out.size() >= top) break;
    out.push_back(op);
  }
  return out;
}

// Milliseconds with three decimals: steps of real runs range from microseconds to seconds.
double ms(double ns) {
  return ns * 1e-6;
}

void print_ops(const char* title, const std::vector<trace::OpStat>& ops) {
  if (ops.empty()) return;
  std::printf("%s\n  %-48s %-13s %8s %12s %12s %7s\n", title, "name", "category", "count",
              "total ms", "mean us", "share%");
  for (const auto& op : ops) {
    std::printf("  %-48.48s %-13s %8lld %12.3f %12.2f %7.1f\n", op.name.c_str(),
                trace::category_name(op.category), static_cast<long long>(op.count),
                ms(static_cast<double>(op.total_ns)), op.mean_ns * 1e-3, 100.0 * op.share);
  }
}

void print_breakdown(const trace::BreakdownReport& b, std::int64_t max_steps) {
  const auto counted = static_cast<long long>(b.steps.size()) - b.warmup_steps_skipped;
  std::printf("mean step %.3f ms over %lld steps%s\n", ms(b.mean_step_ns), counted,
              b.warmup_steps_skipped > 0 ? " (the first left out as warm-up)" : "");
  std::printf("  %-14s %12s %8s\n", "part", "mean ms", "share%");
  for (int p = 0; p < trace::kStepPartCount; ++p) {
    const double ns = b.mean_part_ns[static_cast<std::size_t>(p)];
    std::printf("  %-14s %12.3f %8.1f\n", trace::step_part_name(static_cast<trace::StepPart>(p)),
                ms(ns), 100.0 * share(ns, b.mean_step_ns));
  }
  // A long run has thousands of steps: the table lists the slowest, in step order, where the
  // outliers (warm-up, epoch boundaries, stalls) show; --json has every step.
  std::vector<const trace::StepBreakdown*> listed;
  for (const auto& s : b.steps) listed.push_back(&s);
  const std::size_t limit = static_cast<std::size_t>(std::max<std::int64_t>(0, max_steps));
  if (listed.size() > limit) {
    const auto length = [](const trace::StepBreakdown* s) { return s->end_ns - s->start_ns; };
    std::partial_sort(listed.begin(), listed.begin() + static_cast<std::ptrdiff_t>(limit),
                      listed.end(), [&](auto* a, auto* c) { return length(a) > length(c); });
    listed.resize(limit);
    std::sort(listed.begin(), listed.end(),
              [](auto* a, auto* c) { return a->start_ns < c->start_ns; });
    std::printf("the %zu slowest of %zu steps (--steps N for more; --json has all):\n", limit,
                b.steps.size());
  }
  // "communication" is too wide for a column: the table says "comm".
  std::printf("per step (%% of the step):\n  %8s %12s", "step", "step ms");
  for (int p = 0; p < trace::kStepPartCount; ++p) {
    const auto part = static_cast<trace::StepPart>(p);
    std::printf(" %9s",
                part == trace::StepPart::communication ? "comm" : trace::step_part_name(part));
  }
  std::printf("\n");
  for (const auto* step : listed) {
    const auto& s = *step;
    const double length = static_cast<double>(s.end_ns - s.start_ns);
    std::printf("  %8lld %12.3f", static_cast<long long>(s.step), ms(length));
    for (const auto ns : s.part_ns) std::printf(" %9.1f", 100.0 * share(ns, length));
    std::printf("\n");
  }
  if (b.gpu_idle_share) {
    std::printf("GPU idle: %.1f%% of the step (%lld device track%s)\n", 100.0 * *b.gpu_idle_share,
                static_cast<long long>(b.device_tracks), b.device_tracks == 1 ? "" : "s");
  }
}

}  // namespace

int profile_session(const ProfileCommand& command) {
  const auto store = open_sessions(command.db_path, {command.session});
  if (!store) return kExitBadInput;
  const store::SessionId id{command.session};
  const trace::Trace trace = store::load_trace(*store, id);
  const auto breakdown = trace::step_breakdown(trace);
  const auto ops = trace::top_ops(trace);
  const store::Params params = store->params(id);
  const trace::SessionFacts facts = trace::session_facts(params);
  const auto cupti = cupti_tracing(params);
  const auto verdict = trace::judge(trace, breakdown, ops, facts);
  const auto top = static_cast<std::size_t>(command.top);
  const auto host_ops = side(ops, false, top);
  const auto device_ops = side(ops, true, top);

  if (command.json) {
    json host = json::array(), device = json::array();
    for (const auto& op : host_ops) host.push_back(op_json(op));
    for (const auto& op : device_ops) device.push_back(op_json(op));
    json out = breakdown_json(breakdown);
    out["session_id"] = command.session;
    out["spans"] = trace.spans().size();
    out["loader_workers"] = facts.loader_workers >= 0 ? json(facts.loader_workers) : json(nullptr);
    out["cupti"] = cupti ? cupti_json(*cupti) : json(nullptr);
    out["top_host_ops"] = host;
    out["top_device_ops"] = device;
    out["verdict"] = verdict_json(verdict);
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::printf("session %lld: %zu spans, %zu steps\n", static_cast<long long>(command.session),
              trace.spans().size(), breakdown.steps.size());
  if (cupti) std::printf("%s\n", cupti_line(*cupti).c_str());
  if (!breakdown.steps.empty()) print_breakdown(breakdown, command.steps);
  print_ops("top host ops:", host_ops);
  print_ops("top device ops:", device_ops);
  std::printf("verdict: %s\n", verdict.headline.c_str());
  for (const auto& line : verdict.evidence) std::printf("  - %s\n", line.c_str());
  if (!verdict.suggestion.empty()) std::printf("  suggestion: %s\n", verdict.suggestion.c_str());
  return kExitOk;
}

int diff_traces(const TraceDiffCommand& command) {
  const auto store = open_sessions(command.db_path, {command.before, command.after});
  if (!store) return kExitBadInput;
  const trace::Trace before = store::load_trace(*store, store::SessionId{command.before});
  const trace::Trace after = store::load_trace(*store, store::SessionId{command.after});
  const auto diffs = trace::diff_ops(before, after);
  const auto top = static_cast<std::size_t>(command.top);
  const std::size_t shown = top > 0 ? std::min(top, diffs.size()) : diffs.size();
  const auto before_steps = trace::step_breakdown(before);
  const auto after_steps = trace::step_breakdown(after);

  if (command.json) {
    json rows = json::array();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& d = diffs[i];
      rows.push_back({{"name", d.name},
                      {"category", trace::category_name(d.category)},
                      {"kind", trace::diff_kind_name(d.kind)},
                      {"before", op_json(d.before)},
                      {"after", op_json(d.after)},
                      {"delta_total_ns", d.delta_total_ns},
                      {"delta_per_step_ns", d.delta_per_step_ns}});
    }
    std::map<std::string, std::int64_t> counts;
    for (const char* kind : {"added", "removed", "faster", "slower", "same"}) counts[kind] = 0;
    for (const auto& d : diffs) ++counts[trace::diff_kind_name(d.kind)];
    std::cout << json{{"before", command.before},
                      {"after", command.after},
                      {"before_mean_step_ns", before_steps.mean_step_ns},
                      {"after_mean_step_ns", after_steps.mean_step_ns},
                      {"ops", diffs.size()},
                      {"counts", counts},
                      {"diffs", rows}}
                     .dump()
              << std::endl;
    return kExitOk;
  }
  std::printf("sessions %lld → %lld: mean step %.3f ms → %.3f ms; %zu ops compared\n",
              static_cast<long long>(command.before), static_cast<long long>(command.after),
              ms(before_steps.mean_step_ns), ms(after_steps.mean_step_ns), diffs.size());
  const bool per_step = !before_steps.steps.empty() && !after_steps.steps.empty();
  std::printf("  %-8s %-48s %-13s %8s %8s %11s %11s %14s\n", "change", "name", "category",
              "count A", "count B", "mean us A", "mean us B",
              per_step ? "delta ms/step" : "delta ms");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& d = diffs[i];
    std::printf("  %-8s %-48.48s %-13s %8lld %8lld %11.2f %11.2f %+14.3f\n",
                trace::diff_kind_name(d.kind), d.name.c_str(), trace::category_name(d.category),
                static_cast<long long>(d.before.count), static_cast<long long>(d.after.count),
                d.before.mean_ns * 1e-3, d.after.mean_ns * 1e-3, ms(d.delta_per_step_ns));
  }
  return kExitOk;
}

int list_kernels(const KernelsCommand& command) {
  const auto store = open_sessions(command.db_path, {command.session});
  if (!store) return kExitBadInput;
  const trace::Trace trace = store::load_trace(*store, store::SessionId{command.session});
  const auto rows = trace::kernel_table(trace, {command.copies, command.group});
  const std::size_t shown =
      command.top == 0 ? rows.size() : std::min(rows.size(), static_cast<std::size_t>(command.top));
  const auto dims = [](const std::optional<trace::Dim3>& d) {
    return d ? json{(*d)[0], (*d)[1], (*d)[2]} : json(nullptr);
  };
  const auto optional = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  if (command.json) {
    json out = json::array();
    for (const auto& r : rows) {
      out.push_back({{"name", r.name},
                     {"category", trace::category_name(r.category)},
                     {"count", r.count},
                     {"total_ns", r.total_ns},
                     {"mean_ns", r.mean_ns},
                     {"min_ns", r.min_ns},
                     {"max_ns", r.max_ns},
                     {"share", r.share},
                     {"grid", dims(r.grid)},
                     {"block", dims(r.block)},
                     {"config_varies", r.config_varies},
                     {"registers_per_thread", optional(r.registers_per_thread)},
                     {"shared_memory_bytes", optional(r.shared_memory_bytes)},
                     {"occupancy_pct", optional(r.occupancy_pct)},
                     {"steps", r.steps}});
    }
    std::cout << json{{"session", command.session}, {"kernels", out}}.dump() << std::endl;
    return kExitOk;
  }
  if (rows.empty()) {
    std::printf(
        "session %lld has no GPU kernels in its trace (a CPU run, or one traced without "
        "profile.cupti)\n",
        static_cast<long long>(command.session));
    return kExitOk;
  }
  const auto text = [](const std::optional<trace::Dim3>& d) {
    return d ? std::to_string((*d)[0]) + "x" + std::to_string((*d)[1]) + "x" +
                   std::to_string((*d)[2])
             : std::string("-");
  };
  std::printf("  %-48s %8s %11s %10s %10s %7s %-14s %-11s %5s %6s\n", "kernel", "count", "total ms",
              "mean us", "max us", "share%", "grid", "block", "regs", "occ%");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& r = rows[i];
    const std::string regs = r.registers_per_thread ? std::to_string(*r.registers_per_thread) : "-";
    char occupancy[16] = "-";
    if (r.occupancy_pct) std::snprintf(occupancy, sizeof occupancy, "%.1f", *r.occupancy_pct);
    std::printf("  %-48.48s %8lld %11.3f %10.2f %10.2f %7.1f %-14s %-11s %5s %6s\n", r.name.c_str(),
                static_cast<long long>(r.count), ms(static_cast<double>(r.total_ns)),
                r.mean_ns * 1e-3, static_cast<double>(r.max_ns) * 1e-3, 100.0 * r.share,
                (text(r.grid) + (r.config_varies ? "*" : "")).c_str(), text(r.block).c_str(),
                regs.c_str(), occupancy);
  }
  if (shown < rows.size()) {
    std::printf("  ... %zu more (--top 0 lists all); * : the launch shape varies\n",
                rows.size() - shown);
  }
  return kExitOk;
}

}  // namespace tb::app
