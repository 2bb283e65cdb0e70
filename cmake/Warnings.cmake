# Warnings on everywhere, and the CPU tuning switch, as one interface target every target links.
add_library(trainbench_options INTERFACE)
target_compile_options(trainbench_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>)
if(TRAINBENCH_NATIVE)
  target_compile_options(trainbench_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
endif()
