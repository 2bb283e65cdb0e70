#include "core/data/formats/array_support.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <system_error>

#include "core/util/error.h"

namespace tb::data::detail {

void fail(const std::filesystem::path& file, const std::string& where, const std::string& what) {
  throw FormatError(file.string() + ": " + where + ": " + what);
}

std::int32_t check_labels(std::span<const std::int64_t> values, std::vector<std::int32_t>& out,
                          const std::filesystem::path& file, const std::string& where) {
  out.resize(values.size());
  std::int32_t max_label = -1;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::int64_t v = values[i];
    if (v < 0 || v > std::numeric_limits<std::int32_t>::max()) {
      fail(file, where + ", row " + std::to_string(i),
           "label " + std::to_string(v) + " is not a class index (expected 0 .. 2^31-1)");
    }
    out[i] = static_cast<std::int32_t>(v);
    max_label = std::max(max_label, out[i]);
  }
  return max_label;
}

void check_unique_keys(std::span<const std::uint64_t> keys, const std::filesystem::path& file,
                       const std::string& where) {
  std::vector<std::uint64_t> order(keys.size());
  std::iota(order.begin(), order.end(), std::uint64_t{0});
  std::sort(order.begin(), order.end(), [&](std::uint64_t a, std::uint64_t b) {
    return keys[a] != keys[b] ? keys[a] < keys[b] : a < b;
  });
  for (std::size_t i = 1; i < order.size(); ++i) {
    if (keys[order[i]] == keys[order[i - 1]]) {
      fail(file, where + ", row " + std::to_string(order[i]),
           "key " + std::to_string(keys[order[i]]) + " repeats the key of row " +
               std::to_string(order[i - 1]) + " (keys must be unique)");
    }
  }
}

nlohmann::json build_metadata(const std::string& name, shard::SampleDType dtype,
                              std::int32_t max_label, const nlohmann::json& stored,
                              const nlohmann::json& overrides, const std::filesystem::path& file) {
  nlohmann::json meta = {{"name", name}, {"classes", max_label + 1}};
  double scale = 0;
  switch (dtype) {
    case shard::SampleDType::u8:
      scale = 255;
      break;
    case shard::SampleDType::i8:
      scale = 128;
      break;
    case shard::SampleDType::i32:
      scale = 1;
      break;
    default:
      break;
  }
  if (scale > 0) meta["normalize"] = {{"scale", scale}, {"mean", 0.0}, {"std", 1.0}};
  for (const nlohmann::json* layer : {&stored, &overrides}) {
    if (layer->is_null()) continue;
    if (!layer->is_object()) fail(file, "metadata", "is not a JSON object: " + layer->dump());
    for (const auto& [key, value] : layer->items()) meta[key] = value;
  }
  const auto& classes = meta["classes"];
  if (!classes.is_number_integer() || classes.get<std::int64_t>() <= max_label) {
    fail(file, "metadata",
         "\"classes\": " + classes.dump() + " does not cover the largest label " +
             std::to_string(max_label) + " (expected an integer > " + std::to_string(max_label) +
             ")");
  }
  if (meta.contains("class_names") &&
      (!meta["class_names"].is_array() ||
       meta["class_names"].size() != classes.get<std::uint64_t>())) {
    fail(file, "metadata",
         "\"class_names\" is not a list of " + classes.dump() +
             " names: " + meta["class_names"].dump());
  }
  if (meta.contains("normalize")) {
    const auto& n = meta["normalize"];
    bool ok = n.is_object();
    for (const char* key : {"scale", "mean", "std"}) {
      ok = ok && n.contains(key) && n[key].is_number();
    }
    ok = ok && n["scale"].get<double>() > 0 && n["std"].get<double>() > 0;
    if (!ok) {
      fail(file, "metadata",
           "\"normalize\" is not {\"scale\" > 0, \"mean\", \"std\" > 0}: " + n.dump());
    }
  }
  return meta;
}

void check_payload(std::span<const std::byte> payload, const shard::SampleSpec& spec,
                   const std::string& source, std::uint64_t index) {
  if (payload.size() != spec.payload_bytes()) {
    throw Error(source + ": record " + std::to_string(index) + " has " +
                std::to_string(payload.size()) + " payload bytes, expected " +
                std::to_string(spec.payload_bytes()) + " (" + spec.describe() + ")");
  }
}

TempOutput::TempOutput(std::filesystem::path target)
    : target_(std::move(target)), temp_(target_.string() + ".tmp") {}

TempOutput::~TempOutput() {
  if (!done_) {
    std::error_code ignored;
    std::filesystem::remove(temp_, ignored);
  }
}

void TempOutput::commit() {
  std::error_code error;
  std::filesystem::rename(temp_, target_, error);
  if (error) {
    throw Error(target_.string() + ": cannot rename " + temp_.string() +
                " into place: " + error.message());
  }
  done_ = true;
}

}  // namespace tb::data::detail
