// Generated implicit-feedback interactions: the Embedding workload of
// projects/recsys_embedding.json.
//
// A hidden rank-`rank` model gives every user u and item i a factor vector (standard normal
// entries); their affinity is s = p_u . q_i / sqrt(rank), about N(0, 1). An interaction draws a
// user uniformly and an item by popularity (Zipf over items, exponent popularity_exponent), then
// is a click (label 1) with probability sigmoid(sharpness * s), else a sampled negative (label 0).
// Positives and negatives share the popularity draw, so only the user-item affinity predicts the
// label: the Bayes accuracy is E[max(sigmoid(sharpness s), 1 - sigmoid(sharpness s))] (0.83 at
// sharpness 4). Fields: user one-hot [samples x users], item one-hot [samples x items].
// Test interactions are user-item pairs that never occur in training (checked against a Bloom
// filter of the training pairs): the model is asked about pairs it has not seen, as a recommender
// is; repeats within a set are allowed, as repeated interactions are.
#pragma once

#include <cstdint>

#include "core/data/sparse_dataset.h"

namespace tb::data {

struct SyntheticRecsysSpec {
  std::int64_t users = 20000;
  std::int64_t items = 20000;
  std::int64_t rank = 4;
  std::int64_t train_samples = 400000;
  std::int64_t test_samples = 20000;
  double popularity_exponent = 0.8;
  double sharpness = 4.0;
};

// Throws tb::Error when the spec is inconsistent (a size below one), or when too few pairs are
// left unseen by training to draw the test set from.
SparseSplit make_synthetic_recsys(const SyntheticRecsysSpec& spec, std::uint64_t seed);

}  // namespace tb::data
