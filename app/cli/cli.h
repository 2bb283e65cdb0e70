// The command line: `trainbench run|sessions|show|gui ...`, parsed with CLI11.
//
// Conventions every subcommand follows: --db PATH picks the session database; --json prints one
// JSON object on stdout (a created session's id under "session_id"); --set dotted.key=value
// overrides any project setting; --help on each subcommand. Bad input exits non-zero with one line.
#pragma once

#include <filesystem>

namespace tb::app {

// Exit codes: 0 success, 1 a run that failed, 2 bad input (usage, project file, database).
enum ExitCode : int { kExitOk = 0, kExitRunFailed = 1, kExitBadInput = 2 };

struct CliOutcome {
  int exit_code = kExitOk;
  bool launch_gui = false;             // main() should start the GUI with these:
  std::filesystem::path project_file;  // may be empty
  std::filesystem::path db_path;
};

// Parses and runs a subcommand. gui_built says whether this binary has a GUI to offer.
CliOutcome cli_main(int argc, char** argv, bool gui_built);

// True where a GUI can open a window: a display (X11 or Wayland) or an explicit Qt platform.
bool display_available();

}  // namespace tb::app
