// SessionSink: where a run's session goes (the settings, metrics, trace batches, checkpoints and
// the final status), and share_rank_traces, which brings a parallel run's other ranks' tracks
// into rank 0's session. Internal to core/run (runner.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/gather_bytes.h"
#include "core/nn/sparse.h"
#include "core/optim/optimizer.h"
#include "core/optim/sparse.h"
#include "core/run/device_profiling.h"
#include "core/run/project.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "core/trace/recorder.h"
#include "core/trace/trace_wire.h"
#include "core/util/error.h"

namespace tb::run::detail {

// What a checkpoint holds and a resume restores: the dense parameters and their optimizer, and
// the Embedding tables and theirs (none for dense models).
struct Trainables {
  const std::vector<nn::Parameter*>& dense;
  optim::Optimizer& optimizer;
  const std::vector<nn::SparseParameter*>& sparse;
  optim::SparseOptimizer* sparse_optimizer;
};

// Stores what the run produces, in batches; a run without a database gets a sink that drops it.
class SessionSink {
 public:
  SessionSink(const std::filesystem::path& db_path, const Project& project, const std::string& name,
              store::SweepId sweep) {
    if (db_path.empty()) return;
    store_ = std::make_unique<store::SessionStore>(db_path);
    const auto doc = project.to_json();
    id_ = store_->create_session({name, doc.dump(2), build_revision(), host_name(), project.seed});
    if (sweep.valid()) store::add_to_sweep(*store_, sweep, id_);
    store_->add_params(id_, flatten(doc));
    metrics_ = std::make_unique<store::MetricWriter>(*store_, id_, 4096);
  }

  store::SessionId id() const { return id_; }

  // Model parameters and optimizer state at `step`, as one checkpoint of the session. Embedding
  // tables are "model/<name>" like dense parameters; their optimizer's buffers are
  // "sparse_optimizer/<buffer>" (its step count is the dense optimizer's: both step together).
  void checkpoint(std::int64_t step, tensor::Backend& backend, const Trainables& trainables) {
    if (!store_) return;
    store::Checkpoint checkpoint;
    checkpoint.step = step;
    for (const auto* p : trainables.dense) {
      std::vector<float> values(static_cast<std::size_t>(p->value.numel()));
      backend.download(p->value, values.data(), values.size() * sizeof(float));
      checkpoint.tensors.push_back({"model/" + p->name, std::move(values)});
    }
    for (const auto* p : trainables.sparse) {  // host tensors
      const auto table = nn::host_view(p->value);
      checkpoint.tensors.push_back(
          {"model/" + p->name, std::vector<float>(table.data, table.data + p->value.numel())});
    }
    auto state = trainables.optimizer.state();
    checkpoint.optimizer_step = state.step;
    for (auto& [name, values] : state.tensors) {
      checkpoint.tensors.push_back({"optimizer/" + name, std::move(values)});
    }
    if (trainables.sparse_optimizer != nullptr) {
      for (auto& [name, values] : trainables.sparse_optimizer->state().tensors) {
        checkpoint.tensors.push_back({"sparse_optimizer/" + name, std::move(values)});
      }
    }
    store_->save_checkpoint(id_, checkpoint);
  }

  // Restores parameters and optimizer state from the latest checkpoint of session `from`;
  // returns the step it was taken at. Throws tb::Error when there is none or it does not fit.
  std::int64_t restore(store::SessionId from, tensor::Backend& backend,
                       const Trainables& trainables) {
    const std::string source = "session " + std::to_string(from.value);
    if (!store_) throw Error("resuming " + source + " needs its session database");
    const auto checkpoint = store_->checkpoint(from);
    if (!checkpoint) {
      throw Error(source +
                  " has no checkpoint to resume from (run it with train.checkpoint \"end\" "
                  "or \"epoch\")");
    }
    std::map<std::string, const std::vector<float>*> model;
    optim::OptimizerState state;
    state.step = checkpoint->optimizer_step;
    optim::OptimizerState sparse_state;
    sparse_state.step = checkpoint->optimizer_step;
    for (const auto& t : checkpoint->tensors) {
      if (t.name.starts_with("model/")) model[t.name.substr(6)] = &t.values;
      if (t.name.starts_with("optimizer/")) state.tensors.emplace_back(t.name.substr(10), t.values);
      if (t.name.starts_with("sparse_optimizer/"))
        sparse_state.tensors.emplace_back(t.name.substr(17), t.values);
    }
    // Every tensor is checked before anything is written, so a misfit leaves the model as it was.
    const auto saved = [&](const std::string& name, const tensor::Tensor& value) {
      auto it = model.find(name);
      if (it == model.end() || static_cast<std::int64_t>(it->second->size()) != value.numel()) {
        throw Error("the checkpoint of " + source + " does not fit this model: parameter " + name +
                    " " + value.shape().str() +
                    (it == model.end()
                         ? " is missing"
                         : " holds " + std::to_string(it->second->size()) + " values"));
      }
      return it->second;
    };
    for (auto* p : trainables.dense) saved(p->name, p->value);
    for (auto* p : trainables.sparse) saved(p->name, p->value);
    trainables.optimizer.load_state(state);
    if (trainables.sparse_optimizer != nullptr) {
      trainables.sparse_optimizer->load_state(sparse_state);
    }
    for (auto* p : trainables.dense) {
      const auto* values = saved(p->name, p->value);
      backend.upload(p->value, values->data(), values->size() * sizeof(float));
    }
    for (auto* p : trainables.sparse) {
      const auto* values = saved(p->name, p->value);
      std::copy(values->begin(), values->end(), nn::host_view(p->value).data);
    }
    store_->add_params(id_, {{"resumed_from", std::to_string(from.value)},
                             {"resumed_at_step", std::to_string(checkpoint->step)}});
    return checkpoint->step;
  }

