#include "core/dist/tensor_parallel.h"

#include <random>
#include <tuple>
#include <utility>

#include "core/nn/elementwise.h"
#include "core/util/error.h"

namespace tb::dist {

namespace {

std::vector<float> to_host(Backend& backend, const Tensor& t) {
  std::vector<float> host(static_cast<std::size_t>(t.numel()));
  backend.download(t, host.data(), host.size() * sizeof(float));
  return host;
}

// t = Σ over ranks of t, in place. Host tensors are reduced where they lie; a device tensor goes
// through `staging` (the Communicator works on host floats). Nothing to do in a world of one, which
// keeps a split layer there op for op an nn::Linear.
void all_reduce_sum(Communicator& comm, Backend& backend, Tensor& t, std::vector<float>& staging) {
  if (comm.size() == 1) return;
  const auto count = static_cast<std::size_t>(t.numel());
  if (t.device() == tensor::Device::cpu) {
    comm.all_reduce(std::span<float>(t.data(), count), ReduceOp::sum);
    return;
  }
  staging.resize(count);
  backend.download(t, staging.data(), count * sizeof(float));
  comm.all_reduce(staging, ReduceOp::sum);
  backend.upload(t, staging.data(), count * sizeof(float));
}

// [begin, end) of the `features` split over the ranks, for this rank; throws when they do not
// divide evenly (unequal shards would make the collectives' lengths differ between ranks).
std::pair<std::int64_t, std::int64_t> rank_range(const char* what, const nn::Linear& unsplit,
                                                 const char* split, std::int64_t features,
                                                 const Communicator& comm) {
  const std::int64_t n = comm.size();
  if (features % n != 0) {
    throw Error(std::string(what) + ": " + unsplit.describe() + " cannot be split by " + split +
                " features over " + std::to_string(n) + " ranks: " + std::to_string(features) +
                " is not a multiple of " + std::to_string(n));
  }
  const std::int64_t part = features / n;
  return {comm.rank() * part, (comm.rank() + 1) * part};
}

// The error for a 16-bit input or storage (built only when thrown: forward allocates nothing).
Error fp32_only(const std::string& layer, bool low_precision, const Tensor& x) {
  return Error(layer + ": tensor parallelism is fp32 only; got an input in " +
               tensor::dtype_name(x.dtype()) + (low_precision ? " with 16-bit storage" : ""));
}

std::string range_text(const char* what, std::int64_t begin, std::int64_t end, std::int64_t whole) {
  return std::string(what) + " " + std::to_string(begin) + ":" + std::to_string(end) + " of " +
         std::to_string(whole);
}

}  // namespace

// ---- ColumnParallelLinear ----

ColumnParallelLinear::ColumnParallelLinear(Backend& backend, nn::Linear& unsplit,
                                           Communicator& comm)
    : Layer(backend), comm_(comm), in_(unsplit.in_features()), out_(unsplit.out_features()) {
  std::tie(begin_, end_) = rank_range("ColumnParallelLinear", unsplit, "output", out_, comm);
  const std::int64_t part = end_ - begin_;
  const auto params = unsplit.parameters();  // weight [out, in], bias [out]
  const std::vector<float> w = to_host(backend, params[0]->value);
  const std::vector<float> b = to_host(backend, params[1]->value);
  weight_ = {"weight", backend.empty({part, in_}), backend.zeros({part, in_})};
  bias_ = {"bias", backend.empty({part}), backend.zeros({part})};
  // Rows [begin, end) of a row-major [out, in] matrix are one contiguous block.
  backend.upload(weight_.value, w.data() + begin_ * in_,
                 static_cast<std::size_t>(part * in_) * sizeof(float));
  backend.upload(bias_.value, b.data() + begin_, static_cast<std::size_t>(part) * sizeof(float));
}

std::string ColumnParallelLinear::describe() const {
  return "ColumnParallelLinear(" + std::to_string(in_) + "->" + std::to_string(out_) + ", " +
         range_text("rows", begin_, end_, out_) + ")";
}

Shape ColumnParallelLinear::output_shape(const Shape& input) const {
  if (input.rank() < 2 || input.inner() != in_) {
    throw Error(describe() + " cannot take input " + input.str());
  }
  return {input[0], end_ - begin_};
}

const Tensor& ColumnParallelLinear::forward(const Tensor& x, bool /*training*/) {
  if (low_precision() || x.dtype() != tensor::DType::f32) {
    throw fp32_only(describe(), low_precision(), x);
  }
  const Shape out_shape = output_shape(x.shape());
  input_shape_ = x.shape();
  x2d_ = x.reshape({x.shape()[0], in_});
  // The input is the same on every rank (Megatron's "f" is the identity forward): no
  // communication, each rank computes its own output columns.
  backend_.ensure(y_, out_shape);
  backend_.gemm(x2d_, false, weight_.value, true, y_);
  backend_.add_row_bias(y_, bias_.value);
  return y_;
}

const Tensor& ColumnParallelLinear::backward(const Tensor& dy) {
  // dy_r [N, out/n]: the gradient of this rank's columns only.
  backend_.sum_rows(dy, bias_.grad);
  backend_.gemm(dy, true, x2d_, false, weight_.grad);
  if (!needs_input_grad_) return none_;
  // The input fed every rank's columns, so its gradient is the sum of every rank's part:
  // dx = dy W = Σ_r dy_r W_r. One all-reduce (Megatron's "g").
  backend_.ensure(dx2d_, {input_shape_[0], in_});
  backend_.gemm(dy, false, weight_.value, false, dx2d_);
  all_reduce_sum(comm_, backend_, dx2d_, staging_);
  dx_ = dx2d_.reshape(input_shape_);
  return dx_;
}

// ---- RowParallelLinear ----

RowParallelLinear::RowParallelLinear(Backend& backend, nn::Linear& unsplit, Communicator& comm)
    : Layer(backend), comm_(comm), in_(unsplit.in_features()), out_(unsplit.out_features()) {
  std::tie(begin_, end_) = rank_range("RowParallelLinear", unsplit, "input", in_, comm);
  const std::int64_t part = end_ - begin_;
  const auto params = unsplit.parameters();  // weight [out, in], bias [out]
  const std::vector<float> w = to_host(backend, params[0]->value);
  std::vector<float> local(static_cast<std::size_t>(out_ * part));
  for (std::int64_t row = 0; row < out_; ++row) {
    for (std::int64_t c = 0; c < part; ++c) local[row * part + c] = w[row * in_ + begin_ + c];
  }
  weight_ = {"weight", backend.empty({out_, part}), backend.zeros({out_, part})};
  bias_ = {"bias", backend.empty({out_}), backend.zeros({out_})};
  backend.upload(weight_.value, local.data(), local.size() * sizeof(float));
  backend.copy(params[1]->value, bias_.value);
}

std::string RowParallelLinear::describe() const {
  return "RowParallelLinear(" + std::to_string(in_) + "->" + std::to_string(out_) + ", " +
         range_text("columns", begin_, end_, in_) + ")";
}

Shape RowParallelLinear::output_shape(const Shape& input) const {
  if (input.rank() < 2 || input.inner() != end_ - begin_) {
    throw Error(describe() + " cannot take input " + input.str() + " (it takes its " +
                std::to_string(end_ - begin_) + " input columns)");
  }
  return {input[0], out_};
}

const Tensor& RowParallelLinear::forward(const Tensor& x, bool /*training*/) {
  if (low_precision() || x.dtype() != tensor::DType::f32) {
    throw fp32_only(describe(), low_precision(), x);
  }
  const Shape out_shape = output_shape(x.shape());
  input_shape_ = x.shape();
  x2d_ = x.reshape({x.shape()[0], end_ - begin_});
  backend_.ensure(y_, out_shape);
  // x W^T = Σ_r x_r W_r^T: each rank's part of the product, summed; the bias once, after.
  backend_.gemm(x2d_, false, weight_.value, true, y_);
  all_reduce_sum(comm_, backend_, y_, staging_);
  backend_.add_row_bias(y_, bias_.value);
  return y_;
}

const Tensor& RowParallelLinear::backward(const Tensor& dy) {
  // dy [N, out] is the same on every rank (everything after this layer is replicated), so each
  // rank's gradients are local: dW_r [out, in/n] = dy^T x_r, db = Σ_rows dy (equal everywhere),
  // dx_r [N, in/n] = dy W_r (the gradient of this rank's columns, all the column layer needs).
  backend_.sum_rows(dy, bias_.grad);
  backend_.gemm(dy, true, x2d_, false, weight_.grad);
  if (!needs_input_grad_) return none_;
  backend_.ensure(dx2d_, {input_shape_[0], end_ - begin_});
  backend_.gemm(dy, false, weight_.value, false, dx2d_);
  dx_ = dx2d_.reshape(input_shape_);
  return dx_;
}

// ---- models ----

namespace {

std::unique_ptr<nn::Linear> copy_linear(Backend& backend, nn::Linear& unsplit) {
  std::mt19937_64 unused(0);  // the initial draw is overwritten by the copy
  auto copy =
      std::make_unique<nn::Linear>(backend, unsplit.in_features(), unsplit.out_features(), unused);
  const auto from = unsplit.parameters();
  const auto to = copy->parameters();
  for (std::size_t i = 0; i < from.size(); ++i) backend.copy(from[i]->value, to[i]->value);
  return copy;
}

// `spec` is null when the caller has only the model (no Dropout seed to rebuild from).
std::unique_ptr<nn::Model> split_mlp(Backend& backend, const nn::Model& unsplit, Communicator& comm,
                                     const nn::ModelSpec* spec, std::uint64_t dropout_seed) {
  if (unsplit.storage() != tensor::DType::f32) {
    throw Error(std::string("tensor parallel mlp: fp32 only; the model stores activations in ") +
                tensor::dtype_name(unsplit.storage()));
  }
  const auto& layers = unsplit.layers();
  auto linear_at = [&](std::size_t i) -> nn::Linear* {
    return i < layers.size() ? dynamic_cast<nn::Linear*>(layers[i].get()) : nullptr;
  };
  auto relu_at = [&](std::size_t i) {
    return i < layers.size() && dynamic_cast<const nn::ReLU*>(layers[i].get()) != nullptr;
  };
  auto model = std::make_unique<nn::Model>(backend, unsplit.sample_shape());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    nn::Layer* layer = layers[i].get();
    if (auto* linear = dynamic_cast<nn::Linear*>(layer)) {
      // Two hidden Linears in a row (each followed by its ReLU): column, ReLU, row. The row
      // layer's own ReLU follows as any ReLU, on its replicated output.
      if (relu_at(i + 1) && linear_at(i + 2) != nullptr && relu_at(i + 3)) {
        model->add(std::make_unique<ColumnParallelLinear>(backend, *linear, comm));
        model->add(std::make_unique<nn::ReLU>(backend));
        model->add(std::make_unique<RowParallelLinear>(backend, *linear_at(i + 2), comm));
        i += 2;
      } else {
        model->add(copy_linear(backend, *linear));
      }
    } else if (dynamic_cast<const nn::ReLU*>(layer) != nullptr) {
      model->add(std::make_unique<nn::ReLU>(backend));
    } else if (dynamic_cast<const nn::Flatten*>(layer) != nullptr) {
      model->add(std::make_unique<nn::Flatten>(backend));
    } else if (dynamic_cast<const nn::Dropout*>(layer) != nullptr) {
      if (spec == nullptr) {
        throw Error("tensor parallel mlp: layer " + std::to_string(i) + " (" + layer->describe() +
                    ") cannot be copied from a built model (its mask seed is not readable); "
                    "build the model with build_tensor_parallel_mlp from its spec and seed");
      }
      model->add(
          std::make_unique<nn::Dropout>(backend, static_cast<float>(spec->dropout), dropout_seed));
    } else {
      throw Error("tensor parallel mlp: layer " + std::to_string(i) + " (" + layer->describe() +
                  ") is not part of an mlp (Flatten, Linear, ReLU, Dropout)");
    }
  }
  return model;
}

}  // namespace

