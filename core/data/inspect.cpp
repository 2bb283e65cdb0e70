#include "core/data/inspect.h"

#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <span>
#include <thread>

#include "core/ds/content_hash.h"
#include "core/ds/hash_map.h"
#include "core/ds/kd_tree.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The covariance is estimated on at most this many training samples, evenly spaced: enough for
// a stable leading subspace, and the search stays exact whatever subspace it gets.
constexpr std::int64_t kCovarianceSamples = 20000;

std::span<const float> sample(const InMemoryDataset& set, std::int64_t i) {
  const auto d = static_cast<std::size_t>(set.sample_numel());
  return {set.features.data() + static_cast<std::size_t>(i) * d, d};
}

bool identical(std::span<const float> a, std::span<const float> b) {
  return std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

struct Projection {
  Eigen::MatrixXf basis;      // [d, k]: the k leading principal directions, orthonormal columns
  Eigen::RowVectorXf offset;  // [k]: the mean projected, subtracted so projections are centred
  double variance_share = 0.0;
};

Projection principal_components(const InMemoryDataset& train, std::int64_t k) {
  const std::int64_t n = train.size();
  const std::int64_t d = train.sample_numel();
  const std::int64_t m = std::min(n, kCovarianceSamples);
  Eigen::MatrixXf x(m, d);
  for (std::int64_t r = 0; r < m; ++r) {
    const auto row = sample(train, r * n / m);
    x.row(r) = Eigen::Map<const Eigen::RowVectorXf>(row.data(), d);
  }
  const Eigen::RowVectorXf mean = x.colwise().mean();
  x.rowwise() -= mean;
  Eigen::MatrixXf covariance = Eigen::MatrixXf::Zero(d, d);
  covariance.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose(),
                                                        1.0f / static_cast<float>(m));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXf> solver(covariance);  // reads the lower triangle
  if (solver.info() != Eigen::Success) throw Error("inspect: the principal components diverged");
  Projection p;
  p.basis = solver.eigenvectors().rightCols(k);  // eigenvalues ascend: the last k lead
  p.offset = mean * p.basis;
  const double total = solver.eigenvalues().cast<double>().sum();
  p.variance_share = total > 0 ? solver.eigenvalues().tail(k).cast<double>().sum() / total : 1.0;
  return p;
}

// [n, k] row-major projections of every sample of `set`.
std::vector<float> project(const InMemoryDataset& set, const Projection& p) {
  const auto k = p.basis.cols();
  std::vector<float> out(static_cast<std::size_t>(set.size() * k));
  if (set.size() == 0) return out;
  Eigen::Map<const RowMatrix> x(set.features.data(), set.size(), set.sample_numel());
  Eigen::Map<RowMatrix> y(out.data(), set.size(), k);
  y.noalias() = x * p.basis;
  y.rowwise() -= p.offset;
  return out;
}

// The examples to list: label disagreements first (the most actionable), then the closest.
std::vector<SamplePair> pick_examples(std::vector<SamplePair> pairs, std::int64_t count) {
  std::sort(pairs.begin(), pairs.end(), [](const SamplePair& x, const SamplePair& y) {
    const bool x_conflict = x.label_a != x.label_b, y_conflict = y.label_a != y.label_b;
    if (x_conflict != y_conflict) return x_conflict;
    if (x.rms != y.rms) return x.rms < y.rms;
    return std::tie(x.a, x.b) < std::tie(y.a, y.b);
  });
  if (static_cast<std::int64_t>(pairs.size()) > count)
    pairs.resize(static_cast<std::size_t>(count));
  return pairs;
}

