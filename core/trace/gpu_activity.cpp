#include "core/trace/gpu_activity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace tb::trace {
namespace {

// Correlation ids grow through a run; entries this far behind the newest are of calls whose work
// has long been converted (or never comes: a synchronisation has no device work).
constexpr std::uint32_t kCorrelationWindow = 1u << 20;

std::string stream_track(std::uint32_t stream) {
  return "stream " + std::to_string(stream);
}
std::string device_process(std::uint32_t device) {
  return "GPU " + std::to_string(device);
}
std::string api_track(std::uint32_t thread) {
  return "CUDA API (thread " + std::to_string(thread) + ")";
}

std::int64_t round_up(std::int64_t value, std::int64_t unit) {
  return unit <= 0 ? value : (value + unit - 1) / unit * unit;
}

// Device work that launched before a phase was open, or whose launch was not seen: step 0.
std::int64_t step_for(const std::unordered_map<std::uint32_t, std::uint64_t>& external,
                      std::uint32_t correlation) {
  const auto it = external.find(correlation);
  return it == external.end() ? 0 : step_of_external_id(it->second);
}

bool is_communication_kernel(const std::string& name) {
  return name.rfind("nccl", 0) == 0 || name.find("ncclDevKernel") != std::string::npos;
}

template <class Map>
void forget_old(Map& map, std::uint32_t newest) {
  if (map.size() < 2 * kCorrelationWindow / 8) return;
  const std::uint32_t oldest_kept = newest > kCorrelationWindow ? newest - kCorrelationWindow : 0;
  std::erase_if(map, [&](const auto& entry) { return entry.first < oldest_kept; });
}

}  // namespace

const char* gpu_copy_kind_name(GpuCopyKind kind) {
  switch (kind) {
    case GpuCopyKind::host_to_device:
      return "HtoD";
    case GpuCopyKind::device_to_host:
      return "DtoH";
    case GpuCopyKind::device_to_device:
      return "DtoD";
    case GpuCopyKind::host_to_host:
      return "HtoH";
    case GpuCopyKind::peer:
      return "PtoP";
    case GpuCopyKind::other:
      break;
  }
  return "copy";
}

bool GpuActivity::empty() const {
  return record_count() == 0 && dropped_records == 0;
}

std::size_t GpuActivity::record_count() const {
  return kernels.size() + copies.size() + memsets.size() + api_calls.size() + syncs.size() +
         overheads.size() + memory.size();
}

std::uint64_t external_id_of(std::int64_t step, Category phase) {
  return (static_cast<std::uint64_t>(std::max<std::int64_t>(step, 0)) << 8) |
         static_cast<std::uint64_t>(phase);
}

std::int64_t step_of_external_id(std::uint64_t id) {
  return static_cast<std::int64_t>(id >> 8);
}

Category phase_of_external_id(std::uint64_t id) {
  const auto value = static_cast<int>(id & 0xff);
  return value < kCategoryCount ? static_cast<Category>(value) : Category::other;
}

double occupancy_estimate(const GpuDeviceLimits& d, int threads_per_block, int registers_per_thread,
                          std::int64_t shared_bytes_per_block) {
  if (threads_per_block <= 0 || d.warp_size <= 0 || d.max_threads_per_sm <= 0 ||
      d.max_blocks_per_sm <= 0 || d.registers_per_sm <= 0) {
    return 0.0;
  }
  const std::int64_t warps_per_block = (threads_per_block + d.warp_size - 1) / d.warp_size;
  const std::int64_t max_warps = d.max_threads_per_sm / d.warp_size;
  if (warps_per_block > max_warps) return 0.0;

  std::int64_t blocks = std::min<std::int64_t>(d.max_blocks_per_sm, max_warps / warps_per_block);
  if (registers_per_thread > 0) {
    // Registers are given to a warp in units of 256.
    const std::int64_t per_warp = round_up(std::int64_t{registers_per_thread} * d.warp_size, 256);
    if (per_warp * warps_per_block > d.max_registers_per_block) return 0.0;
    blocks = std::min(blocks, (d.registers_per_sm / per_warp) / warps_per_block);
  }
  const std::int64_t smem =
      round_up(shared_bytes_per_block, 128) + d.reserved_shared_memory_per_block;
  if (shared_bytes_per_block > 0 || d.reserved_shared_memory_per_block > 0) {
    if (d.shared_memory_per_sm <= 0) return 0.0;
    if (d.shared_memory_per_block_optin > 0 &&
        shared_bytes_per_block > d.shared_memory_per_block_optin) {
      return 0.0;
    }
    blocks = std::min(blocks, d.shared_memory_per_sm / smem);
  }
  if (blocks <= 0) return 0.0;
  return static_cast<double>(blocks * warps_per_block) / static_cast<double>(max_warps);
}

