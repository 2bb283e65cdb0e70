#include "core/compare/sweep_grid.h"

#include <algorithm>
#include <set>

#include "core/util/error.h"

namespace tb::compare {
namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

[[noreturn]] void fail(const std::string& argument, const std::string& why) {
  throw Error("--set " + argument + ": " + why);
}

// The values of "v1,v2,[a,b]": split at the commas outside brackets, each bracket closed by its
// own kind (a JSON array or object value keeps its commas).
std::vector<std::string> split_values(const std::string& argument, const std::string& text) {
  std::vector<std::string> values;
  std::string open;  // the brackets still open, innermost last
  std::string current;
  const auto finish_value = [&] {
    std::string value = trimmed(current);
    if (value.empty()) {
      fail(argument,
           "empty value (value " + std::to_string(values.size() + 1) + "); expected key=v1,v2,...");
    }
    values.push_back(std::move(value));
    current.clear();
  };
  for (const char c : text) {
    if (c == '[' || c == '{') {
      open += c;
    } else if (c == ']' || c == '}') {
      const char opener = c == ']' ? '[' : '{';
      if (open.empty())
        fail(argument, std::string("unbalanced brackets: '") + c + "' closes nothing");
      if (open.back() != opener) {
        fail(argument,
             std::string("unbalanced brackets: '") + c + "' closes '" + open.back() + "'");
      }
      open.pop_back();
    } else if (c == ',' && open.empty()) {
      finish_value();
      continue;
    }
    current += c;
  }
  if (!open.empty())
    fail(argument, std::string("unbalanced brackets: '") + open.back() + "' is never closed");
  finish_value();
  return values;
}

}  // namespace

std::vector<SweepAxis> parse_sweep_axes(const std::vector<std::string>& arguments) {
  std::vector<SweepAxis> axes;
  std::set<std::string> keys;
  for (const auto& argument : arguments) {
    const auto eq = argument.find('=');
    if (eq == std::string::npos)
      fail(argument, "expected key=v1,v2,..., e.g. optimizer.lr=0.1,0.01");
    SweepAxis axis{trimmed(argument.substr(0, eq)),
                   split_values(argument, argument.substr(eq + 1))};
    if (axis.key.empty()) fail(argument, "empty key; expected key=v1,v2,...");
    if (!keys.insert(axis.key).second)
      fail(argument, "key " + axis.key + " is given twice; list all its values in one --set");
    // The same value twice would run the same point twice under one label.
    std::set<std::string> seen;
    for (const auto& value : axis.values) {
      if (!seen.insert(value).second) fail(argument, "value " + value + " is given twice");
    }
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::vector<SweepPoint> sweep_points(const std::vector<SweepAxis>& axes) {
  // The product of no axes is one point with no overrides (the project as it is).
  std::vector<SweepPoint> points(1);
  for (const auto& axis : axes) {
    std::vector<SweepPoint> longer;
    longer.reserve(points.size() * axis.values.size());
    // Each existing point is extended by every value in turn, so the axis added last varies
    // fastest.
    for (const auto& point : points) {
      for (const auto& value : axis.values) {
        longer.push_back(point);
        longer.back().emplace_back(axis.key, value);
      }
    }
    points = std::move(longer);
  }
  return points;
}

std::string point_label(const SweepPoint& point) {
  std::string label;
  for (const auto& [key, value] : point) {
    if (!label.empty()) label += ' ';
    label += key + "=" + value;
  }
  return label;
}

}  // namespace tb::compare
