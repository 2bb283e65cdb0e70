// The project file's optimizer and schedule sections: per-type defaults, keys of another type
// rejected by name, round trips.
#include <gtest/gtest.h>

#include "core/run/project.h"

namespace tb::run {
namespace {

using nlohmann::json;

Project with_optimizer(const json& optimizer) {
  return Project::from_json({{"optimizer", optimizer}}, "p.json");
}

std::string error_field(const json& doc) {
  try {
    Project::from_json(doc, "p.json");
  } catch (const ProjectError& e) {
    return e.field() + " | " + e.what();
  }
  return "";
}

TEST(ProjectOptimizer, DefaultsFollowTheType) {
  const auto adam = with_optimizer({{"type", "adam"}}).optimizer;
  EXPECT_DOUBLE_EQ(adam.lr, 1e-3);
  EXPECT_DOUBLE_EQ(adam.beta1, 0.9);
  EXPECT_DOUBLE_EQ(adam.beta2, 0.999);
  EXPECT_DOUBLE_EQ(adam.eps, 1e-8);
  EXPECT_DOUBLE_EQ(adam.weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(with_optimizer({{"type", "adamw"}}).optimizer.weight_decay, 1e-2);
  const auto lion = with_optimizer({{"type", "lion"}}).optimizer;
  EXPECT_DOUBLE_EQ(lion.lr, 1e-4);
  EXPECT_DOUBLE_EQ(lion.beta2, 0.99);
  const auto rmsprop = with_optimizer({{"type", "rmsprop"}}).optimizer;
  EXPECT_DOUBLE_EQ(rmsprop.lr, 1e-2);
  EXPECT_DOUBLE_EQ(rmsprop.alpha, 0.99);
  EXPECT_DOUBLE_EQ(rmsprop.momentum, 0.0);
  EXPECT_DOUBLE_EQ(with_optimizer(json::object()).optimizer.momentum, 0.9);  // sgd
}

TEST(ProjectOptimizer, SettingsAreRead) {
  const auto spec = with_optimizer({{"type", "adamw"},
                                    {"lr", 3e-4},
                                    {"betas", {0.8, 0.95}},
                                    {"amsgrad", true},
                                    {"lookahead", {{"k", 6}, {"alpha", 0.4}}},
                                    {"param_groups", {{{"match", "bias"}, {"weight_decay", 0.0}}}}})
                        .optimizer;
  EXPECT_DOUBLE_EQ(spec.lr, 3e-4);
  EXPECT_DOUBLE_EQ(spec.beta1, 0.8);
  EXPECT_DOUBLE_EQ(spec.beta2, 0.95);
  EXPECT_TRUE(spec.amsgrad);
  EXPECT_EQ(spec.lookahead.k, 6);
  EXPECT_DOUBLE_EQ(spec.lookahead.alpha, 0.4);
  ASSERT_EQ(spec.param_groups.size(), 1u);
  EXPECT_EQ(spec.param_groups[0].match, "bias");
  EXPECT_FALSE(spec.param_groups[0].lr.has_value());
  EXPECT_EQ(spec.param_groups[0].weight_decay, 0.0);
  EXPECT_EQ(with_optimizer({{"lookahead", json::object()}}).optimizer.lookahead.k, 5);
}

TEST(ProjectOptimizer, BadSettingsNameTheField) {
  auto e = error_field({{"optimizer", {{"type", "adam"}, {"momentum", 0.9}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.momentum");
  EXPECT_NE(e.find("not a setting of adam"), std::string::npos) << e;

  e = error_field({{"optimizer", {{"type", "adam"}, {"betas", {1.0, 0.5}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.betas[0]");
  EXPECT_NE(e.find("[0, 1)"), std::string::npos) << e;

  e = error_field({{"optimizer", {{"type", "lion"}, {"betas", {0.9}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.betas");

  e = error_field({{"optimizer", {{"type", "adam"}, {"lr", -0.1}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.lr");

  e = error_field({{"optimizer", {{"nesterov", true}, {"dampening", 0.5}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.nesterov");

  e = error_field({{"optimizer", {{"lookahead", {{"k", 0}}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.lookahead.k");

  e = error_field({{"optimizer", {{"param_groups", {{{"lr", 0.1}}}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.param_groups[0].match");

  e = error_field({{"optimizer", {{"type", "adagrad"}}}});
  EXPECT_NE(e.find("allowed: sgd, adam, adamw, rmsprop, lion"), std::string::npos) << e;
}

TEST(ProjectSchedule, TypesTheirKeysAndErrors) {
  auto p = Project::from_json({{"schedule", {{"type", "cosine"}, {"warmup_steps", 100}}}});
  EXPECT_EQ(p.schedule.type, "cosine");
  EXPECT_EQ(p.schedule.warmup_steps, 100);
  p = Project::from_json({{"schedule", {{"type", "step"}, {"step_size", 30}, {"gamma", 0.5}}}});
  EXPECT_EQ(p.schedule.step_size, 30);
  EXPECT_DOUBLE_EQ(p.schedule.gamma, 0.5);
  EXPECT_EQ(Project::from_json(json::object()).schedule.type, "constant");

  auto e = error_field({{"schedule", {{"type", "cosine"}, {"gamma", 0.5}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "schedule.gamma");
  e = error_field({{"schedule", {{"type", "onecycle"}, {"pct_start", 1.0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "schedule.pct_start");
  e = error_field({{"schedule", {{"type", "step"}, {"gamma", 0.0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "schedule.gamma");
  e = error_field({{"schedule", {{"type", "exponential"}}}});
  EXPECT_NE(e.find("allowed: constant, step, cosine, onecycle"), std::string::npos) << e;
  e = error_field({{"train", {{"clip_grad_norm", -1}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "train.clip_grad_norm");
}

TEST(ProjectOptimizer, EveryTypeRoundTripsThroughJson) {
  for (const char* type : {"sgd", "adam", "adamw", "rmsprop", "lion"}) {
    const auto p = Project::from_json({{"optimizer", {{"type", type}, {"lookahead", {{"k", 3}}}}},
                                       {"schedule", {{"type", "onecycle"}}},
                                       {"train", {{"clip_grad_norm", 1.0}}}});
    const auto doc = p.to_json();
    EXPECT_EQ(Project::from_json(doc).to_json(), doc) << type;
    EXPECT_EQ(doc["optimizer"]["type"], type);
    EXPECT_EQ(doc["optimizer"].contains("momentum"),
              std::string(type) == "sgd" || std::string(type) == "rmsprop")
        << type;
    EXPECT_EQ(doc["optimizer"].contains("betas"),
              std::string(type).find("a") == 0 || std::string(type) == "lion")
        << type;
  }
}

}  // namespace
}  // namespace tb::run
