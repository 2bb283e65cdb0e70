// The dataset inspector: what a user should know about a dataset before training on it.
//
// - Class balance of the training and test sets.
// - Exact duplicates (identical features): within the training set (redundant samples, and copies
//   that disagree on their label) and between test and train (test samples the model has seen:
//   leakage that inflates test accuracy). Found by content hash (XXH3) in a FlatHashMap, every
//   hash match confirmed byte for byte.
// - Near-duplicates: two samples whose features differ by at most `near_rms` root-mean-square, in
//   raw units (a pixel's 0..1 range for images), but are not identical. Found exactly, without an
//   all-pairs scan: the samples are projected onto their leading principal components, and since
//   an orthogonal projection never lengthens a distance, a radius search in a KD-tree over the
//   projections finds every pair within the threshold (and some that are not); each candidate is
//   then checked with its exact distance in the full space.
// - A kNN baseline classifier (k nearest training samples in the projected space, majority vote):
//   the test accuracy any trained model should beat.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/dataset.h"

namespace tb::data {

struct InspectOptions {
  // Near-duplicate threshold: root-mean-square feature difference in raw units. Must be >= 0.
  double near_rms = 0.04;
  // Principal components the search projects onto (1..sample size).
  std::int64_t projection_dims = 24;
  // Examples listed per finding (the closest first, label disagreements before agreements).
  std::int64_t max_examples = 5;
  // Neighbours the kNN baseline votes with; 0 skips it.
  std::int64_t knn_k = 5;
  int threads = 0;  // 0: one per hardware thread
};

// Two samples of a finding: `a` from the first set named (train), `b` from the second (train for a
// pair within the training set, test for leakage).
struct SamplePair {
  std::int64_t a = 0;
  std::int64_t b = 0;
  std::int32_t label_a = 0;
  std::int32_t label_b = 0;
  double rms = 0.0;  // root-mean-square difference in raw units (0 for exact duplicates)
};

struct InspectReport {
  std::string train_name, test_name;
  std::int64_t train_samples = 0, test_samples = 0, sample_size = 0;
  std::vector<std::string> class_names;
  std::vector<std::int64_t> train_class_counts, test_class_counts;

  // Exact duplicates within train: contents occurring more than once, the copies beyond the
  // first of each (samples a dedup would drop), and contents whose copies disagree on the label.
  std::int64_t train_exact_groups = 0;
  std::int64_t train_exact_redundant = 0;
  std::int64_t train_exact_label_conflicts = 0;
  // Test samples identical to some training sample.
  std::int64_t test_exact_in_train = 0;

  // Near-duplicates (not identical, within near_rms): pairs within train, the training samples
  // in at least one such pair, and the test samples with such a training neighbour.
  double near_rms = 0.0;
  std::int64_t train_near_pairs = 0;
  std::int64_t train_near_samples = 0;
  std::int64_t test_near_in_train = 0;

  std::vector<SamplePair> train_exact_examples, train_near_examples;  // b: a training index
  std::vector<SamplePair> test_exact_examples, test_near_examples;    // b: a test index

  // The projection the near-duplicate search and the kNN baseline use.
  std::int64_t projection_dims = 0;
  double projection_variance = 0.0;  // share of the training set's variance it keeps
  std::int64_t candidate_pairs = 0;  // pairs the projected search proposed, all verified

  std::int64_t knn_k = 0;  // 0: not run
  double knn_accuracy = 0.0;

  double seconds = 0.0;
};

// Inspects `train` and `test` (same sample shape and classes). Throws tb::Error on bad options
// (naming the option) or sets that do not match. The findings are exact, so the same for any
// thread count; candidate_pairs may differ by a few between thread counts (the projection's last
// bits depend on how the covariance product was split).
InspectReport inspect(const InMemoryDataset& train, const InMemoryDataset& test,
                      const InspectOptions& options = {});

nlohmann::json to_json(const InspectReport& report);

}  // namespace tb::data
