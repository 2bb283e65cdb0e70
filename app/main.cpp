// trainbench: the workbench's one binary.
#include "app/cli/cli.h"

#ifdef TRAINBENCH_WITH_GUI
#include "app/gui/gui_main.h"
#endif

int main(int argc, char** argv) {
#ifdef TRAINBENCH_WITH_GUI
  constexpr bool kGuiBuilt = true;
#else
  constexpr bool kGuiBuilt = false;
#endif
  const auto outcome = tb::app::cli_main(argc, argv, kGuiBuilt);
#ifdef TRAINBENCH_WITH_GUI
  if (outcome.launch_gui) {
    return tb::app::run_gui(argc, argv, {outcome.project_file, outcome.db_path});
  }
#endif
  return outcome.exit_code;
}
