#include "core/ds/kd_tree.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <numeric>
#include <string>
#include <thread>
#include <type_traits>

#include "core/util/error.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace tb::ds {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::uint32_t kNoExclude32 = std::numeric_limits<std::uint32_t>::max();
// Median splits halve a node, so n < 2^32 points never need more than 33 levels.
constexpr std::size_t kMaxLevels = 34;

// a*b + c. Where the target has a fused multiply-add it is used explicitly, so the compiler's
// contraction choices (which may differ between inlined copies) cannot change a distance.
inline float mul_add(float a, float b, float c) {
#if defined(__FP_FAST_FMAF)
  return __builtin_fmaf(a, b, c);
#else
  return c + a * b;
#endif
}

// The one distance kernel: blocks of 8 coordinates go to 8 lane accumulators, reduced as
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); the remaining d % 8 coordinates are summed in order and
// added last. Every code path below performs exactly these roundings, so the value does not depend
// on whether D is known at compile time. D == 0 means "use d".
template <std::size_t D>
inline float squared_l2(const float* a, const float* b, std::size_t d) {
  const std::size_t dims = D != 0 ? D : d;
  const std::size_t blocked = dims & ~std::size_t{7};
  float total = 0.0f;
  if (blocked != 0) {
#if defined(__AVX__)
    __m256 acc = _mm256_setzero_ps();
    for (std::size_t i = 0; i < blocked; i += 8) {
      const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
#if defined(__FMA__)
      acc = _mm256_fmadd_ps(x, x, acc);
#else
      acc = _mm256_add_ps(acc, _mm256_mul_ps(x, x));
#endif
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    total = _mm_cvtss_f32(s);
#elif defined(__SSE2__)
    __m128 lo = _mm_setzero_ps();
    __m128 hi = _mm_setzero_ps();
    for (std::size_t i = 0; i < blocked; i += 8) {
      const __m128 x0 = _mm_sub_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i));
      const __m128 x1 = _mm_sub_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4));
#if defined(__FMA__)
      lo = _mm_fmadd_ps(x0, x0, lo);
      hi = _mm_fmadd_ps(x1, x1, hi);
#else
      lo = _mm_add_ps(lo, _mm_mul_ps(x0, x0));
      hi = _mm_add_ps(hi, _mm_mul_ps(x1, x1));
#endif
    }
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    total = _mm_cvtss_f32(s);
#else
    float lane[8] = {};
    for (std::size_t i = 0; i < blocked; i += 8) {
      for (std::size_t j = 0; j < 8; ++j) {
        const float x = a[i + j] - b[i + j];
        lane[j] = mul_add(x, x, lane[j]);
      }
    }
    const float s0 = lane[0] + lane[4], s1 = lane[1] + lane[5];
    const float s2 = lane[2] + lane[6], s3 = lane[3] + lane[7];
    total = (s0 + s2) + (s1 + s3);
#endif
  }
  float tail = 0.0f;
  for (std::size_t i = blocked; i < dims; ++i) {
    const float x = a[i] - b[i];
    tail = mul_add(x, x, tail);
  }
  return total + tail;
}

// Runs f with the dimension as a compile-time constant for the common small dimensions (so the
// distance loop is fully unrolled), and with 0 ("runtime") otherwise.
template <class F>
void with_dimension(std::size_t d, F&& f) {
  switch (d) {
    case 1:
      return f(std::integral_constant<std::size_t, 1>{});
    case 2:
      return f(std::integral_constant<std::size_t, 2>{});
    case 3:
      return f(std::integral_constant<std::size_t, 3>{});
    case 4:
      return f(std::integral_constant<std::size_t, 4>{});
    case 8:
      return f(std::integral_constant<std::size_t, 8>{});
    case 16:
      return f(std::integral_constant<std::size_t, 16>{});
    case 32:
      return f(std::integral_constant<std::size_t, 32>{});
    default:
      return f(std::integral_constant<std::size_t, 0>{});
  }
}

inline bool closer(float da, std::uint32_t ia, float db, std::uint32_t ib) {
  return da < db || (da == db && ia < ib);
}

