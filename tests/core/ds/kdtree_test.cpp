// KdTree against a brute-force scan that uses the same distance kernel (KdTree::distance2), so
// every result — order, ties and distances — must agree exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/ds/kd_tree.h"
#include "core/util/error.h"

namespace {

using tb::ds::KdTree;
using tb::ds::KdTreeOptions;
using tb::ds::Neighbor;
using tb::ds::SelfMatch;

enum class Layout { kUniform, kClustered, kDuplicates };

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::kUniform:
      return "uniform";
    case Layout::kClustered:
      return "clustered";
    case Layout::kDuplicates:
      return "duplicates";
  }
  return "?";
}

// n points of dimension d, row-major.
std::vector<float> make_points(Layout layout, std::size_t n, std::size_t d, std::mt19937_64& rng) {
  std::vector<float> pts(n * d);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  switch (layout) {
    case Layout::kUniform:
      for (float& v : pts) v = unit(rng);
      break;
    case Layout::kClustered: {
      constexpr std::size_t kClusters = 8;
      std::vector<float> centers(kClusters * d);
      for (float& v : centers) v = 10.0f * unit(rng);
      std::normal_distribution<float> noise(0.0f, 0.05f);
      std::uniform_int_distribution<std::size_t> pick(0, kClusters - 1);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = pick(rng);
        for (std::size_t j = 0; j < d; ++j) pts[i * d + j] = centers[c * d + j] + noise(rng);
      }
      break;
    }
    case Layout::kDuplicates: {
      // A small pool of points on a coarse integer grid: many exact duplicates and many exactly
      // equal distances, which exercises tie-breaking and the pruning margin.
      const std::size_t pool = std::max<std::size_t>(1, n / 10);
      std::vector<float> base(pool * d);
      std::uniform_int_distribution<int> grid(0, 3);
      for (float& v : base) v = static_cast<float>(grid(rng));
      std::uniform_int_distribution<std::size_t> pick(0, pool - 1);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t p = pick(rng);
        std::copy_n(&base[p * d], d, &pts[i * d]);
      }
      break;
    }
  }
  return pts;
}

std::vector<Neighbor> all_sorted(const std::vector<float>& pts, std::size_t d,
                                 std::span<const float> q, std::size_t exclude) {
  std::vector<Neighbor> all;
  const std::size_t n = pts.size() / d;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == exclude) continue;
    all.push_back({i, KdTree::distance2(q, std::span<const float>(&pts[i * d], d))});
  }
  std::sort(all.begin(), all.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance2 < b.distance2 || (a.distance2 == b.distance2 && a.index < b.index);
  });
  return all;
}

std::vector<Neighbor> brute_knn(const std::vector<float>& pts, std::size_t d,
                                std::span<const float> q, std::size_t k,
                                std::size_t exclude = KdTree::kNoExclude) {
  std::vector<Neighbor> all = all_sorted(pts, d, q, exclude);
  if (all.size() > k) all.resize(k);
  return all;
}

std::vector<Neighbor> brute_radius(const std::vector<float>& pts, std::size_t d,
                                   std::span<const float> q, float r,
                                   std::size_t exclude = KdTree::kNoExclude) {
  std::vector<Neighbor> all = all_sorted(pts, d, q, exclude);
  const float r2 = r * r;
  std::erase_if(all, [r2](const Neighbor& nb) { return !(nb.distance2 <= r2); });
  return all;
}

// Queries: half drawn like the data (some exactly on data points), half from a wider box so some
// fall outside the root box.
std::vector<float> make_queries(const std::vector<float>& pts, std::size_t d, std::size_t m,
                                std::mt19937_64& rng) {
  std::vector<float> qs(m * d);
  const std::size_t n = pts.size() / d;
  std::uniform_real_distribution<float> wide(-12.0f, 12.0f);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  std::normal_distribution<float> jitter(0.0f, 0.02f);
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t p = pick(rng);
    for (std::size_t j = 0; j < d; ++j) {
      float v = wide(rng);
      if (i % 4 == 0) v = pts[p * d + j];
      if (i % 4 == 1) v = pts[p * d + j] + jitter(rng);
      qs[i * d + j] = v;
    }
  }
  return qs;
}

