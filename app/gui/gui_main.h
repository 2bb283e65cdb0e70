// Entry point of the GUI, called by main() for `trainbench`, `trainbench gui [FILE]` and
// `trainbench FILE` where a display exists.
#pragma once

#include <filesystem>

namespace tb::app {

struct GuiOptions {
  std::filesystem::path project_file;  // opened in the project editor; empty: the default project
  std::filesystem::path db_path;       // the session database
};

// Creates the QApplication, shows the main window and runs the event loop; returns its exit code.
int run_gui(int& argc, char** argv, const GuiOptions& options);

}  // namespace tb::app
