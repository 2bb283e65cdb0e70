#include "core/trace/device_tracer.h"

#include <utility>

#include "core/util/registered_factory.h"

namespace tb::trace {
namespace {

RegisteredFactory<DeviceTracerFactory>& factory() {
  static RegisteredFactory<DeviceTracerFactory> slot;
  return slot;
}

}  // namespace

void register_device_tracer_factory(DeviceTracerFactory f) {
  factory().set(std::move(f));
}

std::unique_ptr<DeviceTracer> make_device_tracer(const DeviceTracerOptions& options) {
  const DeviceTracerFactory f = factory().get();
  return f ? f(options) : nullptr;
}

}  // namespace tb::trace
