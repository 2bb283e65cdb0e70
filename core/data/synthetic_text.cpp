#include "core/data/synthetic_text.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "core/util/error.h"
#include "core/util/random.h"

namespace tb::data {
namespace {

// Cumulative weights of a discrete distribution, sampled by binary search on a uniform draw.
class Discrete {
 public:
  explicit Discrete(const std::vector<double>& weights) : cdf_(weights.size()) {
    double sum = 0.0;
    for (std::size_t i = 0; i < weights.size(); ++i) cdf_[i] = sum += weights[i];
    for (auto& c : cdf_) c /= sum;
  }
  std::size_t operator()(std::mt19937_64& rng) const {
    const double u = uniform01(rng());
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    return std::min<std::size_t>(static_cast<std::size_t>(it - cdf_.begin()), cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

std::vector<double> zipf(std::int64_t n, double exponent) {
  std::vector<double> w(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    w[static_cast<std::size_t>(i)] = std::pow(i + 1.0, -exponent);
  return w;
}

SparseDataset make_documents(const SyntheticBowSpec& spec, std::int64_t samples,
                             const Discrete& background, const std::vector<Discrete>& topics,
                             const std::vector<std::vector<std::int32_t>>& topic_vocab,
                             std::mt19937_64& rng, const std::string& name) {
  SparseDataset out;
  out.name = name;
  out.field_names = {"words"};
  out.classes = spec.classes;
  std::vector<std::int64_t> row_ptr{0};
  std::vector<std::int32_t> cols;
  std::vector<float> values;
  std::vector<std::int32_t> words;
  for (std::int64_t d = 0; d < samples; ++d) {
    const auto label = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(spec.classes));
    const auto length =
        spec.min_length +
        static_cast<std::int64_t>(
            rng() % static_cast<std::uint64_t>(spec.max_length - spec.min_length + 1));
    words.clear();
    for (std::int64_t k = 0; k < length; ++k) {
      if (uniform01(rng()) < spec.topic_share) {
        words.push_back(topic_vocab[static_cast<std::size_t>(label)][topics[label](rng)]);
      } else {
        words.push_back(static_cast<std::int32_t>(background(rng)));
      }
    }
    std::sort(words.begin(), words.end());
    const auto first = values.size();
    double norm = 0.0;
    for (std::size_t i = 0; i < words.size();) {
      std::size_t j = i;
      while (j < words.size() && words[j] == words[i]) ++j;
      const auto weight = static_cast<float>(std::log1p(static_cast<double>(j - i)));
      cols.push_back(words[i]);
      values.push_back(weight);
      norm += static_cast<double>(weight) * weight;
      i = j;
    }
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (auto i = first; i < values.size(); ++i) values[i] *= scale;
    row_ptr.push_back(static_cast<std::int64_t>(cols.size()));
    out.labels.push_back(label);
  }
  out.fields.push_back(ds::CsrMatrix::from_arrays(samples, spec.vocabulary, std::move(row_ptr),
                                                  std::move(cols), std::move(values)));
  out.compute_fingerprint();
  return out;
}

}  // namespace

SparseSplit make_synthetic_bow(const SyntheticBowSpec& spec, std::uint64_t seed) {
  if (spec.classes < 2 || spec.vocabulary < 100 || spec.train_samples < 1 ||
      spec.test_samples < 1 || spec.min_length < 1 || spec.min_length > spec.max_length ||
      spec.topic_words < 1 || spec.topic_words > spec.vocabulary - spec.vocabulary / 100) {
    throw Error(
        "synthetic-bow: inconsistent settings (need classes >= 2, vocabulary >= 100, "
        "samples >= 1, 1 <= min_length <= max_length, 1 <= topic_words <= 99% of the "
        "vocabulary)");
  }
  std::mt19937_64 rng(seed ^ 0x626F77ull);  // "bow"
  const Discrete background(zipf(spec.vocabulary, 1.07));
  const std::int64_t common = spec.vocabulary / 100;  // the most frequent words: no topic's
  std::vector<std::vector<std::int32_t>> topic_vocab;
  std::vector<Discrete> topics;
  for (std::int64_t c = 0; c < spec.classes; ++c) {
    std::vector<std::int32_t> vocab;
    for (std::int64_t k = 0; k < spec.topic_words; ++k) {
      vocab.push_back(static_cast<std::int32_t>(
          common +
          static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(spec.vocabulary - common))));
    }
    topic_vocab.push_back(std::move(vocab));
    topics.emplace_back(zipf(spec.topic_words, 1.0));
  }
  SparseSplit split;
  split.train = make_documents(spec, spec.train_samples, background, topics, topic_vocab, rng,
                               "synthetic-bow/train");
  split.test = make_documents(spec, spec.test_samples, background, topics, topic_vocab, rng,
                              "synthetic-bow/test");
  return split;
}

}  // namespace tb::data
