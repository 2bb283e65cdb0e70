// The kernel table: one row per GPU kernel name with its time (total, count, mean, min, max,
// share), its launch configuration, registers, shared memory and occupancy estimate, the steps it
// runs in and its longest instance — the "which kernels take the device's time" view of a trace.
//
// It reads the launch parameters from the span args both ways kernels reach a Trace:
// - CUPTI records (gpu_activity.h): "grid", "block", "registers per thread", "shared memory" and,
//   when the device's limits are known, "est. occupancy %";
// - imported PyTorch (Kineto) traces: the same keys, with "est. achieved occupancy %".
// A key that is absent or not a number is not known (std::nullopt), never 0.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {

struct KernelTableOptions {
  // Memcpy and memset spans get rows too, named as their spans are ("Memcpy HtoD", "Memset").
  bool include_copies = false;
  // One row for all template instances of a kernel: names are grouped by kernel_group_name().
  bool group_templates = false;
};

using Dim3 = std::array<std::int64_t, 3>;

struct KernelRow {
  std::string name;                      // the span name, or with group_templates the group's name
  Category category = Category::kernel;  // kernel, communication, memcpy or memset
  std::int64_t count = 0;
  std::int64_t total_ns = 0;
  double mean_ns = 0.0;
  std::int64_t min_ns = 0;
  std::int64_t max_ns = 0;
  double share = 0.0;  // total_ns over the summed total_ns of every row of the table

  // The launch configuration most instances ran with (ties: the one seen first); not known when
  // no instance carries both grid and block.
  std::optional<Dim3> grid;
  std::optional<Dim3> block;
  std::int64_t distinct_configs = 0;  // distinct (grid, block) pairs seen
  bool config_varies = false;         // distinct_configs > 1
  // The most frequent values (ties: the one seen first).
  std::optional<std::int64_t> registers_per_thread;
  std::optional<std::int64_t> shared_memory_bytes;
  // Mean of the instances' "est. occupancy %" / "est. achieved occupancy %" (0..100) over those
  // that carry one; not known when none does.
  std::optional<double> occupancy_pct;
  std::int64_t occupancy_samples = 0;  // instances the mean is over

  std::int64_t steps = 0;        // distinct training steps (Span::step != 0) it runs in
  std::size_t longest_span = 0;  // index into Trace::spans() of its longest instance
  std::int64_t names = 1;        // distinct span names in the row (> 1 only when grouped)
};

// One row per kernel name, longest total first (ties by name). Rows are made of spans of
// category kernel (on any track) and communication on GPU-stream tracks (host-side MPI or NCCL
// calls are no device time), plus memcpy and memset with include_copies. Linear in the spans:
// each distinct ArgsId is parsed once, and only for the spans counted.
std::vector<KernelRow> kernel_table(const Trace& trace, KernelTableOptions options = {});

// A kernel's name without its return type, template arguments and parameter list, so that every
// instance of a template falls in one group:
//   "void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>, ...>(int,
//   ...)" -> "at::native::vectorized_elementwise_kernel".
// "(anonymous namespace)" is kept as a namespace. A name with nothing to strip is returned as it
// is, as is one that would strip to nothing.
std::string kernel_group_name(std::string_view name);

}  // namespace tb::trace