std::string describe(Layout layout, std::size_t d, std::size_t leaf, std::size_t qi) {
  return std::string(layout_name(layout)) + " d=" + std::to_string(d) +
         " leaf=" + std::to_string(leaf) + " query=" + std::to_string(qi);
}

TEST(KdTree, DistanceMatchesDoubleReference) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> unit(-3.0f, 3.0f);
  for (std::size_t d = 1; d <= 70; ++d) {
    std::vector<float> a(d), b(d);
    for (int rep = 0; rep < 20; ++rep) {
      double exact = 0.0;
      for (std::size_t j = 0; j < d; ++j) {
        a[j] = unit(rng);
        b[j] = unit(rng);
        exact += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
      }
      const float got = KdTree::distance2(a, b);
      EXPECT_NEAR(got, exact, 1e-5 * exact + 1e-30) << "d=" << d;
      EXPECT_EQ(KdTree::distance2(a, a), 0.0f);
    }
  }
  std::vector<float> a(3), b(4);
  EXPECT_THROW(KdTree::distance2(a, b), tb::Error);
}

TEST(KdTree, KnnAndRadiusMatchBruteForce) {
  std::mt19937_64 rng(42);
  const std::size_t dims[] = {1, 2, 3, 5, 16, 64};
  const std::size_t leaves[] = {1, 4, 16, 32};
  std::size_t checked = 0;
  for (Layout layout : {Layout::kUniform, Layout::kClustered, Layout::kDuplicates}) {
    for (std::size_t d : dims) {
      const std::size_t n = d >= 64 ? 700 : 1500;
      const std::size_t leaf = leaves[(d + static_cast<std::size_t>(layout)) % 4];
      const std::vector<float> pts = make_points(layout, n, d, rng);
      const KdTree tree(pts, d, KdTreeOptions{leaf});
      ASSERT_NO_THROW(tree.validate()) << describe(layout, d, leaf, 0);
      ASSERT_EQ(tree.size(), n);
      ASSERT_EQ(tree.dim(), d);
      EXPECT_LE(tree.depth(), 11u);  // ceil(log2(1500))
      const std::vector<float> qs = make_queries(pts, d, 24, rng);
      for (std::size_t qi = 0; qi < 24; ++qi) {
        const std::span<const float> q(&qs[qi * d], d);
        const std::vector<Neighbor> all = all_sorted(pts, d, q, KdTree::kNoExclude);
        for (std::size_t k : {std::size_t{1}, std::size_t{10}, n}) {
          std::vector<Neighbor> expected(all.begin(), all.begin() + std::min(k, n));
          ASSERT_EQ(tree.knn(q, k), expected) << describe(layout, d, leaf, qi) << " k=" << k;
          ++checked;
        }
        // Radii at exact neighbour distances put points right on the boundary.
        for (std::size_t rank : {std::size_t{0}, std::size_t{9}, std::size_t{99}}) {
          const float r = std::sqrt(all[rank].distance2);
          ASSERT_EQ(tree.radius(q, r), brute_radius(pts, d, q, r))
              << describe(layout, d, leaf, qi) << " r=" << r;
        }
        ASSERT_EQ(tree.radius(q, 0.0f), brute_radius(pts, d, q, 0.0f));
        ASSERT_EQ(tree.radius(q, std::numeric_limits<float>::infinity()).size(), n);
      }
    }
  }
  EXPECT_EQ(checked, 3u * 6u * 24u * 3u);
}

