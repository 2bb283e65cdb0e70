#include "gpu/cupti_tracer.h"

#include <cuda_runtime_api.h>
#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/util/error.h"
#include "gpu/cupti_library.h"

namespace tb::gpu {
namespace {

using trace::GpuActivity;

// CUPTI wants 8-byte aligned buffers.
constexpr std::size_t kBufferAlignment = 8;

std::string demangle(const char* name) {
  if (name == nullptr) return "(unnamed kernel)";
  int status = 0;
  char* text = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || text == nullptr) return name;
  std::string out(text);
  std::free(text);
  return out;
}

// "cudaLaunchKernel_v7000" -> "cudaLaunchKernel".
std::string api_name(const CuptiLibrary& cupti, CUpti_CallbackDomain domain, CUpti_CallbackId id) {
  const char* name = nullptr;
  if (cupti.get_callback_name(domain, id, &name) != CUPTI_SUCCESS || name == nullptr) {
    return "CUDA API " + std::to_string(id);
  }
  std::string out(name);
  if (const auto v = out.rfind("_v"); v != std::string::npos && v > 0) out.resize(v);
  return out;
}

trace::GpuCopyKind copy_kind(std::uint8_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD:
      return trace::GpuCopyKind::host_to_device;
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH:
      return trace::GpuCopyKind::device_to_host;
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD:
      return trace::GpuCopyKind::device_to_device;
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH:
      return trace::GpuCopyKind::host_to_host;
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP:
      return trace::GpuCopyKind::peer;
    default:
      return trace::GpuCopyKind::other;
  }
}

const char* sync_name(CUpti_ActivitySynchronizationType type) {
  switch (type) {
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE:
      return "event synchronize";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT:
      return "stream wait event";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE:
      return "stream synchronize";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE:
      return "context synchronize";
    default:
      return "synchronize";
  }
}

const char* overhead_name(CUpti_ActivityOverheadKind kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_OVERHEAD_DRIVER_COMPILER:
      return "driver compiler";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH:
      return "CUPTI buffer flush";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_INSTRUMENTATION:
      return "CUPTI instrumentation";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_RESOURCE:
      return "CUPTI resource";
    case CUPTI_ACTIVITY_OVERHEAD_LAZY_FUNCTION_LOADING:
      return "lazy function loading";
    default:
      return "CUPTI overhead";
  }
}

std::vector<CUpti_ActivityKind> activity_kinds(const std::vector<std::string>& kinds) {
  std::vector<CUpti_ActivityKind> out = {CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION};
  for (const auto& k : kinds) {
    if (k == "kernel")
      out.push_back(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    else if (k == "memcpy")
      out.push_back(CUPTI_ACTIVITY_KIND_MEMCPY);
    else if (k == "memset")
      out.push_back(CUPTI_ACTIVITY_KIND_MEMSET);
    else if (k == "runtime")
      out.push_back(CUPTI_ACTIVITY_KIND_RUNTIME);
    else if (k == "synchronization")
      out.push_back(CUPTI_ACTIVITY_KIND_SYNCHRONIZATION);
    else if (k == "overhead")
      out.push_back(CUPTI_ACTIVITY_KIND_OVERHEAD);
    else if (k == "memory")
      out.push_back(CUPTI_ACTIVITY_KIND_MEMORY2);
    else
      throw Error("profile.kinds: unknown CUPTI kind '" + k + "'");
  }
  return out;
}

std::vector<trace::GpuDeviceLimits> read_devices() {
  std::vector<trace::GpuDeviceLimits> out;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    trace::GpuDeviceLimits d;
    d.name = p.name;
    d.device = i;
    d.compute_major = p.major;
    d.compute_minor = p.minor;
    d.sm_count = p.multiProcessorCount;
    d.warp_size = p.warpSize;
    d.max_threads_per_sm = p.maxThreadsPerMultiProcessor;
    d.max_blocks_per_sm = p.maxBlocksPerMultiProcessor;
    d.registers_per_sm = p.regsPerMultiprocessor;
    d.max_registers_per_block = p.regsPerBlock;
    d.shared_memory_per_sm = static_cast<std::int64_t>(p.sharedMemPerMultiprocessor);
    d.shared_memory_per_block_optin = static_cast<std::int64_t>(p.sharedMemPerBlockOptin);
    d.reserved_shared_memory_per_block = static_cast<std::int64_t>(p.reservedSharedMemPerBlock);
    d.total_memory = static_cast<std::int64_t>(p.totalGlobalMem);
    out.push_back(std::move(d));
  }
  return out;
}

