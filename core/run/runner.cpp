#include "core/run/runner.h"

#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <thread>

#include "core/amp/loss_scaler.h"
#include "core/amp/precision.h"
#include "core/data/formats/splits.h"

#include "core/dist/gather_bytes.h"
#include "core/nn/loss.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/optim/sparse.h"
#include "core/run/data_parallel.h"
#include "core/run/device_profiling.h"
#include "core/run/pipeline_training.h"
#include "core/run/session_sink.h"
#include "core/run/workload.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/tensor/backend_registry.h"
#include "core/tensor/memory_tracker.h"
#include "core/trace/recorder.h"
#include "core/trace/trace_wire.h"

namespace tb::run {
namespace {

using detail::SessionSink;
using detail::share_rank_traces;
using detail::Trainables;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Samples per second over the last few steps: what a progress bar should show, steadier than one
// step and current, unlike the mean since the start.
class ThroughputWindow {
 public:
  double add(std::int64_t samples, double seconds) {
    window_.push_back({samples, seconds});
    samples_ += samples;
    seconds_ += seconds;
    if (window_.size() > 50) {
      samples_ -= window_.front().first;
      seconds_ -= window_.front().second;
      window_.pop_front();
    }
    return seconds_ > 0 ? static_cast<double>(samples_) / seconds_ : 0.0;
  }

 private:
  std::deque<std::pair<std::int64_t, double>> window_;
  std::int64_t samples_ = 0;
  double seconds_ = 0.0;
};

// How often a running session's spans and metrics reach the database: a live view lags at most
// this much; each flush is one transaction of ~1000s of spans (a few ms).
constexpr std::int64_t kLiveFlushNs = 1'000'000'000;

// Tensor memory as the trace's "memory allocated (cpu)" counter: every allocation and free, with
// the live total after it, on the thread that made it.
class TensorMemoryCounter final : public tensor::AllocationObserver {
 public:
  explicit TensorMemoryCounter(trace::Recorder& recorder) : recorder_(recorder) {
    recorder_.record_counter(
        "memory allocated (cpu)", 0,
        static_cast<double>(tensor::memory_stats(tensor::Device::cpu).allocated_bytes));
  }
  void on_allocation(tensor::Device device, std::int64_t, std::int64_t allocated) override {
    recorder_.record_counter(
        device == tensor::Device::cpu ? "memory allocated (cpu)" : "memory allocated (cuda)",
        recorder_.now_ns(), static_cast<double>(allocated));
  }

 private:
  trace::Recorder& recorder_;
};

// Communication as spans in the trace: the training thread's collectives on its own track, the
// async gradient all-reduces on a "communication" track (the thread that runs them).
class CommunicationSpans final : public dist::Communicator::Observer {
 public:
  explicit CommunicationSpans(trace::Recorder& recorder)
      : recorder_(recorder), training_thread_(std::this_thread::get_id()) {}
  std::int64_t now_ns() override { return recorder_.now_ns(); }
  void on_operation(const char* op, std::size_t, std::int64_t start_ns,
                    std::int64_t end_ns) override {
    if (std::this_thread::get_id() != training_thread_) recorder_.name_this_thread("communication");
    recorder_.record(op, trace::Category::communication, start_ns, end_ns,
                     step_.load(std::memory_order_relaxed));
  }
  void set_step(std::int64_t step) { step_.store(step, std::memory_order_relaxed); }

