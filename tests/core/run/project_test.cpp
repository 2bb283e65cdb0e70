// Project files: defaults, validation errors that name the field, overrides, flattening.
#include <gtest/gtest.h>

#include <fstream>

#include "core/run/project.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using nlohmann::json;

std::string field_error(const json& doc) {
  try {
    Project::from_json(doc, "p.json");
  } catch (const ProjectError& e) {
    return e.field() + " | " + e.what();
  }
  return "";
}

TEST(Project, EmptyDocumentGetsEveryDefault) {
  const auto p = Project::from_json(json::object());
  EXPECT_EQ(p.model.type, "mlp");
  EXPECT_EQ(p.model.hidden, (std::vector<std::int64_t>{256, 128}));
  EXPECT_EQ(p.data.batch_size, 128);
  EXPECT_EQ(p.optimizer.type, "sgd");
  EXPECT_EQ(p.device, "cpu");
  EXPECT_EQ(p.train.threads, 2);
  EXPECT_EQ(p.precision, "fp32");
  EXPECT_EQ(p.amp.init_scale, 65536.0);
  EXPECT_EQ(p.amp.growth_interval, 2000);
}

TEST(Project, PrecisionAndLossScalingAreValidatedAndRoundTrip) {
  auto e = field_error({{"precision", "fp8"}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "precision");
  EXPECT_NE(e.find("allowed: fp32, fp16, bf16"), std::string::npos) << e;
  e = field_error({{"precision", 16}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "precision");
  e = field_error({{"amp", {{"backoff_factor", 1.0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "amp.backoff_factor");
  e = field_error({{"amp", {{"init_scale", 0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "amp.init_scale");
  e = field_error({{"amp", {{"growth_factor", 1}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "amp.growth_factor");
  e = field_error({{"amp", {{"growth_interval", 0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "amp.growth_interval");
  e = field_error({{"amp", {{"scale", 2}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "amp.scale");

  const auto p = Project::from_json(
      json::parse(R"({"precision": "fp16", "amp": {"init_scale": 1024, "growth_interval": 10}})"));
  EXPECT_EQ(p.precision, "fp16");
  EXPECT_EQ(p.amp.init_scale, 1024.0);
  EXPECT_EQ(p.amp.growth_interval, 10);
  EXPECT_EQ(p.amp.backoff_factor, 0.5);
  const json doc = p.to_json();
  EXPECT_EQ(doc["precision"], "fp16");
  EXPECT_EQ(Project::from_json(doc).to_json(), doc);
}

TEST(Project, ProfileSectionIsValidatedAndRoundTrips) {
  const auto defaults = Project::from_json(json::object());
  EXPECT_TRUE(defaults.profile.cupti);
  EXPECT_EQ(defaults.profile.kinds, kAllCuptiKinds);

  auto e = field_error({{"profile", {{"cupti", "yes"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "profile.cupti");
  e = field_error({{"profile", {{"kinds", json::array()}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "profile.kinds");
  e = field_error({{"profile", {{"kinds", {"kernel", "warp"}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "profile.kinds[1]");
  EXPECT_NE(e.find("kernel, memcpy, memset, runtime, synchronization, overhead, memory"),
            std::string::npos)
      << e;
  e = field_error({{"profile", {{"kinds", {"kernel", "kernel"}}}}});
  EXPECT_EQ(e, "profile.kinds[1] | p.json: profile.kinds[1]: 'kernel' is listed twice");
  EXPECT_EQ(defaults.profile.flush, "period");
  e = field_error({{"profile", {{"flush", "epoch"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "profile.flush");
  EXPECT_NE(e.find("period, step"), std::string::npos) << e;
  e = field_error({{"profile", {{"nvtx", true}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "profile.nvtx");

  const auto p = Project::from_json(
      json::parse(R"({"profile": {"cupti": false, "kinds": ["kernel", "memcpy"],
                                  "flush": "step"}})"));
  EXPECT_FALSE(p.profile.cupti);
  EXPECT_EQ(p.profile.flush, "step");
  EXPECT_EQ(p.profile.kinds, (std::vector<std::string>{"kernel", "memcpy"}));
  const json doc = p.to_json();
  EXPECT_EQ(doc["profile"]["cupti"], false);
  EXPECT_EQ(Project::from_json(doc).to_json(), doc);
}

TEST(Project, ParallelSectionIsValidatedAndRoundTrips) {
  const auto defaults = Project::from_json(json::object());
  EXPECT_EQ(defaults.parallel.ranks(), 1);
  EXPECT_DOUBLE_EQ(defaults.parallel.bucket_mib, 25.0);
  EXPECT_EQ(defaults.parallel.pipeline.schedule, "1f1b");

  auto e = field_error({{"parallel", {{"data", 0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "parallel.data");
  e = field_error({{"parallel", {{"pipeline", {{"schedule", "zigzag"}}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "parallel.pipeline.schedule");
  EXPECT_NE(e.find("gpipe, 1f1b"), std::string::npos) << e;
  e = field_error({{"parallel", {{"data", 2}, {"tensor", 2}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "parallel");
  EXPECT_NE(e.find("cannot be combined yet"), std::string::npos) << e;
  e = field_error({{"parallel", {{"bucket_mib", 0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "parallel.bucket_mib");

  // What a split of the work cannot carry yet is refused, naming the field to change.
  e = field_error({{"parallel", {{"tensor", 2}}}, {"train", {{"checkpoint", "end"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "train.checkpoint");
  EXPECT_NE(e.find("split by parallel.tensor"), std::string::npos) << e;
  e = field_error(
      {{"parallel", {{"pipeline", {{"stages", 2}}}}}, {"train", {{"clip_grad_norm", 1.0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "train.clip_grad_norm");
  EXPECT_NE(e.find("split by parallel.pipeline"), std::string::npos) << e;
  e = field_error({{"parallel", {{"tensor", 2}}}, {"device", "cuda"}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "device");
  e = field_error({{"parallel", {{"data", 2}}}, {"data", {{"loader", {{"mode", "stream"}}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "data.loader.mode");
  e = field_error({{"parallel", {{"data", 2}}},
                   {"data", {{"dataset", "synthetic-bow"}}},
                   {"model", {{"type", "bow"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "parallel");
  EXPECT_NE(e.find("sparse model"), std::string::npos) << e;
  // Sparse layers run on the CPU: "cuda" is refused for them ("auto" takes the CPU).
  e = field_error(
      {{"device", "cuda"}, {"data", {{"dataset", "synthetic-bow"}}}, {"model", {{"type", "bow"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "device");
  EXPECT_NE(e.find("sparse model"), std::string::npos) << e;
  EXPECT_EQ(field_error({{"device", "auto"},
                         {"data", {{"dataset", "synthetic-bow"}}},
                         {"model", {{"type", "bow"}}}}),
            "");
  // Data parallelism keeps checkpoints and clipping: every rank holds the whole model.
  EXPECT_EQ(field_error({{"parallel", {{"data", 2}}},
                         {"train", {{"checkpoint", "end"}, {"clip_grad_norm", 1.0}}}}),
            "");

  const auto p = Project::from_json(json::parse(
      R"({"parallel": {"pipeline": {"stages": 4, "microbatches": 8, "schedule": "gpipe"},
                       "timeout_s": 30}})"));
  EXPECT_EQ(p.parallel.ranks(), 4);
  EXPECT_EQ(p.parallel.pipeline.microbatches, 8);
  EXPECT_DOUBLE_EQ(p.parallel.timeout_s, 30.0);
  const json doc = p.to_json();
  EXPECT_EQ(doc["parallel"]["pipeline"]["schedule"], "gpipe");
  EXPECT_EQ(Project::from_json(doc).to_json(), doc);
}

TEST(Project, ToJsonRoundTripsAndIsComplete) {
  auto p = Project::from_json(json::parse(R"({
    "name": "x", "seed": 7,
    "model": {"type": "cnn", "conv": [{"channels": 8, "batch_norm": true}], "hidden": [16], "dropout": 0.5},
    "optimizer": {"lr": 0.1, "nesterov": true, "momentum": 0.8}
  })"));
  const json doc = p.to_json();
  const auto again = Project::from_json(doc);
  EXPECT_EQ(again.to_json(), doc);
  EXPECT_EQ(doc["model"]["conv"][0]["channels"], 8);
  EXPECT_EQ(doc["model"]["conv"][0]["kernel"], 3);
  EXPECT_EQ(doc["optimizer"]["dampening"], 0.0);
  EXPECT_EQ(doc["train"]["epochs"], 10);
  EXPECT_EQ(doc["seed"], 7);
}

TEST(Project, ErrorsNameTheFieldAndWhatIsAllowed) {
  auto e = field_error({{"optimizer", {{"type", "adagrad"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.type");
  EXPECT_NE(e.find("allowed: sgd, adam, adamw, rmsprop, lion"), std::string::npos) << e;
  EXPECT_NE(e.find("p.json"), std::string::npos) << e;

  e = field_error({{"optimizer", {{"lr", "fast"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.lr");
  EXPECT_NE(e.find("expected a number"), std::string::npos) << e;

  e = field_error({{"optimizer", {{"lr", -1}}}});
  EXPECT_NE(e.find("optimizer.lr"), std::string::npos) << e;

  e = field_error({{"data", {{"batch_size", 0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "data.batch_size");

  e = field_error({{"data", {{"batch_size", 12.5}}}});
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;

  e = field_error({{"model", {{"type", "transformer"}}}});
  EXPECT_NE(e.find("allowed: mlp, cnn"), std::string::npos) << e;

  e = field_error({{"model", {{"hidden", {64, -3}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "model.hidden[1]");

  e = field_error({{"model", {{"type", "cnn"}, {"conv", {{{"channels", 4}, {"kernel", 4}}}}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "model.conv[0].kernel");

  e = field_error({{"model", {{"type", "cnn"}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "model.conv");

  e = field_error({{"model", {{"dropout", 1.0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "model.dropout");

  e = field_error({{"device", "tpu"}});
  EXPECT_NE(e.find("allowed: cpu, cuda, auto"), std::string::npos) << e;

  e = field_error({{"optimizer", {{"nesterov", true}, {"momentum", 0.0}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimizer.nesterov");

  e = field_error({{"train", 3}});
  EXPECT_NE(e.find("expected an object"), std::string::npos) << e;
}

TEST(Project, UnknownKeysAreRejectedWithTheAllowedOnes) {
  auto e = field_error({{"optimiser", {{"lr", 0.1}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "optimiser");
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("optimizer"), std::string::npos) << e;

  e = field_error({{"train", {{"epoch", 3}}}});
  EXPECT_EQ(e.substr(0, e.find(" | ")), "train.epoch");
  EXPECT_NE(e.find("epochs"), std::string::npos) << e;
}

TEST(Project, OverridesParseJsonValuesOrStrings) {
  json doc = json::object();
  apply_override(doc, "optimizer.lr=0.2");
  apply_override(doc, "model.hidden=[32,16]");
  apply_override(doc, "name=my run");
  apply_override(doc, "data.shuffle=false");
  const auto p = Project::from_json(doc);
  EXPECT_DOUBLE_EQ(p.optimizer.lr, 0.2);
  EXPECT_EQ(p.model.hidden, (std::vector<std::int64_t>{32, 16}));
  EXPECT_EQ(p.name, "my run");
  EXPECT_FALSE(p.data.shuffle);

  EXPECT_THROW(apply_override(doc, "no-equals-sign"), ProjectError);
  EXPECT_THROW(apply_override(doc, "=3"), ProjectError);
  EXPECT_THROW(apply_override(doc, "name.inner=3"), ProjectError);  // name is a string
  EXPECT_THROW(apply_override(doc, "a..b=3"), ProjectError);
  apply_override(doc, "optimizer.lrr=0.1");
  EXPECT_NE(field_error(doc).find("optimizer.lrr"), std::string::npos);
}

TEST(Project, LoadReportsMissingFileAndBadJsonWithOffset) {
  tb::testing::TempDir dir;
  try {
    Project::load(dir / "missing.json");
    FAIL();
  } catch (const ProjectError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
  std::ofstream(dir / "bad.json") << "{\"name\": \"x\",\n \"seed\": }";
  try {
    Project::load(dir / "bad.json");
    FAIL();
  } catch (const ProjectError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: not valid JSON at byte"), std::string::npos)
        << e.what();
  }
  std::ofstream(dir / "ok.json") << R"({"name": "from file", "train": {"epochs": 2}})";
  const auto p = Project::load(dir / "ok.json", {"train.epochs=5"});
  EXPECT_EQ(p.name, "from file");
  EXPECT_EQ(p.train.epochs, 5);
}

TEST(Project, ShippedProjectsAreValid) {
  for (const char* name : {"fashion_mlp.json", "fashion_cnn.json", "fashion_mlp_bf16.json"}) {
    const auto p = Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) / "projects" / name);
    EXPECT_EQ(p.data.batch_size, 128) << name;
  }
  const auto mlp =
      Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) / "projects/fashion_mlp.json");
  EXPECT_EQ(mlp.model.hidden, (std::vector<std::int64_t>{256, 128}));
  // The bf16 project is the fp32 one but for its name and precision.
  auto bf16 = Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) /
                            "projects/fashion_mlp_bf16.json");
  EXPECT_EQ(bf16.precision, "bf16");
  bf16.precision = mlp.precision;
  bf16.name = mlp.name;
  EXPECT_EQ(bf16.to_json(), mlp.to_json());
}

TEST(Project, FlattenGivesDottedKeys) {
  const auto flat = flatten(json::parse(R"({"a": {"b": 1, "c": "x"}, "d": [1, 2], "e": {}})"));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"a.b", "1"}, {"a.c", "x"}, {"d", "[1,2]"}, {"e", "{}"}};
  EXPECT_EQ(flat, expected);
}

}  // namespace
}  // namespace tb::run
