# Every dependency is a Debian 12 package (scripts/setup-deps.sh installs them); nothing is fetched.
find_package(Threads REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(SQLite3 REQUIRED)
if(NOT TRAINBENCH_GUI)
  # The headless build is carried to GPU machines that have no Debian packages: SQLite goes into
  # the binaries (scripts/gpu-check.sh checks that nothing links libsqlite3.so or libgtest.so).
  find_library(TRAINBENCH_SQLITE3_STATIC NAMES libsqlite3.a)
  if(NOT TRAINBENCH_SQLITE3_STATIC)
    message(FATAL_ERROR "the headless build links SQLite statically: libsqlite3.a not found "
                        "(Debian's libsqlite3-dev has it; run scripts/setup-deps.sh)")
  endif()
  set_target_properties(SQLite::SQLite3 PROPERTIES IMPORTED_LOCATION "${TRAINBENCH_SQLITE3_STATIC}"
                        INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
endif()
find_package(ZLIB REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
# xxHash (XXH3): stable content hashes of samples for deduplication (core/ds/content_hash).
# Used header-only (XXH_INLINE_ALL), so binaries carried to the GPU machine need no libxxhash.
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
# zstd (libzstd-dev): optional per-record compression in the shard format (core/data/shard_*).
find_package(PkgConfig REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
# The data pipeline's input formats (core/data/formats/): TFRecord's tf.train.Example through
# protobuf, HDF5 (the serial C library), LMDB, and libzip for NPZ archives.
find_package(Protobuf REQUIRED)
pkg_check_modules(HDF5 REQUIRED IMPORTED_TARGET hdf5)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)

if(TRAINBENCH_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TRAINBENCH_BENCH)
  find_package(benchmark REQUIRED)
  # Peers the data-structure benchmarks measure against (core/ds/ does not use them).
  find_package(absl REQUIRED)
  find_package(nanoflann REQUIRED)
endif()
if(TRAINBENCH_GUI)
  find_package(Qt6 6.4 REQUIRED COMPONENTS Widgets Charts Svg Test)
endif()

# CUDA: AUTO compiles gpu/ wherever the toolkit is found, so the CUDA code always builds in CI.
set(TRAINBENCH_HAVE_CUDA OFF)
if(NOT TRAINBENCH_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Ampere and Hopper SASS, plus Hopper PTX for anything newer.
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(TRAINBENCH_HAVE_CUDA ON)
  elseif(TRAINBENCH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TRAINBENCH_CUDA=ON but no CUDA compiler was found")
  endif()
endif()

set(TRAINBENCH_HAVE_MPI OFF)
if(NOT TRAINBENCH_MPI STREQUAL "OFF")
  # The C API through the C++ compiler (the deprecated C++ bindings skipped); Debian's OpenMPI.
  set(MPI_CXX_SKIP_MPICXX ON CACHE BOOL "" FORCE)
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(TRAINBENCH_HAVE_MPI ON)
  elseif(TRAINBENCH_MPI STREQUAL "ON")
    message(FATAL_ERROR "TRAINBENCH_MPI=ON but MPI was not found")
  endif()
endif()