std::unique_ptr<nn::Model> make_tensor_parallel_mlp(Backend& backend, const nn::Model& unsplit,
                                                    Communicator& comm) {
  return split_mlp(backend, unsplit, comm, nullptr, 0);
}

std::unique_ptr<nn::Model> build_tensor_parallel_mlp(Backend& backend, const nn::ModelSpec& spec,
                                                     const Shape& sample_shape,
                                                     std::int64_t classes, std::uint64_t seed,
                                                     Communicator& comm) {
  if (spec.type != "mlp") {
    throw Error("tensor parallelism splits an mlp; model type '" + spec.type + "' is not one");
  }
  const auto unsplit = nn::build_model(backend, spec, sample_shape, classes, seed);
  std::uint64_t dropout_seed = 0;
  if (spec.dropout > 0.0) {
    // build_model draws the Dropout's seed from its generator right after the hidden Linears'
    // weights: replay those draws (the same constructors, so the same number of them).
    std::mt19937_64 rng(seed);
    std::int64_t in = sample_shape.numel();
    for (const std::int64_t hidden : spec.hidden) {
      nn::Linear replay(backend, in, hidden, rng);
      in = hidden;
    }
    dropout_seed = rng();
  }
  return split_mlp(backend, *unsplit, comm, &spec, dropout_seed);
}