// The k best (distance, index) pairs seen so far, as a max-heap on (distance, index) so the
// current k-th — the one a better candidate evicts — is at the top.
class BoundedMaxHeap {
 public:
  void reset(std::size_t capacity) {
    capacity_ = capacity;
    size_ = 0;
    if (items_.size() < capacity) items_.resize(capacity);
    worst_ = kInf;
  }

  // Candidates farther than this cannot enter (+inf until the heap is full). A candidate at
  // exactly this distance may still enter if its index is smaller than the top's.
  float worst() const { return worst_; }

  void offer(float dist, std::uint32_t index) {
    Item* h = items_.data();
    if (size_ < capacity_) {
      std::size_t i = size_++;
      while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!closer(h[parent].dist, h[parent].index, dist, index)) break;
        h[i] = h[parent];
        i = parent;
      }
      h[i] = {dist, index};
      if (size_ == capacity_) worst_ = h[0].dist;
      return;
    }
    if (!closer(dist, index, h[0].dist, h[0].index)) return;
    std::size_t i = 0;
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= size_) break;
      if (child + 1 < size_ &&
          closer(h[child].dist, h[child].index, h[child + 1].dist, h[child + 1].index)) {
        ++child;
      }
      if (!closer(dist, index, h[child].dist, h[child].index)) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = {dist, index};
    worst_ = h[0].dist;
  }

  void take_sorted(std::vector<Neighbor>& out) const {
    out.resize(size_);
    for (std::size_t i = 0; i < size_; ++i) out[i] = {items_[i].index, items_[i].dist};
    std::sort(out.begin(), out.end(), [](const Neighbor& a, const Neighbor& b) {
      return a.distance2 < b.distance2 || (a.distance2 == b.distance2 && a.index < b.index);
    });
  }

 private:
  struct Item {
    float dist;
    std::uint32_t index;
  };
  std::vector<Item> items_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
  float worst_ = kInf;
};

void sort_neighbors(std::vector<Neighbor>& v) {
  std::sort(v.begin(), v.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance2 < b.distance2 || (a.distance2 == b.distance2 && a.index < b.index);
  });
}

std::uint32_t exclude32(std::size_t exclude_index, std::size_t n) {
  return exclude_index < n ? static_cast<std::uint32_t>(exclude_index) : kNoExclude32;
}

}  // namespace

// One query's traversal state. The lower bound of a cell is kept incrementally, as nanoflann
// does: gaps_[i] is the squared distance from the query to the current cell's slab along
// dimension i, and `bound` their sum; entering the far child of a split replaces one term.
template <std::size_t D>
class KdSearch {
 public:
  explicit KdSearch(const KdTree& tree)
      : tree_(tree),
        nodes_(tree.nodes_.data()),
        points_(tree.points_.data()),
        indices_(tree.indices_.data()),
        dim_(tree.dim_),
        scale_(tree.prune_scale_),
        gaps_(tree.dim_) {}

  void knn(const float* query, std::size_t k, std::uint32_t exclude, std::vector<Neighbor>& out) {
    query_ = query;
    exclude_ = exclude;
    heap_.reset(std::min(k, tree_.size()));
    knn_node(0, root_bound());
    heap_.take_sorted(out);
  }

  void radius(const float* query, float r2, std::uint32_t exclude, std::vector<Neighbor>& out) {
    query_ = query;
    exclude_ = exclude;
    r2_ = r2;
    out_ = &out;
    out.clear();
    const float bound = root_bound();
    if (bound * scale_ <= r2_) radius_node(0, bound);
    sort_neighbors(out);
  }

 private:
  using Node = KdTree::Node;

  std::size_t dims() const { return D != 0 ? D : dim_; }

  float root_bound() {
    float bound = 0.0f;
    for (std::size_t i = 0; i < dims(); ++i) {
      const float q = query_[i];
      float gap = 0.0f;
      if (q < tree_.root_lo_[i]) gap = tree_.root_lo_[i] - q;
      if (q > tree_.root_hi_[i]) gap = q - tree_.root_hi_[i];
      gaps_[i] = gap * gap;
      bound += gaps_[i];
    }
    return bound;
  }

