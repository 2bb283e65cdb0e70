// Tensor parallelism under mpirun (2 and 4 ranks): the Megatron-split mlp computes what the
// unsplit one does. Every rank builds the unsplit model from the same seed and its own
// tensor-parallel version, feeds both the same batch, and compares logits, loss, the first split
// layer's input gradient, every parameter gradient against the matching slice of the unsplit
// gradient, and, over three SGD steps, the weights themselves.
#include "core/dist/tensor_parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/nn/loss.h"
#include "core/optim/optimizer.h"
#include "core/util/error.h"
#include "tests/support/dist_reference.h"

namespace tb::dist {
namespace {

// Elementwise |got - want| <= rel * max|want|: the split layers add the same products in another
// order (partial sums per rank, then the all-reduce), so differences grow with the magnitude of
// the sums, not of each element.
void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what, double rel = 2e-5) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0.0;
  for (const float v : want) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  const double tol = rel * std::max(scale, 1e-3);
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), tol)
        << what << " element " << i << ": " << got[i] << " vs unsplit " << want[i];
  }
}

using Batch = tb::testing::RandomBatch;
using tb::testing::forward_backward;
using tb::testing::host;
using tb::testing::make_random_batch;

struct Case {
  std::vector<std::int64_t> hidden;
  double dropout;
  Shape sample;
};

void check_same_as_unsplit(const Case& c) {
  const auto comm = make_mpi_communicator();
  const int n = comm->size();
  auto cpu = tensor::make_cpu_backend(1);
  constexpr std::int64_t kClasses = 10, kBatch = 24;
  constexpr std::uint64_t kSeed = 42;
  nn::ModelSpec spec;
  spec.type = "mlp";
  spec.hidden = c.hidden;
  spec.dropout = c.dropout;
  const auto unsplit = nn::build_model(*cpu, spec, c.sample, kClasses, kSeed);
  const auto split = build_tensor_parallel_mlp(*cpu, spec, c.sample, kClasses, kSeed, *comm);
  ASSERT_EQ(split->layers().size(), unsplit->layers().size()) << split->describe();
  ASSERT_NE(dynamic_cast<ColumnParallelLinear*>(split->layers()[1].get()), nullptr)
      << split->describe();
  ASSERT_NE(dynamic_cast<RowParallelLinear*>(split->layers()[3].get()), nullptr)
      << split->describe();
  // Model skips the first Linear's input gradient (only Flatten before it): ask for it, so the
  // column layer's all-reduce of dx is exercised and compared.
  unsplit->layers()[1]->set_needs_input_grad(true);
  split->layers()[1]->set_needs_input_grad(true);

  const auto shards = parameter_shards(*split);
  const auto whole = unsplit->parameters();
  ASSERT_EQ(shards.size(), whole.size());
  for (std::size_t k = 0; k < shards.size(); ++k) {
    ASSERT_EQ(shards[k].parameter->name, whole[k]->name);
    ASSERT_EQ(shards[k].unsplit_shape, whole[k]->value.shape()) << whole[k]->name;
    if (shards[k].dim >= 0) {
      EXPECT_EQ(shards[k].parameter->value.numel() * n, whole[k]->value.numel()) << whole[k]->name;
    }
    // The split model starts from exactly the unsplit weights.
    EXPECT_EQ(host(shards[k].parameter->value), take_shard(shards[k], host(whole[k]->value)))
        << whole[k]->name;
  }

  optim::OptimizerSpec sgd;
  sgd.type = "sgd";
  sgd.lr = 0.05;
  sgd.momentum = 0.9;
  const auto opt_unsplit = optim::make_optimizer(*cpu, unsplit->parameters(), sgd);
  const auto opt_split = optim::make_optimizer(*cpu, split->parameters(), sgd);
  for (int step = 0; step < 3; ++step) {
    const std::string at = "step " + std::to_string(step) + ", " + std::to_string(n) + " ranks, ";
    const Batch batch = make_random_batch(*cpu, c.sample, kBatch, kClasses, 100 + step);
    const auto want = forward_backward(*unsplit, *cpu, batch);
    const auto got = forward_backward(*split, *cpu, batch);
    expect_close(got.logits, want.logits, at + "logits");
    EXPECT_NEAR(got.loss, want.loss, 2e-5 * std::max(1.0f, std::fabs(want.loss))) << at;
    expect_close(got.dx_first, want.dx_first, at + "input gradient of layer 1");
    for (std::size_t k = 0; k < shards.size(); ++k) {
      const std::vector<float> unsplit_grad = host(whole[k]->grad);
      expect_close(host(shards[k].parameter->grad), take_shard(shards[k], unsplit_grad),
                   at + "gradient of " + whole[k]->name);
      // Every rank's slices, put together, are the whole unsplit gradient.
      expect_close(gather_unsplit(*comm, *cpu, shards[k], shards[k].parameter->grad), unsplit_grad,
                   at + "gathered gradient of " + whole[k]->name);
    }
    opt_unsplit->step();
    opt_split->step();
    for (std::size_t k = 0; k < shards.size(); ++k) {
      expect_close(host(shards[k].parameter->value), take_shard(shards[k], host(whole[k]->value)),
                   at + "weights of " + whole[k]->name + " after the update");
    }
  }
}

TEST(TensorParallel, OnePairGivesTheSameLossAndGradientsAsTheUnsplitMlp) {
  // Flatten, [Linear 20->64 column, ReLU, Linear 64->32 row], ReLU, Linear 32->16 (replicated),
  // ReLU, Linear 16->10 (replicated).
  check_same_as_unsplit({{64, 32, 16}, 0.0, Shape{20}});
}

TEST(TensorParallel, TwoPairsAndDropoutGiveTheSameLossAndGradientsAsTheUnsplitMlp) {
  // Two split pairs (the second column layer all-reduces its input gradient in Model's own
  // order), Dropout with the unsplit model's masks, images flattened.
  check_same_as_unsplit({{32, 16, 48, 24}, 0.25, Shape{2, 10}});
}

TEST(TensorParallel, SizeNotAMultipleOfTheRanksIsRefusedNamingTheSizes) {
  const auto comm = make_mpi_communicator();
  const int n = comm->size();
  ASSERT_GT(n, 1) << "run under mpirun with 2 or more ranks";
  auto cpu = tensor::make_cpu_backend(1);
  nn::ModelSpec spec;
  spec.hidden = {33, 16};  // 33 is a multiple of neither 2 nor 4
  const std::string ranks = "over " + std::to_string(n) + " ranks";
  try {
    build_tensor_parallel_mlp(*cpu, spec, Shape{20}, 10, 1, *comm);
    FAIL() << "a 33-wide split over " << n << " ranks was accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("33"), std::string::npos) << message;
    EXPECT_NE(message.find(ranks), std::string::npos) << message;
    EXPECT_NE(message.find("ColumnParallelLinear"), std::string::npos) << message;
  }
  std::mt19937_64 rng(3);
  nn::Linear wide(*cpu, 33, 8, rng);
  try {
    RowParallelLinear row(*cpu, wide, *comm);
    FAIL() << "a row split of 33 input features over " << n << " ranks was accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Linear(33->8)"), std::string::npos) << message;
    EXPECT_NE(message.find("input features " + ranks), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace tb::dist
