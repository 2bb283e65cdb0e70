// KdTree: exact nearest-neighbour and radius search over float points of any dimension, with
// squared Euclidean (L2²) distance. Used by the dataset inspector (near-duplicate samples within
// the training set and between train and test) and by the kNN baseline classifier.
//
// Dimension and what to expect. A KD-tree prunes well when d is small (up to ~20). As d grows
// the search visits a growing share of the leaves and, near d ~ log2(n) and beyond, degrades to a
// brute-force scan (still exact, and a well-vectorised one, since the points sit in leaf order).
// For raw Fashion-MNIST images (d = 784) do not index the pixels directly: project them to 16-32
// dimensions (a random projection or PCA), search the projected tree for a few times more
// candidates than needed (e.g. k' = 4k, or a radius widened by the projection's distortion), and
// verify the candidates with exact distances in the full space.
//
// Storage: the tree COPIES the points (n*d floats) and reorders the copy into leaf order, so each
// leaf's points are contiguous; the caller's buffer may be freed or changed once the constructor
// returns. Memory: n*d floats + n uint32 indices + about 2n/leaf_size nodes of 20 bytes; the
// build temporarily needs about as much again (scratch rows and sort keys).
// The tree is immutable once built: there are no insertions or removals (rebuild instead), so
// nothing it returns is ever invalidated. All query methods are const and safe to call from many
// threads at once.
//
// Results are exact and deterministic: neighbours are sorted by squared distance, ties broken by
// the smaller original index, and when several points tie for the k-th place the ones with the
// smaller indices are returned. Distances are the ones `KdTree::distance2` computes (a fixed
// summation order, so a brute-force scan using it gives bit-identical values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace tb::ds {

// One search result: the point's index in the array given at construction and its squared L2
// distance to the query.
struct Neighbor {
  std::size_t index = 0;
  float distance2 = 0.0f;

  friend bool operator==(const Neighbor&, const Neighbor&) = default;
};

struct KdTreeOptions {
  // A node with at most this many points is a leaf (a bucket scanned linearly). 10-32 is a good
  // range: small buckets prune more, large ones scan faster. Must be >= 1.
  std::size_t leaf_size = 16;
};

// In `knn_batch`, whether query i may match point i. `kExcludeSameIndex` is for querying the
// tree's own points ("nearest other sample"): query i then never returns point i.
enum class SelfMatch { kInclude, kExcludeSameIndex };

class KdTree {
 public:
  // Passed as `exclude_index` when no point is to be excluded.
  static constexpr std::size_t kNoExclude = std::numeric_limits<std::size_t>::max();

  // Builds the tree over n = points.size() / dim points, point i being
  // points[i*dim, (i+1)*dim) (row-major). O(n log n · d): median splits (nth_element) on the
  // dimension of largest spread (the lowest such dimension on a tie) until a node holds at most
  // options.leaf_size points or all its points are identical.
  // Throws tb::Error when dim == 0, when points.size() is not a multiple of dim, when
  // leaf_size == 0, when n does not fit in 32 bits, or when a coordinate is NaN or infinite (the
  // message names the point index and the dimension). n == 0 is allowed: every query on an empty
  // tree returns no neighbours.
  KdTree(std::span<const float> points, std::size_t dim, KdTreeOptions options = {});

  std::size_t size() const { return indices_.size(); }
  std::size_t dim() const { return dim_; }
  std::size_t leaf_size() const { return leaf_size_; }
  std::size_t node_count() const { return nodes_.size(); }
  // Longest root-to-leaf path in edges (0 for a single leaf); at most ceil(log2(n)).
  std::size_t depth() const { return depth_; }

  // The k nearest points to `query` (query.size() must equal dim()), sorted by (distance2,
  // index). Returns min(k, n) neighbours, or one fewer when exclude_index names a point of the
  // tree: that point is never returned (for "nearest other sample" queries of a tree's own
  // points). k == 0 or n == 0 gives an empty result. Typically O(log n + k log k) at low d,
  // towards O(n·d) at high d. Throws tb::Error on a dimension mismatch or a NaN/infinite query
  // coordinate.
  std::vector<Neighbor> knn(std::span<const float> query, std::size_t k,
                            std::size_t exclude_index = kNoExclude) const;

  // Every point with distance2 <= r*r (r*r computed in float), sorted by (distance2, index), less
  // the point exclude_index if given. Throws tb::Error on a dimension mismatch, a NaN/infinite
  // query coordinate, or r negative or NaN (r = +infinity returns every point).
  std::vector<Neighbor> radius(std::span<const float> query, float r,
                               std::size_t exclude_index = kNoExclude) const;

  // knn() for m = queries.size() / dim() row-major queries, on `threads` threads (0: one per
  // hardware thread; at most m are started). Result i is exactly knn(query i, k) — or
  // knn(query i, k, i) with SelfMatch::kExcludeSameIndex. Every query is validated before any
  // search starts, so an error throws tb::Error (naming the query index) and computes nothing.
  std::vector<std::vector<Neighbor>> knn_batch(std::span<const float> queries, std::size_t k,
                                               std::size_t threads = 0,
                                               SelfMatch self_match = SelfMatch::kInclude) const;

  // The squared L2 distance exactly as the tree computes it. Its summation order is fixed
  // (8 lanes over blocks of 8 coordinates, then the remainder in order), so results are
  // reproducible within one build; a brute-force reference using it agrees bit for bit.
  // Throws tb::Error when a.size() != b.size().
  static float distance2(std::span<const float> a, std::span<const float> b);

  // Checks the structure's invariants and throws tb::Error naming the first violated one: the
  // index array is a permutation of [0, n); every leaf has at most leaf_size points unless they
  // are all identical; every point lies on the correct side of each split above it; node cut
  // values are the true extremes of their children; the root box bounds every point. O(n·d·depth).
  void validate() const;

 private:
  struct Node {
    // Inner node: the largest coordinate along `dim` in the left subtree and the smallest in the
    // right one (left_max <= right_min). The gap between a query and these is the pruning bound.
    float left_max = 0.0f;
    float right_min = 0.0f;
    std::uint32_t dim = 0;    // split dimension, or kLeaf
    std::uint32_t first = 0;  // inner: index of the right child (the left one is this + 1);
                              // leaf: first position in leaf order
    std::uint32_t last = 0;   // leaf: one past the last position
  };
  static constexpr std::uint32_t kLeaf = std::numeric_limits<std::uint32_t>::max();

  template <std::size_t D>
  friend class KdSearch;
  struct BuildScratch;

  std::uint32_t build(BuildScratch& scratch, std::uint32_t begin, std::uint32_t end,
                      const float* box_lo, const float* box_hi, std::size_t level);
  void check_query(std::span<const float> query, const char* what, std::size_t query_index) const;

  std::size_t dim_ = 0;
  std::size_t leaf_size_ = 0;
  std::size_t depth_ = 0;
  // Multiplier applied to a cell's lower bound before comparing it with the current k-th
  // distance: slightly below 1 so float rounding in the bound can never prune a cell that holds
  // an equally close point (which matters for ties and duplicates).
  float prune_scale_ = 1.0f;
  std::vector<float> points_;           // n*dim, in leaf order
  std::vector<std::uint32_t> indices_;  // leaf position -> original index
  std::vector<Node> nodes_;             // depth-first; nodes_[0] is the root when n > 0
  std::vector<float> root_lo_, root_hi_;
};

}  // namespace tb::ds
