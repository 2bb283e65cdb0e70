// The dataset inspector against brute force: every pair of samples compared directly, on data
// with planted exact and near duplicates.
#include "core/data/inspect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "core/util/error.h"

namespace tb::data {
namespace {

constexpr std::int64_t kDim = 48;

InMemoryDataset random_set(const std::string& name, std::int64_t n, std::mt19937_64& rng) {
  InMemoryDataset set;
  set.name = name;
  set.sample_shape = tensor::Shape{1, 6, 8};
  set.classes = 4;
  set.class_names = {"a", "b", "c", "d"};
  set.raw_std = 0.5f;
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::uniform_int_distribution<std::int32_t> label(0, 3);
  set.features.resize(static_cast<std::size_t>(n * kDim));
  // Clustered by class, so the kNN baseline has something to find.
  set.labels.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto y = label(rng);
    set.labels[static_cast<std::size_t>(i)] = y;
    for (std::int64_t j = 0; j < kDim; ++j) {
      set.features[static_cast<std::size_t>(i * kDim + j)] =
          value(rng) + (j % 4 == y ? 2.0f : 0.0f);
    }
  }
  return set;
}

float* row(InMemoryDataset& set, std::int64_t i) {
  return set.features.data() + i * kDim;
}
const float* row(const InMemoryDataset& set, std::int64_t i) {
  return set.features.data() + i * kDim;
}

// Sample `to` becomes sample `from` (of another set, maybe) plus noise of the given size, with
// its label.
void copy_sample(const InMemoryDataset& source, std::int64_t from, InMemoryDataset& target,
                 std::int64_t to, float noise, std::mt19937_64& rng) {
  std::normal_distribution<float> jitter(0.0f, noise);
  for (std::int64_t j = 0; j < kDim; ++j)
    row(target, to)[j] = row(source, from)[j] + (noise > 0 ? jitter(rng) : 0.0f);
  target.labels[static_cast<std::size_t>(to)] = source.labels[static_cast<std::size_t>(from)];
}

double rms(const InMemoryDataset& a, std::int64_t i, const InMemoryDataset& b, std::int64_t j) {
  double sum = 0.0;
  for (std::int64_t k = 0; k < kDim; ++k) {
    const double d = static_cast<double>(row(a, i)[k]) - static_cast<double>(row(b, j)[k]);
    sum += d * d;
  }
  return std::sqrt(sum / kDim) * a.raw_std;
}

bool same(const InMemoryDataset& a, std::int64_t i, const InMemoryDataset& b, std::int64_t j) {
  return std::equal(row(a, i), row(a, i) + kDim, row(b, j));
}

struct BruteForce {
  std::int64_t exact_groups = 0, exact_redundant = 0, exact_conflicts = 0, test_exact = 0;
  std::int64_t near_pairs = 0, near_samples = 0, test_near = 0;
};

BruteForce brute_force(const InMemoryDataset& train, const InMemoryDataset& test, double near) {
  BruteForce out;
  std::vector<std::int64_t> first(static_cast<std::size_t>(train.size()));
  std::map<std::int64_t, std::set<std::int32_t>> group_labels;
  std::map<std::int64_t, std::int64_t> group_size;
  for (std::int64_t i = 0; i < train.size(); ++i) {
    first[i] = i;
    for (std::int64_t j = 0; j < i; ++j) {
      if (same(train, i, train, j)) {
        first[i] = first[j];
        break;
      }
    }
    group_labels[first[i]].insert(train.labels[i]);
    ++group_size[first[i]];
  }
  for (const auto& [f, size] : group_size) {
    out.exact_groups += size > 1;
    out.exact_redundant += size - 1;
    out.exact_conflicts += group_labels[f].size() > 1;
  }
  std::set<std::int64_t> involved;
  for (std::int64_t i = 0; i < train.size(); ++i) {
    for (std::int64_t j = i + 1; j < train.size(); ++j) {
      if (first[i] != first[j] && rms(train, i, train, j) <= near) {
        ++out.near_pairs;
        involved.insert(i);
        involved.insert(j);
      }
    }
  }
  out.near_samples = static_cast<std::int64_t>(involved.size());
  for (std::int64_t t = 0; t < test.size(); ++t) {
    bool exact = false, close = false;
    for (std::int64_t j = 0; j < train.size(); ++j) {
      if (same(train, j, test, t)) {
        exact = true;
      } else if (rms(train, j, test, t) <= near) {
        close = true;
      }
    }
    out.test_exact += exact;
    out.test_near += close;
  }
  return out;
}

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(11);
    train_ = random_set("train", 1500, rng);
    test_ = random_set("test", 300, rng);
    // Exact duplicates in train: a pair, a triple, and a pair whose labels disagree.
    copy_sample(train_, 10, train_, 11, 0.0f, rng);
    copy_sample(train_, 20, train_, 21, 0.0f, rng);
    copy_sample(train_, 20, train_, 22, 0.0f, rng);
    copy_sample(train_, 30, train_, 31, 0.0f, rng);
    train_.labels[31] = (train_.labels[30] + 1) % 4;
    // Near-duplicates in train at several distances around the thresholds tested below.
    const float noise[] = {0.002f, 0.01f, 0.03f, 0.05f, 0.08f, 0.15f};
    for (int k = 0; k < 6; ++k) copy_sample(train_, 100 + k, train_, 200 + k, noise[k], rng);
    // Near copies of an exact-duplicate group: one pair each with both copies.
    copy_sample(train_, 10, train_, 300, 0.01f, rng);
    // Leakage: test samples copied from train, exactly and nearly.
    copy_sample(train_, 400, test_, 5, 0.0f, rng);
    copy_sample(train_, 401, test_, 6, 0.0f, rng);
    for (int k = 0; k < 6; ++k) copy_sample(train_, 500 + k, test_, 50 + k, noise[k], rng);
  }

  InMemoryDataset train_, test_;
};

