#include "core/data/synthetic_recsys.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <string>

#include "core/ds/bloom_filter.h"
#include "core/ds/content_hash.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace tb::data {
namespace {

struct Hidden {
  std::int64_t rank;
  std::vector<double> users;  // [users x rank]
  std::vector<double> items;  // [items x rank]
  std::vector<double> popularity_cdf;
};

// The Bloom filter's key for a user-item pair: a stable hash of (user << 32 | item).
std::uint64_t pair_key(std::int64_t user, std::int64_t item) {
  const std::uint64_t packed =
      (static_cast<std::uint64_t>(user) << 32) | static_cast<std::uint64_t>(item);
  return ds::content_hash(std::as_bytes(std::span<const std::uint64_t>(&packed, 1)));
}

// A test pair is redrawn at most this many times before the spec is declared too small.
constexpr int kMaxRedraws = 1000;

// `seen`, when given, holds the training pairs: every drawn pair it (maybe) contains is drawn
// again, so that the test set asks about user-item pairs the model has not trained on. A false
// positive only redraws a pair that was in fact new (at 10 bits per pair, about 1% of draws).
// `record`, when given, receives every drawn pair.
SparseDataset make_interactions(const SyntheticRecsysSpec& spec, const Hidden& hidden,
                                std::int64_t samples, std::mt19937_64& rng, const std::string& name,
                                const ds::BlockedBloomFilter* seen,
                                ds::BlockedBloomFilter* record) {
  SparseDataset out;
  out.name = name;
  out.field_names = {"user", "item"};
  out.classes = 2;
  std::vector<std::int64_t> row_ptr(static_cast<std::size_t>(samples + 1));
  std::vector<std::int32_t> users, items;
  const double scale = 1.0 / std::sqrt(static_cast<double>(spec.rank));
  for (std::int64_t n = 0; n < samples; ++n) {
    std::int64_t u = 0, i = 0;
    for (int draw = 0;; ++draw) {
      if (draw == kMaxRedraws) {
        throw Error(name + ": too few user-item pairs unseen in training (users x items = " +
                    std::to_string(spec.users * spec.items) + ", train_samples " +
                    std::to_string(spec.train_samples) +
                    "): raise data.recsys.users or items, or lower train_samples");
      }
      u = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(spec.users));
      const auto& cdf = hidden.popularity_cdf;
      const auto it = std::upper_bound(cdf.begin(), cdf.end(), uniform01(rng()));
      i = std::min<std::int64_t>(it - cdf.begin(), spec.items - 1);
      if (!seen || !seen->maybe_contains(pair_key(u, i))) break;
    }
    if (record) record->insert(pair_key(u, i));
    double s = 0.0;
    for (std::int64_t k = 0; k < spec.rank; ++k) {
      s += hidden.users[static_cast<std::size_t>(u * spec.rank + k)] *
           hidden.items[static_cast<std::size_t>(i * spec.rank + k)];
    }
    const double p_click = 1.0 / (1.0 + std::exp(-spec.sharpness * s * scale));
    out.labels.push_back(uniform01(rng()) < p_click ? 1 : 0);
    users.push_back(static_cast<std::int32_t>(u));
    items.push_back(static_cast<std::int32_t>(i));
    row_ptr[static_cast<std::size_t>(n + 1)] = n + 1;
  }
  std::vector<float> ones(static_cast<std::size_t>(samples), 1.0f);
  out.fields.push_back(
      ds::CsrMatrix::from_arrays(samples, spec.users, row_ptr, std::move(users), ones));
  out.fields.push_back(ds::CsrMatrix::from_arrays(samples, spec.items, std::move(row_ptr),
                                                  std::move(items), std::move(ones)));
  out.compute_fingerprint();
  return out;
}

}  // namespace

SparseSplit make_synthetic_recsys(const SyntheticRecsysSpec& spec, std::uint64_t seed) {
  if (spec.users < 1 || spec.items < 1 || spec.rank < 1 || spec.train_samples < 1 ||
      spec.test_samples < 1) {
    throw Error("synthetic-recsys: users, items, rank and sample counts must be >= 1");
  }
  std::mt19937_64 rng(seed ^ 0x726563ull);  // "rec"
  Hidden hidden;
  hidden.rank = spec.rank;
  for (std::int64_t k = 0; k < spec.users * spec.rank; ++k)
    hidden.users.push_back(standard_normal(rng));
  for (std::int64_t k = 0; k < spec.items * spec.rank; ++k)
    hidden.items.push_back(standard_normal(rng));
  double sum = 0.0;
  for (std::int64_t i = 0; i < spec.items; ++i) {
    hidden.popularity_cdf.push_back(sum += std::pow(i + 1.0, -spec.popularity_exponent));
  }
  for (auto& c : hidden.popularity_cdf) c /= sum;
  SparseSplit split;
  // "Seen before": the training pairs go into a Bloom filter (10 bits per pair, ~1% false
  // positives) that the test draws are checked against, so no test pair leaks from training.
  ds::BlockedBloomFilter train_pairs(static_cast<std::size_t>(spec.train_samples), 10.0);
  split.train = make_interactions(spec, hidden, spec.train_samples, rng, "synthetic-recsys/train",
                                  nullptr, &train_pairs);
  split.test = make_interactions(spec, hidden, spec.test_samples, rng, "synthetic-recsys/test",
                                 &train_pairs, nullptr);
  return split;
}

}  // namespace tb::data
