#include "app/cli/cli.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "app/cli/commands.h"
#include "core/store/session_store.h"
#include "core/util/error.h"

namespace tb::app {

bool display_available() {
  for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) {
    const char* value = std::getenv(name);
    if (value && *value) return true;
  }
  return false;
}

CliOutcome cli_main(int argc, char** argv, bool gui_built) {
  CLI::App app{"Trainbench: design, run, profile and compare training runs.", "trainbench"};
  app.set_version_flag("--version", "trainbench 0.1.0");
  app.require_subcommand(0, 1);

  std::filesystem::path db_path = store::SessionStore::default_path();
  auto add_db = [&](CLI::App* command) {
    command->add_option("--db", db_path, "Session database (default: " + db_path.string() + ")");
  };

  // `trainbench [FILE] [--headless]`: the GUI on FILE where a display exists, else a terminal run.
  std::filesystem::path top_file;
  bool headless = false;
  app.add_option("file", top_file, "Project file to open (or run, without a display)");
  app.add_flag("--headless", headless, "Run FILE in the terminal even where a display exists");
  add_db(&app);

  RunCommand run;
  auto* run_cmd = app.add_subcommand("run", "Train a project and store it as a session");
  auto* run_file = run_cmd->add_option("file", run.project_file, "Project file (JSON)")
                       ->check(CLI::ExistingFile);
  auto* resume = run_cmd->add_option(
      "--resume", run.resume,
      "Continue session ID from its latest checkpoint, as a new session (its project, plus --set)");
  resume->excludes(run_file);
  run_cmd->callback([&] {
    if (!*run_file && !*resume) throw CLI::RequiredError("FILE or --resume");
  });
  run_cmd->add_option("--set", run.overrides, "Override a setting: dotted.key=value (repeatable)")
      ->allow_extra_args(false);
  run_cmd->add_flag("--json", run.json, "Print one JSON object with the result on stdout");
  run_cmd->add_option("--max-steps", run.max_steps, "Stop after N training steps")
      ->check(CLI::PositiveNumber);
  add_db(run_cmd);

  LaunchCommand launch;
  auto* launch_cmd = app.add_subcommand(
      "launch", "Run a project on N processes through mpirun (parallel training)");
  launch_cmd->add_option("file", launch.run.project_file, "Project file (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  launch_cmd
      ->add_option("-n,--ranks", launch.ranks,
                   "Processes (default: the project's parallel.data x "
                   "pipeline.stages x tensor)")
      ->check(CLI::PositiveNumber);
  launch_cmd
      ->add_option("--hostfile", launch.hostfile,
                   "mpirun host file: the machines to run on (default: this one)")
      ->check(CLI::ExistingFile);
  launch_cmd->add_option("--mpirun", launch.mpirun, "The mpirun to use (default: mpirun)");
  launch_cmd->add_option("--set", launch.run.overrides, "Override a setting: dotted.key=value")
      ->allow_extra_args(false);
  launch_cmd->add_flag("--json", launch.run.json, "Each rank prints its result as JSON");
  launch_cmd->add_option("--max-steps", launch.run.max_steps, "Stop after N training steps")
      ->check(CLI::PositiveNumber);
  add_db(launch_cmd);

  bool json = false;
  ListSessionsCommand list;
  auto* sessions_cmd = app.add_subcommand(
      "sessions", "List stored sessions, newest first; rename, tag, annotate or delete them");
  sessions_cmd->require_subcommand(0, 1);
  sessions_cmd->fallthrough();  // `sessions delete 3 --db FILE`: --db is the parent's
  sessions_cmd->add_option("--filter", list.filter,
                           "Words that must each appear in name, project, dataset, model, "
                           "optimizer, precision, tags or notes");
  sessions_cmd->add_option("--project", list.project, "Only this project's sessions");
  sessions_cmd->add_option("--tag", list.tag, "Only sessions with this tag");
  sessions_cmd->add_option("--sweep", list.sweep, "Only this sweep's sessions");
  sessions_cmd
      ->add_option("--sort", list.sort,
                   "Column: id, name, created, status, project, dataset, model, optimizer, "
                   "precision, best_accuracy, samples_per_s, duration_s, tags")
      ->capture_default_str();
  sessions_cmd->add_flag("--asc", list.ascending, "Ascending (default: descending)");
  sessions_cmd->add_option("--limit", list.limit, "At most N sessions (default: all)")
      ->check(CLI::NonNegativeNumber);
  sessions_cmd->add_flag("--json", json, "Print one JSON object on stdout");
  add_db(sessions_cmd);
  EditSessionsCommand edit;
  std::int64_t edit_id = 0;
  std::string edit_text;
  auto add_edit = [&](const char* name, const char* help) {
    auto* command = sessions_cmd->add_subcommand(name, help);
    command->callback([&edit, &edit_id, &edit_text, name] {
      edit.action = name;
      if (edit_id > 0) edit.ids.push_back(edit_id);
      if (!edit_text.empty() || std::string(name) == "note") edit.words.push_back(edit_text);
    });
    command->add_flag("--json", edit.json, "Print one JSON object on stdout");
    return command;
  };
  auto* rename_cmd = add_edit("rename", "Give a session a new name");
  rename_cmd->add_option("id", edit_id, "Session id")->required();
  rename_cmd->add_option("name", edit_text, "The new name")->required();
  auto* tag_cmd = add_edit("tag", "Add tags to a session");
  tag_cmd->add_option("id", edit_id, "Session id")->required();
  tag_cmd->add_option("tags", edit.words, "Tags")->required();
  auto* untag_cmd = add_edit("untag", "Remove tags from a session");
  untag_cmd->add_option("id", edit_id, "Session id")->required();
  untag_cmd->add_option("tags", edit.words, "Tags")->required();
  auto* note_cmd = add_edit("note", "Set a session's notes (\"\" clears them)");
  note_cmd->add_option("id", edit_id, "Session id")->required();
  note_cmd->add_option("text", edit_text, "The notes")->required();
  auto* delete_cmd =
      add_edit("delete", "Delete sessions with their metrics, checkpoints and traces, for good");
  delete_cmd->add_option("ids", edit.ids, "Session ids")->required();
  add_edit("sweeps", "List the sweeps and their sessions");

  std::int64_t show_id = 0;
  auto* show_cmd = app.add_subcommand("show", "Show one session: settings, summary, metrics");
  show_cmd->add_option("id", show_id, "Session id")->required();
  show_cmd->add_flag("--json", json, "Print one JSON object on stdout");
  add_db(show_cmd);

  ExportTraceCommand export_command;
  auto* export_cmd = app.add_subcommand(
      "export-trace", "Write a session as Chrome trace JSON (Perfetto, chrome://tracing)");
  export_cmd->add_option("id", export_command.session, "Session id")->required();
  export_cmd->add_option("-o,--output", export_command.output, "FILE.json or FILE.json.gz")
      ->required();
  add_db(export_cmd);

  ImportTraceCommand import_command;
  auto* import_cmd = app.add_subcommand(
      "import-trace", "Store a PyTorch profiler trace (.json or .json.gz) as a session");
  import_cmd->add_option("file", import_command.file, "Trace file")
      ->required()
      ->check(CLI::ExistingFile);
  import_cmd->add_option("--name", import_command.name, "Session name (default: the file's)");
  import_cmd->add_flag("--json", import_command.json, "Print one JSON object on stdout");
  add_db(import_cmd);

  ProfileCommand profile_command;
  auto* profile_cmd = app.add_subcommand(
      "profile", "Where a session's step time goes: breakdown, top ops, and a verdict");
  profile_cmd->add_option("id", profile_command.session, "Session id")->required();
  profile_cmd->add_option("--top", profile_command.top, "Ops and kernels listed")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  profile_cmd->add_option("--steps", profile_command.steps, "Per-step rows listed (the slowest)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  profile_cmd->add_flag("--json", profile_command.json, "Print one JSON object on stdout");
  add_db(profile_cmd);

  KernelsCommand kernels_command;
  auto* kernels_cmd = app.add_subcommand(
      "kernels", "A session's GPU kernels by total time: count, mean, launch shape, occupancy");
  kernels_cmd->add_option("id", kernels_command.session, "Session id")->required();
  kernels_cmd->add_option("--top", kernels_command.top, "Rows listed (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  kernels_cmd->add_flag("--group", kernels_command.group,
                        "One row for all template instances of a kernel");
  kernels_cmd->add_flag("--copies", kernels_command.copies, "Memcpy and memset rows too");
  kernels_cmd->add_flag("--json", kernels_command.json, "Print one JSON object on stdout");
  add_db(kernels_cmd);

  TraceDiffCommand diff_command;
  auto* diff_cmd = app.add_subcommand(
      "trace-diff", "Ops and kernels added, removed, faster and slower between two sessions");
  diff_cmd->add_option("before", diff_command.before, "Session id (baseline)")->required();
  diff_cmd->add_option("after", diff_command.after, "Session id (compared)")->required();
  diff_cmd->add_option("--top", diff_command.top, "Rows listed (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  diff_cmd->add_flag("--json", diff_command.json, "Print one JSON object on stdout");
  add_db(diff_cmd);

  OptimPathCommand path;
  auto* path_cmd = app.add_subcommand("optim-path",
                                      "Run an optimizer on a 2-D test function and print its path");
  path_cmd->add_option("--optimizer", path.optimizer, "sgd, adam, adamw, rmsprop or lion")
      ->required();
  path_cmd->add_option("--fn", path.function, "rosenbrock, beale, quadratic or saddle")->required();
  path_cmd->add_option("--steps", path.steps, "Number of steps")
      ->required()
      ->check(CLI::NonNegativeNumber);
  path_cmd->add_option("--start", path.start, "Start point X,Y (default: the function's)");
  path_cmd->add_option("--betas", path.betas, "Adam/Lion betas A,B");
  std::map<std::string, double> numbers;
  for (const char* name : {"lr", "momentum", "dampening", "eps", "weight-decay", "alpha",
                           "lookahead-k", "lookahead-alpha"}) {
    path_cmd->add_option_function<double>(
        std::string("--") + name, [&numbers, name](double v) { numbers[name] = v; },
        std::string("Optimizer setting ") + name);
  }
  std::map<std::string, bool> flags;
  for (const char* name : {"nesterov", "centered", "amsgrad"}) {
    path_cmd->add_flag_callback(
        std::string("--") + name, [&flags, name] { flags[name] = true; },
        std::string("Optimizer setting ") + name);
  }
  path_cmd->add_flag("--json", path.json, "Print {\"path\": [[x, y, f], ...]} on stdout");

  DataCheckCommand data_check;
  auto* data_cmd = app.add_subcommand("data", "Check, pack and inspect datasets");
  data_cmd->require_subcommand(1);
  auto* check_cmd = data_cmd->add_subcommand(
      "check",
      "Duplicates and near-duplicates within train and between test and train (leakage), "
      "class balance, and a kNN baseline");
  check_cmd->add_option("file", data_check.project_file, "Project file (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  check_cmd->add_option("--set", data_check.overrides, "Override a setting: dotted.key=value")
      ->allow_extra_args(false);
  check_cmd
      ->add_option("--near-rms", data_check.options.near_rms,
                   "Near-duplicate threshold: root-mean-square difference in raw units (pixels "
                   "0..1)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  check_cmd
      ->add_option("--projection-dims", data_check.options.projection_dims,
                   "Principal components the search runs on")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  check_cmd->add_option("--knn", data_check.options.knn_k, "k of the kNN baseline (0: skip it)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  check_cmd
      ->add_option("--examples", data_check.options.max_examples, "Examples listed per finding")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  check_cmd->add_flag("--json", data_check.json, "Print one JSON object on stdout");

  DataPackCommand data_pack;
  auto* pack_cmd = data_cmd->add_subcommand(
      "pack", "Pack datasets into shards (.tbs): DIR/train and DIR/test, keys = sample index");
  pack_cmd
      ->add_option("src", data_pack.sources,
                   "Fashion-MNIST folders or project files (their dataset, with its limits)")
      ->required();
  pack_cmd->add_option("-o,--output", data_pack.output, "Output folder")->required();
  pack_cmd
      ->add_option("--format", data_pack.format,
                   "Write shards, or convert to tfrecord, hdf5, npy or lmdb (one SRC)")
      ->check(CLI::IsMember({"shards", "tfrecord", "hdf5", "npy", "lmdb"}))
      ->capture_default_str();
  pack_cmd->add_option("--shard-size", data_pack.shard_size, "Largest shard file: 64MiB, 1GB, ...")
      ->capture_default_str();
  pack_cmd->add_option("--zstd", data_pack.zstd_level, "Compress each record with zstd (1..22)")
      ->capture_default_str();
  pack_cmd->add_flag("--json", data_pack.json, "Print one JSON object on stdout");

  DataInspectCommand data_inspect;
  auto* inspect_cmd = data_cmd->add_subcommand(
      "inspect", "What a shard file or folder holds, with a checksum pass over every record");
  inspect_cmd->add_option("path", data_inspect.path, "A .tbs file, a folder of shards, or a pack")
      ->required();
  inspect_cmd->add_option("--examples", data_inspect.examples, "Records listed")
      ->capture_default_str();
  inspect_cmd->add_flag("!--no-verify", data_inspect.verify, "Skip the checksum pass");
  inspect_cmd->add_flag("--json", data_inspect.json, "Print one JSON object on stdout");

  TuneLoaderCommand tune;
  auto* tune_cmd = app.add_subcommand(
      "tune-loader", "Try loader workers and prefetch depths on a project; report the fastest");
  tune_cmd->add_option("file", tune.project_file, "Project file (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  tune_cmd->add_option("--set", tune.overrides, "Override a setting: dotted.key=value")
      ->allow_extra_args(false);
  tune_cmd->add_option("--seconds", tune.seconds_per_trial, "Training time per setting")
      ->check(CLI::PositiveNumber);
  tune_cmd->add_flag("--json", tune.json, "Print one JSON object on stdout");

  CompareCommand compare_command;
  auto* compare_cmd = app.add_subcommand(
      "compare", "Settings diff, outcomes side by side and a metric of 2 to 20 sessions");
  compare_cmd->add_option("ids", compare_command.sessions, "Session ids (2 to 20)")->required();
  compare_cmd
      ->add_option("--metric", compare_command.metric,
                   "Metric whose final and lowest values are listed")
      ->capture_default_str();
  compare_cmd
      ->add_option("--target", compare_command.target,
                   "Test accuracy of the time-to-target rows: 0..1, or a percentage")
      ->capture_default_str();
  compare_cmd->add_option("--csv", compare_command.csv, "Also write the table as CSV to FILE");
  compare_cmd->add_flag("--all", compare_command.all,
                        "List every setting, not only those that differ");
  compare_cmd->add_flag("--json", compare_command.json, "Print one JSON object on stdout");
  add_db(compare_cmd);

  SweepCommand sweep_command;
  auto* sweep_cmd = app.add_subcommand(
      "sweep", "Run a project once per combination of --set values, as one sweep of sessions");
  sweep_cmd->add_option("file", sweep_command.project_file, "Project file (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  sweep_cmd
      ->add_option("--set", sweep_command.axes,
                   "An axis: dotted.key=v1,v2,... (repeatable; [..] and {..} values keep commas)")
      ->required()
      ->allow_extra_args(false);
  sweep_cmd->add_option("--name", sweep_command.name, "The sweep's name");
  sweep_cmd->add_option("--max-steps", sweep_command.max_steps, "Stop each run after N steps")
      ->check(CLI::PositiveNumber);
  sweep_cmd->add_flag("--json", sweep_command.json, "Print one JSON object on stdout");
  add_db(sweep_cmd);

  auto* devices_cmd = app.add_subcommand("devices", "List the devices a project can run on");
  devices_cmd->add_flag("--json", json, "Print one JSON object on stdout");

  std::filesystem::path gui_file;
  auto* gui_cmd = app.add_subcommand("gui", "Open the workbench window");
  gui_cmd->add_option("file", gui_file, "Project file to open")->check(CLI::ExistingFile);
  add_db(gui_cmd);

  CliOutcome outcome;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    outcome.exit_code = app.exit(e);
    if (outcome.exit_code != 0) outcome.exit_code = kExitBadInput;
    return outcome;
  }
  outcome.db_path = db_path;
  try {
    if (*run_cmd) {
      run.db_path = db_path;
      outcome.exit_code = run_project(run);
    } else if (*launch_cmd) {
      launch.run.db_path = db_path;
      outcome.exit_code = launch_project(launch);
    } else if (*sessions_cmd && !edit.action.empty()) {
      edit.db_path = db_path;
      outcome.exit_code = edit_sessions(edit);
    } else if (*sessions_cmd) {
      list.db_path = db_path;
      list.json = json;
      outcome.exit_code = list_sessions(list);
    } else if (*show_cmd) {
      outcome.exit_code = show_session(db_path, show_id, json);
    } else if (*export_cmd) {
      export_command.db_path = db_path;
      outcome.exit_code = export_trace(export_command);
    } else if (*import_cmd) {
      import_command.db_path = db_path;
      outcome.exit_code = import_trace(import_command);
    } else if (*profile_cmd) {
      profile_command.db_path = db_path;
      outcome.exit_code = profile_session(profile_command);
    } else if (*kernels_cmd) {
      kernels_command.db_path = db_path;
      outcome.exit_code = list_kernels(kernels_command);
    } else if (*diff_cmd) {
      diff_command.db_path = db_path;
      outcome.exit_code = diff_traces(diff_command);
    } else if (*path_cmd) {
      for (const auto& [name, value] : numbers) {
        if (name == "lookahead-k") {
          path.settings["lookahead"]["k"] = static_cast<std::int64_t>(value);
        } else if (name == "lookahead-alpha") {
          path.settings["lookahead"]["alpha"] = value;
        } else {
          path.settings[name == "weight-decay" ? "weight_decay" : name] = value;
        }
      }
      for (const auto& [name, value] : flags) path.settings[name] = value;
      outcome.exit_code = optimizer_path(path);
    } else if (*check_cmd) {
      outcome.exit_code = check_data(data_check);
    } else if (*pack_cmd) {
      outcome.exit_code = pack_data(data_pack);
    } else if (*inspect_cmd) {
      outcome.exit_code = inspect_shards(data_inspect);
    } else if (*tune_cmd) {
      outcome.exit_code = tune_loader(tune);
    } else if (*compare_cmd) {
      compare_command.db_path = db_path;
      outcome.exit_code = compare_sessions(compare_command);
    } else if (*sweep_cmd) {
      sweep_command.db_path = db_path;
      outcome.exit_code = run_sweep(sweep_command);
    } else if (*devices_cmd) {
      outcome.exit_code = list_devices(json);
    } else if (*gui_cmd) {
      if (!gui_built) {
        std::fprintf(stderr, "error: this build has no GUI (built with TRAINBENCH_GUI=OFF)\n");
        outcome.exit_code = kExitBadInput;
      } else {
        outcome.launch_gui = true;
        outcome.project_file = gui_file;
      }
    } else if (gui_built && !headless && display_available()) {
      outcome.launch_gui = true;
      outcome.project_file = top_file;
    } else if (!top_file.empty()) {
      if (!std::filesystem::exists(top_file)) {
        std::fprintf(stderr, "error: %s: no such project file\n", top_file.c_str());
        outcome.exit_code = kExitBadInput;
      } else {
        std::fprintf(stderr, "%s; running %s in the terminal\n",
                     headless ? "--headless" : "no display", top_file.c_str());
        outcome.exit_code = run_project({top_file, {}, db_path, false, 0});
      }
    } else {
      std::printf("%s", app.help().c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    outcome.exit_code = kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    outcome.exit_code = kExitBadInput;
  }
  return outcome;
}

}  // namespace tb::app
