// Helpers of the runner tests that train small projects on generated data.
#pragma once

#include <filesystem>
#include <string>

#include "core/run/project.h"
#include "core/store/session_store.h"

namespace tb::testing {

// The value stored under `key`, or "missing".
inline std::string param(const store::Params& params, const std::string& key) {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return "missing";
}

// A small MLP (hidden 32), batches of 64, 2 epochs on one thread over `dataset` at `path`.
inline run::Project small_project(const std::filesystem::path& path,
                                  const std::string& dataset = "fashion-mnist") {
  run::Project p;
  p.data.dataset = dataset;
  p.data.path = path.string();
  p.data.batch_size = 64;
  p.model.hidden = {32};
  p.train.epochs = 2;
  p.train.threads = 1;
  return p;
}

}  // namespace tb::testing
