// Parameter groups in the optimizers' step: the slot grouping (detail::group_slots) on its own,
// and every optimizer issuing exactly one multi-tensor backend op per group and step (never a
// single-tensor op), with the group's lr (schedule factor included) and weight decay and the
// group's parameters, in their order, as a counting backend over the CPU sees it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/optim/detail.h"
#include "core/optim/optimizer.h"
#include "core/tensor/backend.h"
#include "tests/core/optim/optim_test_util.h"
#include "tests/support/forwarding_backend.h"

namespace tb::optim {
namespace {

using tensor::Shape;
using tensor::Tensor;
using Groups = std::vector<std::vector<std::size_t>>;

detail::Slot slot(double base_lr, double weight_decay) {
  detail::Slot s;
  s.base_lr = base_lr;
  s.weight_decay = weight_decay;
  return s;
}

TEST(GroupSlots, SlotsSharingLrAndDecayFormOneGroupInFirstSeenOrder) {
  // Two groups, interleaved: (0.1, 0) and (0.2, 0.01).
  const std::vector<detail::Slot> two = {slot(0.1, 0.0), slot(0.2, 0.01), slot(0.2, 0.01),
                                         slot(0.1, 0.0), slot(0.2, 0.01), slot(0.1, 0.0)};
  EXPECT_EQ(detail::group_slots(two), (Groups{{0, 3, 5}, {1, 2, 4}}));

  // The same lr with another decay, and the same decay with another lr, are other groups; the
  // group of the first slot need not be the default's.
  const std::vector<detail::Slot> four = {slot(0.3, 0.0), slot(0.1, 0.0), slot(0.1, 0.5),
                                          slot(0.1, 0.0), slot(0.3, 0.5), slot(0.3, 0.0)};
  EXPECT_EQ(detail::group_slots(four), (Groups{{0, 5}, {1, 3}, {2}, {4}}));
}

TEST(GroupSlots, EdgeCases) {
  EXPECT_TRUE(detail::group_slots(std::vector<detail::Slot>{}).empty());
  EXPECT_EQ(detail::group_slots(std::vector<detail::Slot>{slot(0.1, 0.0)}), (Groups{{0}}));
  // One group for everything when no parameter group matched.
  EXPECT_EQ(detail::group_slots(std::vector<detail::Slot>(4, slot(0.05, 0.0))),
            (Groups{{0, 1, 2, 3}}));
  // Bitwise equality: -0 and +0 are not merged (the update could differ in a zero's sign), and
  // values one ulp apart are not either.
  EXPECT_EQ(detail::group_slots(std::vector<detail::Slot>{slot(0.1, 0.0), slot(0.1, -0.0)}),
            (Groups{{0}, {1}}));
  EXPECT_EQ(detail::group_slots(std::vector<detail::Slot>{
                slot(0.1, 0.0), slot(std::nextafter(0.1, 1.0), 0.0), slot(0.1, 0.0)}),
            (Groups{{0, 2}, {1}}));
}

// The CPU backend, counting the optimizer ops it is asked for and recording each multi op's
// list and settings.
class CountingCpu final : public tb::testing::ForwardingBackend {
 public:
  struct Call {
    std::string op;
    std::vector<const Tensor*> params;
    float lr = 0.0f, weight_decay = 0.0f;
  };
  std::vector<Call> calls;  // multi ops
  int single_ops = 0;