TEST(KdTree, ExcludeIndexSkipsOnlyThatPoint) {
  std::mt19937_64 rng(7);
  for (Layout layout : {Layout::kUniform, Layout::kDuplicates}) {
    for (std::size_t d : {2u, 3u, 16u}) {
      const std::size_t n = 1200;
      const std::vector<float> pts = make_points(layout, n, d, rng);
      const KdTree tree(pts, d, KdTreeOptions{8});
      std::uniform_int_distribution<std::size_t> pick(0, n - 1);
      for (int rep = 0; rep < 40; ++rep) {
        const std::size_t self = pick(rng);
        const std::span<const float> q(&pts[self * d], d);
        for (std::size_t k : {std::size_t{1}, std::size_t{5}, n}) {
          const std::vector<Neighbor> got = tree.knn(q, k, self);
          ASSERT_EQ(got, brute_knn(pts, d, q, k, self)) << layout_name(layout) << " d=" << d;
          ASSERT_EQ(got.size(), std::min(k, n - 1));
          for (const Neighbor& nb : got) ASSERT_NE(nb.index, self);
        }
        // Without exclusion the point finds itself (or an identical point with a smaller index)
        // at distance 0.
        ASSERT_EQ(tree.knn(q, 1)[0].distance2, 0.0f);
        const float r = 0.3f;
        ASSERT_EQ(tree.radius(q, r, self), brute_radius(pts, d, q, r, self));
      }
      // An exclude index outside [0, n) excludes nothing.
      const std::span<const float> q0(&pts[0], d);
      EXPECT_EQ(tree.knn(q0, 3, n + 5), tree.knn(q0, 3));
    }
  }
}

TEST(KdTree, TiesGoToSmallerIndices) {
  // 2-d integer grid: a query at a cell centre has many points at exactly equal distances.
  std::vector<float> pts;
  for (int y = 0; y < 20; ++y) {
    for (int x = 0; x < 20; ++x) {
      pts.push_back(static_cast<float>((x * 7) % 20));  // scrambled so index order != space order
      pts.push_back(static_cast<float>(y));
    }
  }
  const KdTree tree(pts, 2, KdTreeOptions{3});
  for (float qx : {4.5f, 10.0f, 0.0f}) {
    for (float qy : {7.5f, 3.0f}) {
      const std::vector<float> q = {qx, qy};
      for (std::size_t k = 1; k <= 12; ++k) {
        ASSERT_EQ(tree.knn(q, k), brute_knn(pts, 2, q, k)) << qx << "," << qy << " k=" << k;
      }
    }
  }
  // All points identical: the first k indices, in order.
  const std::vector<float> same(50 * 3, 1.25f);
  const KdTree flat(same, 3, KdTreeOptions{4});
  ASSERT_NO_THROW(flat.validate());
  EXPECT_EQ(flat.node_count(), 1u);  // nothing to split
  const std::vector<float> q = {0.0f, 0.0f, 0.0f};
  const std::vector<Neighbor> got = flat.knn(q, 3);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(got[i].index, i);
  EXPECT_EQ(flat.knn(q, 2, 0)[0].index, 1u);
}

TEST(KdTree, EdgeSizes) {
  const std::vector<float> none;
  const KdTree empty(none, 4);
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_NO_THROW(empty.validate());
  const std::vector<float> q = {1, 2, 3, 4};
  EXPECT_TRUE(empty.knn(q, 5).empty());
  EXPECT_TRUE(empty.radius(q, 100.0f).empty());
  const auto batch = empty.knn_batch(std::vector<float>(8, 0.0f), 3);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_TRUE(batch[0].empty() && batch[1].empty());
  EXPECT_THROW(empty.knn(std::vector<float>{1, 2}, 1), tb::Error);  // still checks the dimension

  std::mt19937_64 rng(3);
  const std::vector<float> pts = make_points(Layout::kUniform, 37, 3, rng);
  const KdTree tree(pts, 3, KdTreeOptions{5});
  const std::span<const float> q3(&pts[0], 3);
  EXPECT_TRUE(tree.knn(q3, 0).empty());
  EXPECT_EQ(tree.knn(q3, 37).size(), 37u);
  EXPECT_EQ(tree.knn(q3, 1000), brute_knn(pts, 3, q3, 1000));
  EXPECT_EQ(tree.knn(q3, 1000, 0).size(), 36u);

  const std::vector<float> one = {0.5f, -0.5f};
  const KdTree single(one, 2);
  const std::vector<Neighbor> got = single.knn(std::vector<float>{0.5f, 0.5f}, 3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].index, 0u);
  EXPECT_EQ(got[0].distance2, 1.0f);
  EXPECT_TRUE(single.knn(one, 3, 0).empty());
}