TEST_F(InspectTest, CountsMatchBruteForceAtEveryThreshold) {
  for (double near : {0.0, 0.005, 0.02, 0.05, 0.1}) {
    for (std::int64_t dims : {std::int64_t{2}, std::int64_t{8}, kDim}) {
      SCOPED_TRACE("near " + std::to_string(near) + " dims " + std::to_string(dims));
      InspectOptions options;
      options.near_rms = near;
      options.projection_dims = dims;
      options.threads = 2;
      const auto r = inspect(train_, test_, options);
      const auto expected = brute_force(train_, test_, near);
      EXPECT_EQ(r.train_exact_groups, expected.exact_groups);
      EXPECT_EQ(r.train_exact_redundant, expected.exact_redundant);
      EXPECT_EQ(r.train_exact_label_conflicts, expected.exact_conflicts);
      EXPECT_EQ(r.test_exact_in_train, expected.test_exact);
      EXPECT_EQ(r.train_near_pairs, expected.near_pairs);
      EXPECT_EQ(r.train_near_samples, expected.near_samples);
      EXPECT_EQ(r.test_near_in_train, expected.test_near);
      EXPECT_GE(r.candidate_pairs, r.train_near_pairs + r.test_near_in_train);
    }
  }
  // The planted findings are there (so the comparison above is not between two zeros).
  const auto expected = brute_force(train_, test_, 0.05);
  EXPECT_EQ(expected.exact_groups, 3);
  EXPECT_EQ(expected.exact_redundant, 4);
  EXPECT_EQ(expected.exact_conflicts, 1);
  EXPECT_EQ(expected.test_exact, 2);
  EXPECT_GE(expected.near_pairs, 5);
  EXPECT_GE(expected.test_near, 3);
}

TEST_F(InspectTest, ExamplesPutLabelConflictsFirstThenTheClosest) {
  InspectOptions options;
  options.near_rms = 0.05;
  options.max_examples = 3;
  const auto r = inspect(train_, test_, options);
  ASSERT_EQ(r.train_exact_examples.size(), 3u);
  EXPECT_EQ(r.train_exact_examples[0].a, 30);  // the copy with another label
  EXPECT_EQ(r.train_exact_examples[0].b, 31);
  EXPECT_NE(r.train_exact_examples[0].label_a, r.train_exact_examples[0].label_b);
  for (const auto& p : r.train_exact_examples) EXPECT_EQ(p.rms, 0.0);
  ASSERT_EQ(r.test_exact_examples.size(), 2u);
  EXPECT_EQ(r.test_exact_examples[0].a, 400);
  EXPECT_EQ(r.test_exact_examples[0].b, 5);
  ASSERT_FALSE(r.train_near_examples.empty());
  for (std::size_t i = 1; i < r.train_near_examples.size(); ++i) {
    EXPECT_LE(r.train_near_examples[i - 1].rms, r.train_near_examples[i].rms);
  }
  const auto& closest = r.train_near_examples.front();
  EXPECT_NEAR(closest.rms, rms(train_, closest.a, train_, closest.b), 1e-6);
  EXPECT_LT(closest.a, closest.b);
}

