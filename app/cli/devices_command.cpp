#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"

#ifdef TRAINBENCH_WITH_CUDA
#include "gpu/device.h"
#endif

namespace tb::app {

int list_devices(bool as_json) {
  nlohmann::json devices = nlohmann::json::array();
  devices.push_back({{"device", "cpu"}, {"name", "CPU (Eigen)"}});
  std::string cuda_status = "this build has no CUDA support (built without the CUDA toolkit)";
#ifdef TRAINBENCH_WITH_CUDA
  for (const auto& d : gpu::list_devices()) {
    devices.push_back({{"device", "cuda:" + std::to_string(d.index)},
                       {"name", d.name},
                       {"compute_capability",
                        std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor)},
                       {"multiprocessors", d.multiprocessors},
                       {"memory_bytes", d.memory_bytes}});
  }
  cuda_status = gpu::unavailable_reason();
  if (cuda_status.empty()) cuda_status = "CUDA runtime " + gpu::runtime_version();
#endif
  // What a project's "device": "auto" runs on here.
  const std::string auto_device = devices.size() > 1 ? "cuda:0" : "cpu";
  if (as_json) {
    std::cout
        << nlohmann::json{{"devices", devices}, {"cuda", cuda_status}, {"auto", auto_device}}.dump()
        << std::endl;
    return kExitOk;
  }
  for (const auto& d : devices) {
    std::printf("%-8s %s", d["device"].get<std::string>().c_str(),
                d["name"].get<std::string>().c_str());
    if (d.contains("memory_bytes")) {
      std::printf("  (compute %s, %d SMs, %.1f GiB)",
                  d["compute_capability"].get<std::string>().c_str(),
                  d["multiprocessors"].get<int>(),
                  static_cast<double>(d["memory_bytes"].get<std::uint64_t>()) / (1ull << 30));
    }
    std::printf("\n");
  }
  std::printf("cuda: %s\n", cuda_status.c_str());
  std::printf("auto: %s\n", auto_device.c_str());
  return kExitOk;
}

}  // namespace tb::app