void validate(const InMemoryDataset& train, const InMemoryDataset& test,
              const InspectOptions& options) {
  if (!(options.near_rms >= 0.0 && std::isfinite(options.near_rms)))
    throw Error("inspect: near_rms must be a finite number >= 0 (got " +
                std::to_string(options.near_rms) + ")");
  if (options.projection_dims < 1 || options.projection_dims > train.sample_numel())
    throw Error("inspect: projection_dims must be in 1.." + std::to_string(train.sample_numel()) +
                " (got " + std::to_string(options.projection_dims) + ")");
  if (options.max_examples < 0) throw Error("inspect: max_examples must be >= 0");
  if (options.knn_k < 0) throw Error("inspect: knn_k must be >= 0");
  if (train.sample_shape != test.sample_shape || train.classes != test.classes)
    throw Error("inspect: " + train.name + " and " + test.name +
                " differ in sample shape or classes (" + train.sample_shape.str() + " vs " +
                test.sample_shape.str() + ")");
  if (train.size() == 0) throw Error("inspect: " + train.name + " has no samples");
}

class Inspector {
 public:
  Inspector(const InMemoryDataset& train, const InMemoryDataset& test,
            const InspectOptions& options)
      : train_(train), test_(test), options_(options) {
    const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads_ = options.threads > 0 ? options.threads : hardware;
    d_ = train.sample_numel();
    // rms (raw units) = ||difference of features|| * raw_std / sqrt(d).
    to_rms_ = static_cast<double>(train.raw_std) / std::sqrt(static_cast<double>(d_));
    const double radius = options.near_rms / to_rms_;
    radius2_ = radius * radius;
    // The projected search may only ever propose too much: widen its radius a hair beyond the
    // exact one so float rounding in the projection cannot drop a true pair.
    search_radius_ = static_cast<float>(radius * (1.0 + 1e-4) + 1e-5);
  }

  InspectReport run() {
    const auto started = std::chrono::steady_clock::now();
    report_.train_name = train_.name;
    report_.test_name = test_.name;
    report_.train_samples = train_.size();
    report_.test_samples = test_.size();
    report_.sample_size = d_;
    report_.class_names = train_.class_names;
    report_.train_class_counts = class_counts(train_);
    report_.test_class_counts = class_counts(test_);
    report_.near_rms = options_.near_rms;
    find_exact_duplicates();
    const Projection projection = principal_components(train_, options_.projection_dims);
    report_.projection_dims = options_.projection_dims;
    report_.projection_variance = projection.variance_share;
    const auto train_points = project(train_, projection);
    const auto test_points = project(test_, projection);
    const ds::KdTree tree(train_points, static_cast<std::size_t>(options_.projection_dims));
    find_near_duplicates_in_train(tree, train_points);
    find_near_duplicates_of_test(tree, test_points);
    if (options_.knn_k > 0 && test_.size() > 0) knn_baseline(tree, test_points);
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(report_);
  }

