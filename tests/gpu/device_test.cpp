// Device enumeration. Labelled `gpu`: on a machine without a GPU it skips with the reason.
#include <gtest/gtest.h>

#include "gpu/device.h"

namespace tb::gpu {
namespace {

TEST(GpuDevice, ListsDevicesOrSaysWhyNone) {
  const auto devices = list_devices();
  if (devices.empty()) {
    EXPECT_FALSE(unavailable_reason().empty());
    GTEST_SKIP() << "no GPU here: " << unavailable_reason();
  }
  EXPECT_EQ(unavailable_reason(), "");
  for (const auto& d : devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.compute_major, 7) << d.name;
    EXPECT_GT(d.multiprocessors, 0) << d.name;
    EXPECT_GT(d.memory_bytes, 1ull << 30) << d.name;
  }
}

TEST(GpuDevice, RuntimeVersionIsThatOfTheToolkit) {
  const auto version = runtime_version();
  ASSERT_NE(version.find('.'), std::string::npos);
  EXPECT_GE(std::stoi(version), 11);
}

}  // namespace
}  // namespace tb::gpu