// CUPTI's timestamps, from registration until the process ends: one monotonic clock for every
// run (a run's own Recorder clock restarts at zero, and CUPTI converts GPU times through the
// callback's clock by interpolation, so it must never jump).
std::uint64_t steady_timestamp() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

class CuptiTracer;
// CUPTI's callbacks are plain functions: they reach the one live tracer through this.
std::atomic<CuptiTracer*> active_tracer{nullptr};

class CuptiTracer final : public trace::DeviceTracer {
 public:
  explicit CuptiTracer(const trace::DeviceTracerOptions& options) : options_(options) {
    cupti_ = cupti_library(unavailable_);
    if (!cupti_) return;
    // Checked before CUPTI is claimed, so a bad list leaves nothing half set up.
    kinds_ = activity_kinds(options_.kinds);
    want_runtime_ =
        std::find(options_.kinds.begin(), options_.kinds.end(), "runtime") != options_.kinds.end();
    CuptiTracer* expected = nullptr;
    if (!active_tracer.compare_exchange_strong(expected, this)) {
      unavailable_ = "another run in this process is tracing with CUPTI";
      return;
    }
    owns_cupti_ = true;
    try {
      // A subscriber of our own: where Nsight Systems or another profiler already holds CUPTI,
      // this is where it shows.
      const CUptiResult subscribed = cupti_->subscribe(&subscriber_, nullptr, nullptr);
      if (subscribed != CUPTI_SUCCESS) {
        unavailable_ = subscribed == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
                           ? "another profiler holds CUPTI (" + cupti_->describe(subscribed) +
                                 "); running without kernel tracing"
                           : "CUPTI could not be started: " + cupti_->describe(subscribed);
        subscriber_ = nullptr;
        release();
        return;
      }
      devices_ = read_devices();
      cupti_->check(cupti_->register_callbacks(&buffer_requested, &buffer_completed),
                    "cuptiActivityRegisterCallbacks");
      // Once per process and for good: CUPTI keeps using the callback after we are gone.
      static const bool own_clock =
          cupti_->register_timestamp_callback != nullptr &&
          cupti_->register_timestamp_callback(&steady_timestamp) == CUPTI_SUCCESS;
      own_timestamps_ = own_clock;
      parser_ = std::thread([this] { parse_loop(); });
    } catch (...) {
      release();
      throw;
    }
  }

  ~CuptiTracer() override {
    if (owns_cupti_) {
      try {
        stop();
      } catch (...) {
        // The run is over; nothing more can be reported.
      }
      release();  // no callback reaches this object from here on
    }
    if (parser_.joinable()) {
      {
        const std::lock_guard lock(mutex_);
        quitting_ = true;
      }
      queue_changed_.notify_all();
      parser_.join();
    }
    for (const auto& [buffer, size] : queue_) std::free(buffer);
    for (auto* buffer : pool_) std::free(buffer);
  }

