// Pipeline parallelism with one stage a rank (2, 3 or 4 ranks): GPipe and 1F1B, with as many,
// fewer and more micro-batches than stages (uneven ones included), give the loss and every stage
// parameter's gradient of the unsplit model, which every rank builds from the same seed and runs
// on the whole batch as the reference; a few SGD steps later both still agree. With Dropout the
// reference accumulates the same micro-batches (a mask is drawn per micro-batch).
#include "core/dist/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/core/nn/model_specs.h"
#include "tests/support/dist_reference.h"

namespace tb::dist {
namespace {

using tensor::Tensor;

constexpr std::int64_t kFeatures = 16, kClasses = 8, kBatch = 13;
constexpr std::uint64_t kSeed = 2024;
constexpr float kLr = 0.1f;

using nn::test_specs::mlp;

// The same batch on every rank (from its seed).
struct Batch {
  Tensor x, labels;  // f32 [N, kFeatures], i32 [N]
  Batch(tensor::Backend& cpu, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    x = cpu.empty({kBatch, kFeatures});
    labels = cpu.empty({kBatch}, tensor::DType::i32);
    for (std::int64_t i = 0; i < x.numel(); ++i) x.data()[i] = u(rng);
    for (std::int64_t i = 0; i < kBatch; ++i) {
      labels.data_i32()[i] = static_cast<std::int32_t>(rng() % kClasses);
    }
  }
};

using tb::testing::rows_of;

// The unsplit model on the batch as `m` accumulated micro-batches (m = 1: the whole batch, the
// plain reference), Dropout counter t * m + k as the pipeline sets it. Returns the mean loss and
// leaves the summed gradients in `grads`, by parameter name, and in the parameters' grad.
float reference_step(tensor::Backend& cpu, nn::Model& model, const Batch& batch, int m,
                     std::uint64_t step, std::map<std::string, std::vector<float>>& grads) {
  const float loss =
      tb::testing::accumulate_microbatches(cpu, model, batch.x, batch.labels, m, step, grads);
  // The summed gradients are what the optimizer steps with.
  for (nn::Parameter* p : model.parameters()) {
    std::copy(grads[p->name].begin(), grads[p->name].end(), p->grad.data());
  }
  return loss;
}

float max_abs(const float* v, std::size_t n) {
  float m = 0.0f;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(v[i]));
  return m;
}

// fp32 agreement scaled to the tensor: the sums differ only in their order.
void expect_grads_equal(const std::vector<nn::Parameter*>& params,
                        const std::map<std::string, std::vector<float>>& reference) {
  ASSERT_FALSE(params.empty());
  for (const nn::Parameter* p : params) {
    const auto& ref = reference.at(p->name);
    ASSERT_EQ(static_cast<std::size_t>(p->grad.numel()), ref.size()) << p->name;
    const float scale = max_abs(ref.data(), ref.size());
    ASSERT_GT(scale, 0.0f) << p->name;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(p->grad.data()[i], ref[i], 1e-5f * scale + 1e-8f) << p->name << "[" << i << "]";
    }
  }
}

void sgd(const std::vector<nn::Parameter*>& params) {
  for (nn::Parameter* p : params) {
    for (std::int64_t i = 0; i < p->value.numel(); ++i)
      p->value.data()[i] -= kLr * p->grad.data()[i];
  }
}

