// Tensor parallelism for Linear layers, as Megatron-LM splits a transformer's MLP (Shoeybi et al.,
// "Megatron-LM", 2019, section 3): two Linear layers with an elementwise activation between them
// are split over the ranks so that the pair costs one all-reduce forward and one backward.
//
//   x [N, in], the same on every rank
//   ─► ColumnParallelLinear   y_r = x W_rᵀ + b_r        W_r: rank r's out/n rows of W [out, in]
//   ─► ReLU                   on the rank's own out/n columns: elementwise, so local
//   ─► RowParallelLinear      z = all_reduce_sum(y_r V_rᵀ) + c   V_r: rank r's columns of V
//   z [N, out2], the same on every rank
//
// Why this split and no other: splitting the first weight by output rows gives each rank whole
// output columns, so the nonlinearity needs nothing from the other ranks (a split by input columns
// would need the sum before the ReLU: one all-reduce more per pair). The second weight, split by
// input columns, consumes exactly the columns its rank holds, and one sum makes the whole output.
// Backward mirrors it: the row layer's input gradient dy V_r is the rank's own slice, and the
// column layer's input gradient Σ_r dy_r W_r is one all-reduce (Megatron's "g"), skipped when
// nothing before the layer trains (the first Linear after Flatten).
//
// Each rank holds 1/n of a split pair's weights, gradients, optimizer state and inner activations;
// its input, its output and every other layer are replicated (the same values on every rank, so a
// replicated parameter's gradient is the same on every rank too, with no communication).
//
// fp32 only: a model stored in f16 or bf16 is refused with tb::Error. The all-reduces go through a
// Communicator on host floats; a tensor on a device is staged through the host. With a world of
// one, every layer computes exactly what nn::Linear does, op for op.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/nn/layer.h"
#include "core/nn/linear.h"
#include "core/nn/model.h"
#include "core/nn/model_spec.h"

namespace tb::dist {

using tensor::Backend;
using tensor::Shape;
using tensor::Tensor;

// The first Linear of a pair, split by output features. `unsplit` is read, not changed (its
// parameters() is non-const): rank r takes rows [r·out/n, (r+1)·out/n) of its W [out, in] and b
// [out]. Throws tb::Error naming the sizes when out is not a multiple of comm.size().
class ColumnParallelLinear final : public nn::Layer {
 public:
  ColumnParallelLinear(Backend& backend, nn::Linear& unsplit, Communicator& comm);

  std::string describe() const override;  // "ColumnParallelLinear(20->64, rows 32:64 of 64)"
  Shape output_shape(const Shape& input) const override;  // [N, in] -> [N, out/n]
  // y_r [N, out/n] = x [N, in] W_rᵀ + b_r; no communication.
  const Tensor& forward(const Tensor& x, bool training) override;
  // dW_r = dy_rᵀ x, db_r = Σ_rows dy_r (local); dx [N, in] = all_reduce_sum(dy_r W_r).
  const Tensor& backward(const Tensor& dy) override;
  std::vector<nn::Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::size_t held_bytes() const override { return y_.storage_bytes(); }

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }  // unsplit
  std::int64_t begin() const { return begin_; }       // this rank's output rows: [begin, end)
  std::int64_t end() const { return end_; }

 private:
  Communicator& comm_;
  std::int64_t in_, out_, begin_, end_;
  nn::Parameter weight_;  // [out/n, in]: rows [begin, end) of the unsplit W
  nn::Parameter bias_;    // [out/n]
  Tensor x2d_;            // [N, in], kept for backward
  Shape input_shape_;
  Tensor y_;                    // [N, out/n]
  Tensor dx2d_;                 // [N, in]
  Tensor dx_;                   // dx2d_ seen in the input's shape
  std::vector<float> staging_;  // host copy for the all-reduce of a tensor not in host memory
};

// The second Linear of a pair, split by input features. Rank r takes columns [r·in/n, (r+1)·in/n)
// of the unsplit W [out, in] and the whole bias b [out] (added once, after the sum). Throws
// tb::Error naming the sizes when in is not a multiple of comm.size().
class RowParallelLinear final : public nn::Layer {
 public:
  RowParallelLinear(Backend& backend, nn::Linear& unsplit, Communicator& comm);