  void params(const store::Params& params) {
    if (store_) store_->add_params(id_, params);
  }

  void metric(const char* key, std::int64_t step, double wall, double value) {
    if (metrics_) metrics_->add(key, step, wall, value);
  }

  // `profiling`: its device activity since the last flush joins the batch (`final`: all of it,
  // the tracer stopped).
  void flush(trace::Recorder& recorder, DeviceProfiling* profiling, bool final = false) {
    if (!store_ && hold_events_) return;  // kept for rank 0 (share_rank_traces)
    if (!store_) {
      recorder.drain();  // nothing keeps them, but the recorder's buffers must not grow
      if (profiling) {
        trace::Trace discarded;
        profiling->append_to(discarded, final);
      }
      return;
    }
    metrics_->flush();
    // A track per recording thread (loader workers as loader_worker tracks), process
    // "trainbench"; the writer maps this batch's ids to the session's and keeps each track's
    // last chunk open, so a flush every ~100 ms does not leave a chunk each.
    trace::Trace batch;
    recorder.drain_into(batch);
    if (profiling) profiling->append_to(batch, final);
    if (!trace_) trace_ = std::make_unique<store::TraceWriter>(*store_, id_);
    trace_->append(batch);
  }

  // A parallel run's rank other than 0: its events wait in the recorder for the next
  // share_rank_traces instead of being dropped at each flush.
  void hold_events() { hold_events_ = true; }

  // Other ranks' tracks (append_rank_trace), into this session's trace.
  void append_trace(trace::Trace& batch) {
    if (!store_) return;
    batch.finish();
    if (!trace_) trace_ = std::make_unique<store::TraceWriter>(*store_, id_);
    trace_->append(batch);
  }

  void finish(const RunResult& result) {
    if (!store_) return;
    const auto summary = to_json(result);
    store_->finish_session(id_, result.status, summary.dump());
  }

 private:
  std::unique_ptr<store::SessionStore> store_;
  std::unique_ptr<store::MetricWriter> metrics_;
  std::unique_ptr<store::TraceWriter> trace_;  // made at the first flush; goes before store_
  store::SessionId id_;
  bool hold_events_ = false;
};

// Every rank's events since the last call, into rank 0's session: called by every rank of a
// parallel run together (at each epoch's end and the run's), since it is a collective. A rank's
// times move onto rank 0's clock by the difference of the clocks' readings just after a common
// barrier (`clock_origin`; the barrier's exit skew, microseconds, is the error).
inline void share_rank_traces(dist::Communicator& world, trace::Recorder& recorder,
                              std::int64_t clock_origin, SessionSink& sink) {
  if (world.size() <= 1) return;
  std::vector<std::uint8_t> mine;
  if (world.rank() != 0) {
    trace::Trace batch;
    recorder.drain_into(batch);
    const auto encoded = trace::encode_trace(batch);
    mine.resize(sizeof clock_origin);
    std::memcpy(mine.data(), &clock_origin, sizeof clock_origin);
    mine.insert(mine.end(), encoded.begin(), encoded.end());
  }
  const auto all = dist::gather_bytes(world, mine, 0);
  if (world.rank() != 0) return;
  trace::Trace remote;
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r].size() < sizeof clock_origin) continue;
    std::int64_t origin = 0;
    std::memcpy(&origin, all[r].data(), sizeof origin);
    trace::append_rank_trace(remote, std::span(all[r]).subspan(sizeof origin),
                             static_cast<std::int64_t>(r), clock_origin - origin);
  }
  sink.append_trace(remote);
}

}  // namespace tb::run::detail