GpuActivityConverter::GpuActivityConverter(std::vector<GpuDeviceLimits> devices)
    : devices_(std::move(devices)) {}

const GpuDeviceLimits* GpuActivityConverter::limits(std::uint32_t device) const {
  for (const auto& d : devices_) {
    if (d.device == static_cast<int>(device)) return &d;
  }
  return nullptr;
}

void GpuActivityConverter::append(const GpuActivity& activity, Trace& batch) {
  std::uint32_t newest = 0;
  for (const auto& [correlation, id] : activity.external_ids) {
    external_ids_[correlation] = id;
    newest = std::max(newest, correlation);
  }

  // Runtime calls first: the flows from them to the device work they started. A launch whose
  // work is not in this batch waits in pending_launches_ for a later one.
  for (const auto& call : activity.api_calls) {
    const TrackId track =
        batch.track_named(api_track(call.thread), TrackKind::cpu_thread, "trainbench");
    Span span;
    span.start_ns = call.start_ns;
    span.end_ns = std::max(call.end_ns, call.start_ns);
    span.track = track;
    span.name = batch.intern(call.name);
    span.category = Category::runtime;
    span.step = step_for(external_ids_, call.correlation);
    span.args = batch.add_args(nlohmann::json{{"correlation", call.correlation}}.dump());
    batch.add_span(span);
    if (call.correlation != 0) pending_launches_[call.correlation] = {call.thread, call.start_ns};
    newest = std::max(newest, call.correlation);
  }
  for (const auto& sync : activity.syncs) {
    Span span;
    span.start_ns = sync.start_ns;
    span.end_ns = std::max(sync.end_ns, sync.start_ns);
    span.track = batch.track_named(api_track(sync.thread), TrackKind::cpu_thread, "trainbench");
    span.name = batch.intern(sync.what);
    span.category = Category::sync;
    span.step = step_for(external_ids_, sync.correlation);
    if (sync.stream != 0) {
      span.args = batch.add_args(nlohmann::json{{"stream", sync.stream}}.dump());
    }
    batch.add_span(span);
  }

  // Launches whose work came, forgotten at the end (a graph launch has many kernels).
  std::vector<std::uint32_t> launched;
  // A device span, and the flow from its launch (in this batch or an earlier one).
  const auto add_device_span = [&](std::uint32_t device, std::uint32_t stream,
                                   std::uint32_t correlation, std::int64_t start_ns,
                                   std::int64_t end_ns, const std::string& name, Category category,
                                   const nlohmann::json& args) {
    Span span;
    span.start_ns = start_ns;
    span.end_ns = std::max(end_ns, start_ns);
    span.track =
        batch.track_named(stream_track(stream), TrackKind::gpu_stream, device_process(device));
    span.name = batch.intern(name);
    span.category = category;
    span.step = step_for(external_ids_, correlation);
    span.args = batch.add_args(args.dump());
    batch.add_span(span);
    if (const auto it = pending_launches_.find(correlation); it != pending_launches_.end()) {
      const TrackId from =
          batch.track_named(api_track(it->second.thread), TrackKind::cpu_thread, "trainbench");
      batch.add_flow({correlation, from, it->second.start_ns, span.track, span.start_ns});
      launched.push_back(correlation);
    }
  };

  for (const auto& k : activity.kernels) {
    const int threads = k.block[0] * k.block[1] * k.block[2];
    const std::int64_t shared = k.static_shared_bytes + k.dynamic_shared_bytes;
    nlohmann::json args = {{"grid", {k.grid[0], k.grid[1], k.grid[2]}},
                           {"block", {k.block[0], k.block[1], k.block[2]}},
                           {"registers per thread", k.registers_per_thread},
                           {"shared memory", shared},
                           {"stream", k.stream},
                           {"device", k.device},
                           {"correlation", k.correlation}};
    if (const auto* d = limits(k.device)) {
      const double occupancy = occupancy_estimate(*d, threads, k.registers_per_thread, shared);
      args["est. occupancy %"] = std::round(occupancy * 1000.0) / 10.0;
      const std::int64_t blocks = std::int64_t{k.grid[0]} * k.grid[1] * k.grid[2];
      if (d->sm_count > 0) {
        args["blocks per SM"] =
            std::round(static_cast<double>(blocks) / d->sm_count * 100.0) / 100.0;
      }
    }
    add_device_span(k.device, k.stream, k.correlation, k.start_ns, k.end_ns, k.name,
                    is_communication_kernel(k.name) ? Category::communication : Category::kernel,
                    args);
  }
  for (const auto& c : activity.copies) {
    const std::int64_t ns = std::max<std::int64_t>(c.end_ns - c.start_ns, 1);
    nlohmann::json args = {
        {"bytes", c.bytes},
        {"kind", gpu_copy_kind_name(c.kind)},
        {"memory bandwidth (GB/s)",
         std::round(static_cast<double>(c.bytes) / static_cast<double>(ns) * 100.0) / 100.0},
        {"stream", c.stream},
        {"correlation", c.correlation}};
    if (c.kind == GpuCopyKind::host_to_device || c.kind == GpuCopyKind::device_to_host) {
      args["host memory"] = c.pinned_host ? "pinned" : "pageable";
    }
    add_device_span(c.device, c.stream, c.correlation, c.start_ns, c.end_ns,
                    std::string("Memcpy ") + gpu_copy_kind_name(c.kind), Category::memcpy, args);
  }
  for (const auto& m : activity.memsets) {
    add_device_span(m.device, m.stream, m.correlation, m.start_ns, m.end_ns, "Memset",
                    Category::memset,
                    {{"bytes", m.bytes}, {"stream", m.stream}, {"correlation", m.correlation}});
  }
  for (const auto& o : activity.overheads) {
    Span span;
    span.start_ns = o.start_ns;
    span.end_ns = std::max(o.end_ns, o.start_ns);
    span.track = batch.track_named("CUPTI overhead", TrackKind::cpu_thread, "trainbench");
    span.name = batch.intern(o.what);
    span.category = Category::other;
    batch.add_span(span);
  }

  // Device memory: a running total per device, one point per allocation or release, in time order.
  std::vector<GpuMemoryRecord> memory = activity.memory;
  std::stable_sort(memory.begin(), memory.end(),
                   [](const auto& a, const auto& b) { return a.time_ns < b.time_ns; });
  for (const auto& m : memory) {
    auto& in_use = memory_in_use_[m.device];
    in_use = std::max<std::int64_t>(0, in_use + (m.allocation ? m.bytes : -m.bytes));
    const std::string name = "memory reserved (GPU " + std::to_string(m.device) + ", CUPTI)";
    const auto counter = batch.find_counter(name).value_or(CounterId{});
    batch.add_counter_point(counter.valid() ? counter : batch.add_counter(name, "bytes"), m.time_ns,
                            static_cast<double>(in_use));
  }

  converted_ += static_cast<std::int64_t>(activity.record_count());
  dropped_ += activity.dropped_records;
  for (const auto correlation : launched) pending_launches_.erase(correlation);
  forget_old(external_ids_, newest);
  forget_old(pending_launches_, newest);
}

}  // namespace tb::trace