  // Near child first, then the far one unless its bound (scaled down a hair, see prune_scale_)
  // already exceeds the current k-th distance. Equal is not pruned: an equally distant point with
  // a smaller index must still be found.
  void knn_node(std::uint32_t ni, float bound) {
    const Node& node = nodes_[ni];
    if (node.dim == KdTree::kLeaf) {
      const std::size_t d = dims();
      for (std::uint32_t pos = node.first; pos < node.last; ++pos) {
        const float dist = squared_l2<D>(query_, points_ + std::size_t{pos} * d, d);
        if (dist <= heap_.worst()) {
          const std::uint32_t index = indices_[pos];
          if (index != exclude_) heap_.offer(dist, index);
        }
      }
      return;
    }
    const auto [near_child, far_child, cut] = children_by_distance(ni, node);
    knn_node(near_child, bound);
    const float old_gap = gaps_[node.dim];
    const float far_bound = bound - old_gap + cut;
    if (far_bound * scale_ <= heap_.worst()) {
      gaps_[node.dim] = cut;
      knn_node(far_child, far_bound);
      gaps_[node.dim] = old_gap;
    }
  }

  struct Children {
    std::uint32_t near_child, far_child;
    float cut;  // squared distance from the query to the far child's side of the split
  };
  // An inner node's children, the query's side first: a node's left child follows it, its right
  // child is at node.first.
  Children children_by_distance(std::uint32_t ni, const Node& node) const {
    const float v = query_[node.dim];
    const float past_left = v - node.left_max;
    const float past_right = v - node.right_min;
    if (past_left + past_right >= 0.0f) return {node.first, ni + 1, past_left * past_left};
    return {ni + 1, node.first, past_right * past_right};
  }

  void radius_node(std::uint32_t ni, float bound) {
    const Node& node = nodes_[ni];
    if (node.dim == KdTree::kLeaf) {
      const std::size_t d = dims();
      for (std::uint32_t pos = node.first; pos < node.last; ++pos) {
        const float dist = squared_l2<D>(query_, points_ + std::size_t{pos} * d, d);
        if (dist <= r2_ && indices_[pos] != exclude_) out_->push_back({indices_[pos], dist});
      }
      return;
    }
    const auto [near_child, far_child, cut] = children_by_distance(ni, node);
    radius_node(near_child, bound);
    const float old_gap = gaps_[node.dim];
    const float far_bound = bound - old_gap + cut;
    if (far_bound * scale_ <= r2_) {
      gaps_[node.dim] = cut;
      radius_node(far_child, far_bound);
      gaps_[node.dim] = old_gap;
    }
  }

  const KdTree& tree_;
  const Node* nodes_;
  const float* points_;
  const std::uint32_t* indices_;
  std::size_t dim_;
  float scale_;
  std::vector<float> gaps_;
  const float* query_ = nullptr;
  std::uint32_t exclude_ = kNoExclude32;
  BoundedMaxHeap heap_;
  float r2_ = 0.0f;
  std::vector<Neighbor>* out_ = nullptr;
};

struct KdTree::BuildScratch {
  struct Keyed {
    float value;
    std::uint32_t original;  // tie-break, so the split does not depend on the current order
    std::uint32_t local;     // row offset within the node's range
  };
  std::vector<Keyed> keyed;
  std::vector<float> rows;
  std::vector<std::uint32_t> order;
  // Per tree level (at most 33: every split halves), the children's boxes as
  // [left_lo, left_hi, right_lo, right_hi], each dim floats.
  std::vector<float> boxes;
};

