#include "core/tensor/backend_registry.h"

#include <charconv>
#include <utility>

#include "core/util/error.h"
#include "core/util/registered_factory.h"

namespace tb::tensor {
namespace {

RegisteredFactory<CudaBackendFactory>& registered() {
  static RegisteredFactory<CudaBackendFactory> slot;
  return slot;
}

CudaBackendFactory current() {
  return registered().get();
}

constexpr const char* kNoCudaBuild =
    "this build has no CUDA support (built without the CUDA toolkit)";

}  // namespace

void register_cuda_backend_factory(CudaBackendFactory factory) {
  registered().set(std::move(factory));
}

bool cuda_backend_registered() {
  return static_cast<bool>(current().make);
}

DeviceChoice resolve_auto_device() {
  const CudaBackendFactory factory = current();
  if (!factory.make) return {"cpu", kNoCudaBuild};
  std::string why = factory.unavailable_reason ? factory.unavailable_reason() : "";
  if (!why.empty()) return {"cpu", why};
  return {"cuda", ""};
}

std::unique_ptr<Backend> make_backend(std::string_view device, int threads) {
  if (device == "cpu") return make_cpu_backend(threads);
  if (device == "auto") {
    return resolve_auto_device().device == "cuda" ? make_backend("cuda", threads)
                                                  : make_cpu_backend(threads);
  }
  if (device == "cuda" || device.starts_with("cuda:")) {
    int index = 0;
    if (device.size() > 5) {
      const std::string_view digits = device.substr(5);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (ec != std::errc() || end != digits.data() + digits.size() || index < 0) {
        throw Error("device \"" + std::string(device) +
                    "\": not a device (\"cuda:0\", \"cuda:1\", ...)");
      }
    }
    const CudaBackendFactory factory = current();
    if (!factory.make) {
      throw Error("device \"" + std::string(device) + "\": " + kNoCudaBuild +
                  "; use \"cpu\" or \"auto\"");
    }
    if (factory.unavailable_reason) {
      if (const std::string why = factory.unavailable_reason(); !why.empty()) {
        throw Error("device \"" + std::string(device) + "\": " + why + "; use \"cpu\" or \"auto\"");
      }
    }
    return factory.make(index);
  }
  throw Error("device \"" + std::string(device) + "\": unknown (\"cpu\", \"cuda\" or \"auto\")");
}

}  // namespace tb::tensor
