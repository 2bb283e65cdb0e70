// Helpers of the tests that run the built `trainbench` binary (TRAINBENCH_CLI) end to end.
// Header-only: TRAINBENCH_CLI and TRAINBENCH_SOURCE_DIR are compile definitions of each test
// executable, not of the support library.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/test_data.h"

namespace tb::testing {

struct CliOutcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `trainbench ARGS` through the shell (ARGS may hold redirections and quotes), stdout and
// stderr captured; stderr goes through a file in `dir`.
inline CliOutcome trainbench(const std::string& args, const TempDir& dir) {
  const auto err_file = dir / "stderr.txt";
  // No display: the binary must never try to open a window from a test.
  const std::string command = "env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM " +
                              std::string(TRAINBENCH_CLI) + " " + args + " 2>" + err_file.string();
  CliOutcome outcome;
  FILE* pipe = popen(command.c_str(), "r");
  std::array<char, 4096> chunk{};
  while (std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe))
    outcome.out.append(chunk.data(), n);
  const int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_file);
  std::stringstream text;
  text << err.rdbuf();
  outcome.err = text.str();
  return outcome;
}

// A project file shipped in projects/.
inline std::string project_path(const char* name) {
  // Appended in place: GCC 12 misreads `string + "..." + name` at -O1 (a false -Warray-bounds).
  std::string path = TRAINBENCH_SOURCE_DIR;
  path.append("/projects/").append(name);
  return path;
}

// dir/data (256 + 64 synthetic samples) and dir/tiny.json: one epoch of 8 steps on it.
inline void write_one_epoch_project(const TempDir& dir) {
  write_synthetic_fashion_mnist(dir / "data", 256, 64, 4);
  std::ofstream(dir / "tiny.json")
      << R"({"name": "tiny", "data": {"path": ")" << (dir / "data").string()
      << R"(", "batch_size": 32}, "model": {"hidden": [16]}, "train": {"threads": 1, "epochs": 1}})";
}

}  // namespace tb::testing
