// `trainbench launch -n N FILE [run options]`: `trainbench run` on N processes, started by
// mpirun for the user (the same command line mpirun would need, written once). Multi-machine runs
// are mpirun with a host file: --hostfile is passed on.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "app/cli/commands.h"
#include "core/run/project.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

std::filesystem::path this_executable() {
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw Error("launch: cannot find the trainbench executable (/proc/self/exe)");
  return path;
}

}  // namespace

std::vector<std::string> launch_arguments(const LaunchCommand& command,
                                          const std::filesystem::path& executable) {
  const auto project = run::Project::load(command.run.project_file, command.run.overrides);
  const std::int64_t wanted = project.parallel.ranks();
  std::int64_t ranks = command.ranks > 0 ? command.ranks : wanted;
  std::vector<std::string> overrides = command.run.overrides;
  if (ranks != wanted) {
    if (wanted != 1) {
      throw Error("launch: -n " + std::to_string(ranks) + ", but the project trains on " +
                  std::to_string(wanted) +
                  " ranks (parallel.data x pipeline.stages x tensor); leave -n out, or change "
                  "the project");
    }
    // A project that says nothing about parallelism: -n N is N data-parallel replicas.
    overrides.push_back("parallel.data=" + std::to_string(ranks));
  }
  std::vector<std::string> args = {command.mpirun, "-np", std::to_string(ranks)};
  if (!command.hostfile.empty()) {
    args.insert(args.end(), {"--hostfile", command.hostfile.string()});
  } else if (ranks > static_cast<std::int64_t>(std::thread::hardware_concurrency())) {
    // More ranks than this machine's cores: mpirun refuses unless told to share them.
    args.push_back("--oversubscribe");
  }
  // mpirun will not start anything as root unless asked (containers and CI run as root).
  if (geteuid() == 0) args.push_back("--allow-run-as-root");
  args.insert(args.end(), {executable.string(), "run", command.run.project_file.string()});
  for (const auto& o : overrides) args.insert(args.end(), {"--set", o});
  if (command.run.json) args.push_back("--json");
  if (command.run.max_steps > 0) {
    args.insert(args.end(), {"--max-steps", std::to_string(command.run.max_steps)});
  }
  args.insert(args.end(), {"--db", command.run.db_path.string()});
  return args;
}

int launch_project(const LaunchCommand& command) {
  const auto args = launch_arguments(command, this_executable());
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execvp(argv[0], argv.data());
  throw Error("launch: cannot start " + command.mpirun + ": " + std::strerror(errno) +
              (errno == ENOENT ? " (install openmpi-bin, or give --mpirun PATH)" : ""));
}

}  // namespace tb::app
