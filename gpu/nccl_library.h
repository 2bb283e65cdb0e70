// NCCL, loaded at run time (dlopen), not linked: a binary built here still starts on a machine
// without libnccl.so.2 (a Python environment without nvidia-nccl, a CPU-only host) and says why
// when a GPU communicator is asked for, instead of failing to load at all. The functions are
// NCCL's own, through pointers of their declared types (decltype of nccl.h's prototypes), so a
// changed prototype is a compile error here rather than a crash there.
//
// Private to gpu/: the public face of NCCL is gpu/nccl_communicator.h.
#pragma once

#include <nccl.h>

#include <memory>
#include <string>

namespace tb::gpu {

// The oldest NCCL this works with: ncclAvg (ReduceOp::avg) appeared in 2.10.
inline constexpr int kMinNcclVersion = 21000;

struct NcclLibrary {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
  decltype(&ncclGetLastError) get_last_error = nullptr;  // optional (NCCL 2.13 on)
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclCommGetAsyncError) comm_get_async_error = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclAllGather) all_gather = nullptr;
  decltype(&ncclReduceScatter) reduce_scatter = nullptr;
  decltype(&ncclSend) send = nullptr;
  decltype(&ncclRecv) recv = nullptr;
  decltype(&ncclGroupStart) group_start = nullptr;
  decltype(&ncclGroupEnd) group_end = nullptr;

  std::string file;  // the name dlopen found it by ("libnccl.so.2")
  int version = 0;   // ncclGetVersion's code (22809 for 2.28.9)

  // "2.28.9".
  std::string version_string() const;
  // NCCL's text for a result ("unhandled cuda error (run with NCCL_DEBUG=INFO for details)"),
  // followed by the communicator's last error where NCCL kept one.
  std::string describe(ncclResult_t result, ncclComm_t comm = nullptr) const;
  // Throws tb::Error "`what`: NCCL <describe(result)>" unless result is ncclSuccess.
  void check(ncclResult_t result, const char* what, ncclComm_t comm = nullptr) const;
};

// The process's NCCL (libnccl.so.2, else libnccl.so), loaded at the first call and kept for the
// process; null when it cannot be loaded, with the reason in `why` ("NCCL not found
// (libnccl.so.2): ...", a missing function, too old a version).
const NcclLibrary* nccl_library(std::string& why);

// Loads NCCL from `file` (a name for dlopen or a path), not cached: what nccl_library() does for
// each name it tries, and how the tests see the message for a missing library. Null with the
// reason in `why` on failure.
std::unique_ptr<NcclLibrary> load_nccl_library(const char* file, std::string& why);

}  // namespace tb::gpu