  void start() override {
    if (!unavailable_.empty() || started_) return;
    // Runtime records are needed for the external correlation (each phase's device work in its
    // step); kept out of the activity when not asked for.
    auto kinds = kinds_;
    if (!want_runtime_) kinds.push_back(CUPTI_ACTIVITY_KIND_RUNTIME);
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      if (const CUptiResult r = cupti_->enable(kinds[i]); r != CUPTI_SUCCESS) {
        for (std::size_t j = 0; j < i; ++j) cupti_->disable(kinds[j]);
        throw Error("cuptiActivityEnable: " + cupti_->describe(r));
      }
    }
    enabled_ = kinds;
    // Completed records reach us at least this often, for the live timeline.
    cupti_->flush_period(500);
    started_ = true;
  }

  std::string unavailable_reason() const override { return unavailable_; }

  void push_phase(std::uint64_t external_id) override {
    cupti_->push_external_correlation_id(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, external_id);
  }
  void pop_phase() override {
    std::uint64_t last = 0;
    cupti_->pop_external_correlation_id(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last);
  }

  GpuActivity take(bool flush_device) override {
    if (!unavailable_.empty()) return {};
    // Hands CUPTI's buffers with completed records over (all of them when forced), through
    // buffer_completed, on this thread; then waits for the parser to empty the queue.
    cupti_->flush_all(flush_device ? CUPTI_ACTIVITY_FLAG_FLUSH_FORCED : 0);
    // Read outside our lock: CUPTI may hold its own while it asks us for a buffer.
    size_t dropped = 0;
    if (cupti_->get_num_dropped_records(nullptr, 0, &dropped) != CUPTI_SUCCESS) dropped = 0;
    std::unique_lock lock(mutex_);
    queue_changed_.wait(lock, [&] { return queue_.empty() && !parsing_; });
    GpuActivity out;
    std::swap(out, parsed_);
    lock.unlock();
    // CUPTI counts every record it had no buffer for, those of the buffers we refused included.
    out.dropped_records = static_cast<std::int64_t>(dropped);
    resolve_sync_threads(out);
    return out;
  }

  std::vector<trace::GpuDeviceLimits> devices() const override { return devices_; }

  void stop() override {
    if (!started_) return;
    started_ = false;
    for (const auto kind : enabled_) cupti_->disable(kind);
    cupti_->flush_period(0);
    cupti_->flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  }

 private:
  // Gives CUPTI up: the subscriber, and the slot the callbacks reach us through.
  void release() {
    if (!owns_cupti_) return;
    if (subscriber_) cupti_->unsubscribe(subscriber_);
    subscriber_ = nullptr;
    active_tracer.store(nullptr);
    owns_cupti_ = false;
  }

  static void buffer_requested(std::uint8_t** buffer, size_t* size, size_t* max_records) {
    *buffer = nullptr;
    *size = 0;
    *max_records = 0;
    if (CuptiTracer* tracer = active_tracer.load()) tracer->hand_out(buffer, size);
  }

  static void buffer_completed(CUcontext, std::uint32_t, std::uint8_t* buffer, size_t,
                               size_t valid_size) {
    CuptiTracer* tracer = active_tracer.load();
    if (!tracer) {
      std::free(buffer);
      return;
    }
    {
      const std::lock_guard lock(tracer->mutex_);
      tracer->queue_.push_back({buffer, valid_size});
    }
    tracer->queue_changed_.notify_all();
  }

  void hand_out(std::uint8_t** buffer, size_t* size) {
    const std::lock_guard lock(mutex_);
    if (!pool_.empty()) {
      *buffer = pool_.back();
      pool_.pop_back();
    } else if (buffers_made_ < options_.max_buffers) {
      *buffer =
          static_cast<std::uint8_t*>(std::aligned_alloc(kBufferAlignment, options_.buffer_bytes));
      if (*buffer) ++buffers_made_;
    }
    // Without one CUPTI drops what it cannot store, and counts it (take() reports the count).
    if (*buffer) *size = options_.buffer_bytes;
  }

  void parse_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      queue_changed_.wait(lock, [&] { return quitting_ || !queue_.empty(); });
      if (queue_.empty()) return;  // quitting, and nothing left
      const auto [buffer, valid] = queue_.front();
      queue_.pop_front();
      parsing_ = true;
      lock.unlock();
      GpuActivity batch;
      parse(buffer, valid, batch);
      lock.lock();
      append(parsed_, std::move(batch));
      pool_.push_back(buffer);
      parsing_ = false;
      queue_changed_.notify_all();
    }
  }

  static void append(GpuActivity& into, GpuActivity&& from) {
    const auto move_all = [](auto& to, auto& src) {
      to.insert(to.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
    };
    move_all(into.kernels, from.kernels);
    move_all(into.copies, from.copies);
    move_all(into.memsets, from.memsets);
    move_all(into.api_calls, from.api_calls);
    move_all(into.syncs, from.syncs);
    move_all(into.overheads, from.overheads);
    move_all(into.memory, from.memory);
    into.external_ids.merge(from.external_ids);
  }

  // Engine time minus CUPTI time, now: measured per buffer, so a slow drift between the two
  // clocks never builds up (a buffer spans a second or so).
  std::int64_t clock_offset() const {
    const std::int64_t engine = options_.now_ns();
    std::uint64_t cupti_now = steady_timestamp();
    if (!own_timestamps_ && cupti_->get_timestamp(&cupti_now) != CUPTI_SUCCESS) cupti_now = 0;
    return engine - static_cast<std::int64_t>(cupti_now);
  }
  std::int64_t t(std::uint64_t cupti_ns) const {
    return static_cast<std::int64_t>(cupti_ns) + offset_ns_;
  }

  void parse(std::uint8_t* buffer, size_t valid, GpuActivity& out) {
    offset_ns_ = clock_offset();
    CUpti_Activity* record = nullptr;
    while (cupti_->get_next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
      switch (record->kind) {
        case CUPTI_ACTIVITY_KIND_KERNEL:
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
          const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
          if (k->start == 0 || k->end == 0) break;  // not finished when a forced flush came
          trace::GpuKernelRecord r;
          r.name = demangle(k->name);
          r.start_ns = t(k->start);
          r.end_ns = t(k->end);
          r.device = k->deviceId;
          r.stream = k->streamId;
          r.correlation = k->correlationId;
          r.grid[0] = k->gridX, r.grid[1] = k->gridY, r.grid[2] = k->gridZ;
          r.block[0] = k->blockX, r.block[1] = k->blockY, r.block[2] = k->blockZ;
          r.registers_per_thread = k->registersPerThread;
          r.static_shared_bytes = k->staticSharedMemory;
          r.dynamic_shared_bytes = k->dynamicSharedMemory;
          out.kernels.push_back(std::move(r));
          break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY: {
          const auto* c = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
          if (c->start == 0 || c->end == 0) break;
          trace::GpuCopyRecord r;
          r.kind = copy_kind(c->copyKind);
          r.pinned_host = c->srcKind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED ||
                          c->dstKind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED;
          r.bytes = static_cast<std::int64_t>(c->bytes);
          r.start_ns = t(c->start);
          r.end_ns = t(c->end);
          r.device = c->deviceId;
          r.stream = c->streamId;
          r.correlation = c->correlationId;
          out.copies.push_back(r);
          break;
        }
        case CUPTI_ACTIVITY_KIND_MEMSET: {
          const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(record);
          if (m->start == 0 || m->end == 0) break;
          out.memsets.push_back({static_cast<std::int64_t>(m->bytes), t(m->start), t(m->end),
                                 m->deviceId, m->streamId, m->correlationId});
          break;
        }
        case CUPTI_ACTIVITY_KIND_RUNTIME:
        case CUPTI_ACTIVITY_KIND_DRIVER: {
          const auto* a = reinterpret_cast<const CUpti_ActivityAPI*>(record);
          if (!want_runtime_) break;  // enabled only for the external correlation
          const auto domain = record->kind == CUPTI_ACTIVITY_KIND_RUNTIME
                                  ? CUPTI_CB_DOMAIN_RUNTIME_API
                                  : CUPTI_CB_DOMAIN_DRIVER_API;
          out.api_calls.push_back({api_name(*cupti_, domain, a->cbid), t(a->start), t(a->end),
                                   a->threadId, a->correlationId});
          break;
        }
        case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
          const auto* s = reinterpret_cast<const CUpti_ActivitySynchronization2*>(record);
          out.syncs.push_back(
              {sync_name(s->type), t(s->start), t(s->end), 0, s->correlationId,
               s->streamId == CUPTI_SYNCHRONIZATION_INVALID_VALUE ? 0u : s->streamId});
          break;
        }
        case CUPTI_ACTIVITY_KIND_OVERHEAD: {
          const auto* o = reinterpret_cast<const CUpti_ActivityOverhead3*>(record);
          out.overheads.push_back({overhead_name(o->overheadKind), t(o->start), t(o->end)});
          break;
        }
        case CUPTI_ACTIVITY_KIND_MEMORY2: {
          const auto* m = reinterpret_cast<const CUpti_ActivityMemory4*>(record);
          if (m->memoryKind != CUPTI_ACTIVITY_MEMORY_KIND_DEVICE) break;
          const bool allocation =
              m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
          if (!allocation &&
              m->memoryOperationType != CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE) {
            break;
          }
          out.memory.push_back({allocation, static_cast<std::int64_t>(m->bytes), t(m->timestamp),
                                m->deviceId, m->address});
          break;
        }
        case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
          const auto* e = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(record);
          if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) {
            out.external_ids[e->correlationId] = e->externalId;
          }
          break;
        }
        default:
          break;
      }
    }
  }

  // Synchronisation records carry no thread: the runtime call with the same correlation id
  // does, else the thread that made most calls (the training loop).
  static void resolve_sync_threads(GpuActivity& a) {
    if (a.syncs.empty()) return;
    std::unordered_map<std::uint32_t, std::uint32_t> thread_of;
    std::unordered_map<std::uint32_t, std::size_t> calls_by_thread;
    for (const auto& call : a.api_calls) {
      thread_of[call.correlation] = call.thread;
      ++calls_by_thread[call.thread];
    }
    std::uint32_t busiest = 0;
    std::size_t most = 0;
    for (const auto& [thread, calls] : calls_by_thread) {
      if (calls > most) most = calls, busiest = thread;
    }
    for (auto& sync : a.syncs) {
      const auto it = thread_of.find(sync.correlation);
      sync.thread = it != thread_of.end() ? it->second : busiest;
    }
  }

  trace::DeviceTracerOptions options_;
  const CuptiLibrary* cupti_ = nullptr;
  std::string unavailable_;
  bool owns_cupti_ = false;
  CUpti_SubscriberHandle subscriber_ = nullptr;
  std::vector<CUpti_ActivityKind> kinds_;
  std::vector<trace::GpuDeviceLimits> devices_;
  std::int64_t offset_ns_ = 0;   // added to CUPTI's timestamps (parser thread: see clock_offset)
  bool own_timestamps_ = false;  // CUPTI stamps with steady_timestamp, else its own clock
  bool want_runtime_ = true;
  std::vector<CUpti_ActivityKind> enabled_;
  bool started_ = false;

  std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<std::pair<std::uint8_t*, size_t>> queue_;  // completed buffers, not yet parsed
  std::vector<std::uint8_t*> pool_;                     // free buffers
  std::size_t buffers_made_ = 0;
  bool parsing_ = false;
  bool quitting_ = false;
  GpuActivity parsed_;  // parsed since the last take()
  std::thread parser_;
};

}  // namespace

std::unique_ptr<trace::DeviceTracer> make_cupti_tracer(const trace::DeviceTracerOptions& options) {
  return std::make_unique<CuptiTracer>(options);
}

void register_cupti_tracer() {
  trace::register_device_tracer_factory(make_cupti_tracer);
}

}  // namespace tb::gpu