 private:
  trace::Recorder& recorder_;
  std::thread::id training_thread_;
  std::atomic<std::int64_t> step_{0};
};

// Clears the world's observer before the observer goes.
struct ObserverRegistration {
  ObserverRegistration(dist::Communicator& world, dist::Communicator::Observer& observer)
      : world_(world) {
    world_.set_observer(&observer);
  }
  ~ObserverRegistration() { world_.set_observer(nullptr); }
  ObserverRegistration(const ObserverRegistration&) = delete;
  ObserverRegistration& operator=(const ObserverRegistration&) = delete;
  dist::Communicator& world_;
};

// The session marked failed from the watch's thread while the training thread may be stuck in a
// collective: a connection of its own, one transaction, so what was stored stays as it was.
void mark_failed(const std::filesystem::path& db_path, store::SessionId id,
                 const std::string& why) {
  store::SessionStore store(db_path);
  RunResult failed;
  failed.session = id;
  failed.status = "failed";
  failed.error = why;
  store.finish_session(id, "failed", to_json(failed).dump());
}

// What the result may depend on besides the project and data: stored as params of the session.
store::Params environment() {
  return {{"env.compiler", __VERSION__},
          {"env.eigen", std::to_string(EIGEN_WORLD_VERSION) + "." +
                            std::to_string(EIGEN_MAJOR_VERSION) + "." +
                            std::to_string(EIGEN_MINOR_VERSION)},
          {"env.eigen_simd", Eigen::SimdInstructionSetsInUse()},
          {"env.sqlite", store::sqlite_version()},
          {"env.zlib", zlibVersion()},
          {"env.trainbench", build_revision()}};
}

}  // namespace

Runner::Runner(Project project, RunOptions options)
    : project_(std::move(project)), options_(std::move(options)) {}

RunResult Runner::run() {
  const auto started = Clock::now();
  RunObserver no_observer;
  RunObserver& observer = options_.observer ? *options_.observer : no_observer;
  const std::string session_name =
      options_.session_name.empty() ? project_.name : options_.session_name;
  std::unique_ptr<dist::Communicator> owned_world;
  dist::Communicator* world = options_.communicator;
  if (world == nullptr) {
    owned_world = dist::make_world_communicator();
    world = owned_world.get();
  }
  // Rank 0 alone stores the session.
  const bool lead = world->rank() == 0;
  SessionSink sink(lead ? options_.db_path : std::filesystem::path(), project_, session_name,
                   options_.sweep);
  trace::Recorder recorder;
  TensorMemoryCounter memory_counter(recorder);
  const tensor::ScopedAllocationObserver memory_listening(&memory_counter);
  std::int64_t last_flush_ns = 0;
  const bool flush_each_step = project_.profile.flush == "step";  // else about once a second
  // The run's own peak, not an earlier run's in the same process (the GUI runs many).
  tensor::reset_peak(tensor::Device::cpu);
  tensor::reset_peak(tensor::Device::cuda);
  tensor::Device run_device = tensor::Device::cpu;  // where the tensors live, once known
  std::unique_ptr<DeviceProfiling> profiling;       // made once the device and steps are known
  RunResult result;
  result.session = sink.id();
  result.status = "failed";
  try {
    result.rank = world->rank();
    result.ranks = world->size();
    const auto& parallel = project_.parallel;
    if (world->size() != parallel.ranks()) {
      throw Error("parallel: the project trains on " + std::to_string(parallel.ranks()) +
                  " rank(s) (data " + std::to_string(parallel.data) + " x pipeline.stages " +
                  std::to_string(parallel.pipeline.stages) + " x tensor " +
                  std::to_string(parallel.tensor) + "), but " + std::to_string(world->size()) +
                  " process(es) were started (use `trainbench launch -n " +
                  std::to_string(parallel.ranks()) + "`, or mpirun -np " +
                  std::to_string(parallel.ranks()) + ")");
    }
    if (world->size() > 1) {
      std::function<void(const std::string&)> on_failure;
      if (lead && !options_.db_path.empty()) {
        on_failure = [db = options_.db_path, id = sink.id()](const std::string& why) {
          mark_failed(db, id, why);
        };
      }
      world->watch(parallel.timeout_s, std::move(on_failure));
      if (options_.resume_from.valid()) {
        throw Error(
            "--resume: resuming a parallel run is not supported yet (only rank 0 reads "
            "the checkpoint, and every rank needs the optimizer's state)");
      }
    }
    // "cuda" without a GPU fails here in one line; "auto" falls back to the CPU. Data-parallel
    // ranks on one machine take a GPU each.
    // Sparse layers run on host tensors only: "auto" takes the CPU for them (the project refuses
    // "cuda" for them when it is read).
    const std::string device =
        data::is_dataset_format(project_.data.dataset) ? project_.device : std::string("cpu");
    auto backend =
        tensor::make_backend(parallel.data > 1 ? detail::data_parallel_device(device) : device,
                             static_cast<int>(project_.train.threads));
    run_device = backend->device();
    backend->reset_peak_memory();
    sink.params({{"device.backend", backend->name()}});
    if (const auto gpu = backend->device_properties()) sink.params(device_params(*gpu));
    auto work = detail::make_workload(
        *backend, project_, &recorder,
        {parallel.data > 1 ? world->rank() : 0, static_cast<int>(parallel.data),
         parallel.tensor > 1 ? world : nullptr});
    if (world->size() > 1 && !lead) sink.hold_events();
    std::unique_ptr<detail::PipelineTraining> pipeline;
    if (parallel.pipeline.stages > 1) {
      pipeline =
          std::make_unique<detail::PipelineTraining>(*world, *backend, *work, parallel.pipeline);
      sink.params(
          {{"parallel.ranks", std::to_string(world->size())},
           {"parallel.pipeline.predicted_bubble", std::to_string(pipeline->predicted_bubble())}});
    }
    if (parallel.tensor > 1) sink.params({{"parallel.ranks", std::to_string(world->size())}});
    sink.params(work->dataset_params());
    sink.params(environment());
    const auto precision = amp::parse_precision(project_.precision);
    result.precision = amp::precision_name(precision);
    // Only fp16 scales the loss; bf16 has float's exponent range (see amp/precision.h).
    std::optional<amp::LossScaler> scaler;
    if (amp::needs_loss_scaling(precision)) {
      scaler.emplace(project_.amp);
      sink.metric("loss_scale", 0, seconds_since(started), scaler->scale());
    }
    nn::SoftmaxCrossEntropy criterion(*backend);
    // A pipeline rank updates its stage's parameters only.
    const auto parameters = pipeline ? pipeline->parameters() : work->parameters();
    std::vector<tensor::Tensor*> grads;  // the parameters' gradients, for the fp16 unscale
    for (nn::Parameter* p : parameters) grads.push_back(&p->grad);
    auto optimizer = optim::make_optimizer(*backend, parameters, project_.optimizer);
    // Embedding tables: their row-sparse gradients get row-sparse updates (optim/sparse.h).
    const auto sparse_parameters = work->sparse_parameters();
    std::unique_ptr<optim::SparseOptimizer> sparse_optimizer;
    if (!sparse_parameters.empty()) {
      sparse_optimizer = optim::make_sparse_optimizer(sparse_parameters, project_.optimizer);
      for (const auto* p : sparse_parameters) result.dense_grad_bytes += p->grad.dense_bytes();
    }
    optim::validate(project_.schedule);
    const Trainables trainables{parameters, *optimizer, sparse_parameters, sparse_optimizer.get()};
    // Communication spans (their observer goes after the buckets that may still be reducing).
    CommunicationSpans communication_spans(recorder);
    const ObserverRegistration observing(*world, communication_spans);
    std::optional<detail::DataParallel> data_parallel;
    if (parallel.data > 1) {
      data_parallel.emplace(*world, *backend, *work, parallel.bucket_mib);
      data_parallel->broadcast_parameters();
      sink.params({{"parallel.ranks", std::to_string(world->size())},
                   {"parallel.buckets", std::to_string(data_parallel->buckets().buckets().size())},
                   {"parallel.transport", data_parallel->transport()}});
    }

    RunInfo info;
    info.session = sink.id();
    info.name = session_name;
    info.model_summary = work->describe();
    info.parameters = work->parameter_count();
    info.train_samples = work->train_size();
    info.test_samples = work->test_size();
    info.epochs = project_.train.epochs;
    info.steps_per_epoch = work->batches_per_epoch();
    if (info.steps_per_epoch == 0) {
      throw Error(work->train_name() +
                  ": no training samples (check data.path and data.train_limit)");
    }
    info.total_steps = info.epochs * info.steps_per_epoch;
    if (project_.train.max_steps > 0)
      info.total_steps = std::min(info.total_steps, project_.train.max_steps);
    result.parameters = info.parameters;
    profiling =
        std::make_unique<DeviceProfiling>(project_.profile, run_device, recorder, info.total_steps);
    sink.params(profiling->params());
    observer.on_start(info);

    // The ranks' clocks side by side: read just after a common barrier.
    std::int64_t clock_origin = 0;
    if (world->size() > 1) {
      world->barrier();
      clock_origin = recorder.now_ns();
    }
    ThroughputWindow window;
    double pipeline_idle_s = 0.0, pipeline_wall_s = 0.0;  // over the run's steps
    double train_seconds = 0.0;
    std::int64_t train_samples = 0;
    std::int64_t step = 0;
    if (options_.resume_from.valid()) {
      if (!work->exact_epoch_length()) {
        throw Error(
            "--resume: with data.loader.mode \"stream\" and dedup, an epoch's length is known "
            "only once it is read, so a step cannot be placed in its epoch (set dedup false, or "
            "mode \"batch\")");
      }
      step = sink.restore(options_.resume_from, *backend, trainables);
      work->set_training_steps_done(static_cast<std::uint64_t>(step));
    }
    // Resuming inside an epoch: that epoch's batches before the checkpoint are passed over.
    const std::int64_t first_epoch = step / info.steps_per_epoch + 1;
    const std::int64_t batches_done = step % info.steps_per_epoch;
    bool stopped = false;
    bool memory_recorded = false;
    std::int64_t checkpointed_step = 0;
    for (std::int64_t epoch = first_epoch; epoch <= project_.train.epochs && !stopped; ++epoch) {
      work->start_epoch(epoch - 1);
      if (epoch == first_epoch) work->skip(batches_done);
      double epoch_loss = 0.0, epoch_seconds = 0.0;
      std::int64_t epoch_steps = 0, epoch_samples = 0;
      for (;;) {
        if (stop_.load(std::memory_order_relaxed) ||
            (project_.train.max_steps > 0 && step >= project_.train.max_steps)) {
          stopped = stop_.load(std::memory_order_relaxed);
          break;
        }
        const auto step_start = recorder.now_ns();
        std::int64_t batch_size = 0;
        {
          const DeviceProfiling::Phase tag(*profiling, step + 1, trace::Category::data);
          batch_size = work->next_batch();
        }
        // Data parallelism: this rank's slice of the global batch may be empty; the step goes
        // on (the other ranks wait for its gradients) unless the epoch has ended.
        const std::int64_t global_batch = work->global_batch_size();
        if (batch_size == 0 && (!data_parallel || global_batch == 0)) break;
        ++step;
        communication_spans.set_step(step);
        const auto data_end = recorder.now_ns();
        recorder.record("data", trace::Category::data, step_start, data_end, step);
        result.data_wait_s += static_cast<double>(data_end - step_start) * 1e-9;
        if (const auto depth = work->loader_queue_depth(); depth >= 0) {
          sink.metric("loader_queue_depth", step, seconds_since(started),
                      static_cast<double>(depth));
          recorder.record_counter("loader queue depth", data_end, static_cast<double>(depth));
        }
        float loss = 0.0f;
        double grad_norm = 0.0;
        if (pipeline) {
          // Forwards and backwards of the micro-batches, interleaved by the schedule.
          trace::ScopedSpan span(&recorder, "pipeline step", trace::Category::backward, step);
          const auto r = pipeline->step(*work, criterion);
          loss = r.loss;
          pipeline_idle_s += r.idle_s;
          pipeline_wall_s += r.wall_s;
          sink.metric("pipeline_bubble", step, seconds_since(started), r.measured_bubble);
        } else if (batch_size > 0) {
          trace::ScopedSpan span(&recorder, "forward", trace::Category::forward, step);
          const DeviceProfiling::Phase tag(*profiling, step, trace::Category::forward);
          loss = criterion.forward(work->forward(true), work->labels());
        }
        if (!memory_recorded && batch_size > 0) {
          // Everything held for backward is allocated and alive now, at its training batch size
          // (the first step of this session, which is not step 1 when it resumes).
          memory_recorded = true;
          result.activation_bytes = static_cast<std::int64_t>(work->activation_bytes());
          result.activation_workspace_bytes = static_cast<std::int64_t>(work->workspace_bytes());
          result.weight_bytes = static_cast<std::int64_t>(work->weight_bytes());
          sink.metric("activation_bytes", step, seconds_since(started),
                      static_cast<double>(result.activation_bytes));
          sink.params({{"memory.activation_bytes", std::to_string(result.activation_bytes)},
                       {"memory.activation_workspace_bytes",
                        std::to_string(result.activation_workspace_bytes)},
                       {"memory.weight_bytes", std::to_string(result.weight_bytes)}});
        }
        if (!pipeline) {
          trace::ScopedSpan span(&recorder, "backward", trace::Category::backward, step);
          const DeviceProfiling::Phase tag(*profiling, step, trace::Category::backward);
          const float weight =
              data_parallel ? data_parallel->gradient_weight(batch_size, global_batch) : 1.0f;
          if (batch_size > 0) {
            work->backward(criterion.backward(), (scaler ? scaler->scale() : 1.0f) * weight);
          }
          if (data_parallel) {
            data_parallel->reduce_gradients(batch_size > 0);
            loss = data_parallel->global_loss(loss, batch_size, global_batch);
          }
        }
        {
          trace::ScopedSpan span(&recorder, "optimizer", trace::Category::optimizer, step);
          const DeviceProfiling::Phase tag(*profiling, step, trace::Category::optimizer);
          const double lr_factor = optim::lr_factor(project_.schedule, step - 1, info.total_steps);
          optimizer->set_lr_factor(lr_factor);
          bool apply = true;
          if (scaler) {
            // GradScaler.unscale_ + step + update: unscale every gradient, skip on inf/NaN.
            // One multi-tensor op over every gradient: on a device, one flag read back a step.
            const bool found_inf =
                backend->unscale_and_check_finite_multi(grads, scaler->inv_scale());
            apply = scaler->update(found_inf);
            result.skipped_steps = scaler->skipped_steps();
          }
          if (apply && project_.train.clip_grad_norm > 0.0) {
            grad_norm = optim::clip_grad_norm(*backend, parameters, project_.train.clip_grad_norm);
          }
          if (apply) optimizer->step();
          if (sparse_optimizer) {
            std::int64_t sparse_bytes = 0;
            for (const auto* p : sparse_parameters) sparse_bytes += p->grad.bytes();
            result.sparse_grad_bytes = std::max(result.sparse_grad_bytes, sparse_bytes);
            sink.metric("sparse_grad_bytes", step, seconds_since(started),
                        static_cast<double>(sparse_bytes));
            sparse_optimizer->set_lr_factor(lr_factor);
            if (apply) sparse_optimizer->step();
          }
        }
        backend->synchronize();
        const auto step_end = recorder.now_ns();
        recorder.record("step", trace::Category::step, step_start, step_end, step);
        // A live view (the GUI's Profile tab) sees the trace at most a second behind, or each
        // step as it ends when the project asks (profile.flush).
        if (step_end - last_flush_ns >= kLiveFlushNs || flush_each_step) {
          sink.flush(recorder, profiling.get());
          last_flush_ns = step_end;
        }
        const double seconds = static_cast<double>(step_end - step_start) * 1e-9;
        profiling->on_step(step, seconds);
        train_seconds += seconds;
        epoch_seconds += seconds;
        // The whole job's samples: every rank's slice of the global batch.
        const std::int64_t step_samples = data_parallel ? global_batch : batch_size;
        train_samples += step_samples;
        epoch_samples += step_samples;
        epoch_loss += loss;
        ++epoch_steps;

        StepReport report;
        report.step = step;
        report.epoch = epoch;
        report.train_loss = loss;
        report.samples_per_s = window.add(step_samples, seconds);
        report.elapsed_s = seconds_since(started);
        sink.metric("train_loss", step, report.elapsed_s, loss);
        sink.metric("samples_per_s", step, report.elapsed_s, report.samples_per_s);
        sink.metric("lr", step, report.elapsed_s, optimizer->lr());
        // Tensor memory live at the step's end, for memory curves beside other sessions'.
        sink.metric("memory_bytes", step, report.elapsed_s,
                    static_cast<double>(tensor::memory_stats(run_device).allocated_bytes));
        if (const std::int64_t reserved = backend->reserved_bytes(); reserved > 0) {
          sink.metric("memory_reserved_bytes", step, report.elapsed_s,
                      static_cast<double>(reserved));
          // Beside "memory allocated (cuda)" on the memory plot: the gap is the allocator's cache.
          recorder.record_counter("memory reserved (cuda)", recorder.now_ns(),
                                  static_cast<double>(reserved));
        }
        if (project_.train.clip_grad_norm > 0.0) {
          sink.metric("grad_norm", step, report.elapsed_s, grad_norm);
        }
        if (data_parallel) {
          const auto& buckets = data_parallel->buckets();
          result.communication_s += buckets.communication_s();
          result.communication_hidden_s += buckets.hidden_s();
          sink.metric("communication_s", step, report.elapsed_s, buckets.communication_s());
          if (buckets.communication_s() > 0) {
            sink.metric("overlap_share", step, report.elapsed_s,
                        buckets.hidden_s() / buckets.communication_s());
          }
        }
        if (scaler) {
          for (const auto& event : scaler->take_events()) {
            sink.metric("loss_scale", event.step, report.elapsed_s, event.scale);
            recorder.record_counter("loss scale", step_end, event.scale);
            if (event.skipped) {
              sink.metric("skipped_steps", event.step, report.elapsed_s,
                          static_cast<double>(event.skipped_total));
            }
          }
        }
        observer.on_step(report);
        result.steps = step;  // a run that fails later still says how far it got
        if (!std::isfinite(loss))
          throw Error("training diverged: loss is " + std::to_string(loss) + " at step " +
                      std::to_string(step) + " (try a lower optimizer.lr)");
      }
      result.steps = step;
      result.samples_per_s =
          train_seconds > 0 ? static_cast<double>(train_samples) / train_seconds : 0.0;
      result.train_s = train_seconds;
      if (stopped) break;
      if (epoch_steps == 0) break;
      const std::int64_t skipped = epoch == first_epoch ? batches_done : 0;
      // Only max_steps ends an epoch early; a deduplicated stream's epochs are simply shorter.
      const bool partial = project_.train.max_steps > 0 && step >= project_.train.max_steps &&
                           skipped + epoch_steps < work->batches_per_epoch();
      detail::Evaluation eval;
      // Rank 0 evaluates the whole model: data-parallel ranks hold the same one, pipeline stages
      // send theirs first; tensor-parallel layers need every rank in each forward.
      if (pipeline) pipeline->share_parameters();
      if (lead || parallel.tensor > 1) {
        trace::ScopedSpan span(&recorder, "evaluate", trace::Category::eval, step);
        const DeviceProfiling::Phase tag(*profiling, step, trace::Category::eval);
        eval = work->evaluate(criterion, project_.train.eval_batch_size);
      }
      EpochReport report;
      report.epoch = epoch;
      report.step = step;
      report.train_loss = epoch_loss / static_cast<double>(epoch_steps);
      report.test_loss = eval.loss;
      report.test_accuracy = eval.accuracy;
      report.samples_per_s =
          epoch_seconds > 0 ? static_cast<double>(epoch_samples) / epoch_seconds : 0.0;
      report.elapsed_s = seconds_since(started);
      sink.metric("test_accuracy", step, report.elapsed_s, eval.accuracy);
      sink.metric("test_loss", step, report.elapsed_s, eval.loss);
      sink.metric("epoch_train_loss", step, report.elapsed_s, report.train_loss);
      share_rank_traces(*world, recorder, clock_origin, sink);
      sink.flush(recorder, profiling.get());
      if (project_.train.checkpoint == "epoch") {
        sink.checkpoint(step, *backend, trainables);
        checkpointed_step = step;
      }
      result.test_accuracy = eval.accuracy;
      result.test_loss = eval.loss;
      result.train_loss = report.train_loss;
      if (!partial) result.epochs = epoch;
      observer.on_epoch(report);
      if (partial) break;  // max_steps ended the run inside this epoch
    }
    share_rank_traces(*world, recorder, clock_origin, sink);  // what the last epoch left
    if (project_.train.checkpoint != "none" && step > 0 && step != checkpointed_step) {
      sink.checkpoint(step, *backend, trainables);
    }
    result.loader = work->loader_params();
    sink.params(result.loader);
    result.peak_reserved_bytes = backend->peak_reserved_bytes();
    if (sparse_optimizer) {
      sink.params({{"memory.sparse_grad_bytes", std::to_string(result.sparse_grad_bytes)},
                   {"memory.dense_grad_bytes", std::to_string(result.dense_grad_bytes)}});
    }
    if (pipeline && pipeline_wall_s > 0) {
      sink.params({{"parallel.pipeline.measured_bubble",
                    std::to_string(pipeline_idle_s / pipeline_wall_s)}});
    }
    if (data_parallel) {
      sink.params({{"parallel.communication_s", std::to_string(result.communication_s)},
                   {"parallel.overlap_share",
                    std::to_string(result.communication_s > 0
                                       ? result.communication_hidden_s / result.communication_s
                                       : 0.0)}});
    }
    result.status = stopped ? "stopped" : "completed";
  } catch (const std::exception& e) {
    result.status = "failed";
    result.error = e.what();
  }
  result.wall_s = seconds_since(started);
  result.peak_memory_bytes = tensor::memory_stats(run_device).peak_bytes;
  try {
    sink.flush(recorder, profiling.get(), true);
    if (profiling) sink.params(profiling->params());  // with the dropped and overhead figures
    sink.finish(result);
  } catch (const std::exception& e) {
    if (result.error.empty()) result.error = e.what();
    result.status = "failed";
  }
  observer.on_finish(result);
  if (world->size() > 1 && result.status == "failed") {
    // The other ranks would wait for this one until their timeout: end the job now, the
    // session (rank 0's) having said why.
    std::fprintf(stderr, "trainbench: rank %d: %s\n", world->rank(), result.error.c_str());
    std::fflush(stderr);
    world->abort(1);
  }
  return result;
}

BackgroundRun::BackgroundRun(Project project, RunOptions options)
    : options_observer_(options.observer), runner_(std::move(project), std::move(options)) {
  thread_ = std::thread([this] {
    try {
      result_ = runner_.run();
    } catch (const std::exception& e) {
      // The session could not even be created: report it like any other failure.
      result_.status = "failed";
      result_.error = e.what();
      if (options_observer_) options_observer_->on_finish(result_);
    }
    finished_.store(true);
  });
}

BackgroundRun::~BackgroundRun() {
  runner_.request_stop();
  if (thread_.joinable()) thread_.join();
}

RunResult BackgroundRun::wait() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

nlohmann::json to_json(const RunResult& result) {
  nlohmann::json out = {{"session_id", result.session.valid() ? nlohmann::json(result.session.value)
                                                              : nlohmann::json()},
                        {"status", result.status},
                        {"test_accuracy", result.test_accuracy},
                        {"test_loss", result.test_loss},
                        {"train_loss", result.train_loss},
                        {"samples_per_s", result.samples_per_s},
                        {"train_s", result.train_s},
                        {"data_wait_s", result.data_wait_s},
                        {"epochs", result.epochs},
                        {"steps", result.steps},
                        {"wall_s", result.wall_s},
                        {"parameters", result.parameters},
                        {"precision", result.precision},
                        {"activation_bytes", result.activation_bytes},
                        {"activation_workspace_bytes", result.activation_workspace_bytes},
                        {"weight_bytes", result.weight_bytes},
                        {"peak_memory_bytes", result.peak_memory_bytes},
                        {"peak_reserved_bytes", result.peak_reserved_bytes},
                        {"skipped_steps", result.skipped_steps}};
  if (result.dense_grad_bytes > 0) {
    out["sparse_grad_bytes"] = result.sparse_grad_bytes;
    out["dense_grad_bytes"] = result.dense_grad_bytes;
  }
  if (!result.loader.empty()) {
    auto& loader = out["loader"];
    for (const auto& [key, value] : result.loader) loader[key.substr(key.find('.') + 1)] = value;
  }
  if (result.ranks > 1) {
    out["parallel"] = {
        {"rank", result.rank},
        {"ranks", result.ranks},
        {"communication_s", result.communication_s},
        {"overlap_share", result.communication_s > 0
                              ? result.communication_hidden_s / result.communication_s
                              : 0.0}};
  }
  if (!result.error.empty()) out["error"] = result.error;
  return out;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace tb::run
