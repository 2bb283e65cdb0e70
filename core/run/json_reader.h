// ObjectReader: reads one JSON object of a project file field by field, with errors that name
// the dotted field, and rejects keys nobody asked for. Internal to core/run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/run/project.h"

namespace tb::run::detail {

using nlohmann::json;

inline std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

// Reads one JSON object of the project, field by field, and rejects keys nobody asked for.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path, const std::string& source)
      : object_(object), path_(std::move(path)), source_(source) {
    if (!object_.is_object()) fail(path_, "expected an object, got " + describe(object_));
  }

  template <typename Fn>
  void field(const std::string& key, Fn&& read) {
    known_.push_back(key);
    if (auto it = object_.find(key); it != object_.end()) read(*it, field_path(key));
  }

  void string_in(const std::string& key, std::string& out,
                 const std::vector<std::string>& allowed) {
    field(key, [&](const json& v, const std::string& path) {
      if (!v.is_string()) fail(path, "expected one of " + join(allowed) + ", got " + describe(v));
      const auto value = v.get<std::string>();
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        fail(path, "'" + value + "' is not allowed (allowed: " + join(allowed) + ")");
      }
      out = value;
    });
  }

  void string(const std::string& key, std::string& out) {
    field(key, [&](const json& v, const std::string& path) {
      if (!v.is_string()) fail(path, "expected a string, got " + describe(v));
      out = v.get<std::string>();
    });
  }

  void integer(const std::string& key, std::int64_t& out, std::int64_t min,
               std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    field(key,
          [&](const json& v, const std::string& path) { out = to_integer(v, path, min, max); });
  }

  void number(const std::string& key, double& out, double min, double max, bool max_open = false) {
    field(key, [&](const json& v, const std::string& path) {
      if (!v.is_number()) fail(path, "expected a number, got " + describe(v));
      const double value = v.get<double>();
      if (!(value >= min) || value > max || (max_open && value >= max)) {
        std::ostringstream range;
        range << "expected a number in [" << min << ", " << max << (max_open ? ")" : "]")
              << ", got " << value;
        fail(path, range.str());
      }
      out = value;
    });
  }

  void boolean(const std::string& key, bool& out) {
    field(key, [&](const json& v, const std::string& path) {
      if (!v.is_boolean()) fail(path, "expected true or false, got " + describe(v));
      out = v.get<bool>();
    });
  }

  // Unknown keys are errors: a typo must not silently fall back to a default.
  void finish() {
    for (const auto& [key, value] : object_.items()) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        fail(field_path(key), "unknown key (allowed here: " + join(known_) + ")");
      }
    }
  }

  std::int64_t to_integer(const json& v, const std::string& path, std::int64_t min,
                          std::int64_t max) const {
    if (!v.is_number_integer()) fail(path, "expected an integer, got " + describe(v));
    const auto value = v.get<std::int64_t>();
    if (value < min || value > max) {
      fail(path, "expected an integer " +
                     (max == std::numeric_limits<std::int64_t>::max()
                          ? ">= " + std::to_string(min)
                          : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]") +
                     ", got " + std::to_string(value));
    }
    return value;
  }

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw ProjectError(path, source_ + ": " + path + ": " + what);
  }

  std::string field_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  static std::string describe(const json& v) {
    auto text = v.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return std::string(v.type_name()) + " " + text;
  }

 private:
  const json& object_;
  std::string path_;
  const std::string& source_;
  std::vector<std::string> known_;
};

// The `optimizer` and `schedule` sections (project_optim.cpp). Defaults depend on the type
// (Adam's lr is 1e-3, Lion's betas (0.9, 0.99), ...); keys another type uses are rejected.
optim::OptimizerSpec read_optimizer(const json& section, const std::string& path,
                                    const std::string& source);
json optimizer_to_json(const optim::OptimizerSpec& spec);
optim::ScheduleSpec read_schedule(const json& section, const std::string& path,
                                  const std::string& source);
json schedule_to_json(const optim::ScheduleSpec& spec);

}  // namespace tb::run::detail