TEST_F(InspectTest, KnnBaselineMatchesBruteForceInTheFullSpace) {
  // With every component kept the projection is a rotation, so neighbours are those of the raw
  // features.
  InspectOptions options;
  options.projection_dims = kDim;
  options.knn_k = 3;
  const auto r = inspect(train_, test_, options);
  std::int64_t correct = 0;
  for (std::int64_t t = 0; t < test_.size(); ++t) {
    std::vector<std::pair<double, std::int64_t>> d;
    for (std::int64_t j = 0; j < train_.size(); ++j) d.push_back({rms(train_, j, test_, t), j});
    std::partial_sort(d.begin(), d.begin() + 3, d.end());
    std::map<std::int32_t, int> votes;
    for (int k = 0; k < 3; ++k) ++votes[train_.labels[d[k].second]];
    std::int32_t best = train_.labels[d[0].second];
    for (int k = 0; k < 3; ++k) {
      const auto label = train_.labels[d[k].second];
      if (votes[label] > votes[best]) best = label;
    }
    correct += best == test_.labels[t];
  }
  EXPECT_EQ(r.knn_k, 3);
  EXPECT_DOUBLE_EQ(r.knn_accuracy, static_cast<double>(correct) / test_.size());
  EXPECT_GT(r.knn_accuracy, 0.5);  // the classes are separable: well above chance (0.25)
  EXPECT_NEAR(r.projection_variance, 1.0, 1e-4);
}

TEST_F(InspectTest, ClassBalanceIsCounted) {
  const auto r = inspect(train_, test_);
  std::vector<std::int64_t> counts(4, 0);
  for (auto y : train_.labels) ++counts[y];
  EXPECT_EQ(r.train_class_counts, counts);
  EXPECT_EQ(r.train_samples, 1500);
  EXPECT_EQ(r.test_samples, 300);
  const auto json = to_json(r);
  EXPECT_EQ(json["train"]["classes"].get<std::vector<std::int64_t>>(), counts);
  EXPECT_EQ(json["exact"]["train_redundant"], 4);
}

TEST_F(InspectTest, BadOptionsAndMismatchedSetsAreRejected) {
  auto message = [&](InspectOptions options, const InMemoryDataset& test) {
    try {
      inspect(train_, test, options);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  InspectOptions bad;
  bad.near_rms = -1;
  EXPECT_NE(message(bad, test_).find("near_rms"), std::string::npos);
  bad = {};
  bad.near_rms = std::nan("");
  EXPECT_NE(message(bad, test_).find("near_rms"), std::string::npos);
  bad = {};
  bad.projection_dims = kDim + 1;
  EXPECT_NE(message(bad, test_).find("projection_dims"), std::string::npos);
  bad = {};
  bad.knn_k = -1;
  EXPECT_NE(message(bad, test_).find("knn_k"), std::string::npos);
  auto other = test_;
  other.sample_shape = tensor::Shape{1, 8, 6, 1};
  EXPECT_NE(message({}, other).find("differ"), std::string::npos);
  InMemoryDataset empty = train_;
  empty.features.clear();
  empty.labels.clear();
  try {
    inspect(empty, test_);
    ADD_FAILURE() << "an empty training set was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no samples"), std::string::npos);
  }
}

TEST_F(InspectTest, AnEmptyTestSetIsFine) {
  InMemoryDataset empty = test_;
  empty.features.clear();
  empty.labels.clear();
  const auto r = inspect(train_, empty);
  EXPECT_EQ(r.test_samples, 0);
  EXPECT_EQ(r.test_exact_in_train, 0);
  EXPECT_EQ(r.knn_k, 0);  // nothing to classify
  EXPECT_EQ(r.train_exact_redundant, 4);
}

}  // namespace
}  // namespace tb::data
