#include "core/util/registered_factory.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace tb {
namespace {

using NameFactory = std::function<std::string(int)>;

TEST(RegisteredFactory, IsEmptyUntilSomethingRegisters) {
  const RegisteredFactory<NameFactory> slot;
  EXPECT_FALSE(static_cast<bool>(slot.get()));
}

TEST(RegisteredFactory, GivesTheLastRegisteredFactory) {
  RegisteredFactory<NameFactory> slot;
  slot.set([](int i) { return "first " + std::to_string(i); });
  slot.set([](int i) { return "second " + std::to_string(i); });
  const NameFactory factory = slot.get();
  ASSERT_TRUE(static_cast<bool>(factory));
  EXPECT_EQ(factory(7), "second 7");
}

TEST(RegisteredFactory, ACopyTakenOutlivesALaterRegistration) {
  RegisteredFactory<NameFactory> slot;
  slot.set([](int) { return std::string("old"); });
  const NameFactory taken = slot.get();
  slot.set([](int) { return std::string("new"); });
  EXPECT_EQ(taken(0), "old");
  EXPECT_EQ(slot.get()(0), "new");
}

TEST(RegisteredFactory, ReadersRacingARegistrationSeeEmptyOrTheWholeFactory) {
  RegisteredFactory<NameFactory> slot;
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      for (int i = 0; i < 2000; ++i) {
        const NameFactory factory = slot.get();
        if (factory) {
          EXPECT_EQ(factory(r), "registered " + std::to_string(r));
        }
      }
    });
  }
  slot.set([](int i) { return "registered " + std::to_string(i); });
  for (auto& reader : readers) reader.join();
  EXPECT_TRUE(static_cast<bool>(slot.get()));
}

}  // namespace
}  // namespace tb