nn::Parameter* by_name(nn::Model& model, const std::string& name) {
  for (nn::Parameter* p : model.parameters()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

// Every rank's `value`, so a test can check that all ranks saw the same.
std::vector<float> gathered(Communicator& comm, float value) {
  std::vector<float> all(static_cast<std::size_t>(comm.size()));
  const std::vector<float> mine{value};
  comm.all_gather(mine, all);
  return all;
}

// A pipeline of comm.size() stages against the unsplit model over `steps` SGD steps: the loss
// and this stage's gradients after every step, this stage's weights after the last.
void check_against_unsplit(const nn::ModelSpec& spec, PipelineSchedule schedule, int m,
                           int reference_microbatches, int steps) {
  const auto comm = make_mpi_communicator();
  const int p = comm->size(), s = comm->rank();
  SCOPED_TRACE(std::string(pipeline_schedule_name(schedule)) + " p=" + std::to_string(p) +
               " m=" + std::to_string(m) + " rank " + std::to_string(s));
  auto cpu = tensor::make_cpu_backend(1);
  auto model = nn::build_model(*cpu, spec, {kFeatures}, kClasses, kSeed);
  auto unsplit = nn::build_model(*cpu, spec, {kFeatures}, kClasses, kSeed);
  PipelineStage stage(*comm, *cpu, *model, p, m, schedule);
  ASSERT_EQ(stage.stage(), s);
  const StageRange range = stage.layers();
  EXPECT_EQ(range, split_stages(*model, p)[s]);
  nn::SoftmaxCrossEntropy ce(*cpu);
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const Batch batch(*cpu, 100 + static_cast<unsigned>(step));
    // Only stage 0 reads x and only the last stage the labels: the others pass nothing.
    const PipelineStepResult r =
        stage.train_step(s == 0 ? batch.x : Tensor(), s == p - 1 ? batch.labels : Tensor(), ce);
    std::map<std::string, std::vector<float>> grads;
    const float loss = reference_step(*cpu, *unsplit, batch, reference_microbatches, step, grads);
    EXPECT_NEAR(r.loss, loss, 1e-5f * std::abs(loss));
    for (const float other : gathered(*comm, r.loss)) EXPECT_EQ(other, r.loss);
    expect_grads_equal(stage.parameters(), grads);
    EXPECT_DOUBLE_EQ(r.predicted_bubble, predicted_bubble(p, m));
    EXPECT_GE(r.measured_bubble, 0.0);
    EXPECT_LE(r.measured_bubble, 1.0);
    EXPECT_LE(r.idle_s + r.compute_s, r.wall_s * 1.001 + 1e-6);
    sgd(stage.parameters());
    sgd(unsplit->parameters());
  }
  // The stage's parameters are exactly the layers of its range, and they moved as the unsplit
  // model's did.
  std::size_t expected_count = 0;
  for (int i = range.begin; i < range.end; ++i) {
    expected_count += model->layers()[i]->parameters().size();
  }
  EXPECT_EQ(stage.parameters().size(), expected_count);
  for (const nn::Parameter* mine : stage.parameters()) {
    const nn::Parameter* ref = by_name(*unsplit, mine->name);
    ASSERT_NE(ref, nullptr) << mine->name;
    const float scale = max_abs(ref->value.data(), static_cast<std::size_t>(ref->value.numel()));
    for (std::int64_t i = 0; i < ref->value.numel(); ++i) {
      ASSERT_NEAR(mine->value.data()[i], ref->value.data()[i], 1e-5f * scale)
          << mine->name << "[" << i << "]";
    }
  }
  // Every stage's gradients were checked somewhere: the stages cover the model's parameters.
  std::vector<float> count{static_cast<float>(stage.parameters().size())};
  comm->all_reduce(count, ReduceOp::sum);
  EXPECT_EQ(static_cast<std::size_t>(count[0]), unsplit->parameters().size());
}

TEST(PipelineMpi, GPipeMatchesTheUnsplitModel) {
  for (const int m : {1, 2, 4, 5}) {
    check_against_unsplit(mlp({32, 24, 32, 16}), PipelineSchedule::gpipe, m, 1, 3);
  }
}

TEST(PipelineMpi, OneForwardOneBackwardMatchesTheUnsplitModel) {
  for (const int m : {1, 2, 4, 5}) {
    check_against_unsplit(mlp({32, 24, 32, 16}), PipelineSchedule::one_f_one_b, m, 1, 3);
  }
}

// Dropout (before the last Linear, on one of the last stages; GPipe re-materialises it with its
// mask, the last stage's 1F1B never needs to): one micro-batch is the unsplit model's own step;
// several are the unsplit model accumulating the same micro-batches with the same masks.
TEST(PipelineMpi, DropoutMasksMatchTheUnsplitModel) {
  for (const auto schedule : {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b}) {
    check_against_unsplit(mlp({32, 32, 32}, 0.5), schedule, 1, 1, 2);
    for (const int m : {3, 5}) check_against_unsplit(mlp({32, 32, 32}, 0.5), schedule, m, m, 2);
  }
}

// Activations of tens of kilobytes a message, past MPI's eager limit: a send completes only when
// its receive is matched, which the schedules must not wait on in a cycle.
TEST(PipelineMpi, LargeMessagesNeitherDeadlockNorDiffer) {
  for (const auto schedule : {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b}) {
    for (const int m : {2, 5}) {
      check_against_unsplit(mlp({1024, 768, 1024}), schedule, m, 1, 1);
    }
  }
}

// A batch that cannot be split, or labels that do not fit, are refused on every rank (no rank
// is left waiting), and the pipeline still runs afterwards.
TEST(PipelineMpi, BadBatchesAreRefusedOnEveryRank) {
  const auto comm = make_mpi_communicator();
  const int p = comm->size(), s = comm->rank();
  auto cpu = tensor::make_cpu_backend(1);
  auto model = nn::build_model(*cpu, mlp({32, 24, 32, 16}), {kFeatures}, kClasses, kSeed);
  PipelineStage stage(*comm, *cpu, *model, p, 4, PipelineSchedule::one_f_one_b);
  nn::SoftmaxCrossEntropy ce(*cpu);
  const Batch batch(*cpu, 7);
  const Tensor three = rows_of(*cpu, batch.x, 0, 3);
  const Tensor few_labels = rows_of(*cpu, batch.labels, 0, 3);
  auto message = [&](const Tensor& x, const Tensor& labels) {
    try {
      stage.train_step(s == 0 ? x : Tensor(), s == p - 1 ? labels : Tensor(), ce);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(
      message(three, few_labels).find("a batch of 3 samples cannot be split into 4 micro-batches"),
      std::string::npos);
  EXPECT_NE(message(batch.x, few_labels).find("3 labels for a batch of 13 samples"),
            std::string::npos);
  // Stage 0 without x: it names the problem, the others say that a stage refused.
  const std::string no_x = message(Tensor(), batch.labels);
  EXPECT_NE(no_x.find(s == 0 ? "stage 0 needs the batch's input x" : "another stage refused"),
            std::string::npos)
      << no_x;
  const PipelineStepResult r =
      stage.train_step(s == 0 ? batch.x : Tensor(), s == p - 1 ? batch.labels : Tensor(), ce);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_GT(r.loss, 0.0f);
}

}  // namespace
}  // namespace tb::dist
