#include "gpu/cupti_tracer.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "core/util/error.h"
#include "gpu/cupti_library.h"
#include "gpu/cupti_records.h"

namespace tb::gpu {
namespace {

using trace::GpuActivity;

// CUPTI wants 8-byte aligned buffers.
constexpr std::size_t kBufferAlignment = 8;

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

  void parse(std::uint8_t* buffer, size_t valid, GpuActivity& out) {
    CuptiRecordContext context;
    context.offset_ns = clock_offset();
    context.keep_api_calls = want_runtime_;
    context.get_callback_name = cupti_->get_callback_name;
    CUpti_Activity* record = nullptr;
    while (cupti_->get_next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
      append_cupti_record(record, context, out);
    }
  }

  trace::DeviceTracerOptions options_;
  const CuptiLibrary* cupti_ = nullptr;
  std::string unavailable_;
  bool owns_cupti_ = false;
  CUpti_SubscriberHandle subscriber_ = nullptr;
  std::vector<CUpti_ActivityKind> kinds_;
  std::vector<trace::GpuDeviceLimits> devices_;
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