  std::string describe() const override;  // "RowParallelLinear(64->32, columns 0:32 of 64)"
  Shape output_shape(const Shape& input) const override;  // [N, in/n] -> [N, out]
  // y [N, out] = all_reduce_sum(x_r [N, in/n] W_rᵀ) + b: the same on every rank.
  const Tensor& forward(const Tensor& x, bool training) override;
  // dx_r = dy W_r, dW_r = dyᵀ x_r, db = Σ_rows dy; dy is the same on every rank, so no
  // communication (db comes out the same everywhere).
  const Tensor& backward(const Tensor& dy) override;
  std::vector<nn::Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::size_t held_bytes() const override { return y_.storage_bytes(); }

  std::int64_t in_features() const { return in_; }  // unsplit
  std::int64_t out_features() const { return out_; }
  std::int64_t begin() const { return begin_; }  // this rank's input columns: [begin, end)
  std::int64_t end() const { return end_; }

 private:
  Communicator& comm_;
  std::int64_t in_, out_, begin_, end_;
  nn::Parameter weight_;  // [out, in/n]: columns [begin, end) of the unsplit W
  nn::Parameter bias_;    // [out], whole
  Tensor x2d_;            // [N, in/n], kept for backward
  Shape input_shape_;
  Tensor y_;     // [N, out]
  Tensor dx2d_;  // [N, in/n]
  Tensor dx_;
  std::vector<float> staging_;
};

// The tensor-parallel version of an "mlp" (nn::build_model: Flatten, Linear + ReLU per hidden
// size, optional Dropout, Linear to the classes), starting from exactly the unsplit weights.
// Which layers split: the hidden Linears in consecutive pairs, the first of a pair column-split,
// the second row-split (so a pair's ReLU runs on local columns and the pair costs one all-reduce
// each way). A hidden Linear left without a partner, and the classifier, are replicated (copied
// whole): a lone layer split either way would need an all-reduce of its own, and the classifier
// keeps the logits (and the Dropout before it) as they are unsplit. Flatten, ReLU and Dropout are
// rebuilt with the same settings. Layers keep their positions, so parameters keep their unsplit
// names ("1.weight"); parameter_shards() says which slice each one is. Throws tb::Error for a
// model in 16-bit storage, a layer an mlp does not have (Conv2d, ...), a split size that is not a
// multiple of comm.size(), and a Dropout (its mask seed cannot be read back from a built model:
// use build_tensor_parallel_mlp).
std::unique_ptr<nn::Model> make_tensor_parallel_mlp(Backend& backend, const nn::Model& unsplit,
                                                    Communicator& comm);

// The same from the spec and seed nn::build_model takes: builds the unsplit mlp, then splits it,
// Dropout included (with the mask seed build_model gave it, so masks match the unsplit run's).
// Throws tb::Error for a spec type other than "mlp", and as make_tensor_parallel_mlp.
std::unique_ptr<nn::Model> build_tensor_parallel_mlp(Backend& backend, const nn::ModelSpec& spec,
                                                     const Shape& sample_shape,
                                                     std::int64_t classes, std::uint64_t seed,
                                                     Communicator& comm);

// Where a tensor-parallel model's parameter lies in the unsplit one: rows or columns [begin, end)
// of the unsplit tensor along `dim`, or the whole tensor (dim -1, replicated on every rank).
struct ParameterShard {
  nn::Parameter* parameter = nullptr;  // in the tensor-parallel model, named as unsplit
  int dim = -1;                        // 0: rows of W / elements of b; 1: columns of W; -1: whole
  std::int64_t begin = 0, end = 0;     // along dim (0, size of dim 0 when whole)
  Shape unsplit_shape;                 // [out, in] or [out]
};

// Every parameter of `model` (in model.parameters() order) with its place in the unsplit model.
std::vector<ParameterShard> parameter_shards(nn::Model& model);

// The shard's part of an unsplit tensor's values (row-major, unsplit_shape): what the parameter
// or its gradient holds on this rank. Throws tb::Error when `unsplit` has another length.
std::vector<float> take_shard(const ParameterShard& shard, std::span<const float> unsplit);

// The unsplit tensor assembled from every rank's shard `local` (the shard's value or gradient):
// an all_gather, so every rank calls it in the same order. A replicated shard returns its own
// values. For checkpoints and inspection.
std::vector<float> gather_unsplit(Communicator& comm, Backend& backend, const ParameterShard& shard,
                                  const Tensor& local);

}  // namespace tb::dist
