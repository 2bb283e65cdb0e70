// The grid of `trainbench sweep PROJECT --set key=v1,v2,v3 [--set ...]`: every combination of the
// values given, as the --set overrides of one run each.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tb::compare {

struct SweepAxis {
  std::string key;                  // dotted project key: "optimizer.lr"
  std::vector<std::string> values;  // as given: "0.1", "adam", "[256,128]"
};

// Parses "key=v1,v2,v3". Commas inside [...] or {...} do not split ("model.hidden=[256,128],[64]"
// is two values). Throws tb::Error naming the argument when it has no '=', an empty key, an empty
// value or unbalanced brackets; a key given twice is an error too.
std::vector<SweepAxis> parse_sweep_axes(const std::vector<std::string>& arguments);

// One point of the grid: key=value overrides, in axis order.
using SweepPoint = std::vector<std::pair<std::string, std::string>>;

// Every combination, the last axis varying fastest.
std::vector<SweepPoint> sweep_points(const std::vector<SweepAxis>& axes);

// "optimizer.lr=0.1 data.loader.workers=2": a point's session name suffix.
std::string point_label(const SweepPoint& point);

}  // namespace tb::compare