 private:
  std::vector<std::int64_t> class_counts(const InMemoryDataset& set) const {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(set.classes), 0);
    for (auto label : set.labels) ++counts[static_cast<std::size_t>(label)];
    return counts;
  }

  std::vector<std::uint64_t> hashes(const InMemoryDataset& set) const {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(set.size()));
    const std::int64_t n = set.size();
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      out[static_cast<std::size_t>(i)] = ds::content_hash(sample(set, i));
    }
    return out;
  }

  SamplePair pair(std::int64_t a, const InMemoryDataset& b_set, std::int64_t b, double d2) const {
    return {a, b, train_.labels[static_cast<std::size_t>(a)],
            b_set.labels[static_cast<std::size_t>(b)], std::sqrt(d2) * to_rms_};
  }

  void find_exact_duplicates() {
    // first_copy_[i]: the lowest training index with sample i's exact content (i itself when i
    // is the first). A hash match is confirmed byte for byte; two different contents with one
    // 64-bit hash (about 1e-10 likely over 10^5 samples) would stay apart, as they should.
    const auto train_hashes = hashes(train_);
    ds::FlatHashMap<std::uint64_t, std::int64_t> first_by_hash;
    first_by_hash.reserve(train_hashes.size());
    first_copy_.resize(train_hashes.size());
    std::vector<std::int64_t> copies(train_hashes.size(), 0);
    std::vector<char> conflict(train_hashes.size(), 0);
    std::vector<SamplePair> examples;
    for (std::int64_t i = 0; i < train_.size(); ++i) {
      const auto [it, inserted] = first_by_hash.try_emplace(train_hashes[i], i);
      const std::int64_t first = it->second;
      first_copy_[i] = i;
      if (inserted || !identical(sample(train_, first), sample(train_, i))) continue;
      first_copy_[i] = first;
      ++copies[first];
      if (train_.labels[first] != train_.labels[i]) conflict[first] = 1;
      examples.push_back(pair(first, train_, i, 0.0));
    }
    for (std::size_t i = 0; i < copies.size(); ++i) {
      report_.train_exact_groups += copies[i] > 0;
      report_.train_exact_redundant += copies[i];
      report_.train_exact_label_conflicts += conflict[i];
    }
    report_.train_exact_examples = pick_examples(std::move(examples), options_.max_examples);

    const auto test_hashes = hashes(test_);
    examples.clear();
    for (std::int64_t t = 0; t < test_.size(); ++t) {
      const auto it = first_by_hash.find(test_hashes[t]);
      if (it == first_by_hash.end() || !identical(sample(train_, it->second), sample(test_, t)))
        continue;
      ++report_.test_exact_in_train;
      examples.push_back(pair(it->second, test_, t, 0.0));
    }
    report_.test_exact_examples = pick_examples(std::move(examples), options_.max_examples);
  }

  void find_near_duplicates_in_train(const ds::KdTree& tree, const std::vector<float>& points) {
    const std::int64_t n = train_.size();
    const auto k = static_cast<std::size_t>(options_.projection_dims);
    std::vector<std::vector<SamplePair>> found(static_cast<std::size_t>(threads_));
    std::int64_t candidates = 0;
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 64) reduction(+ : candidates)
    for (std::int64_t i = 0; i < n; ++i) {
      auto& mine = found[static_cast<std::size_t>(omp_get_thread_num())];
      const std::span<const float> query(points.data() + static_cast<std::size_t>(i) * k, k);
      for (const auto& c : tree.radius(query, search_radius_, static_cast<std::size_t>(i))) {
        const auto j = static_cast<std::int64_t>(c.index);
        if (j < i) continue;  // each pair once, from its lower index
        ++candidates;
        if (first_copy_[i] == first_copy_[j]) continue;  // exact duplicates, counted above
        const double d2 = ds::KdTree::distance2(sample(train_, i), sample(train_, j));
        if (d2 <= radius2_) mine.push_back(pair(i, train_, j, d2));
      }
    }
    std::vector<SamplePair> pairs;
    for (auto& part : found) pairs.insert(pairs.end(), part.begin(), part.end());
    std::vector<char> involved(static_cast<std::size_t>(n), 0);
    for (const auto& p : pairs) involved[p.a] = involved[p.b] = 1;
    report_.candidate_pairs += candidates;
    report_.train_near_pairs = static_cast<std::int64_t>(pairs.size());
    report_.train_near_samples = std::count(involved.begin(), involved.end(), 1);
    report_.train_near_examples = pick_examples(std::move(pairs), options_.max_examples);
  }

  void find_near_duplicates_of_test(const ds::KdTree& tree, const std::vector<float>& points) {
    const std::int64_t n = test_.size();
    const auto k = static_cast<std::size_t>(options_.projection_dims);
    // Per test sample: its closest non-identical training sample within the threshold, if any.
    std::vector<SamplePair> closest(static_cast<std::size_t>(n));
    std::vector<char> has(static_cast<std::size_t>(n), 0);
    std::int64_t candidates = 0;
#pragma omp parallel for num_threads(threads_) schedule(dynamic, 64) reduction(+ : candidates)
    for (std::int64_t t = 0; t < n; ++t) {
      const std::span<const float> query(points.data() + static_cast<std::size_t>(t) * k, k);
      for (const auto& c : tree.radius(query, search_radius_)) {
        ++candidates;
        const auto j = static_cast<std::int64_t>(c.index);
        if (identical(sample(train_, j), sample(test_, t))) continue;
        const double d2 = ds::KdTree::distance2(sample(train_, j), sample(test_, t));
        if (d2 > radius2_) continue;
        const auto candidate = pair(j, test_, t, d2);
        if (!has[t] || candidate.rms < closest[t].rms) closest[t] = candidate;
        has[t] = 1;
      }
    }
    std::vector<SamplePair> pairs;
    for (std::int64_t t = 0; t < n; ++t) {
      if (has[t]) pairs.push_back(closest[t]);
    }
    report_.candidate_pairs += candidates;
    report_.test_near_in_train = static_cast<std::int64_t>(pairs.size());
    report_.test_near_examples = pick_examples(std::move(pairs), options_.max_examples);
  }

  void knn_baseline(const ds::KdTree& tree, const std::vector<float>& points) {
    const auto k = static_cast<std::size_t>(options_.knn_k);
    const auto neighbours = tree.knn_batch(points, k, static_cast<std::size_t>(threads_));
    std::int64_t correct = 0;
    std::vector<std::int64_t> votes(static_cast<std::size_t>(train_.classes));
    for (std::size_t t = 0; t < neighbours.size(); ++t) {
      std::fill(votes.begin(), votes.end(), 0);
      for (const auto& nb : neighbours[t]) ++votes[train_.labels[nb.index]];
      // Most votes wins; a tie goes to the tied class with the nearest neighbour.
      std::int32_t best = train_.labels[neighbours[t].front().index];
      for (const auto& nb : neighbours[t]) {
        const auto label = train_.labels[nb.index];
        if (votes[label] > votes[best]) best = label;
      }
      correct += best == test_.labels[t];
    }
    report_.knn_k = options_.knn_k;
    report_.knn_accuracy = static_cast<double>(correct) / static_cast<double>(neighbours.size());
  }

  const InMemoryDataset& train_;
  const InMemoryDataset& test_;
  InspectOptions options_;
  int threads_ = 1;
  std::int64_t d_ = 0;
  double to_rms_ = 1.0;
  double radius2_ = 0.0;  // the threshold as a squared feature distance
  float search_radius_ = 0.0f;
  std::vector<std::int64_t> first_copy_;
  InspectReport report_;
};

}  // namespace

