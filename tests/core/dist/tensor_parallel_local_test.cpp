// Tensor parallelism in a world of one: every split layer holds the whole weight and computes op
// for op what nn::Linear does, so the split model equals the unsplit one exactly (bit for bit),
// forward, backward and through optimizer steps. What a split refuses is checked here too. (The
// comparison across 2 and 4 ranks runs under mpirun: tests/dist.)
#include "core/dist/tensor_parallel.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/nn/loss.h"
#include "core/optim/optimizer.h"
#include "core/util/error.h"
#include "tests/support/dist_reference.h"

namespace tb::dist {
namespace {

using Batch = tb::testing::RandomBatch;
using tb::testing::forward_backward;
using tb::testing::host;
using tb::testing::make_random_batch;

void expect_identical_training(nn::Model& unsplit, nn::Model& split, Backend& cpu,
                               const Shape& sample) {
  ASSERT_EQ(split.layers().size(), unsplit.layers().size());
  unsplit.layers()[1]->set_needs_input_grad(true);
  split.layers()[1]->set_needs_input_grad(true);
  const auto shards = parameter_shards(split);
  const auto whole = unsplit.parameters();
  ASSERT_EQ(shards.size(), whole.size());
  for (std::size_t k = 0; k < shards.size(); ++k) {
    EXPECT_EQ(shards[k].parameter->name, whole[k]->name);
    EXPECT_EQ(shards[k].parameter->value.shape(), whole[k]->value.shape()) << whole[k]->name;
  }
  optim::OptimizerSpec sgd;
  sgd.type = "sgd";
  sgd.lr = 0.05;
  const auto opt_unsplit = optim::make_optimizer(cpu, unsplit.parameters(), sgd);
  const auto opt_split = optim::make_optimizer(cpu, split.parameters(), sgd);
  for (int step = 0; step < 3; ++step) {
    const Batch batch = make_random_batch(cpu, sample, 24, 10, 7 + step);
    const auto want = forward_backward(unsplit, cpu, batch);
    const auto got = forward_backward(split, cpu, batch);
    EXPECT_EQ(got.logits, want.logits) << "step " << step;
    EXPECT_EQ(got.loss, want.loss) << "step " << step;
    EXPECT_EQ(got.dx_first, want.dx_first) << "step " << step;
    for (std::size_t k = 0; k < shards.size(); ++k) {
      EXPECT_EQ(host(shards[k].parameter->grad), host(whole[k]->grad))
          << "step " << step << " " << whole[k]->name;
    }
    opt_unsplit->step();
    opt_split->step();
    for (std::size_t k = 0; k < shards.size(); ++k) {
      EXPECT_EQ(host(shards[k].parameter->value), host(whole[k]->value))
          << "step " << step << " " << whole[k]->name;
    }
  }
}

TEST(TensorParallelLocal, SplitMlpFromSpecEqualsTheUnsplitExactly) {
  auto cpu = tensor::make_cpu_backend(1);
  const auto comm = make_local_communicator();
  nn::ModelSpec spec;
  spec.hidden = {32, 16, 48, 24};
  spec.dropout = 0.25;
  const Shape sample{2, 10};
  const auto unsplit = nn::build_model(*cpu, spec, sample, 10, 5);
  const auto split = build_tensor_parallel_mlp(*cpu, spec, sample, 10, 5, *comm);
  EXPECT_EQ(split->describe(),
            "Flatten ColumnParallelLinear(20->32, rows 0:32 of 32) ReLU "
            "RowParallelLinear(32->16, columns 0:32 of 32) ReLU "
            "ColumnParallelLinear(16->48, rows 0:48 of 48) ReLU "
            "RowParallelLinear(48->24, columns 0:48 of 48) ReLU Dropout(0.25) Linear(24->10)");
  expect_identical_training(*unsplit, *split, *cpu, sample);
}

TEST(TensorParallelLocal, SplitOfABuiltModelEqualsItExactly) {
  auto cpu = tensor::make_cpu_backend(1);
  const auto comm = make_local_communicator();
  nn::ModelSpec spec;
  spec.hidden = {64, 32, 16};
  const auto unsplit = nn::build_model(*cpu, spec, Shape{20}, 10, 9);
  const auto split = make_tensor_parallel_mlp(*cpu, *unsplit, *comm);
  // One pair; the odd hidden Linear and the classifier are replicated copies.
  EXPECT_EQ(split->describe(),
            "Flatten ColumnParallelLinear(20->64, rows 0:64 of 64) ReLU "
            "RowParallelLinear(64->32, columns 0:64 of 64) ReLU Linear(32->16) ReLU "
            "Linear(16->10)");
  const auto shards = parameter_shards(*split);
  ASSERT_EQ(shards.size(), 8u);
  EXPECT_EQ(shards[0].dim, 0);   // column weight: rows
  EXPECT_EQ(shards[1].dim, 0);   // column bias
  EXPECT_EQ(shards[2].dim, 1);   // row weight: columns
  EXPECT_EQ(shards[3].dim, -1);  // row bias: whole on every rank
  EXPECT_EQ(shards[4].dim, -1);  // replicated Linear
  expect_identical_training(*unsplit, *split, *cpu, Shape{20});
}

TEST(TensorParallelLocal, TakeShardAndGatherUnsplitAgree) {
  auto cpu = tensor::make_cpu_backend(1);
  const auto comm = make_local_communicator();
  // A [3, 4] tensor 0..11: columns 1:3 and rows 1:2.
  const std::vector<float> whole{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  ParameterShard columns{nullptr, 1, 1, 3, Shape{3, 4}};
  EXPECT_EQ(take_shard(columns, whole), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  ParameterShard rows{nullptr, 0, 1, 2, Shape{3, 4}};
  EXPECT_EQ(take_shard(rows, whole), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_THROW(take_shard(rows, std::vector<float>(11)), Error);
  // In a world of one a shard is the whole tensor, and gathering gives it back.
  ParameterShard all{nullptr, 1, 0, 4, Shape{3, 4}};
  Tensor t = cpu->empty({3, 4});
  cpu->upload(t, whole.data(), whole.size() * sizeof(float));
  EXPECT_EQ(gather_unsplit(*comm, *cpu, all, t), whole);
}

TEST(TensorParallelLocal, RefusesWhatItCannotSplit) {
  auto cpu = tensor::make_cpu_backend(1);
  const auto comm = make_local_communicator();
  nn::ModelSpec spec;
  spec.hidden = {16, 8};
  spec.dropout = 0.5;
  // Dropout's mask seed is private to a built model: only the spec path rebuilds it.
  const auto with_dropout = nn::build_model(*cpu, spec, Shape{4}, 3, 1);
  try {
    make_tensor_parallel_mlp(*cpu, *with_dropout, *comm);
    FAIL() << "a Dropout was copied without its seed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Dropout(0.5)"), std::string::npos) << e.what();
  }
  // 16-bit storage.
  spec.dropout = 0.0;
  const auto half = nn::build_model(*cpu, spec, Shape{4}, 3, 1);
  half->set_storage(tensor::DType::bf16);
  try {
    make_tensor_parallel_mlp(*cpu, *half, *comm);
    FAIL() << "a bf16 model was split";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
  // A split model switched to 16-bit storage afterwards refuses to run.
  const auto split =
      make_tensor_parallel_mlp(*cpu, *nn::build_model(*cpu, spec, Shape{4}, 3, 1), *comm);
  split->set_storage(tensor::DType::f16);
  const Batch batch = make_random_batch(*cpu, Shape{4}, 2, 3, 1);
  EXPECT_THROW(split->forward(batch.x, true), Error);
  // Not an mlp.
  nn::ModelSpec cnn;
  cnn.type = "cnn";
  cnn.conv = {nn::ConvBlockSpec{}};
  cnn.hidden = {8};
  EXPECT_THROW(build_tensor_parallel_mlp(*cpu, cnn, Shape{1, 8, 8}, 3, 1, *comm), Error);
  const auto conv = nn::build_model(*cpu, cnn, Shape{1, 8, 8}, 3, 1);
  try {
    make_tensor_parallel_mlp(*cpu, *conv, *comm);
    FAIL() << "a Conv2d was split";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tb::dist
