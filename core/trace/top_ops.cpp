#include "core/trace/top_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "core/trace/step_phase.h"

namespace tb::trace {
namespace {

constexpr std::array<const char*, 5> kDiffKindNames = {"added", "removed", "faster", "slower",
                                                       "same"};

// (name, category) as one key: names are interned per trace, so the key is the id and the
// category; the string is only looked up once per distinct op.
std::uint64_t op_key(NameId name, Category category) {
  return (static_cast<std::uint64_t>(name.value) << 8) | static_cast<std::uint64_t>(category);
}

// Every op of the trace, unsorted, shares filled in. Left out besides steps: ranges around whole
// steps (a profiler session is no op, and would take a third of the host time), and host ranges
// copied onto GPU streams (gpu_user_annotation), which would count their host range twice.
std::vector<OpStat> all_ops(const Trace& trace) {
  std::vector<StepSpan> steps;
  for (const Span& span : trace.spans()) {
    if (span.category == Category::step) steps.push_back({span.start_ns, span.end_ns});
  }
  std::sort(steps.begin(), steps.end(),
            [](const StepSpan& a, const StepSpan& b) { return a.start_ns < b.start_ns; });
  std::unordered_map<std::uint64_t, std::size_t> index;
  std::vector<OpStat> ops;
  std::int64_t host_total = 0, device_total = 0;
  for (const Span& span : trace.spans()) {
    if (span.category == Category::step) continue;
    const bool on_device = span.track.valid() && is_device_track(trace.track(span.track));
    if (on_device && !is_device_category(span.category)) continue;
    if (!is_device_category(span.category) && encloses_a_step(steps, span.start_ns, span.end_ns)) {
      continue;
    }
    const auto [it, fresh] = index.try_emplace(op_key(span.name, span.category), ops.size());
    if (fresh) ops.push_back({std::string(trace.name(span.name)), span.category, 0, 0, 0.0, 0.0});
    OpStat& op = ops[it->second];
    const std::int64_t duration = span.end_ns - span.start_ns;
    ++op.count;
    op.total_ns += duration;
    (is_device_category(span.category) ? device_total : host_total) += duration;
  }
  for (OpStat& op : ops) {
    op.mean_ns = static_cast<double>(op.total_ns) / static_cast<double>(op.count);
    const std::int64_t side = is_device_category(op.category) ? device_total : host_total;
    op.share = side > 0 ? static_cast<double>(op.total_ns) / static_cast<double>(side) : 0.0;
  }
  return ops;
}

std::int64_t count_steps(const Trace& trace) {
  return std::count_if(trace.spans().begin(), trace.spans().end(),
                       [](const Span& s) { return s.category == Category::step; });
}

}  // namespace

std::vector<OpStat> top_ops(const Trace& trace, std::size_t limit) {
  std::vector<OpStat> ops = all_ops(trace);
  // Ties (equal totals) by name, so the order does not depend on the hash map.
  auto longer = [](const OpStat& a, const OpStat& b) {
    if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
    if (a.name != b.name) return a.name < b.name;
    return a.category < b.category;
  };
  if (limit > 0 && limit < ops.size()) {
    std::partial_sort(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(limit), ops.end(),
                      longer);
    ops.resize(limit);
  } else {
    std::sort(ops.begin(), ops.end(), longer);
  }
  return ops;
}

const char* diff_kind_name(DiffKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kDiffKindNames.size() ? kDiffKindNames[index] : "same";
}

std::vector<OpDiff> diff_ops(const Trace& before, const Trace& after, double threshold) {
  const std::int64_t steps_before = count_steps(before);
  const std::int64_t steps_after = count_steps(after);
  const bool per_step = steps_before > 0 && steps_after > 0;

  // The two traces intern names separately: match by the text.
  struct Pair {
    OpStat before, after;
  };
  std::unordered_map<std::string, std::array<Pair, kCategoryCount>> by_name;
  std::vector<std::pair<std::string, Category>> order;  // first-seen, for a stable result
  auto slot = [&](const OpStat& op) -> Pair& {
    auto& pairs = by_name[op.name];
    Pair& pair = pairs[static_cast<std::size_t>(op.category)];
    if (pair.before.count == 0 && pair.after.count == 0) order.emplace_back(op.name, op.category);
    return pair;
  };
  for (const OpStat& op : all_ops(before)) slot(op).before = op;
  for (const OpStat& op : all_ops(after)) slot(op).after = op;

  std::vector<OpDiff> diffs;
  diffs.reserve(order.size());
  for (const auto& [name, category] : order) {
    const Pair& pair = by_name[name][static_cast<std::size_t>(category)];
    OpDiff d;
    d.name = name;
    d.category = category;
    d.before = pair.before;
    d.after = pair.after;
    if (d.before.count == 0) d.before = {name, category, 0, 0, 0.0, 0.0};
    if (d.after.count == 0) d.after = {name, category, 0, 0, 0.0, 0.0};
    d.delta_total_ns = d.after.total_ns - d.before.total_ns;
    d.delta_per_step_ns =
        per_step ? static_cast<double>(d.after.total_ns) / static_cast<double>(steps_after) -
                       static_cast<double>(d.before.total_ns) / static_cast<double>(steps_before)
                 : static_cast<double>(d.delta_total_ns);
    if (d.before.count == 0) {
      d.kind = DiffKind::added;
    } else if (d.after.count == 0) {
      d.kind = DiffKind::removed;
    } else {
      const double relative =
          d.before.mean_ns > 0 ? (d.after.mean_ns - d.before.mean_ns) / d.before.mean_ns : 0.0;
      d.kind = relative > threshold    ? DiffKind::slower
               : relative < -threshold ? DiffKind::faster
                                       : DiffKind::same;
    }
    diffs.push_back(std::move(d));
  }
  std::stable_sort(diffs.begin(), diffs.end(), [](const OpDiff& a, const OpDiff& b) {
    return std::abs(a.delta_per_step_ns) > std::abs(b.delta_per_step_ns);
  });
  return diffs;
}

}  // namespace tb::trace