TEST(KdTree, RejectsBadInput) {
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const tb::Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::vector<float> pts(30, 0.5f);
  pts[7 * 3 + 2] = std::numeric_limits<float>::quiet_NaN();
  std::string msg = message_of([&] { KdTree t(pts, 3); });
  EXPECT_NE(msg.find("point 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dimension 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
  pts[7 * 3 + 2] = 0.0f;
  pts[4 * 3 + 0] = -std::numeric_limits<float>::infinity();
  msg = message_of([&] { KdTree t(pts, 3); });
  EXPECT_NE(msg.find("point 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dimension 0"), std::string::npos) << msg;
  pts[4 * 3 + 0] = 0.0f;

  EXPECT_THROW(KdTree(pts, 0), tb::Error);
  EXPECT_THROW(KdTree(pts, 4), tb::Error);  // 30 floats are not a multiple of 4
  EXPECT_THROW(KdTree(pts, 3, KdTreeOptions{0}), tb::Error);

  const KdTree tree(pts, 3);
  EXPECT_THROW(tree.knn(std::vector<float>{1, 2}, 1), tb::Error);
  EXPECT_THROW(tree.knn(std::vector<float>{1, 2, 3, 4}, 1), tb::Error);
  msg = message_of([&] {
    tree.knn(std::vector<float>{1, std::numeric_limits<float>::quiet_NaN(), 3}, 1);
  });
  EXPECT_NE(msg.find("coordinate 1"), std::string::npos) << msg;
  EXPECT_THROW(tree.radius(std::vector<float>{1, 2, std::numeric_limits<float>::infinity()}, 1),
               tb::Error);
  EXPECT_THROW(tree.radius(std::vector<float>{1, 2, 3}, -1.0f), tb::Error);
  EXPECT_THROW(tree.radius(std::vector<float>{1, 2, 3}, std::numeric_limits<float>::quiet_NaN()),
               tb::Error);
  std::vector<float> qs(12, 0.0f);
  qs[2 * 3 + 1] = std::numeric_limits<float>::quiet_NaN();
  msg = message_of([&] { tree.knn_batch(qs, 2, 2); });
  EXPECT_NE(msg.find("query 2"), std::string::npos) << msg;
  EXPECT_THROW(tree.knn_batch(std::vector<float>(10, 0.0f), 2), tb::Error);
}

TEST(KdTree, BatchEqualsSequential) {
  std::mt19937_64 rng(11);
  for (std::size_t d : {3u, 16u}) {
    const std::size_t n = 3000;
    const std::vector<float> pts = make_points(Layout::kClustered, n, d, rng);
    const KdTree tree(pts, d, KdTreeOptions{12});
    const std::vector<float> qs = make_queries(pts, d, 300, rng);
    std::vector<std::vector<Neighbor>> sequential;
    for (std::size_t i = 0; i < 300; ++i) sequential.push_back(tree.knn({&qs[i * d], d}, 7));
    for (std::size_t threads : {1u, 2u, 4u, 0u}) {
      EXPECT_EQ(tree.knn_batch(qs, 7, threads), sequential) << "threads=" << threads;
    }
    // Self queries: query i is point i and must not match itself.
    const auto self = tree.knn_batch(pts, 4, 3, SelfMatch::kExcludeSameIndex);
    ASSERT_EQ(self.size(), n);
    for (std::size_t i = 0; i < n; i += 37) {
      ASSERT_EQ(self[i], tree.knn({&pts[i * d], d}, 4, i)) << i;
    }
    EXPECT_TRUE(tree.knn_batch(qs, 0, 2)[5].empty());
  }
}

TEST(KdTree, LargeAndNegativeCoordinates) {
  // Far from the origin the pruning bound's rounding is largest relative to the gaps.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> offset(-1.0f, 1.0f);
  const std::size_t n = 2000, d = 3;
  std::vector<float> pts(n * d);
  for (std::size_t i = 0; i < n * d; ++i) pts[i] = -1.0e4f + offset(rng) * 1.0e-1f;
  const KdTree tree(pts, d, KdTreeOptions{6});
  ASSERT_NO_THROW(tree.validate());
  for (std::size_t i = 0; i < 100; ++i) {
    const std::span<const float> q(&pts[(i * 17) % n * d], d);
    ASSERT_EQ(tree.knn(q, 10), brute_knn(pts, d, q, 10)) << i;
    ASSERT_EQ(tree.knn(q, 10, (i * 17) % n), brute_knn(pts, d, q, 10, (i * 17) % n)) << i;
  }
}

}  // namespace
