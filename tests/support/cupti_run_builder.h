// An engine run traced with CUPTI, as the runner and the GPU activity converter make it: the
// engine's step and phase spans on its "engine" track, and runtime calls with their kernels,
// each call tagged with the external id of the phase it was made in, converted into the same
// trace by GpuActivityConverter. The analyses then see what they see of a real GPU session.
//
//   CuptiRunBuilder run;
//   run.engine_span("forward", Category::forward, 0, 100, /*step=*/1);
//   run.launch(1, Category::forward, "sgemm", 10, 15, 20, 60);
//   const trace::Trace trace = run.build();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/trace/gpu_activity.h"
#include "tests/support/trace_builder.h"

namespace tb::testing {

struct CuptiRunBuilder {
  static constexpr std::uint32_t kThread = 4242;  // the engine thread, as CUPTI names it
  static constexpr std::uint32_t kStream = 7;

  TraceBuilder builder;
  trace::TrackId engine = builder.track("engine", trace::TrackKind::cpu_thread, "trainbench");
  trace::GpuActivity activity;
  std::uint32_t next_correlation = 1;

  void engine_span(std::string_view name, trace::Category category, std::int64_t start,
                   std::int64_t end, std::int64_t step) {
    builder.span(engine, name, category, start, end, step);
  }

  // Steps 1..count of `length` ns back to back from 0, each with its step span; fill(step, t)
  // adds the rest of the step that starts at t.
  template <class Fill>
  void steps(std::int64_t count, std::int64_t length, Fill fill) {
    for (std::int64_t step = 1; step <= count; ++step) {
      const std::int64_t t = (step - 1) * length;
      engine_span("step", trace::Category::step, t, t + length, step);
      fill(step, t);
    }
  }

  // cudaLaunchKernel on the engine thread over [call_start, call_end) while (step, phase) was
  // pushed, and its kernel `name` over [kernel_start, kernel_end).
  void launch(std::int64_t step, trace::Category phase, std::string name, std::int64_t call_start,
              std::int64_t call_end, std::int64_t kernel_start, std::int64_t kernel_end) {
    const std::uint32_t correlation = next_correlation++;
    activity.api_calls.push_back({"cudaLaunchKernel", call_start, call_end, kThread, correlation});
    activity.external_ids[correlation] = trace::external_id_of(step, phase);
    trace::GpuKernelRecord kernel;
    kernel.name = std::move(name);
    kernel.start_ns = kernel_start;
    kernel.end_ns = kernel_end;
    kernel.stream = kStream;
    kernel.correlation = correlation;
    activity.kernels.push_back(kernel);
  }

  // A runtime call with no device work (cudaMalloc) on the engine thread, outside any phase.
  void call(std::string name, std::int64_t start, std::int64_t end) {
    activity.api_calls.push_back({std::move(name), start, end, kThread, next_correlation++});
  }

  // The engine's spans and the converted activity, finish()ed.
  trace::Trace build() {
    trace::GpuActivityConverter converter;
    converter.append(activity, builder.trace);
    return builder.build();
  }
};

}  // namespace tb::testing
