// Hand-made traces for tests: a track, a span, a counter point or a flow in one line each.
//
//   TraceBuilder b;
//   const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
//   b.span(engine, "forward", Category::forward, 0, 40, /*step=*/1);
//   const trace::Trace trace = b.build();
//
// Tests that need more (fixed tracks, helpers of their own) derive from it; `trace` stays public
// for what the builder does not cover.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/trace/model.h"

namespace tb::testing {

struct TraceBuilder {
  trace::Trace trace;

  trace::TrackId track(std::string name, trace::TrackKind kind = trace::TrackKind::cpu_thread,
                       std::string process = {}, std::int64_t rank = 0) {
    return trace.add_track({std::move(name), kind, std::move(process), rank});
  }

  // The span [start, end) on `track`; `args` is a JSON object's text ("" for none).
  void span(trace::TrackId track, std::string_view name, trace::Category category,
            std::int64_t start, std::int64_t end, std::int64_t step = 0, std::string args = {}) {
    trace.add_span(
        {start, end, step, track, trace.intern(name), trace.add_args(std::move(args)), category});
  }

  trace::CounterId counter(std::string name, std::string unit) {
    return trace.add_counter(std::move(name), std::move(unit));
  }
  void point(trace::CounterId counter, std::int64_t time_ns, double value) {
    trace.add_counter_point(counter, time_ns, value);
  }

  // An arrow from the span on `from` at `from_ns` to the span on `to` at `to_ns`; `id` 0 takes
  // the next id (1, 2, ... in the order added).
  void flow(trace::TrackId from, std::int64_t from_ns, trace::TrackId to, std::int64_t to_ns,
            std::uint64_t id = 0) {
    trace.add_flow({id != 0 ? id : trace.flows().size() + 1, from, from_ns, to, to_ns});
  }

  // The trace, finish()ed; the builder is empty afterwards.
  trace::Trace build() {
    trace.finish();
    return std::move(trace);
  }
  std::shared_ptr<const trace::Trace> build_shared() {
    return std::make_shared<const trace::Trace>(build());
  }
};

}  // namespace tb::testing
