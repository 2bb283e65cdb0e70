// The sparse workloads end to end: project validation of the synthetic datasets and their models,
// training both for a few steps, the stored session, the gradient memory figures, determinism.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/tensor/backend_registry.h"
#include "tests/support/forwarding_backend.h"
#include "tests/support/run_support.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using nlohmann::json;
using tb::testing::TempDir;

std::string field_error(const json& doc) {
  try {
    Project::from_json(doc, "p.json");
  } catch (const ProjectError& e) {
    return e.field() + " | " + e.what();
  }
  return "";
}

json small_bow() {
  return json::parse(R"({
    "name": "bow", "seed": 7,
    "data": {"dataset": "synthetic-bow", "batch_size": 64,
             "bow": {"classes": 4, "vocabulary": 2000, "train_samples": 1024,
                     "test_samples": 256, "min_length": 30, "max_length": 60,
                     "topic_words": 50, "topic_share": 0.3}},
    "model": {"type": "bow", "hidden": [16]},
    "optimizer": {"type": "adam", "lr": 0.01},
    "train": {"epochs": 2, "threads": 1}})");
}

json small_recsys() {
  return json::parse(R"({
    "name": "recsys", "seed": 7,
    "data": {"dataset": "synthetic-recsys", "batch_size": 128,
             "recsys": {"users": 300, "items": 500, "rank": 2, "train_samples": 8192,
                        "test_samples": 1024}},
    "model": {"type": "recsys", "embedding_dim": 8, "hidden": []},
    "optimizer": {"type": "adam", "lr": 0.02},
    "train": {"epochs": 2, "threads": 1}})");
}

TEST(SparseProject, ReadsTheSyntheticSectionsAndWritesThemBack) {
  const auto p = Project::from_json(small_bow());
  EXPECT_EQ(p.data.bow.vocabulary, 2000);
  EXPECT_EQ(p.data.bow.topic_share, 0.3);
  const auto doc = p.to_json();
  EXPECT_EQ(doc["data"]["bow"]["topic_words"], 50);
  EXPECT_FALSE(doc["data"].contains("path"));
  EXPECT_FALSE(doc["data"].contains("recsys"));
  EXPECT_EQ(Project::from_json(doc).to_json(), doc);
  const auto r = Project::from_json(small_recsys());
  EXPECT_EQ(r.model.embedding_dim, 8);
  EXPECT_EQ(r.to_json()["data"]["recsys"]["users"], 300);
  EXPECT_EQ(r.to_json()["model"]["embedding_dim"], 8);
}

TEST(SparseProject, ErrorsNameTheField) {
  auto expect_field = [](json doc, const std::string& field, const std::string& words) {
    const auto error = field_error(doc);
    EXPECT_EQ(error.substr(0, error.find(" | ")), field) << error;
    EXPECT_NE(error.find(words), std::string::npos) << error;
  };
  auto doc = small_bow();
  doc["data"]["bow"]["vocabulary"] = 10;
  expect_field(doc, "data.bow.vocabulary", "expected an integer in [100");
  doc = small_bow();
  doc["data"]["bow"]["min_length"] = 100;
  expect_field(doc, "data.bow.min_length", "<= max_length");
  doc = small_bow();
  doc["data"]["bow"]["words"] = 3;
  expect_field(doc, "data.bow.words", "unknown key");
  doc = small_bow();
  doc["data"]["recsys"] = json::object();
  expect_field(doc, "data.recsys", "synthetic-recsys");
  doc = small_bow();
  doc["data"]["path"] = "/tmp";
  expect_field(doc, "data.path", "reads no files");
  doc = small_bow();
  doc["data"]["train_limit"] = 10;
  expect_field(doc, "data.train_limit", "train_samples");
  doc = small_bow();
  doc["model"]["type"] = "mlp";
  expect_field(doc, "model.type", "use bow");
  doc = small_recsys();
  doc["model"] = {{"type", "bow"}};
  expect_field(doc, "model.type", "use recsys");
  expect_field(json{{"model", {{"type", "recsys"}}}}, "model.type", "needs sparse data");
  doc = small_bow();
  doc["model"]["embedding_dim"] = 8;
  expect_field(doc, "model.embedding_dim", "recsys");
  doc = small_bow();
  doc["precision"] = "bf16";
  expect_field(doc, "precision", "fp32");
  doc = small_recsys();
  doc["train"]["clip_grad_norm"] = 1.0;
  expect_field(doc, "train.clip_grad_norm", "row-sparse");
  doc = small_recsys();
  doc["optimizer"] = {{"type", "sgd"}, {"lr", 0.1}};  // momentum 0.9 by default
  expect_field(doc, "optimizer.momentum", "row-sparse");
  doc["optimizer"] = {{"type", "lion"}};
  expect_field(doc, "optimizer.type", "use sgd or adam");
  doc["optimizer"] = {{"type", "adam"}, {"weight_decay", 0.01}};
  expect_field(doc, "optimizer.weight_decay", "SparseAdam");
  // The bow model has dense gradients only: every optimizer and clipping are fine.
  doc = small_bow();
  doc["optimizer"] = {{"type", "sgd"}, {"momentum", 0.9}};
  doc["train"]["clip_grad_norm"] = 1.0;
  EXPECT_EQ(field_error(doc), "");
}

