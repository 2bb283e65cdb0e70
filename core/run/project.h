// Project: the experiment file (JSON) — parsed, validated, defaults filled.
//
// Every key is known: an unknown key, a wrong type or a value outside its allowed set is a
// ProjectError naming the dotted field and what is allowed. to_json() writes the complete project
// with every default, which is what a session stores so it can be re-run exactly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/amp/loss_scaler.h"
#include "core/data/synthetic_recsys.h"
#include "core/data/synthetic_text.h"
#include "core/nn/model_spec.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/util/error.h"

namespace tb::run {

// A project file that is not valid. field() is the dotted key ("optimizer.lr"), empty when the
// whole document is at fault (unreadable file, malformed JSON).
class ProjectError : public Error {
 public:
  ProjectError(std::string field, const std::string& message);
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// The data pipeline (data/pipeline/batch_loader.h) for dense datasets: the `data.loader` section.
struct LoaderSettings {
  // "batch": epochs over the known set in a seeded global permutation, every sample once.
  // "stream": each epoch reads the training split front to back as a stream
  // (data/pipeline/stream_loader.h): a shuffle buffer instead of a permutation, repeated samples
  // left out by a Bloom filter; epochs may be shorter than the set.
  std::string mode = "batch";
  std::int64_t shuffle_buffer = 10000;  // stream: records reordered at once (with data.shuffle)
  bool dedup = true;                    // stream: leave repeated samples out
  std::int64_t workers = 2;   // decode threads (0: decode on the training thread; stream: >= 1)
  std::int64_t prefetch = 4;  // batches decoded ahead of the training loop
  // "none" | "memory" (decoded samples, LRU, for this run) | "lmdb" (decoded samples on disk in
  // cache_dir, kept for the next runs of the same data)
  std::string cache = "none";
  std::int64_t cache_mib = 1024;  // the cache's budget
  std::string cache_dir;          // lmdb: where (empty: $XDG_CACHE_HOME or ~/.cache/trainbench)
  std::string on_error = "fail";  // "fail" | "skip" (unreadable records, counted)
  std::int64_t crop_padding = 0;  // augment.crop_padding: random crop after this much padding
  bool flip = false;              // augment.flip: random horizontal flip
};

struct DataSettings {
  // A dense file format (data/formats/splits.h): "fashion-mnist" (IDX files), "shards" (a
  // `trainbench data pack` folder), "tfrecord", "hdf5", "npy", "lmdb", "csv"; or generated:
  // "synthetic-bow" (a topic corpus, sparse bag-of-words rows) | "synthetic-recsys" (user-item
  // clicks, ids for Embeddings).
  std::string dataset = "fashion-mnist";
  std::string path;  // fashion-mnist: folder with the IDX files (empty: the system's copy);
                     // the other formats: the folder holding the train and test splits
  nlohmann::json options = nlohmann::json::object();  // the format's own settings (splits.h)
  std::int64_t batch_size = 128;
  bool shuffle = true;
  std::int64_t train_limit = 0;      // use only the first N training samples (0: all)
  std::int64_t test_limit = 0;       // evaluate on the first N test samples (0: all)
  data::SyntheticBowSpec bow;        // synthetic-bow: the `data.bow` section
  data::SyntheticRecsysSpec recsys;  // synthetic-recsys: the `data.recsys` section
  LoaderSettings loader;             // fashion-mnist, shards: the `data.loader` section
};

// The model section: see nn::ModelSpec.
using ConvBlockSettings = nn::ConvBlockSpec;
using ModelSettings = nn::ModelSpec;

// The optimizer and schedule sections: see optim::OptimizerSpec and optim::ScheduleSpec.
using OptimizerSettings = optim::OptimizerSpec;
using ScheduleSettings = optim::ScheduleSpec;

struct TrainSettings {
  std::int64_t epochs = 10;
  std::int64_t max_steps = 0;  // stop after this many steps (0: run every epoch)
  std::int64_t threads = 2;    // CPU threads for the backend
  std::int64_t eval_batch_size = 1000;
  double clip_grad_norm = 0.0;  // clip gradients to this global L2 norm (0: no clipping)
  // When the session stores a checkpoint (model parameters and optimizer state):
  // "none", "end" (when the run ends, completed or stopped) or "epoch" (after every epoch too).
  std::string checkpoint = "none";
};

// The `profile` section: what is traced besides the engine's own spans.
struct ProfileSettings {
  // On a CUDA device, CUPTI activity tracing: every kernel, copy and runtime call on the
  // timeline (ignored on the CPU; off where another profiler holds CUPTI, said in the session).
  bool cupti = true;
  // The CUPTI record kinds to collect, of kAllCuptiKinds.
  std::vector<std::string> kinds;
  // When a running session's trace reaches the database: "period" (about every second, CUPTI's
  // buffers as they fill) or "step" (after every step, CUPTI's partly filled buffers too, so a
  // live timeline shows each step's kernels as it ends, at the cost of a flush per step).
  std::string flush = "period";
};
inline const std::vector<std::string> kAllCuptiKinds = {
    "kernel", "memcpy", "memset", "runtime", "synchronization", "overhead", "memory"};

// The `parallel` section: how many processes (ranks, started by mpirun or `trainbench launch`)
// train together and how the work is split among them. The ranks mpirun starts must be
// data * pipeline.stages * tensor; one kind of parallelism at a time for now.
struct PipelineSettings {
  std::int64_t stages = 1;        // consecutive groups of layers, one rank each
  std::int64_t microbatches = 4;  // pieces each batch is cut into, flowing through the stages
  std::string schedule = "1f1b";  // "gpipe" | "1f1b"
};
struct ParallelSettings {
  std::int64_t data = 1;  // replicas, each on its slice of every batch (as PyTorch DDP)
  PipelineSettings pipeline;
  std::int64_t tensor = 1;  // ranks that split each pair of hidden Linear layers (Megatron-LM)
  // Data parallelism averages gradients in buckets of about this many MiB (DDP's 25 by default),
  // each started as soon as backward has written it.
  double bucket_mib = 25.0;
  // A collective that waits longer than this for the other ranks ends the run as failed: a rank
  // died or hangs. Generous, since rank 0 may evaluate while the others wait.
  double timeout_s = 300.0;
  std::int64_t ranks() const { return data * pipeline.stages * tensor; }
};

struct Project {
  std::string name = "untitled";
  std::uint64_t seed = 42;
  std::string device = "cpu";  // "cpu" | "cuda" | "auto"
  // "fp32" | "fp16" | "bf16": the storage of weights and activations (see amp/precision.h).
  std::string precision = "fp32";
  // Dynamic loss scaling, used when the precision needs it (fp16); GradScaler's defaults.
  amp::LossScalerOptions amp;
  DataSettings data;
  ModelSettings model;
  OptimizerSettings optimizer;
  ScheduleSettings schedule;
  TrainSettings train;
  ProfileSettings profile{true, kAllCuptiKinds};
  ParallelSettings parallel;

  // Validates doc; `source` (a file name) prefixes error messages.
  static Project from_json(const nlohmann::json& doc, const std::string& source = "project");
  // Reads and validates a file, applying "dotted.key=value" overrides first.
  static Project load(const std::filesystem::path& file,
                      const std::vector<std::string>& overrides = {});
  nlohmann::json to_json() const;
};

// Applies one "dotted.key=value" override to a project document. The value is parsed as JSON
// when it is valid JSON (numbers, true/false, arrays), else taken as a string. Throws ProjectError.
void apply_override(nlohmann::json& doc, std::string_view assignment);

// {"a": {"b": 1}, "c": [1, 2]} -> {"a.b": "1", "c": "[1,2]"}: the session's params table.
std::vector<std::pair<std::string, std::string>> flatten(const nlohmann::json& doc);

}  // namespace tb::run
