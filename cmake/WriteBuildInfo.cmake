# Writes OUTPUT from TEMPLATE with the source tree's current git revision, touching OUTPUT only
# when the revision changed, so each build records the revision it was built from without
# recompiling anything when it did not change. Run as `cmake -P` at every build.
execute_process(
  COMMAND git -C ${SOURCE_DIR} describe --always --dirty --abbrev=12
  OUTPUT_VARIABLE TRAINBENCH_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET)
if(NOT TRAINBENCH_GIT_REVISION)
  set(TRAINBENCH_GIT_REVISION "unknown")
endif()
configure_file(${TEMPLATE} ${OUTPUT}.new @ONLY)
file(COPY_FILE ${OUTPUT}.new ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.new)