TEST(SparseRunner, TrainsTheBowClassifierAndStoresTheSession) {
  TempDir dir;
  const auto db = dir / "s.db";
  const auto project = Project::from_json(small_bow());
  const auto result = Runner(project, {db, nullptr, "bow.json", {}, {}, {}}).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_EQ(result.steps, 2 * 16);
  EXPECT_EQ(result.epochs, 2);
  // 4 classes with strong topics: far above chance (0.25).
  EXPECT_GT(result.test_accuracy, 0.8);
  EXPECT_EQ(result.parameters, 2000 * 16 + 16 + 16 * 4 + 4);
  EXPECT_EQ(result.weight_bytes, result.parameters * 4);
  EXPECT_EQ(result.dense_grad_bytes, 0);  // no Embedding tables
  EXPECT_EQ(to_json(result).contains("sparse_grad_bytes"), false);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto loss = store.metrics(result.session, "train_loss");
  ASSERT_EQ(loss.size(), 32u);
  EXPECT_LT(loss.back().value, 0.7 * loss.front().value);
  EXPECT_EQ(store.metrics(result.session, "test_accuracy").size(), 2u);
  EXPECT_EQ(store.metrics(result.session, "samples_per_s").size(), 32u);
  const auto params = store.params(result.session);
  auto param = [&](const std::string& key) {
    for (const auto& [k, v] : params)
      if (k == key) return v;
    return std::string("(missing)");
  };
  EXPECT_EQ(param("data.dataset"), "synthetic-bow");
  EXPECT_EQ(param("data.bow.vocabulary"), "2000");
  EXPECT_EQ(param("dataset.train.samples"), "1024");
  EXPECT_EQ(param("dataset.train.fingerprint").rfind("crc32:", 0), 0u);
}

TEST(SparseRunner, AutoTrainsSparseModelsOnTheCpuWhereAGpuCouldBeUsed) {
  // A machine with a usable GPU, as the registered factory reports it: sparse layers run on host
  // tensors only, so "auto" must still take the CPU for them.
  tensor::register_cuda_backend_factory({[] { return std::string(); },
                                         [](int) -> std::unique_ptr<tensor::Backend> {
                                           return std::make_unique<tb::testing::GpuStandIn>();
                                         }});
  TempDir dir;
  const auto db = dir / "s.db";
  auto doc = small_bow();
  doc["device"] = "auto";
  doc["train"]["epochs"] = 1;
  const auto result = Runner(Project::from_json(doc), {db, nullptr, "", {}, {}, {}}).run();
  tensor::register_cuda_backend_factory({});
  ASSERT_EQ(result.status, "completed") << result.error;
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(tb::testing::param(store.params(result.session), "device.backend"), "cpu");
}

