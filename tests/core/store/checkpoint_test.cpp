// Checkpoints: stored whole in one transaction, read back exactly, replaced by step, deleted
// with their session's other rows.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/store/session_store.h"
#include "tests/support/test_data.h"

namespace tb::store {
namespace {

Checkpoint make_checkpoint(std::int64_t step, float base) {
  Checkpoint c;
  c.step = step;
  c.optimizer_step = step + 1;
  c.tensors = {{"model/1.weight", {base, base + 1, -0.0f, std::numeric_limits<float>::infinity()}},
               {"model/1.bias", {}},
               {"optimizer/1.weight.exp_avg", std::vector<float>(10000, base * 0.5f)}};
  return c;
}

TEST(Checkpoints, RoundTripBitForBit) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const auto id = store.create_session({"run", "{}", "rev", "host", 1});
  EXPECT_FALSE(store.checkpoint(id).has_value());
  EXPECT_TRUE(store.checkpoint_steps(id).empty());

  store.save_checkpoint(id, make_checkpoint(100, 1.5f));
  store.save_checkpoint(id, make_checkpoint(200, 2.5f));
  EXPECT_EQ(store.checkpoint_steps(id), (std::vector<std::int64_t>{100, 200}));

  const auto latest = store.checkpoint(id);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->step, 200);
  EXPECT_EQ(latest->optimizer_step, 201);
  const auto expected = make_checkpoint(200, 2.5f);
  ASSERT_EQ(latest->tensors.size(), expected.tensors.size());
  for (std::size_t i = 0; i < expected.tensors.size(); ++i) {
    EXPECT_EQ(latest->tensors[i].name, expected.tensors[i].name);
    ASSERT_EQ(latest->tensors[i].values.size(), expected.tensors[i].values.size());
    for (std::size_t k = 0; k < expected.tensors[i].values.size(); ++k) {
      EXPECT_EQ(std::signbit(latest->tensors[i].values[k]),
                std::signbit(expected.tensors[i].values[k]));
      EXPECT_EQ(latest->tensors[i].values[k], expected.tensors[i].values[k]);
    }
  }
  EXPECT_EQ(store.checkpoint(id, 100)->tensors[0].values[0], 1.5f);
  EXPECT_FALSE(store.checkpoint(id, 150).has_value());
}

TEST(Checkpoints, SameStepReplacesAndOtherSessionsAreSeparate) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const auto a = store.create_session({"a", "{}", "rev", "host", 1});
  const auto b = store.create_session({"b", "{}", "rev", "host", 1});
  store.save_checkpoint(a, make_checkpoint(10, 1.0f));
  auto replacement = make_checkpoint(10, 7.0f);
  replacement.tensors.pop_back();
  store.save_checkpoint(a, replacement);
  EXPECT_EQ(store.checkpoint_steps(a), std::vector<std::int64_t>{10});
  EXPECT_EQ(store.checkpoint(a)->tensors.size(), 2u);
  EXPECT_EQ(store.checkpoint(a)->tensors[0].values[0], 7.0f);
  EXPECT_FALSE(store.checkpoint(b).has_value());
}

TEST(Checkpoints, ForAnUnknownSessionFailsAndLeavesNothing) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  try {
    store.save_checkpoint(SessionId{42}, make_checkpoint(1, 1.0f));
    FAIL() << "expected a StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("session 42"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(store.checkpoint_steps(SessionId{42}).empty());
}

}  // namespace
}  // namespace tb::store
