// `trainbench sweep`'s --set axes and their grid.
#include "core/compare/sweep_grid.h"

#include <gtest/gtest.h>

#include "core/util/error.h"

namespace tb::compare {
namespace {

using Values = std::vector<std::string>;

// The message of the error parse_sweep_axes throws, or "" when it throws none.
std::string parse_error(const std::vector<std::string>& arguments) {
  try {
    parse_sweep_axes(arguments);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SweepGrid, ParsesAxesWithBracketedValues) {
  const auto axes = parse_sweep_axes({"optimizer.lr=0.1,0.01,1e-3", "model.hidden=[256,128],[64]",
                                      "data.options={\"a\":1,\"b\":[2,3]}", "optimizer.type=adam"});
  ASSERT_EQ(axes.size(), 4u);
  EXPECT_EQ(axes[0].key, "optimizer.lr");
  EXPECT_EQ(axes[0].values, (Values{"0.1", "0.01", "1e-3"}));
  EXPECT_EQ(axes[1].key, "model.hidden");
  EXPECT_EQ(axes[1].values, (Values{"[256,128]", "[64]"}));
  EXPECT_EQ(axes[2].values, (Values{"{\"a\":1,\"b\":[2,3]}"}));
  EXPECT_EQ(axes[3].values, (Values{"adam"}));
  EXPECT_TRUE(parse_sweep_axes({}).empty());
}

TEST(SweepGrid, BadArgumentsAreErrorsNamingThem) {
  const auto no_equals = parse_error({"optimizer.lr"});
  EXPECT_NE(no_equals.find("optimizer.lr"), std::string::npos) << no_equals;
  EXPECT_NE(no_equals.find("key="), std::string::npos) << no_equals;

  EXPECT_NE(parse_error({"=0.1,0.2"}).find("empty key"), std::string::npos);
  for (const char* empty :
       {"optimizer.lr=", "optimizer.lr=0.1,,0.2", "optimizer.lr=0.1,", "optimizer.lr=,0.1"}) {
    const auto message = parse_error({empty});
    EXPECT_NE(message.find("empty value"), std::string::npos) << empty << ": " << message;
    EXPECT_NE(message.find(empty), std::string::npos) << message;
  }
  for (const char* unbalanced : {"model.hidden=[256,128", "model.hidden=256]",
                                 "model.hidden=[1,2},[3]", "data.options={\"a\":[1}"}) {
    const auto message = parse_error({unbalanced});
    EXPECT_NE(message.find("unbalanced"), std::string::npos) << unbalanced << ": " << message;
    EXPECT_NE(message.find(unbalanced), std::string::npos) << message;
  }
  const auto twice = parse_error({"optimizer.lr=0.1", "model.hidden=[8]", "optimizer.lr=0.2"});
  EXPECT_NE(twice.find("optimizer.lr=0.2"), std::string::npos) << twice;
  EXPECT_NE(twice.find("twice"), std::string::npos) << twice;
  EXPECT_NE(parse_error({"optimizer.lr=0.1,0.1"}).find("twice"), std::string::npos);
}

TEST(SweepGrid, PointsAreTheCartesianProductLastAxisFastest) {
  const auto axes = parse_sweep_axes({"a=1,2", "b=x,y,z"});
  const auto points = sweep_points(axes);
  ASSERT_EQ(points.size(), 6u);
  const std::vector<std::string> labels = {"a=1 b=x", "a=1 b=y", "a=1 b=z",
                                           "a=2 b=x", "a=2 b=y", "a=2 b=z"};
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(point_label(points[i]), labels[i]);
    ASSERT_EQ(points[i].size(), 2u);
    EXPECT_EQ(points[i][0].first, "a");
    EXPECT_EQ(points[i][1].first, "b");
  }
  EXPECT_EQ(sweep_points({}).size(), 1u) << "no axes: the project itself, once";
  EXPECT_EQ(point_label({}), "");
  EXPECT_EQ(point_label({{"model.hidden", "[256,128]"}}), "model.hidden=[256,128]");
}

}  // namespace
}  // namespace tb::compare
