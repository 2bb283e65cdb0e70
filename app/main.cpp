// trainbench: the workbench's one binary.
#include "app/cli/cli.h"

#ifdef TRAINBENCH_WITH_GUI
#include "app/gui/gui_main.h"
#endif
#ifdef TRAINBENCH_WITH_CUDA
#include "gpu/cuda_backend.h"
#include "gpu/cupti_tracer.h"
#endif

int main(int argc, char** argv) {
#ifdef TRAINBENCH_WITH_CUDA
  tb::gpu::register_cuda_backend();  // "device": "cuda" and "auto" can then use a GPU
  tb::gpu::register_cupti_tracer();  // profile.cupti: kernels on the timeline
#endif
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
