// A generated bag-of-words topic corpus: the sparse-input workload of projects/sparse_bow.json.
//
// Words are ids 0..vocabulary-1, ranked by background frequency (Zipf: p(w) ~ 1/(w+1)^1.07). Each
// class has a topic: topic_words words drawn (with the seed) from outside the most frequent 1%,
// with Zipf weights of their own. A document of class c (classes uniform) has a length uniform in
// [min_length, max_length]; each word comes from c's topic with probability topic_share, else from
// the background. Features: log(1 + count) per word, L2-normalised per document. Topics of
// different classes overlap by chance and short documents hold few topic words, so the classes
// are separable only in part. Same seed, same corpus, on every machine (own samplers over
// std::mt19937_64, whose output the standard fixes).
#pragma once

#include <cstdint>

#include "core/data/sparse_dataset.h"

namespace tb::data {

struct SyntheticBowSpec {
  std::int64_t classes = 20;
  std::int64_t vocabulary = 30000;
  std::int64_t train_samples = 20000;
  std::int64_t test_samples = 5000;
  std::int64_t min_length = 20;
  std::int64_t max_length = 200;
  std::int64_t topic_words = 400;
  double topic_share = 0.1;
};

// Throws tb::Error when the spec is inconsistent (sizes below one, min_length > max_length,
// topic_words above the vocabulary).
SparseSplit make_synthetic_bow(const SyntheticBowSpec& spec, std::uint64_t seed);

}  // namespace tb::data