KdTree::KdTree(std::span<const float> points, std::size_t dim, KdTreeOptions options)
    : dim_(dim), leaf_size_(options.leaf_size) {
  if (dim == 0) throw Error("KdTree: dimension must be at least 1, got 0");
  if (options.leaf_size == 0) throw Error("KdTree: leaf_size must be at least 1, got 0");
  if (points.size() % dim != 0) {
    throw Error("KdTree: points hold " + std::to_string(points.size()) +
                " floats, not a multiple of the dimension " + std::to_string(dim));
  }
  const std::size_t n = points.size() / dim;
  if (n >= kNoExclude32) {
    throw Error("KdTree: " + std::to_string(n) + " points, at most " +
                std::to_string(kNoExclude32 - 1) + " are supported");
  }
  root_lo_.assign(dim, kInf);
  root_hi_.assign(dim, -kInf);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < dim; ++j) {
      const float v = points[i * dim + j];
      if (!std::isfinite(v)) {
        throw Error("KdTree: point " + std::to_string(i) + " has a " +
                    (std::isnan(v) ? "NaN" : "infinite") + " coordinate in dimension " +
                    std::to_string(j) + "; coordinates must be finite");
      }
      root_lo_[j] = std::min(root_lo_[j], v);
      root_hi_[j] = std::max(root_hi_[j], v);
    }
  }
  if (n == 0) return;

  points_.assign(points.begin(), points.end());
  indices_.resize(n);
  std::iota(indices_.begin(), indices_.end(), std::uint32_t{0});
  nodes_.reserve(2 * (n / leaf_size_ + 1));
  BuildScratch scratch;
  scratch.keyed.resize(n);
  scratch.rows.resize(points_.size());
  scratch.order.resize(n);
  scratch.boxes.resize(kMaxLevels * 4 * dim);
  build(scratch, 0, static_cast<std::uint32_t>(n), root_lo_.data(), root_hi_.data(), 0);

  // The bound's rounding error is a few ulps per level plus the distance's per-dimension error;
  // this margin covers both with room to spare, and costs nothing measurable in pruning.
  const double slack = static_cast<double>(4 * (dim_ + depth_) + 16) * 0x1p-24;
  prune_scale_ = static_cast<float>(std::max(0.5, 1.0 - slack));
}

std::uint32_t KdTree::build(BuildScratch& scratch, std::uint32_t begin, std::uint32_t end,
                            const float* box_lo, const float* box_hi, std::size_t level) {
  depth_ = std::max(depth_, level);
  const std::uint32_t count = end - begin;
  std::size_t split_dim = 0;
  float spread = box_hi[0] - box_lo[0];
  for (std::size_t j = 1; j < dim_; ++j) {
    if (box_hi[j] - box_lo[j] > spread) {
      spread = box_hi[j] - box_lo[j];
      split_dim = j;
    }
  }
  const auto node_index = static_cast<std::uint32_t>(nodes_.size());
  if (count <= leaf_size_ || !(spread > 0.0f)) {
    nodes_.push_back({0.0f, 0.0f, kLeaf, begin, end});
    return node_index;
  }
  nodes_.push_back({});

  // Median split on split_dim: order the keys, then move the rows so each child is contiguous,
  // computing the children's boxes on the way.
  const std::uint32_t half = count / 2;
  auto* keyed = scratch.keyed.data();
  const float* rows = points_.data() + std::size_t{begin} * dim_;
  for (std::uint32_t j = 0; j < count; ++j) {
    keyed[j] = {rows[std::size_t{j} * dim_ + split_dim], indices_[begin + j], j};
  }
  std::nth_element(keyed, keyed + half, keyed + count,
                   [](const BuildScratch::Keyed& a, const BuildScratch::Keyed& b) {
                     return a.value < b.value || (a.value == b.value && a.original < b.original);
                   });

  float* left_lo = scratch.boxes.data() + level * 4 * dim_;
  float* left_hi = left_lo + dim_;
  float* right_lo = left_hi + dim_;
  float* right_hi = right_lo + dim_;
  std::fill(left_lo, left_hi, kInf);
  std::fill(left_hi, right_lo, -kInf);
  std::fill(right_lo, right_hi, kInf);
  std::fill(right_hi, right_hi + dim_, -kInf);
  float* out_rows = scratch.rows.data();
  for (std::uint32_t j = 0; j < count; ++j) {
    const float* src = rows + std::size_t{keyed[j].local} * dim_;
    float* dst = out_rows + std::size_t{j} * dim_;
    float* lo = j < half ? left_lo : right_lo;
    float* hi = j < half ? left_hi : right_hi;
    for (std::size_t c = 0; c < dim_; ++c) {
      dst[c] = src[c];
      lo[c] = std::min(lo[c], src[c]);
      hi[c] = std::max(hi[c], src[c]);
    }
    scratch.order[j] = keyed[j].original;
  }
  std::copy(out_rows, out_rows + std::size_t{count} * dim_,
            points_.data() + std::size_t{begin} * dim_);
  std::copy(scratch.order.begin(), scratch.order.begin() + count, indices_.begin() + begin);

  const float left_max = left_hi[split_dim];
  const float right_min = right_lo[split_dim];
  // The children's boxes stay valid while they are built: the recursion writes only deeper levels.
  build(scratch, begin, begin + half, left_lo, left_hi, level + 1);
  const std::uint32_t right = build(scratch, begin + half, end, right_lo, right_hi, level + 1);
  nodes_[node_index] = {left_max, right_min, static_cast<std::uint32_t>(split_dim), right, 0};
  return node_index;
}

