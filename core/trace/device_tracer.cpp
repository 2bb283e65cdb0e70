#include "core/trace/device_tracer.h"

#include <mutex>
#include <utility>

namespace tb::trace {
namespace {

std::mutex factory_mutex;
DeviceTracerFactory& factory() {
  static DeviceTracerFactory registered;
  return registered;
}

}  // namespace

void register_device_tracer_factory(DeviceTracerFactory f) {
  const std::lock_guard lock(factory_mutex);
  factory() = std::move(f);
}

std::unique_ptr<DeviceTracer> make_device_tracer(const DeviceTracerOptions& options) {
  DeviceTracerFactory f;
  {
    const std::lock_guard lock(factory_mutex);
    f = factory();
  }
  return f ? f(options) : nullptr;
}

}  // namespace tb::trace
