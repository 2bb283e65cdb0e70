#include "gpu/nccl_library.h"

#include <dlfcn.h>

#include "core/util/error.h"

namespace tb::gpu {
namespace {

template <class Fn>
bool find(void* handle, Fn& out, const char* name, const std::string& file, std::string& why) {
  out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!out && why.empty()) why = "NCCL (" + file + ") has no " + name + " (too old an NCCL)";
  return out != nullptr;
}

std::string version_text(int code) {
  // NCCL_VERSION: major * 1000 + minor * 100 + patch up to 2.8, major * 10000 + ... after.
  const bool old = code < 10000;
  const int major = old ? code / 1000 : code / 10000;
  const int minor = old ? (code % 1000) / 100 : (code % 10000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

}  // namespace

std::unique_ptr<NcclLibrary> load_nccl_library(const char* file, std::string& why) {
  why.clear();
  void* handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    why = std::string("NCCL not found (") + file + "): " + (error ? error : "dlopen failed") +
          " (add the folder holding it, e.g. a Python environment's nvidia/nccl/lib, to "
          "LD_LIBRARY_PATH)";
    return nullptr;
  }
  auto library = std::make_unique<NcclLibrary>();
  auto& l = *library;
  l.file = file;
  find(handle, l.get_version, "ncclGetVersion", l.file, why);
  find(handle, l.get_error_string, "ncclGetErrorString", l.file, why);
  // Optional: without it an error carries NCCL's result text only.
  l.get_last_error =
      reinterpret_cast<decltype(l.get_last_error)>(dlsym(handle, "ncclGetLastError"));
  find(handle, l.get_unique_id, "ncclGetUniqueId", l.file, why);
  find(handle, l.comm_init_rank, "ncclCommInitRank", l.file, why);
  find(handle, l.comm_destroy, "ncclCommDestroy", l.file, why);
  find(handle, l.comm_abort, "ncclCommAbort", l.file, why);
  find(handle, l.comm_get_async_error, "ncclCommGetAsyncError", l.file, why);
  find(handle, l.all_reduce, "ncclAllReduce", l.file, why);
  find(handle, l.broadcast, "ncclBroadcast", l.file, why);
  find(handle, l.all_gather, "ncclAllGather", l.file, why);
  find(handle, l.reduce_scatter, "ncclReduceScatter", l.file, why);
  find(handle, l.send, "ncclSend", l.file, why);
  find(handle, l.recv, "ncclRecv", l.file, why);
  find(handle, l.group_start, "ncclGroupStart", l.file, why);
  find(handle, l.group_end, "ncclGroupEnd", l.file, why);
  if (why.empty() && l.get_version(&l.version) != ncclSuccess) {
    why = "NCCL (" + l.file + "): ncclGetVersion failed";
  }
  if (why.empty() && l.version < kMinNcclVersion) {
    why = "NCCL " + l.version_string() + " (" + l.file +
          ") is too old: " + version_text(kMinNcclVersion) + " or newer is needed (ncclAvg)";
  }
  if (!why.empty()) {
    dlclose(handle);
    return nullptr;
  }
  // The handle stays open for the process: communicators and their kernels live until exit.
  return library;
}

const NcclLibrary* nccl_library(std::string& why) {
  struct Loaded {
    std::unique_ptr<NcclLibrary> library;
    std::string why;
  };
  static const Loaded loaded = [] {
    Loaded l;
    l.library = load_nccl_library("libnccl.so.2", l.why);
    if (!l.library) {
      // An unversioned development link, where only that exists; the reason stays the first one.
      std::string ignored;
      l.library = load_nccl_library("libnccl.so", ignored);
      if (l.library) l.why.clear();
    }
    return l;
  }();
  why = loaded.why;
  return loaded.library.get();
}

std::string NcclLibrary::version_string() const {
  return version_text(version);
}

std::string NcclLibrary::describe(ncclResult_t result, ncclComm_t comm) const {
  std::string text;
  const char* name = get_error_string ? get_error_string(result) : nullptr;
  text = name ? name : "NCCL result " + std::to_string(static_cast<int>(result));
  const char* last = get_last_error ? get_last_error(comm) : nullptr;
  if (last != nullptr && *last != '\0') text += ": " + std::string(last);
  return text;
}

void NcclLibrary::check(ncclResult_t result, const char* what, ncclComm_t comm) const {
  if (result != ncclSuccess) throw Error(std::string(what) + ": NCCL " + describe(result, comm));
}

}  // namespace tb::gpu
