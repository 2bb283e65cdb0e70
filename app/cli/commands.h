// The subcommands behind the parser in cli.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/inspect.h"

namespace tb::app {

struct RunCommand {
  std::filesystem::path project_file;
  std::vector<std::string> overrides;  // --set dotted.key=value
  std::filesystem::path db_path;
  bool json = false;
  std::int64_t max_steps = 0;  // 0: as the project says
  std::int64_t resume = 0;     // continue this session from its latest checkpoint (0: no)
};

int run_project(const RunCommand& command);

// `trainbench launch`: `run` on several processes through mpirun.
struct LaunchCommand {
  RunCommand run;
  std::int64_t ranks = 0;          // -n; 0: the project's parallel.data x stages x tensor
  std::filesystem::path hostfile;  // mpirun --hostfile (several machines); empty: this one
  std::string mpirun = "mpirun";
};
// mpirun's command line: mpirun -np N [...] EXECUTABLE run FILE --set ... (a project that does not
// say how many ranks gets parallel.data=N). Throws tb::Error when -n contradicts the project.
std::vector<std::string> launch_arguments(const LaunchCommand& command,
                                          const std::filesystem::path& executable);
// Replaces this process with mpirun; returns only by throwing (mpirun could not be started).
int launch_project(const LaunchCommand& command);

struct OptimPathCommand {
  std::string optimizer;    // sgd | adam | adamw | rmsprop | lion
  nlohmann::json settings;  // optimizer settings given on the command line (lr, momentum, ...)
  std::string betas;        // "A,B"
  std::string function;     // rosenbrock | beale | quadratic | saddle
  std::string start;        // "X,Y"; empty: the function's default start
  std::int64_t steps = 100;
  bool json = false;
};
int optimizer_path(const OptimPathCommand& command);
struct ListSessionsCommand {
  std::filesystem::path db_path;
  std::string filter;   // words matched in name, project, dataset, model, optimizer, tags, notes
  std::string project;  // only this project's sessions ("" : all)
  std::string tag;
  std::int64_t sweep = 0;
  std::string sort = "id";  // a column: id, name, created, status, project, ..., best_accuracy
  bool ascending = false;
  std::int64_t limit = 0;  // 0: all
  bool json = false;
};
int list_sessions(const ListSessionsCommand& command);
// `sessions rename|tag|untag|note|delete|sweeps`: edits of the session catalog.
struct EditSessionsCommand {
  std::filesystem::path db_path;
  std::string action;  // rename, tag, untag, note, delete, sweeps
  std::vector<std::int64_t> ids;
  std::vector<std::string> words;  // the name, tags or note
  bool json = false;
};
int edit_sessions(const EditSessionsCommand& command);
int show_session(const std::filesystem::path& db_path, std::int64_t id, bool json);
struct DataCheckCommand {
  std::filesystem::path project_file;
  std::vector<std::string> overrides;  // --set dotted.key=value
  data::InspectOptions options;
  bool json = false;
};
// Duplicates, near-duplicates, class balance and a kNN baseline of the project's dataset.
int check_data(const DataCheckCommand& command);

struct DataPackCommand {
  std::vector<std::string> sources;  // Fashion-MNIST folders or project files
  std::filesystem::path output;      // DIR: DIR/train and DIR/test are written
  std::string format = "shards";     // or tfrecord, hdf5, npy, lmdb (formats/splits.h layouts)
  std::string shard_size = "64MiB";
  int zstd_level = 0;  // 0: off
  bool json = false;
};
// Packs every SRC's train and test samples into shards (core/data/shard_format.h).
int pack_data(const DataPackCommand& command);
struct DataInspectCommand {
  std::filesystem::path path;  // a .tbs file, a folder of shards, or a pack's DIR (train/, test/)
  std::size_t examples = 5;
  bool verify = true;
  bool json = false;
};
// What a shard set holds, and a checksum pass over every record.
int inspect_shards(const DataInspectCommand& command);
// "64MiB", "512KiB", "1GB", "4096" as bytes; throws tb::Error naming `option` otherwise.
std::uint64_t parse_size(const std::string& text, const std::string& option);

struct TuneLoaderCommand {
  std::filesystem::path project_file;
  std::vector<std::string> overrides;  // --set dotted.key=value
  double seconds_per_trial = 3.0;
  bool json = false;
};
// Trains the project briefly with each loader setting; prints throughput and data-wait share.
int tune_loader(const TuneLoaderCommand& command);

struct ExportTraceCommand {
  std::filesystem::path db_path;
  std::int64_t session = 0;
  std::filesystem::path output;  // .json, or .json.gz for gzip
};
// A stored session as Chrome trace JSON (Perfetto, chrome://tracing).
int export_trace(const ExportTraceCommand& command);

struct ImportTraceCommand {
  std::filesystem::path db_path;
  std::filesystem::path file;  // .json or .json.gz: Kineto object form or legacy array
  std::string name;            // the session's name; empty: the file's name
  bool json = false;
};
// A PyTorch profiler trace, stored as a session.
int import_trace(const ImportTraceCommand& command);

struct ProfileCommand {
  std::filesystem::path db_path;
  std::int64_t session = 0;
  std::int64_t top = 15;    // ops listed
  std::int64_t steps = 20;  // rows of the per-step table (the slowest steps)
  bool json = false;
};
// Step breakdown, top ops and the verdict of a session's trace.
int profile_session(const ProfileCommand& command);

struct KernelsCommand {
  std::filesystem::path db_path;
  std::int64_t session = 0;
  std::int64_t top = 25;  // rows listed (0: all)
  bool group = false;     // template instances of one kernel as one row
  bool copies = false;    // memcpy and memset rows too
  bool json = false;
};
// The kernel table of a session's trace (CUPTI kernels, or an imported PyTorch trace's).
int list_kernels(const KernelsCommand& command);

struct TraceDiffCommand {
  std::filesystem::path db_path;
  std::int64_t before = 0;
  std::int64_t after = 0;
  std::int64_t top = 20;
  bool json = false;
};
// Ops and kernels added, removed, faster and slower between two sessions.
int diff_traces(const TraceDiffCommand& command);

// The CPU and every CUDA device this build can use.
int list_devices(bool json);

struct CompareCommand {
  std::filesystem::path db_path;
  std::vector<std::int64_t> sessions;  // 2 to 20 ids
  std::string metric = "train_loss";   // its final and lowest values are listed per session
  static constexpr double kDefaultTarget = 0.85;
  double target = kDefaultTarget;  // test accuracy of the time-to-target rows, 0..1
  std::filesystem::path csv;       // empty: no CSV
  bool json = false;
  bool all = false;  // every setting, not only those that differ
};
// Settings diff, summary table (best marked) and one metric of 2 to 20 stored sessions.
int compare_sessions(const CompareCommand& command);

struct SweepCommand {
  std::filesystem::path project_file;
  std::vector<std::string> axes;  // --set key=v1,v2,...: one axis each
  std::string name;               // the sweep's name; empty: from the project and the axes
  std::int64_t max_steps = 0;     // 0: as the project says
  std::filesystem::path db_path;
  bool json = false;
};
// Runs the project once per point of the grid, as one sweep of sessions, then compares them.
int run_sweep(const SweepCommand& command);

}  // namespace tb::app
