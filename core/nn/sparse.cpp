#include "core/nn/sparse.h"

#include <cmath>

#include "core/nn/elementwise.h"
#include "core/nn/init.h"
#include "core/nn/linear.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace tb::nn {

ds::DenseView host_view(const Tensor& t) {
  if (t.device() != tensor::Device::cpu || t.dtype() != tensor::DType::f32) {
    throw Error("sparse layers run on host f32 tensors only (the CPU backend)");
  }
  return {t.data(), t.shape()[0], t.shape().inner()};
}

ds::MutableDenseView host_view(Tensor& t) {
  if (t.device() != tensor::Device::cpu || t.dtype() != tensor::DType::f32) {
    throw Error("sparse layers run on host f32 tensors only (the CPU backend)");
  }
  return {t.data(), t.shape()[0], t.shape().inner()};
}

// ---- SparseLinear ----

SparseLinear::SparseLinear(Backend& backend, std::int64_t in_features, std::int64_t out_features,
                           std::mt19937_64& rng)
    : backend_(backend), in_(in_features), out_(out_features) {
  if (in_ <= 0 || out_ <= 0) throw Error("SparseLinear: feature counts must be positive");
  // Named as nn::Model names its first layer's parameters, so param_groups match alike.
  weight_ = {"0.weight", backend.empty({out_, in_}), backend.zeros({out_, in_})};
  bias_ = {"0.bias", backend.empty({out_}), backend.zeros({out_})};
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_));
  init_uniform(backend, weight_.value, bound, rng);
  init_uniform(backend, bias_.value, bound, rng);
}

std::string SparseLinear::describe() const {
  return "SparseLinear(" + std::to_string(in_) + "->" + std::to_string(out_) + ")";
}

const Tensor& SparseLinear::forward(const ds::CsrMatrix& x) {
  if (x.cols() != in_) {
    throw Error(describe() + " cannot take a sparse input of " + std::to_string(x.cols()) +
                " features");
  }
  x_ = &x;
  backend_.ensure(y_, {x.rows(), out_});
  // y [N, out] = x [N x in] W^T, W [out, in]; then + b.
  ds::spmm_dense_bt(x, host_view(weight_.value), host_view(y_), 1.0f, 0.0f, backend_.threads());
  backend_.add_row_bias(y_, bias_.value);
  return y_;
}

void SparseLinear::backward(const Tensor& dy) {
  if (x_ == nullptr) throw Error(describe() + ": backward() before forward()");
  // dW [out, in] = dy^T [out, N] x [N x in] (dense, see the header); db [out] = sum_n dy[n].
  ds::dense_t_spmm(host_view(dy), *x_, host_view(weight_.grad), 1.0f, 0.0f, backend_.threads());
  backend_.sum_rows(dy, bias_.grad);
}

// ---- EmbeddingBag ----

EmbeddingBag::EmbeddingBag(Backend& backend, std::int64_t rows, std::int64_t dim, Mode mode,
                           float init_std, std::mt19937_64& rng)
    : backend_(backend), rows_(rows), dim_(dim), mode_(mode) {
  if (rows_ <= 0 || dim_ <= 0) throw Error("EmbeddingBag: rows and dim must be positive");
  weight_.name = "weight";
  weight_.value = backend.empty({rows_, dim_});
  weight_.grad = ds::RowSparseGrad(rows_, dim_);
  // N(0, init_std^2) from the model's generator: the same on every library.
  std::vector<float> values(static_cast<std::size_t>(rows_ * dim_));
  for (auto& v : values) v = static_cast<float>(init_std * standard_normal(rng));
  backend.upload(weight_.value, values.data(), values.size() * sizeof(float));
}

std::string EmbeddingBag::describe() const {
  return "EmbeddingBag(" + std::to_string(rows_) + "x" + std::to_string(dim_) +
         (mode_ == Mode::sum ? ", sum)" : ", mean)");
}