InspectReport inspect(const InMemoryDataset& train, const InMemoryDataset& test,
                      const InspectOptions& options) {
  validate(train, test, options);
  return Inspector(train, test, options).run();
}

nlohmann::json to_json(const InspectReport& r) {
  auto pairs = [](const std::vector<SamplePair>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : list) {
      out.push_back(
          {{"a", p.a}, {"b", p.b}, {"label_a", p.label_a}, {"label_b", p.label_b}, {"rms", p.rms}});
    }
    return out;
  };
  return {
      {"train",
       {{"name", r.train_name}, {"samples", r.train_samples}, {"classes", r.train_class_counts}}},
      {"test",
       {{"name", r.test_name}, {"samples", r.test_samples}, {"classes", r.test_class_counts}}},
      {"class_names", r.class_names},
      {"exact",
       {{"train_groups", r.train_exact_groups},
        {"train_redundant", r.train_exact_redundant},
        {"train_label_conflicts", r.train_exact_label_conflicts},
        {"test_in_train", r.test_exact_in_train},
        {"train_examples", pairs(r.train_exact_examples)},
        {"test_examples", pairs(r.test_exact_examples)}}},
      {"near",
       {{"rms_threshold", r.near_rms},
        {"train_pairs", r.train_near_pairs},
        {"train_samples", r.train_near_samples},
        {"test_in_train", r.test_near_in_train},
        {"train_examples", pairs(r.train_near_examples)},
        {"test_examples", pairs(r.test_near_examples)}}},
      {"projection",
       {{"dims", r.projection_dims},
        {"variance_share", r.projection_variance},
        {"candidate_pairs", r.candidate_pairs}}},
      {"knn", {{"k", r.knn_k}, {"test_accuracy", r.knn_accuracy}}},
      {"seconds", r.seconds}};
}

}  // namespace tb::data
