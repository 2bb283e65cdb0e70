#include "core/trace/model.h"

#include <algorithm>
#include <array>

#include "core/util/error.h"

namespace tb::trace {
namespace {

constexpr std::array<const char*, kCategoryCount> kCategoryNames = {
    "step",    "data",   "forward", "backward", "optimizer",     "eval", "other",     "cpu_op",
    "runtime", "kernel", "memcpy",  "memset",   "communication", "sync", "annotation"};

constexpr std::array<const char*, 4> kTrackKindNames = {"cpu_thread", "loader_worker", "gpu_stream",
                                                        "rank"};

}  // namespace

const char* category_name(Category category) {
  const auto index = static_cast<std::size_t>(category);
  return index < kCategoryNames.size() ? kCategoryNames[index] : "other";
}

std::optional<Category> category_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kCategoryNames.size(); ++i) {
    if (name == kCategoryNames[i]) return static_cast<Category>(i);
  }
  return std::nullopt;
}

bool is_device_category(Category category) {
  return category == Category::kernel || category == Category::memcpy ||
         category == Category::memset || category == Category::communication;
}

const char* track_kind_name(TrackKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kTrackKindNames.size() ? kTrackKindNames[index] : "cpu_thread";
}

std::optional<TrackKind> track_kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kTrackKindNames.size(); ++i) {
    if (name == kTrackKindNames[i]) return static_cast<TrackKind>(i);
  }
  return std::nullopt;
}

TrackId Trace::add_track(Track track) {
  tracks_.push_back(std::move(track));
  return TrackId(static_cast<std::int64_t>(tracks_.size()));
}

TrackId Trace::track_named(std::string_view name, TrackKind kind, std::string_view process) {
  for (std::size_t i = 0; i < tracks_.size(); ++i) {
    if (tracks_[i].name == name && tracks_[i].process == process) {
      return TrackId(static_cast<std::int64_t>(i + 1));
    }
  }
  return add_track({std::string(name), kind, std::string(process), 0});
}

ArgsId Trace::add_args(std::string json_object_text) {
  if (json_object_text.empty() || json_object_text == "{}") return ArgsId{};
  args_.push_back(std::move(json_object_text));
  return ArgsId(static_cast<std::int64_t>(args_.size()));
}

std::string_view Trace::args(ArgsId id) const {
  if (!id.valid()) return {};
  if (id.value > static_cast<std::int64_t>(args_.size())) {
    throw Error("Trace::args: unknown ArgsId " + std::to_string(id.value) + " (this trace holds " +
                std::to_string(args_.size()) + ")");
  }
  return args_[static_cast<std::size_t>(id.value - 1)];
}

CounterId Trace::add_counter(std::string name, std::string unit) {
  counters_.push_back({std::move(name), std::move(unit), {}});
  return CounterId(static_cast<std::int64_t>(counters_.size()));
}

void Trace::add_counter_point(CounterId counter, std::int64_t time_ns, double value) {
  counters_.at(static_cast<std::size_t>(counter.value - 1)).points.push_back({time_ns, value});
}

std::optional<CounterId> Trace::find_counter(std::string_view name) const {
  for (std::size_t i = 0; i < counters_.size(); ++i) {
    if (counters_[i].name == name) return CounterId(static_cast<std::int64_t>(i + 1));
  }
  return std::nullopt;
}

void Trace::finish() {
  // Longer spans first among equal starts, so a parent precedes the children it encloses.
  const auto by_start = [](const Span& a, const Span& b) {
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.end_ns > b.end_ns;
  };
  if (!std::is_sorted(spans_.begin(), spans_.end(), by_start)) {
    std::stable_sort(spans_.begin(), spans_.end(), by_start);
  }
  for (auto& counter : counters_) {
    std::stable_sort(
        counter.points.begin(), counter.points.end(),
        [](const CounterPoint& a, const CounterPoint& b) { return a.time_ns < b.time_ns; });
  }
  std::stable_sort(flows_.begin(), flows_.end(),
                   [](const Flow& a, const Flow& b) { return a.from_ns < b.from_ns; });
}

std::int64_t Trace::begin_ns() const {
  std::int64_t begin = 0;
  bool any = false;
  for (const auto& span : spans_) {
    begin = any ? std::min(begin, span.start_ns) : span.start_ns;
    any = true;
  }
  return begin;
}

std::int64_t Trace::end_ns() const {
  std::int64_t end = 0;
  bool any = false;
  for (const auto& span : spans_) {
    end = any ? std::max(end, span.end_ns) : span.end_ns;
    any = true;
  }
  return end;
}

}  // namespace tb::trace