const Tensor& EmbeddingBag::forward(const ds::CsrMatrix& bags) {
  if (bags.cols() != rows_) {
    throw Error(describe() + " cannot take ids of a " + std::to_string(bags.cols()) + "-row table");
  }
  bags_ = &bags;
  if (mode_ == Mode::mean) {
    // B [N x rows] with row n's values divided by their sum: mean pooling as a product. The
    // values are counts (a CSR built from a bag folds a repeated id into one entry of value 2),
    // so this is torch.nn.EmbeddingBag's mean over the bag's ids, repeats included.
    scaled_ = bags;
    auto values = scaled_.mutable_values();
    for (std::int64_t n = 0; n < bags.rows(); ++n) {
      const auto begin = bags.row_ptr()[static_cast<std::size_t>(n)];
      const auto end = bags.row_ptr()[static_cast<std::size_t>(n + 1)];
      double count = 0.0;
      for (auto p = begin; p < end; ++p) count += values[static_cast<std::size_t>(p)];
      const float inv = count != 0.0 ? static_cast<float>(1.0 / count) : 0.0f;
      for (auto p = begin; p < end; ++p) values[static_cast<std::size_t>(p)] *= inv;
    }
    bags_ = &scaled_;
  }
  backend_.ensure(y_, {bags.rows(), dim_});
  // y [N, dim] = B [N x rows] W [rows, dim]: the pooled lookups.
  ds::spmm(*bags_, host_view(weight_.value), host_view(y_), 1.0f, 0.0f, backend_.threads());
  return y_;
}

void EmbeddingBag::backward(const Tensor& dy) {
  if (bags_ == nullptr) throw Error(describe() + ": backward() before forward()");
  // dW = B^T [rows x N] dy [N, dim], kept only for the rows that occur in the batch. Built from
  // the batch's entries alone: entry (n, id, v) contributes v * dy[n] to row id, summed per id in
  // batch order. Nothing here is sized by the table, so a step costs O(nnz log nnz + nnz * dim)
  // however many rows the table has.
  const ds::CsrMatrix& b = *bags_;
  const ds::DenseView g = host_view(dy);
  const auto nnz = static_cast<std::size_t>(b.nnz());
  grad_ids_.resize(nnz);                                    // [nnz]
  grad_rows_.resize(nnz * static_cast<std::size_t>(dim_));  // [nnz, dim]
  for (std::int64_t n = 0; n < b.rows(); ++n) {
    for (auto p = b.row_ptr()[static_cast<std::size_t>(n)];
         p < b.row_ptr()[static_cast<std::size_t>(n + 1)]; ++p) {
      const auto k = static_cast<std::size_t>(p);
      grad_ids_[k] = b.col_idx()[k];
      const float v = b.values()[k];
      const float* dy_row = g.data + n * dim_;
      float* out = grad_rows_.data() + k * static_cast<std::size_t>(dim_);
      for (std::int64_t j = 0; j < dim_; ++j) out[j] = v * dy_row[j];
    }
  }
  weight_.grad.clear();
  weight_.grad.accumulate(grad_ids_, {grad_rows_.data(), b.nnz(), dim_}, backend_.threads());
}

// ---- SparseModel ----

void SparseModel::add_head(std::unique_ptr<Layer> layer) {
  for (Parameter* p : layer->parameters()) {
    p->name = std::to_string(head_.size() + 1) + "." + p->name;
  }
  head_.push_back(std::move(layer));
}

const Tensor& SparseModel::forward(std::span<const ds::CsrMatrix> fields, bool training) {
  const Tensor* h = nullptr;
  if (linear_) {
    h = &linear_->forward(fields[0]);
  } else {
    const Tensor& left = bags_[0]->forward(fields[0]);
    const Tensor& right = bags_[1]->forward(fields[1]);
    backend_.ensure(product_, left.shape());
    backend_.mul(left, right, product_);
    h = &product_;
  }
  for (auto& layer : head_) h = &layer->forward(*h, training);
  if (!training) {
    // Evaluation batches are the caller's temporaries: keep no pointer to them.
    if (linear_) linear_->release_input();
    for (auto& bag : bags_) bag->release_input();
  }
  return *h;
}

void SparseModel::backward(const Tensor& dlogits) {
  const Tensor* g = &dlogits;
  for (auto it = head_.rbegin(); it != head_.rend(); ++it) g = &(*it)->backward(*g);
  if (linear_) {
    linear_->backward(*g);
    return;
  }
  // product = u * v: du = g * v, dv = g * u.
  const Tensor& left = bags_[0]->forward_output();
  const Tensor& right = bags_[1]->forward_output();
  backend_.ensure(d_left_, g->shape());
  backend_.ensure(d_right_, g->shape());
  backend_.mul(*g, right, d_left_);
  backend_.mul(*g, left, d_right_);
  bags_[0]->backward(d_left_);
  bags_[1]->backward(d_right_);
}