void KdTree::check_query(std::span<const float> query, const char* what,
                         std::size_t query_index) const {
  const std::string where =
      query_index == kNoExclude
          ? std::string("KdTree::") + what + ": query"
          : std::string("KdTree::") + what + ": query " + std::to_string(query_index);
  if (query.size() != dim_) {
    throw Error(where + " has " + std::to_string(query.size()) + " coordinates, expected " +
                std::to_string(dim_) + " (the tree's dimension)");
  }
  for (std::size_t j = 0; j < dim_; ++j) {
    if (!std::isfinite(query[j])) {
      throw Error(where + " coordinate " + std::to_string(j) + " is " +
                  (std::isnan(query[j]) ? "NaN" : "infinite") + "; queries must be finite");
    }
  }
}

std::vector<Neighbor> KdTree::knn(std::span<const float> query, std::size_t k,
                                  std::size_t exclude_index) const {
  check_query(query, "knn", kNoExclude);
  std::vector<Neighbor> out;
  if (k == 0 || size() == 0) return out;
  with_dimension(dim_, [&](auto d) {
    KdSearch<decltype(d)::value> search(*this);
    search.knn(query.data(), k, exclude32(exclude_index, size()), out);
  });
  return out;
}

std::vector<Neighbor> KdTree::radius(std::span<const float> query, float r,
                                     std::size_t exclude_index) const {
  check_query(query, "radius", kNoExclude);
  if (std::isnan(r) || r < 0.0f) {
    throw Error("KdTree::radius: r must be a non-negative number, got " + std::to_string(r));
  }
  std::vector<Neighbor> out;
  if (size() == 0) return out;
  with_dimension(dim_, [&](auto d) {
    KdSearch<decltype(d)::value> search(*this);
    search.radius(query.data(), r * r, exclude32(exclude_index, size()), out);
  });
  return out;
}

std::vector<std::vector<Neighbor>> KdTree::knn_batch(std::span<const float> queries, std::size_t k,
                                                     std::size_t threads,
                                                     SelfMatch self_match) const {
  if (queries.size() % dim_ != 0) {
    throw Error("KdTree::knn_batch: queries hold " + std::to_string(queries.size()) +
                " floats, not a multiple of the dimension " + std::to_string(dim_));
  }
  const std::size_t m = queries.size() / dim_;
  for (std::size_t i = 0; i < m; ++i) check_query(queries.subspan(i * dim_, dim_), "knn_batch", i);
  std::vector<std::vector<Neighbor>> results(m);
  if (k == 0 || size() == 0 || m == 0) return results;

  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, m);
  // Queries are handed out in small chunks so threads that get easy queries take more of them.
  constexpr std::size_t kChunk = 16;
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    with_dimension(dim_, [&](auto d) {
      KdSearch<decltype(d)::value> search(*this);
      for (;;) {
        const std::size_t first = next.fetch_add(kChunk);
        if (first >= m) return;
        const std::size_t last = std::min(m, first + kChunk);
        for (std::size_t i = first; i < last; ++i) {
          const std::size_t exclude = self_match == SelfMatch::kExcludeSameIndex ? i : kNoExclude;
          search.knn(queries.data() + i * dim_, k, exclude32(exclude, size()), results[i]);
        }
      }
    });
  };
  if (threads == 1) {
    work();
    return results;
  }
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        work();
      } catch (...) {
        errors[t] = std::current_exception();
        next.store(m);  // the others stop at their next chunk
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return results;
}