  std::string name() const override { return "counting cpu"; }
  void sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                const tensor::SgdStep& step) override {
    ++single_ops;
    ForwardingBackend::sgd_step(param, grad, velocity, step);
  }
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 Tensor& max_exp_avg_sq, const tensor::AdamStep& step) override {
    ++single_ops;
    ForwardingBackend::adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step);
  }
  void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                    Tensor& momentum_buf, const tensor::RmspropStep& step) override {
    ++single_ops;
    ForwardingBackend::rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, step);
  }
  void lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                 const tensor::LionStep& step) override {
    ++single_ops;
    ForwardingBackend::lion_step(param, grad, exp_avg, step);
  }

  void sgd_step_multi(std::span<const tensor::SgdTensors> tensors,
                      const tensor::SgdStep& step) override {
    record("sgd", tensors, step.lr, step.weight_decay);
    ForwardingBackend::sgd_step_multi(tensors, step);
  }
  void adam_step_multi(std::span<const tensor::AdamTensors> tensors,
                       const tensor::AdamStep& step) override {
    record("adam", tensors, step.lr, step.weight_decay);
    ForwardingBackend::adam_step_multi(tensors, step);
  }
  void rmsprop_step_multi(std::span<const tensor::RmspropTensors> tensors,
                          const tensor::RmspropStep& step) override {
    record("rmsprop", tensors, step.lr, step.weight_decay);
    ForwardingBackend::rmsprop_step_multi(tensors, step);
  }
  void lion_step_multi(std::span<const tensor::LionTensors> tensors,
                       const tensor::LionStep& step) override {
    record("lion", tensors, step.lr, step.weight_decay);
    ForwardingBackend::lion_step_multi(tensors, step);
  }

 private:
  template <class List>
  void record(const char* op, const List& tensors, float lr, float weight_decay) {
    Call call{op, {}, lr, weight_decay};
    for (const auto& t : tensors) call.params.push_back(t.param);
    calls.push_back(std::move(call));
  }
};

TEST(GroupedStep, OneMultiOpPerParameterGroupAndStep) {
  // p0, p2: the optimizer's settings; p1, p3: twice the lr (two group specs with equal settings
  // make one group); p4: its own weight decay. Five parameters, three groups, interleaved.
  struct Case {
    std::string type, op;
  };
  for (const Case& c : {Case{"sgd", "sgd"}, Case{"adam", "adam"}, Case{"adamw", "adam"},
                        Case{"rmsprop", "rmsprop"}, Case{"lion", "lion"}}) {
    SCOPED_TRACE(c.type);
    CountingCpu backend;
    std::mt19937_64 rng(7);
    std::vector<nn::Parameter> params;
    for (int i = 0; i < 5; ++i) {
      const auto n = static_cast<std::size_t>(3 + i);
      const Shape shape{static_cast<std::int64_t>(n)};
      std::string name = "p";
      name += std::to_string(i);  // not "p" + ...: GCC 12 warns falsely (-Wrestrict) on that
      params.push_back({name, test_util::from_vec(backend, shape, test_util::random_floats(n, rng)),
                        test_util::from_vec(backend, shape, test_util::random_floats(n, rng))});
    }
    OptimizerSpec spec;
    spec.type = c.type;
    spec.lr = 0.01;
    spec.weight_decay = 0.001;
    spec.beta2 = 0.99;
    spec.param_groups = {{.match = "p1", .lr = 0.02, .weight_decay = std::nullopt},
                         {.match = "p3", .lr = 0.02, .weight_decay = std::nullopt},
                         {.match = "p4", .lr = std::nullopt, .weight_decay = 0.1}};
    auto optimizer = make_optimizer(backend, test::pointers(params), spec);
    for (int step = 1; step <= 2; ++step) {
      backend.calls.clear();
      optimizer->set_lr_factor(step == 1 ? 1.0 : 0.5);
      optimizer->step();
      const float factor = step == 1 ? 1.0f : 0.5f;
      ASSERT_EQ(backend.calls.size(), 3u) << "step " << step;
      const std::vector<std::vector<const Tensor*>> members = {{&params[0].value, &params[2].value},
                                                               {&params[1].value, &params[3].value},
                                                               {&params[4].value}};
      const std::vector<double> lrs = {0.01, 0.02, 0.01};
      const std::vector<double> decays = {0.001, 0.001, 0.1};
      for (std::size_t g = 0; g < 3; ++g) {
        const auto& call = backend.calls[g];
        EXPECT_EQ(call.op, c.op) << "group " << g;
        EXPECT_EQ(call.params, members[g]) << "group " << g;
        EXPECT_EQ(call.lr, static_cast<float>(lrs[g] * factor)) << "group " << g;
        EXPECT_EQ(call.weight_decay, static_cast<float>(decays[g])) << "group " << g;
      }
    }
    EXPECT_EQ(backend.single_ops, 0) << "the CPU's multi default calls its own single ops";
  }
}

}  // namespace
}  // namespace tb::optim
