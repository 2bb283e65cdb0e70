// Flattening nested settings and diffing them across sessions.
#include "core/compare/settings_diff.h"

#include <gtest/gtest.h>

namespace tb::compare {
namespace {

using nlohmann::json;

TEST(SettingsDiff, FlattensNestedSettingsToDottedKeys) {
  const auto flat = flatten_settings(json::parse(R"({
    "name": "mlp",
    "model": {"hidden": [256, 128], "dropout": 0.1, "extra": {}},
    "optimizer": {"type": "adam", "lr": 0.001, "betas": [0.9, 0.999], "nesterov": false},
    "data": {"loader": {"workers": 2, "cache_dir": ""}, "options": null}
  })"));
  const FlatSettings expected = {{"data.loader.cache_dir", ""},
                                 {"data.loader.workers", "2"},
                                 {"data.options", "null"},
                                 {"model.dropout", "0.1"},
                                 {"model.extra", "{}"},
                                 {"model.hidden", "[256,128]"},
                                 {"name", "mlp"},
                                 {"optimizer.betas", "[0.9,0.999]"},
                                 {"optimizer.lr", "0.001"},
                                 {"optimizer.nesterov", "false"},
                                 {"optimizer.type", "adam"}};
  EXPECT_EQ(flat, expected);
  EXPECT_TRUE(flatten_settings(json()).empty());
  EXPECT_TRUE(flatten_settings(json::object()).empty());
}

TEST(SettingsDiff, DifferingRowsComeFirstAndMissingKeysDiffer) {
  const auto a = flatten_settings(json::parse(R"({
    "model": {"hidden": [64], "type": "mlp"},
    "optimizer": {"lr": 0.1, "type": "sgd", "momentum": 0.9},
    "train": {"epochs": 3}})"));
  const auto b = flatten_settings(json::parse(R"({
    "model": {"hidden": [64], "type": "mlp"},
    "optimizer": {"lr": 0.01, "type": "sgd"},
    "train": {"epochs": 3, "clip": 1.0}})"));
  const auto c = flatten_settings(json::parse(R"({
    "model": {"hidden": [64], "type": "mlp"},
    "optimizer": {"lr": 0.1, "type": "sgd", "momentum": 0.9},
    "train": {"epochs": 3}})"));
  const auto rows = diff_settings({a, b, c});
  std::vector<std::string> keys;
  for (const auto& row : rows) keys.push_back(row.key);
  // Differing rows in the order keys first appear (session 0's, then train.clip from session 1),
  // then the equal ones in the same order.
  const std::vector<std::string> expected = {"optimizer.lr", "optimizer.momentum", "train.clip",
                                             "model.hidden", "model.type",         "optimizer.type",
                                             "train.epochs"};
  EXPECT_EQ(keys, expected);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].differs, i < 3) << rows[i].key;

  EXPECT_EQ(rows[0].values, (std::vector<std::optional<std::string>>{"0.1", "0.01", "0.1"}));
  EXPECT_EQ(rows[1].values, (std::vector<std::optional<std::string>>{"0.9", std::nullopt, "0.9"}));
  EXPECT_EQ(rows[2].values,
            (std::vector<std::optional<std::string>>{std::nullopt, "1.0", std::nullopt}));
  EXPECT_EQ(rows[3].values, (std::vector<std::optional<std::string>>{"[64]", "[64]", "[64]"}));

  const auto only = differing_rows(rows);
  ASSERT_EQ(only.size(), 3u);
  EXPECT_EQ(only[0].key, "optimizer.lr");
  EXPECT_EQ(only[2].key, "train.clip");
}

TEST(SettingsDiff, IdenticalSessionsHaveNoDifferences) {
  const FlatSettings s = {{"a", "1"}, {"b", "x"}};
  const auto rows = diff_settings({s, s});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].differs);
  EXPECT_FALSE(rows[1].differs);
  EXPECT_TRUE(differing_rows(rows).empty());
  EXPECT_TRUE(diff_settings({}).empty());
}

TEST(SettingsDiff, AKeyStoredTwiceKeepsItsLastValue) {
  const FlatSettings a = {{"x", "1"}, {"x", "2"}};
  const FlatSettings b = {{"x", "2"}};
  const auto rows = diff_settings({a, b});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].differs);
  EXPECT_EQ(rows[0].values[0], "2");
}

}  // namespace
}  // namespace tb::compare
