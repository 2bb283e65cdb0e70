// Layers whose input is sparse: a CSR batch of bag-of-words features (SparseLinear) or of ids
// (EmbeddingBag), and the models built on them ("bow", "recsys").
//
// These are forward/backward pairs like Layer, but they take a ds::CsrMatrix instead of a Tensor
// and need no input gradient (their input is data). The sparse products run through core/ds on
// host tensors: CPU only (a CUDA path is a later issue; device "cuda" already fails clearly).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/ds/sparse.h"
#include "core/nn/layer.h"
#include "core/nn/model_spec.h"

namespace tb::nn {

// A [rows x dim] table whose gradient is row-sparse: only the rows the last batch looked up.
struct SparseParameter {
  std::string name;        // "0.weight"
  Tensor value;            // [rows, dim] f32, on the host
  ds::RowSparseGrad grad;  // [rows x dim]: the rows touched by the last backward, ascending
};

// A host f32 tensor as a ds view [shape[0] x inner()]: the bridge to core/ds's sparse products.
ds::DenseView host_view(const Tensor& t);
ds::MutableDenseView host_view(Tensor& t);

// y = x W^T + b for a CSR batch x [N x in] (torch.nn.Linear on the densified input).
class SparseLinear {
 public:
  // PyTorch's default initialisation: W and b from U(-1/sqrt(in), 1/sqrt(in)).
  SparseLinear(Backend& backend, std::int64_t in_features, std::int64_t out_features,
               std::mt19937_64& rng);
  std::string describe() const;  // "SparseLinear(30000->64)"
  // x must stay alive and unchanged until backward(). Returns y [N, out].
  const Tensor& forward(const ds::CsrMatrix& x);
  // Drops the pointer to the last input (an evaluation batch that is about to go away), so a
  // backward() without a new forward() is an error instead of a read of freed memory.
  void release_input() { x_ = nullptr; }
  // dW [out, in] = dy^T x, db = column sums of dy. dW is dense: a batch of documents touches most
  // of the vocabulary (see ds::dense_t_spmm), so a dense gradient is smaller and faster to apply
  // than a row-sparse one, and every dense optimizer takes it as it is.
  void backward(const Tensor& dy);
  std::vector<Parameter*> parameters() { return {&weight_, &bias_}; }
  std::size_t held_bytes() const { return y_.storage_bytes(); }

 private:
  Backend& backend_;
  std::int64_t in_, out_;
  Parameter weight_;                  // [out, in]
  Parameter bias_;                    // [out]
  const ds::CsrMatrix* x_ = nullptr;  // [N x in]: the caller's batch, kept for backward
  Tensor y_;                          // [N, out]
};

// torch.nn.EmbeddingBag: y[n] = pooled rows of W for the ids of bag n. The bags come as a CSR
// [N x rows]: row n's columns are its ids and its values their weights (1 for plain ids; torch's
// per_sample_weights). Mode sum: y[n] = sum_k v_k W[id_k]; mean: the same divided by the sum of
// the bag's values, its number of ids when the values count repeats, as torch.nn.EmbeddingBag's
// mean (an empty bag gives zeros). One id per bag is torch.nn.Embedding. The weight
// gradient dW = B^T dy is row-sparse (ds::RowSparseGrad): only looked-up rows are stored.
class EmbeddingBag {
 public:
  enum class Mode { sum, mean };
  // W from N(0, init_std^2) (torch.nn.Embedding draws N(0, 1); a smaller deviation suits a product
  // of two embeddings).
  EmbeddingBag(Backend& backend, std::int64_t rows, std::int64_t dim, Mode mode, float init_std,
               std::mt19937_64& rng);
  std::string describe() const;  // "EmbeddingBag(20000x32, mean)"
  // bags must stay alive and unchanged until backward(). Returns y [N, dim].
  const Tensor& forward(const ds::CsrMatrix& bags);
  // See SparseLinear::release_input.
  void release_input() { bags_ = nullptr; }
  // weight.grad = B^T dy, B the bags with mean's 1/count folded into the values.
  void backward(const Tensor& dy);
  SparseParameter& weight() { return weight_; }
  const Tensor& forward_output() const { return y_; }
  std::size_t held_bytes() const { return y_.storage_bytes() + scaled_.bytes(); }

 private:
  Backend& backend_;
  std::int64_t rows_, dim_;
  Mode mode_;
  SparseParameter weight_;               // [rows, dim], gradient row-sparse
  const ds::CsrMatrix* bags_ = nullptr;  // [N x rows]: the caller's batch (sum mode)
  ds::CsrMatrix scaled_;                 // [N x rows]: the bags with values / count (mean mode)
  Tensor y_;                             // [N, dim]
  std::vector<std::int64_t> grad_ids_;   // [nnz]: the batch's ids, for the gradient
  std::vector<float> grad_rows_;         // [nnz, dim]: v * dy[n] of each batch entry
};

// A model on a sparse batch: "bow" (SparseLinear over the words field, then the dense head) or
// "recsys" (user and item EmbeddingBags, their elementwise product, then the dense head). The
// head is Linear+ReLU per hidden size, then Linear to the classes (bow without hidden sizes:
// SparseLinear straight to the classes, a linear classifier).
class SparseModel {
 public:
  explicit SparseModel(Backend& backend) : backend_(backend) {}
  // fields: one CSR [N x width] per input field; they must stay alive until backward().
  // Returns the logits [N, classes].
  const Tensor& forward(std::span<const ds::CsrMatrix> fields, bool training);
  void backward(const Tensor& dlogits);

  std::vector<Parameter*> parameters();               // dense gradients
  std::vector<SparseParameter*> sparse_parameters();  // row-sparse gradients
  std::int64_t parameter_count();
  std::string describe() const;
  std::size_t activation_bytes() const;
  std::size_t weight_bytes();

 private:
  friend std::unique_ptr<SparseModel> build_sparse_model(Backend&, const ModelSpec&,
                                                         const std::vector<std::int64_t>&,
                                                         std::int64_t, std::uint64_t);
  void add_head(std::unique_ptr<Layer> layer);

  Backend& backend_;
  std::unique_ptr<SparseLinear> linear_;             // bow
  std::vector<std::unique_ptr<EmbeddingBag>> bags_;  // recsys: user, item
  std::vector<std::unique_ptr<Layer>> head_;
  Tensor product_;  // [N, dim] recsys: user embedding * item embedding
  Tensor d_left_;   // [N, dim] recsys: gradient of the user embedding
  Tensor d_right_;  // [N, dim] recsys: gradient of the item embedding
};

// field_widths: the dataset's field columns (bow: {vocabulary}; recsys: {users, items}). Throws
// tb::Error when the spec's type is not "bow" or "recsys" or the fields do not fit it.
std::unique_ptr<SparseModel> build_sparse_model(Backend& backend, const ModelSpec& spec,
                                                const std::vector<std::int64_t>& field_widths,
                                                std::int64_t classes, std::uint64_t seed);

}  // namespace tb::nn