std::vector<Parameter*> SparseModel::parameters() {
  std::vector<Parameter*> all;
  if (linear_) all = linear_->parameters();
  for (auto& layer : head_) {
    for (Parameter* p : layer->parameters()) all.push_back(p);
  }
  return all;
}

std::vector<SparseParameter*> SparseModel::sparse_parameters() {
  std::vector<SparseParameter*> all;
  for (auto& bag : bags_) all.push_back(&bag->weight());
  return all;
}

std::int64_t SparseModel::parameter_count() {
  std::int64_t count = 0;
  for (Parameter* p : parameters()) count += p->value.numel();
  for (SparseParameter* p : sparse_parameters()) count += p->value.numel();
  return count;
}

std::string SparseModel::describe() const {
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::vector<std::string> parts;
  if (linear_) parts.push_back(linear_->describe());
  for (const auto& bag : bags_) parts.push_back(bag->describe());
  if (!bags_.empty()) parts.emplace_back("Mul");
  for (const auto& layer : head_) parts.push_back(layer->describe());
  std::string text;
  for (const auto& part : parts) {
    if (!text.empty()) text += ' ';
    text += part;
  }
  return text;
}

std::size_t SparseModel::activation_bytes() const {
  std::size_t bytes = product_.storage_bytes();
  if (linear_) bytes += linear_->held_bytes();
  for (const auto& bag : bags_) bytes += bag->held_bytes();
  for (const auto& layer : head_) bytes += layer->held_bytes();
  return bytes;
}

std::size_t SparseModel::weight_bytes() {
  std::size_t bytes = 0;
  for (Parameter* p : parameters()) bytes += p->value.storage_bytes();
  for (SparseParameter* p : sparse_parameters()) bytes += p->value.storage_bytes();
  return bytes;
}

std::unique_ptr<SparseModel> build_sparse_model(Backend& backend, const ModelSpec& spec,
                                                const std::vector<std::int64_t>& field_widths,
                                                std::int64_t classes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto model = std::make_unique<SparseModel>(backend);
  std::int64_t width = 0;
  if (spec.type == "bow") {
    if (field_widths.size() != 1) {
      throw Error("model type \"bow\" needs a dataset with one sparse field (synthetic-bow)");
    }
    const std::int64_t out = spec.hidden.empty() ? classes : spec.hidden[0];
    model->linear_ = std::make_unique<SparseLinear>(backend, field_widths[0], out, rng);
    if (spec.hidden.empty()) return model;
    model->add_head(std::make_unique<ReLU>(backend));
    width = out;
    for (std::size_t i = 1; i < spec.hidden.size(); ++i) {
      model->add_head(std::make_unique<Linear>(backend, width, spec.hidden[i], rng));
      model->add_head(std::make_unique<ReLU>(backend));
      width = spec.hidden[i];
    }
  } else if (spec.type == "recsys") {
    if (field_widths.size() != 2) {
      throw Error(
          "model type \"recsys\" needs a dataset with user and item fields (synthetic-recsys)");
    }
    const float init_std = 1.0f / std::sqrt(static_cast<float>(spec.embedding_dim));
    for (const auto rows : field_widths) {
      model->bags_.push_back(std::make_unique<EmbeddingBag>(
          backend, rows, spec.embedding_dim, EmbeddingBag::Mode::sum, init_std, rng));
    }
    model->bags_[0]->weight().name = "0.user.weight";
    model->bags_[1]->weight().name = "0.item.weight";
    width = spec.embedding_dim;
    for (const auto h : spec.hidden) {
      model->add_head(std::make_unique<Linear>(backend, width, h, rng));
      model->add_head(std::make_unique<ReLU>(backend));
      width = h;
    }
  } else {
    throw Error("unknown sparse model type '" + spec.type + "' (allowed: bow, recsys)");
  }
  model->add_head(std::make_unique<Linear>(backend, width, classes, rng));
  return model;
}

}  // namespace tb::nn
