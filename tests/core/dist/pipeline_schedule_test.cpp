// Pipeline schedules and stage splitting as pure functions, and a pipeline of one stage in a
// world of one (re-materialisation, gradient accumulation, Dropout replay, BatchNorm statistics
// and refusals, which need no second rank). Several ranks run under mpirun: tests/dist.
#include "core/dist/pipeline_schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/dist/pipeline.h"
#include "core/nn/conv.h"
#include "core/util/error.h"
#include "tests/core/nn/model_specs.h"
#include "tests/support/dist_reference.h"
#include "tests/support/error_message.h"

namespace tb::dist {
namespace {

using Kind = PipelineOp::Kind;
using tensor::Tensor;

std::string ops_text(PipelineSchedule schedule, int stage, int stages, int m) {
  return describe_ops(pipeline_ops(schedule, stage, stages, m));
}

TEST(PipelineSchedule, ParsesItsNamesAndRefusesOthersNamingThem) {
  EXPECT_EQ(parse_pipeline_schedule("gpipe"), PipelineSchedule::gpipe);
  EXPECT_EQ(parse_pipeline_schedule("1f1b"), PipelineSchedule::one_f_one_b);
  EXPECT_STREQ(pipeline_schedule_name(PipelineSchedule::gpipe), "gpipe");
  EXPECT_STREQ(pipeline_schedule_name(PipelineSchedule::one_f_one_b), "1f1b");
  for (const char* bad : {"GPipe", "1F1B", "", "pipedream"}) {
    try {
      parse_pipeline_schedule(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + std::string(bad) + "'"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("gpipe, 1f1b"), std::string::npos) << e.what();
    }
  }
}

TEST(PipelineSchedule, ExactOpListsOfSmallCases) {
  struct Case {
    PipelineSchedule schedule;
    int stage, stages, m;
    const char* ops;
  };
  const PipelineSchedule gpipe = PipelineSchedule::gpipe, ofob = PipelineSchedule::one_f_one_b;
  const std::vector<Case> cases = {
      {gpipe, 0, 1, 1, "F0 B0"},
      {gpipe, 0, 2, 3, "F0 F1 F2 B2 B1 B0"},
      {gpipe, 1, 2, 3, "F0 F1 F2 B2 B1 B0"},
      {ofob, 0, 1, 3, "F0 B0 F1 B1 F2 B2"},
      {ofob, 0, 3, 4, "F0 F1 F2 B0 F3 B1 B2 B3"},
      {ofob, 1, 3, 4, "F0 F1 B0 F2 B1 F3 B2 B3"},
      {ofob, 2, 3, 4, "F0 B0 F1 B1 F2 B2 F3 B3"},
      // Fewer micro-batches than stages: the warm-up is cut to m.
      {ofob, 0, 4, 2, "F0 F1 B0 B1"},
      {ofob, 1, 4, 2, "F0 F1 B0 B1"},
      {ofob, 2, 4, 2, "F0 F1 B0 B1"},
      {ofob, 3, 4, 2, "F0 B0 F1 B1"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ops_text(c.schedule, c.stage, c.stages, c.m), c.ops)
        << pipeline_schedule_name(c.schedule) << " stage " << c.stage << " of " << c.stages
        << ", m = " << c.m;
  }
}

// Every (schedule, p, m, s) up to 6 stages and 9 micro-batches: each micro-batch's forward and
// backward exactly once, forwards in order, F(k) before B(k), and the micro-batches in flight
// (forwarded, not yet backwarded) at most min(p - s, m) for 1F1B and exactly m for GPipe.
TEST(PipelineSchedule, EveryScheduleRunsEachMicroBatchOnceWithBoundedInFlight) {
  for (const auto schedule : {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b}) {
    for (int p = 1; p <= 6; ++p) {
      for (int m = 1; m <= 9; ++m) {
        for (int s = 0; s < p; ++s) {
          SCOPED_TRACE(std::string(pipeline_schedule_name(schedule)) + " p=" + std::to_string(p) +
                       " m=" + std::to_string(m) + " s=" + std::to_string(s));
          const auto ops = pipeline_ops(schedule, s, p, m);
          ASSERT_EQ(ops.size(), 2u * static_cast<std::size_t>(m));
          std::vector<int> forwarded(m, 0), backwarded(m, 0);
          int next_forward = 0, in_flight = 0, most_in_flight = 0;
          for (const PipelineOp& op : ops) {
            ASSERT_GE(op.microbatch, 0);
            ASSERT_LT(op.microbatch, m);
            if (op.kind == Kind::forward) {
              EXPECT_EQ(op.microbatch, next_forward++);
              ++forwarded[op.microbatch];
              most_in_flight = std::max(most_in_flight, ++in_flight);
            } else {
              EXPECT_EQ(forwarded[op.microbatch], 1) << "B" << op.microbatch << " before F";
              ++backwarded[op.microbatch];
              --in_flight;
            }
          }
          EXPECT_EQ(forwarded, std::vector<int>(m, 1));
          EXPECT_EQ(backwarded, std::vector<int>(m, 1));
          EXPECT_EQ(most_in_flight, schedule == PipelineSchedule::gpipe ? m : std::min(p - s, m));
        }
      }
    }
  }
}

// Runs every stage's op list against the pipeline's dependencies (F(s, k) after F(s - 1, k);
// B(s, k) after B(s + 1, k)) with one time unit an op: no schedule deadlocks, and the step takes
// 2 (m + p - 1) units, so each stage idles 2 (p - 1) of them: the predicted bubble.
TEST(PipelineSchedule, SimulatedStepNeverDeadlocksAndIdlesThePredictedBubble) {
  for (const auto schedule : {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b}) {
    for (int p = 1; p <= 6; ++p) {
      for (int m = 1; m <= 9; ++m) {
        SCOPED_TRACE(std::string(pipeline_schedule_name(schedule)) + " p=" + std::to_string(p) +
                     " m=" + std::to_string(m));
        std::vector<std::vector<PipelineOp>> ops(p);
        for (int s = 0; s < p; ++s) ops[s] = pipeline_ops(schedule, s, p, m);
        constexpr int kNotYet = -1;
        // done_at[kind][s][k]: the time the op finished.
        std::vector<std::vector<std::vector<int>>> done_at(
            2, std::vector<std::vector<int>>(p, std::vector<int>(m, kNotYet)));
        std::vector<std::size_t> next(p, 0);
        std::vector<int> free_at(p, 0);
        bool progress = true;
        while (progress) {
          progress = false;
          for (int s = 0; s < p; ++s) {
            if (next[s] == ops[s].size()) continue;
            const PipelineOp op = ops[s][next[s]];
            const int kind = op.kind == Kind::forward ? 0 : 1;
            int ready = free_at[s];
            if (kind == 0 && s > 0) ready = std::max(ready, done_at[0][s - 1][op.microbatch]);
            if (kind == 1 && s < p - 1) ready = std::max(ready, done_at[1][s + 1][op.microbatch]);
            const bool waiting = (kind == 0 && s > 0 && done_at[0][s - 1][op.microbatch] < 0) ||
                                 (kind == 1 && s < p - 1 && done_at[1][s + 1][op.microbatch] < 0);
            if (waiting) continue;
            done_at[kind][s][op.microbatch] = free_at[s] = ready + 1;
            ++next[s];
            progress = true;
          }
        }
        for (int s = 0; s < p; ++s) ASSERT_EQ(next[s], ops[s].size()) << "stage " << s << " stuck";
        const int makespan = *std::max_element(free_at.begin(), free_at.end());
        EXPECT_EQ(makespan, 2 * (m + p - 1));
        EXPECT_DOUBLE_EQ(static_cast<double>(makespan - 2 * m) / makespan, predicted_bubble(p, m));
      }
    }
  }
}

TEST(PipelineSchedule, PredictedBubbleIsStagesLessOneOverMicroBatchesPlusStagesLessOne) {
  EXPECT_DOUBLE_EQ(predicted_bubble(1, 1), 0.0);
  EXPECT_DOUBLE_EQ(predicted_bubble(1, 8), 0.0);
  EXPECT_DOUBLE_EQ(predicted_bubble(2, 1), 0.5);
  EXPECT_DOUBLE_EQ(predicted_bubble(4, 1), 0.75);
  EXPECT_DOUBLE_EQ(predicted_bubble(4, 4), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(predicted_bubble(2, 8), 1.0 / 9.0);
  EXPECT_DOUBLE_EQ(predicted_bubble(8, 32), 7.0 / 39.0);
}

using tb::testing::error_of;

TEST(PipelineSchedule, RefusesBadCountsNamingThem) {
  const auto gpipe = PipelineSchedule::gpipe;
  EXPECT_NE(error_of([&] { pipeline_ops(gpipe, 0, 0, 4); }).find("got 0"), std::string::npos);
  EXPECT_NE(error_of([&] { pipeline_ops(gpipe, 0, 2, 0); }).find("micro-batch count"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pipeline_ops(gpipe, 2, 2, 1); }).find("stage 2 is not in [0, 2)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pipeline_ops(gpipe, -1, 2, 1); }).find("stage -1"), std::string::npos);
  EXPECT_NE(error_of([&] { predicted_bubble(0, 1); }).find("got 0"), std::string::npos);
  EXPECT_NE(error_of([&] { predicted_bubble(1, -3); }).find("got -3"), std::string::npos);
}

// ---- split_stages ----

struct Net {
  std::unique_ptr<tensor::Backend> cpu = tensor::make_cpu_backend(1);
  std::unique_ptr<nn::Model> model;
  Net(const nn::ModelSpec& spec, const tensor::Shape& sample, std::int64_t classes,
      std::uint64_t seed = 7) {
    model = nn::build_model(*cpu, spec, sample, classes, seed);
  }
};

using nn::test_specs::mlp;

// The heaviest stage of the best split, by trying every split (small models only).
std::int64_t brute_force_heaviest(const std::vector<std::int64_t>& w, int stages) {
  const int n = static_cast<int>(w.size());
  std::int64_t best = std::numeric_limits<std::int64_t>::max();
  // cuts: a bit mask of the n - 1 places between layers; exactly stages - 1 of them.
  for (std::uint32_t mask = 0; mask < (1u << (n - 1)); ++mask) {
    if (__builtin_popcount(mask) != stages - 1) continue;
    std::int64_t heaviest = 0, current = 0;
    for (int i = 0; i < n; ++i) {
      current += w[i];
      if (i == n - 1 || (mask >> i) & 1u) {
        heaviest = std::max(heaviest, current);
        current = 0;
      }
    }
    best = std::min(best, heaviest);
  }
  return best;
}

TEST(PipelineSplitStages, ContiguousNonEmptyAndAsLightAsAnySplit) {
  Net net(mlp({32, 24, 32, 16}), {16}, 8);
  const auto& layers = net.model->layers();
  const int n = static_cast<int>(layers.size());
  ASSERT_EQ(n, 10);  // Flatten, 4 x (Linear, ReLU), Linear
  std::vector<std::int64_t> w;
  std::int64_t total = 0;
  for (const auto& layer : layers) {
    std::int64_t count = 0;
    for (const auto* p : layer->parameters()) count += p->value.numel();
    w.push_back(count);
    total += count;
  }
  const std::int64_t overhead = std::max<std::int64_t>(1, total / (16 * n));
  for (auto& x : w) x += overhead;
  for (int stages = 1; stages <= n; ++stages) {
    SCOPED_TRACE("stages " + std::to_string(stages));
    const auto ranges = split_stages(*net.model, stages);
    ASSERT_EQ(static_cast<int>(ranges.size()), stages);
    EXPECT_EQ(ranges.front().begin, 0);
    EXPECT_EQ(ranges.back().end, n);
    std::int64_t heaviest = 0;
    for (int s = 0; s < stages; ++s) {
      EXPECT_LT(ranges[s].begin, ranges[s].end);
      if (s > 0) {
        EXPECT_EQ(ranges[s].begin, ranges[s - 1].end);
      }
      std::int64_t sum = 0;
      for (int i = ranges[s].begin; i < ranges[s].end; ++i) sum += w[i];
      heaviest = std::max(heaviest, sum);
    }
    EXPECT_EQ(heaviest, brute_force_heaviest(w, stages));
  }
  // Two stages: Linear(16->32) 544, Linear(32->24) 792, Linear(24->32) 800, Linear(32->16) 528,
  // Linear(16->8) 136, and 2800 / 160 = 17 a layer: the cut after the second ReLU balances
  // 1421 against 1549 (after the second Linear: 1404 against 1566).
  EXPECT_EQ(overhead, 17);
  EXPECT_EQ(split_stages(*net.model, 2), (std::vector<StageRange>{{0, 5}, {5, 10}}));
  EXPECT_EQ(split_stages(*net.model, 10)[9], (StageRange{9, 10}));
}

TEST(PipelineSplitStages, RefusesMoreStagesThanLayers) {
  Net net(mlp({8}), {4}, 2);  // Flatten, Linear, ReLU, Linear
  try {
    split_stages(*net.model, 5);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5 stages"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("has 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(split_stages(*net.model, 0), Error);
}

// ---- one stage in a world of one ----

using tb::testing::rows_of;

using tb::testing::accumulate_microbatches;  // the unsplit model's reference

void expect_grads_near(const std::vector<nn::Parameter*>& params,
                       const std::map<std::string, std::vector<float>>& reference) {
  ASSERT_FALSE(params.empty());
  for (const nn::Parameter* p : params) {
    const auto& ref = reference.at(p->name);
    float scale = 0.0f;
    for (const float v : ref) scale = std::max(scale, std::abs(v));
    ASSERT_GT(scale, 0.0f) << p->name;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(p->grad.data()[i], ref[i], 1e-5f * scale + 1e-8f) << p->name << "[" << i << "]";
    }
  }
}

struct Batch {
  Tensor x, labels;
  Batch(tensor::Backend& cpu, const tensor::Shape& x_shape, std::int64_t classes, unsigned seed) {
    std::mt19937 rng(seed);
    x = cpu.empty(x_shape);
    labels = cpu.empty({x_shape[0]}, tensor::DType::i32);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (std::int64_t i = 0; i < x.numel(); ++i) x.data()[i] = u(rng);
    for (std::int64_t i = 0; i < x_shape[0]; ++i) {
      labels.data_i32()[i] = static_cast<std::int32_t>(rng() % classes);
    }
  }
};

TEST(PipelineStageOfOne, GradientsAreTheFullBatchsAndGPipeRematerialises) {
  const auto comm = make_local_communicator();
  for (const auto schedule : {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b}) {
    for (const int m : {1, 2, 3, 7}) {
      SCOPED_TRACE(std::string(pipeline_schedule_name(schedule)) + " m=" + std::to_string(m));
      Net pipe(mlp({12, 10}), {5}, 4), ref(mlp({12, 10}), {5}, 4);
      Batch batch(*pipe.cpu, {7, 5}, 4, 3);
      PipelineStage stage(*comm, *pipe.cpu, *pipe.model, 1, m, schedule);
      nn::SoftmaxCrossEntropy ce(*pipe.cpu);
      const PipelineStepResult r = stage.train_step(batch.x, batch.labels, ce);
      std::map<std::string, std::vector<float>> grads;
      const float loss =
          accumulate_microbatches(*ref.cpu, *ref.model, batch.x, batch.labels, 1, 0, grads);
      EXPECT_NEAR(r.loss, loss, 1e-5f * std::abs(loss));
      expect_grads_near(stage.parameters(), grads);
      EXPECT_EQ(stage.parameters().size(), pipe.model->parameters().size());
      // GPipe's last forward is still in the layers; every other backward re-runs its forward.
      EXPECT_EQ(r.recomputed_forwards, schedule == PipelineSchedule::gpipe ? m - 1 : 0);
      EXPECT_DOUBLE_EQ(r.predicted_bubble, 0.0);
      EXPECT_GE(r.wall_s, r.compute_s);
    }
  }
}

// A cnn with BatchNorm and Dropout under GPipe (two of three forwards re-materialised): the masks
// are replayed and the running statistics advance once a micro-batch, as the unsplit model's do
// when it accumulates the same micro-batches; over two steps.
TEST(PipelineStageOfOne, ReplaysDropoutAndKeepsBatchNormStatisticsOnRematerialising) {
  const auto comm = make_local_communicator();
  nn::ModelSpec spec;
  spec.type = "cnn";
  spec.conv = {{3, 3, 2, true}};
  spec.hidden = {10};
  spec.dropout = 0.5;
  Net pipe(spec, {2, 6, 6}, 3), ref(spec, {2, 6, 6}, 3);
  const int m = 3;
  PipelineStage stage(*comm, *pipe.cpu, *pipe.model, 1, m, PipelineSchedule::gpipe);
  nn::SoftmaxCrossEntropy ce(*pipe.cpu);
  for (std::uint64_t step = 0; step < 2; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    Batch batch(*pipe.cpu, {8, 2, 6, 6}, 3, 11 + static_cast<unsigned>(step));
    const PipelineStepResult r = stage.train_step(batch.x, batch.labels, ce);
    EXPECT_EQ(r.recomputed_forwards, m - 1);
    std::map<std::string, std::vector<float>> grads;
    const float loss =
        accumulate_microbatches(*ref.cpu, *ref.model, batch.x, batch.labels, m, step, grads);
    EXPECT_NEAR(r.loss, loss, 1e-5f * std::abs(loss));
    expect_grads_near(stage.parameters(), grads);
    const auto* bn = dynamic_cast<const nn::BatchNorm2d*>(pipe.model->layers()[1].get());
    const auto* bn_ref = dynamic_cast<const nn::BatchNorm2d*>(ref.model->layers()[1].get());
    ASSERT_NE(bn, nullptr);
    ASSERT_NE(bn_ref, nullptr);
    for (std::int64_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(bn->running_mean().data()[c], bn_ref->running_mean().data()[c], 1e-6f);
      EXPECT_NEAR(bn->running_var().data()[c], bn_ref->running_var().data()[c], 1e-6f);
    }
  }
  EXPECT_EQ(stage.training_steps_done(), 2u);
}

TEST(PipelineStageOfOne, RefusesWhatItCannotRunNamingIt) {
  const auto comm = make_local_communicator();
  Net net(mlp({6}), {5}, 3);
  const auto gpipe = PipelineSchedule::gpipe;
  EXPECT_NE(error_of([&] {
              PipelineStage(*comm, *net.cpu, *net.model, 2, 2, gpipe);
            }).find("2 stages over a world of 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              PipelineStage(*comm, *net.cpu, *net.model, 1, 0, gpipe);
            }).find("0 micro-batches"),
            std::string::npos);
  net.model->set_storage(tensor::DType::bf16);
  EXPECT_NE(error_of([&] {
              PipelineStage(*comm, *net.cpu, *net.model, 1, 2, gpipe);
            }).find("stores activations as bf16"),
            std::string::npos);
  net.model->set_storage(tensor::DType::f32);

  PipelineStage stage(*comm, *net.cpu, *net.model, 1, 4, gpipe);
  nn::SoftmaxCrossEntropy ce(*net.cpu);
  Batch small(*net.cpu, {3, 5}, 3, 1);
  EXPECT_NE(error_of([&] {
              stage.train_step(small.x, small.labels, ce);
            }).find("a batch of 3 samples cannot be split into 4 micro-batches"),
            std::string::npos);
  Batch wrong(*net.cpu, {6, 4}, 3, 1);
  EXPECT_NE(error_of([&] {
              stage.train_step(wrong.x, wrong.labels, ce);
            }).find("x is f32 [6, 4], expected f32 [6, 5]"),
            std::string::npos);
  Batch good(*net.cpu, {6, 5}, 3, 1);
  EXPECT_NE(error_of([&] { stage.train_step(good.x, Tensor(), ce); }).find("i32 labels [N]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              stage.train_step(good.x, small.labels, ce);
            }).find("3 labels for a batch of 6 samples"),
            std::string::npos);
  // Refusals leave the stage usable.
  EXPECT_GT(stage.train_step(good.x, good.labels, ce).loss, 0.0f);
}

}  // namespace
}  // namespace tb::dist