std::vector<ParameterShard> parameter_shards(nn::Model& model) {
  std::vector<ParameterShard> shards;
  for (const auto& layer : model.layers()) {
    if (auto* column = dynamic_cast<ColumnParallelLinear*>(layer.get())) {
      const auto p = column->parameters();
      const std::int64_t out = column->out_features(), in = column->in_features();
      shards.push_back({p[0], 0, column->begin(), column->end(), Shape{out, in}});
      shards.push_back({p[1], 0, column->begin(), column->end(), Shape{out}});
    } else if (auto* row = dynamic_cast<RowParallelLinear*>(layer.get())) {
      const auto p = row->parameters();
      const std::int64_t out = row->out_features(), in = row->in_features();
      shards.push_back({p[0], 1, row->begin(), row->end(), Shape{out, in}});
      shards.push_back({p[1], -1, 0, out, Shape{out}});
    } else {
      for (nn::Parameter* p : layer->parameters()) {
        shards.push_back({p, -1, 0, p->value.shape()[0], p->value.shape()});
      }
    }
  }
  return shards;
}

std::vector<float> take_shard(const ParameterShard& shard, std::span<const float> unsplit) {
  const Shape& shape = shard.unsplit_shape;
  if (static_cast<std::int64_t>(unsplit.size()) != shape.numel()) {
    throw Error("take_shard: " + std::to_string(unsplit.size()) + " values for an unsplit " +
                shape.str() + " (" + std::to_string(shape.numel()) + ")");
  }
  if (shard.dim < 0) return {unsplit.begin(), unsplit.end()};
  if (shard.dim == 0) {
    const std::int64_t row = shape.numel() / shape[0];
    return {unsplit.begin() + shard.begin * row, unsplit.begin() + shard.end * row};
  }
  const std::int64_t rows = shape[0], cols = shape[1], part = shard.end - shard.begin;
  std::vector<float> out(static_cast<std::size_t>(rows * part));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < part; ++c) out[r * part + c] = unsplit[r * cols + shard.begin + c];
  }
  return out;
}

std::vector<float> gather_unsplit(Communicator& comm, Backend& backend, const ParameterShard& shard,
                                  const Tensor& local) {
  std::vector<float> mine = to_host(backend, local);
  if (shard.dim < 0) return mine;
  const auto n = static_cast<std::size_t>(comm.size());
  std::vector<float> blocks(mine.size() * n);
  comm.all_gather(mine, blocks);
  // Shards are equal and in rank order, so dim-0 blocks are the unsplit rows already.
  if (shard.dim == 0) return blocks;
  // Dim 1: block r is [rows, part], columns [r·part, (r+1)·part) of every row.
  const std::int64_t rows = shard.unsplit_shape[0], cols = shard.unsplit_shape[1];
  const std::int64_t part = shard.end - shard.begin;
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (std::size_t r = 0; r < n; ++r) {
    const float* block = blocks.data() + r * mine.size();
    for (std::int64_t row = 0; row < rows; ++row) {
      for (std::int64_t c = 0; c < part; ++c) {
        out[row * cols + static_cast<std::int64_t>(r) * part + c] = block[row * part + c];
      }
    }
  }
  return out;
}

}  // namespace tb::dist
