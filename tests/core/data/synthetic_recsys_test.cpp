// The generated recsys interactions: test pairs never seen in training, determinism, and a clear
// error when the spec leaves too few unseen pairs.
#include "core/data/synthetic_recsys.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "core/util/error.h"

namespace tb::data {
namespace {

std::vector<std::pair<std::int64_t, std::int64_t>> pairs(const SparseDataset& set) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  const auto users = set.fields[0].col_idx(), items = set.fields[1].col_idx();
  for (std::int64_t n = 0; n < set.size(); ++n) out.emplace_back(users[n], items[n]);
  return out;
}

TEST(SyntheticRecsys, NoTestPairOccursInTraining) {
  // 60 x 50 = 3000 possible pairs, 2000 training draws (popularity-skewed): most test draws would
  // hit a training pair if they were not checked.
  SyntheticRecsysSpec spec;
  spec.users = 60;
  spec.items = 50;
  spec.rank = 2;
  spec.train_samples = 2000;
  spec.test_samples = 300;
  const auto split = make_synthetic_recsys(spec, 5);
  ASSERT_EQ(split.train.size(), 2000);
  ASSERT_EQ(split.test.size(), 300);
  const auto train = pairs(split.train);
  const std::set<std::pair<std::int64_t, std::int64_t>> seen(train.begin(), train.end());
  // Repeats within training exist (repeated interactions), so the check has work to do.
  EXPECT_LT(seen.size(), train.size());
  for (const auto& p : pairs(split.test)) {
    EXPECT_FALSE(seen.contains(p))
        << "test pair (" << p.first << ", " << p.second << ") is a training pair";
  }
}

TEST(SyntheticRecsys, SameSeedSameDataOtherSeedOtherData) {
  SyntheticRecsysSpec spec;
  spec.users = 200;
  spec.items = 300;
  spec.train_samples = 1000;
  spec.test_samples = 100;
  const auto a = make_synthetic_recsys(spec, 1), b = make_synthetic_recsys(spec, 1),
             c = make_synthetic_recsys(spec, 2);
  EXPECT_EQ(a.train.fingerprint, b.train.fingerprint);
  EXPECT_EQ(a.test.fingerprint, b.test.fingerprint);
  EXPECT_EQ(pairs(a.test), pairs(b.test));
  EXPECT_NE(a.train.fingerprint, c.train.fingerprint);
}

TEST(SyntheticRecsys, TooFewUnseenPairsIsAClearError) {
  // 2 x 2 pairs, all drawn in training: no test pair can be new.
  SyntheticRecsysSpec spec;
  spec.users = 2;
  spec.items = 2;
  spec.rank = 1;
  spec.train_samples = 1000;
  spec.test_samples = 10;
  try {
    make_synthetic_recsys(spec, 3);
    ADD_FAILURE() << "a test set was drawn from no unseen pairs";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unseen in training"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tb::data
