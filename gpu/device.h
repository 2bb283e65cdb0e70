// CUDA devices visible to this process. The first piece of gpu/: the CUDA backend (a later issue)
// builds on it. Qt-free; compiled wherever the CUDA toolkit is found.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb::gpu {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  std::uint64_t memory_bytes = 0;
};

// Every visible device; empty where there is no GPU or no driver (never throws for that).
std::vector<DeviceInfo> list_devices();

// Why list_devices() is empty ("no CUDA driver", "no CUDA device"), or "" when devices exist.
std::string unavailable_reason();

// "13.0" for the CUDA runtime this was built with.
std::string runtime_version();

}  // namespace tb::gpu