float KdTree::distance2(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) {
    throw Error("KdTree::distance2: points have " + std::to_string(a.size()) + " and " +
                std::to_string(b.size()) + " coordinates");
  }
  float result = 0.0f;
  with_dimension(a.size(), [&](auto d) {
    result = squared_l2<decltype(d)::value>(a.data(), b.data(), a.size());
  });
  return result;
}

void KdTree::validate() const {
  const std::size_t n = size();
  auto fail = [](const std::string& what) { throw Error("KdTree::validate: " + what); };
  if (points_.size() != n * dim_) fail("point storage does not hold n*dim floats");
  if (n == 0) {
    if (!nodes_.empty()) fail("an empty tree has nodes");
    return;
  }
  std::vector<char> seen(n, 0);
  for (std::size_t pos = 0; pos < n; ++pos) {
    const std::uint32_t index = indices_[pos];
    if (index >= n || seen[index])
      fail("index array is not a permutation at position " + std::to_string(pos));
    seen[index] = 1;
    for (std::size_t j = 0; j < dim_; ++j) {
      const float v = points_[pos * dim_ + j];
      if (v < root_lo_[j] || v > root_hi_[j]) {
        fail("point " + std::to_string(index) + " lies outside the root box in dimension " +
             std::to_string(j));
      }
    }
  }
  // Walks the tree depth-first, returning the leaf-order range each subtree covers; ranges must
  // tile [0, n) in order.
  std::uint32_t expected_next = 0;
  auto walk = [&](auto&& self, std::uint32_t ni) -> std::pair<std::uint32_t, std::uint32_t> {
    if (ni >= nodes_.size()) fail("child index " + std::to_string(ni) + " out of range");
    const Node& node = nodes_[ni];
    if (node.dim == kLeaf) {
      if (node.first != expected_next || node.last <= node.first || node.last > n) {
        fail("leaf " + std::to_string(ni) + " does not continue the leaf order");
      }
      expected_next = node.last;
      if (node.last - node.first > leaf_size_) {
        const float* p0 = &points_[std::size_t{node.first} * dim_];
        for (std::uint32_t pos = node.first + 1; pos < node.last; ++pos) {
          if (!std::equal(p0, p0 + dim_, &points_[std::size_t{pos} * dim_])) {
            fail("leaf " + std::to_string(ni) + " exceeds leaf_size with distinct points");
          }
        }
      }
      return {node.first, node.last};
    }
    if (node.dim >= dim_) fail("node " + std::to_string(ni) + " splits a missing dimension");
    if (node.first <= ni + 1) fail("node " + std::to_string(ni) + " right child precedes left");
    if (!(node.left_max <= node.right_min)) {
      fail("node " + std::to_string(ni) + " has left_max > right_min");
    }
    const auto [lb, le] = self(self, ni + 1);
    const auto [rb, re] = self(self, node.first);
    if (le != rb) fail("node " + std::to_string(ni) + " children are not adjacent");
    float left_max = -kInf, right_min = kInf;
    for (std::uint32_t pos = lb; pos < le; ++pos) {
      left_max = std::max(left_max, points_[std::size_t{pos} * dim_ + node.dim]);
    }
    for (std::uint32_t pos = rb; pos < re; ++pos) {
      right_min = std::min(right_min, points_[std::size_t{pos} * dim_ + node.dim]);
    }
    if (left_max != node.left_max || right_min != node.right_min) {
      fail("node " + std::to_string(ni) + " cut values are not its children's extremes");
    }
    return {lb, re};
  };
  const auto [b, e] = walk(walk, 0);
  if (b != 0 || e != n) fail("the leaves do not cover every point");
}

}  // namespace tb::ds