TEST(SparseRunner, TrainsTheRecsysModelWithRowSparseGradients) {
  TempDir dir;
  const auto db = dir / "s.db";
  const auto project = Project::from_json(small_recsys());
  const auto result = Runner(project, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_EQ(result.steps, 2 * 64);
  EXPECT_EQ(result.parameters, (300 + 500) * 8 + 8 * 2 + 2);
  // Both tables dense: (300 + 500) rows x 8 floats.
  EXPECT_EQ(result.dense_grad_bytes, (300 + 500) * 8 * 4);
  // At most 128 user and 128 item rows a step, each 8 floats and an int64 id.
  EXPECT_GT(result.sparse_grad_bytes, 0);
  EXPECT_LE(result.sparse_grad_bytes, 2 * 128 * (8 * 4 + 8));
  // The tables must learn: with their learning rate at 0 (the head alone training on random
  // embeddings) the same run stays near chance.
  auto frozen_doc = small_recsys();
  frozen_doc["optimizer"]["param_groups"] = json::parse(R"([{"match": "0.", "lr": 0}])");
  const auto frozen = Runner(Project::from_json(frozen_doc), {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(frozen.status, "completed") << frozen.error;
  std::printf("recsys test accuracy: trained %.4f, tables frozen %.4f\n", result.test_accuracy,
              frozen.test_accuracy);
  EXPECT_GT(result.test_accuracy, frozen.test_accuracy + 0.04);  // measured: 0.5625 vs 0.4971
  EXPECT_LT(result.train_loss, frozen.train_loss);
  const auto summary = to_json(result);
  EXPECT_EQ(summary["dense_grad_bytes"], result.dense_grad_bytes);
  EXPECT_EQ(summary["sparse_grad_bytes"], result.sparse_grad_bytes);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  EXPECT_EQ(store.metrics(result.session, "sparse_grad_bytes").size(), 128u);
  const auto params = store.params(result.session);
  bool found = false;
  for (const auto& [k, v] : params) {
    if (k == "memory.dense_grad_bytes") {
      EXPECT_EQ(v, std::to_string(result.dense_grad_bytes));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

// A checkpoint holds the Embedding tables and SparseAdam's moments as well as the dense head:
// a run stopped mid-epoch and resumed ends bit for bit where the uninterrupted run ends. With the
// sparse state left out, the resumed run would restart from fresh tables and moments.
TEST(SparseRunner, ResumingTheRecsysModelGivesTheUninterruptedRun) {
  TempDir dir;
  const auto db = dir / "s.db";
  auto doc = small_recsys();
  doc["model"]["hidden"] = {16};  // a dense head beside the tables
  const auto project = Project::from_json(doc);
  const auto straight = Runner(project, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(straight.status, "completed") << straight.error;
  ASSERT_EQ(straight.steps, 2 * 64);

  auto first_part = project;
  first_part.train.max_steps = 83;  // inside the second epoch
  first_part.train.checkpoint = "end";
  const auto part = Runner(first_part, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(part.status, "completed") << part.error;
  ASSERT_EQ(part.steps, 83);
  {
    store::SessionStore store(db, store::SessionStore::Mode::read_only);
    const auto checkpoint = store.checkpoint(part.session);
    ASSERT_TRUE(checkpoint.has_value());
    std::size_t sparse_buffers = 0;
    for (const auto& t : checkpoint->tensors) {
      sparse_buffers += t.name.starts_with("sparse_optimizer/") ? 1 : 0;
    }
    EXPECT_EQ(sparse_buffers, 4u);  // exp_avg and exp_avg_sq of the user and item tables
  }
  RunOptions options{db, nullptr, "", {}, {}, {}};
  options.resume_from = part.session;
  const auto resumed = Runner(project, options).run();
  ASSERT_EQ(resumed.status, "completed") << resumed.error;
  EXPECT_EQ(resumed.steps, straight.steps);
  EXPECT_EQ(resumed.test_accuracy, straight.test_accuracy);
  EXPECT_EQ(resumed.test_loss, straight.test_loss);

  // The tables must fit: a checkpoint of other embedding widths is refused, naming the table.
  auto wider = doc;
  wider["model"]["embedding_dim"] = 4;
  options.resume_from = part.session;
  const auto refused = Runner(Project::from_json(wider), options).run();
  EXPECT_EQ(refused.status, "failed");
  EXPECT_NE(refused.error.find("does not fit this model"), std::string::npos) << refused.error;
}

TEST(SparseRunner, SameSeedSameResult) {
  auto doc = small_recsys();
  doc["train"]["max_steps"] = 20;
  const auto project = Project::from_json(doc);
  const auto a = Runner(project, {}).run();
  const auto b = Runner(project, {}).run();
  ASSERT_EQ(a.status, "completed") << a.error;
  EXPECT_EQ(a.test_loss, b.test_loss);
  EXPECT_EQ(a.train_loss, b.train_loss);
  doc["seed"] = 8;
  const auto c = Runner(Project::from_json(doc), {}).run();
  EXPECT_NE(a.test_loss, c.test_loss);
  auto bow = small_bow();
  bow["train"]["max_steps"] = 10;
  const auto d = Runner(Project::from_json(bow), {}).run();
  const auto e = Runner(Project::from_json(bow), {}).run();
  EXPECT_EQ(d.test_loss, e.test_loss);
}

}  // namespace
}  // namespace tb::run
