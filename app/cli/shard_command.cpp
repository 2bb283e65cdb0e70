// `trainbench data pack SRC... -o DIR` and `trainbench data inspect FILE|DIR`: the shard format
// (core/data/shard_format.h) from the command line.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/data/formats/splits.h"
#include "core/data/shard_dataset.h"
#include "core/run/project.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

using nlohmann::json;
namespace shard = data::shard;

// One SRC of `data pack`: a Fashion-MNIST folder, or a project file naming a dataset in any
// input format (with its options and limits).
struct PackSource {
  std::string format = "fashion-mnist";
  std::filesystem::path dir;
  nlohmann::json options = nlohmann::json::object();
  std::int64_t train_limit = 0;
  std::int64_t test_limit = 0;
};

PackSource resolve_source(const std::string& src) {
  const std::filesystem::path path(src);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {"fashion-mnist", path, json::object(), 0, 0};
  if (!std::filesystem::exists(path, ec)) {
    throw Error(src +
                ": no such folder or project file (expected a Fashion-MNIST folder or a "
                "project file)");
  }
  const auto project = run::Project::load(path, {});
  if (!data::is_dataset_format(project.data.dataset)) {
    throw Error(src + ": data.dataset \"" + project.data.dataset +
                "\" is generated, not read from files: there is nothing to pack");
  }
  return {project.data.dataset, project.data.path, project.data.options, project.data.train_limit,
          project.data.test_limit};
}

json stats_json(const shard::ShardWriter& writer) {
  const auto& s = writer.stats();
  json files = json::array();
  for (const auto& f : writer.files()) files.push_back(f.string());
  return {
      {"records", s.records},
      {"shards", s.shards},
      {"raw_payload_bytes", s.raw_payload_bytes},
      {"stored_payload_bytes", s.stored_payload_bytes},
      {"file_bytes", s.file_bytes},
      {"compression_ratio", s.stored_payload_bytes ? static_cast<double>(s.raw_payload_bytes) /
                                                         static_cast<double>(s.stored_payload_bytes)
                                                   : 1.0},
      {"files", files}};
}

bool holds_shards(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == shard::kShardExtension) return true;
  }
  return false;
}

void print_summary(const shard::ShardSummary& s) {
  std::printf("%s: %llu records in %llu shard%s (%llu zstd), keys %llu..%llu\n", s.path.c_str(),
              static_cast<unsigned long long>(s.records), static_cast<unsigned long long>(s.shards),
              s.shards == 1 ? "" : "s", static_cast<unsigned long long>(s.zstd_shards),
              static_cast<unsigned long long>(s.first_key),
              static_cast<unsigned long long>(s.last_key));
  std::string meta = s.metadata;
  if (meta.size() > 120) meta = meta.substr(0, 117) + "...";
  std::printf("  sample %s, %llu bytes; metadata %s\n", s.spec.describe().c_str(),
              static_cast<unsigned long long>(s.spec.payload_bytes()), meta.c_str());
  std::printf("  %llu bytes on disk; payloads %llu bytes raw",
              static_cast<unsigned long long>(s.file_bytes),
              static_cast<unsigned long long>(s.raw_payload_bytes));
  if (s.verified && s.stored_payload_bytes > 0) {
    std::printf(
        ", %llu stored (compression ratio %.2f)",
        static_cast<unsigned long long>(s.stored_payload_bytes),
        static_cast<double>(s.raw_payload_bytes) / static_cast<double>(s.stored_payload_bytes));
  }
  std::printf("\n  first records:");
  for (const auto& e : s.examples) {
    std::printf(" key %llu label %d (%u B);", static_cast<unsigned long long>(e.key), e.label,
                e.stored_bytes);
  }
  std::printf("\n");
  if (s.verified) {
    if (s.verify_error.empty()) {
      std::printf("  checksums: all %llu records verified OK (%.2f s)\n",
                  static_cast<unsigned long long>(s.records), s.seconds);
    } else {
      std::printf("  checksums: FAILED: %s\n", s.verify_error.c_str());
    }
  }
}

}  // namespace

std::uint64_t parse_size(const std::string& text, const std::string& option) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  const std::string number = text.substr(0, i), unit = text.substr(i);
  const std::pair<const char*, double> units[] = {
      {"", 1.0},        {"B", 1.0},  {"K", 1024.0},  {"KiB", 1024.0},  {"KB", 1e3}, {"M", 1 << 20},
      {"MiB", 1 << 20}, {"MB", 1e6}, {"G", 1 << 30}, {"GiB", 1 << 30}, {"GB", 1e9}};
  std::optional<double> factor;
  for (const auto& [name, f] : units) {
    if (unit == name) factor = f;
  }
  double value = 0.0;
  try {
    std::size_t used = 0;
    value = number.empty() ? -1.0 : std::stod(number, &used);
    if (used != number.size()) value = -1.0;
  } catch (const std::exception&) {
    value = -1.0;
  }
  if (!factor || !(value > 0.0) || value * *factor > 1e15) {
    throw Error(option + ": '" + text +
                "' is not a size (expected a positive number with an optional unit: 64MiB, "
                "512KiB, 1GiB, 1GB, or bytes)");
  }
  return static_cast<std::uint64_t>(value * *factor);
}

// `data pack --format F`: the first source's splits rewritten in another input format.
int convert_data(const DataPackCommand& command, const PackSource& source,
                 std::chrono::steady_clock::time_point start) {
  if (command.sources.size() != 1) {
    throw Error("--format " + command.format + " converts one SRC (got " +
                std::to_string(command.sources.size()) + "); only shards join several");
  }
  json result = {{"output", command.output.string()}, {"format", command.format}};
  for (const bool train : {true, false}) {
    const auto limit = static_cast<std::uint64_t>(train ? source.train_limit : source.test_limit);
    auto records = data::as_record_source(data::first_records(
        data::open_split(source.format, source.dir, train, source.options), limit));
    result[train ? "train" : "test"] = {
        {"records", data::write_split(command.format, command.output, train, *records)}};
  }
  result["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (command.json) {
    std::cout << result.dump() << std::endl;
  } else {
    std::printf("%s: train %llu and test %llu records as %s in %.1f s\n", command.output.c_str(),
                result["train"]["records"].get<unsigned long long>(),
                result["test"]["records"].get<unsigned long long>(), command.format.c_str(),
                result["seconds"].get<double>());
  }
  return kExitOk;
}

int pack_data(const DataPackCommand& command) {
  const auto start = std::chrono::steady_clock::now();
  shard::ShardWriterOptions options;
  options.shard_size = parse_size(command.shard_size, "--shard-size");
  options.zstd_level = command.zstd_level;
  std::vector<PackSource> sources;
  for (const auto& src : command.sources) sources.push_back(resolve_source(src));
  if (command.format != "shards") return convert_data(command, sources.front(), start);

  std::optional<shard::ShardWriter> writers[2];
  const char* const splits[2] = {"train", "test"};
  std::uint64_t next_key[2] = {0, 0};
  for (const auto& source : sources) {
    for (int s = 0; s < 2; ++s) {
      const auto limit =
          static_cast<std::uint64_t>(s == 0 ? source.train_limit : source.test_limit);
      auto records = data::as_record_source(data::first_records(
          data::open_split(source.format, source.dir, s == 0, source.options), limit));
      if (!writers[s]) {
        auto split_options = options;
        split_options.metadata = records->metadata().dump();
        writers[s].emplace(command.output / splits[s], records->spec(), split_options);
      }
      // Keys continue across sources: each sample keeps a key of its own.
      next_key[s] += shard::pack(*records, *writers[s], next_key[s]);
    }
  }
  json result = {{"output", command.output.string()},
                 {"shard_size", options.shard_size},
                 {"zstd_level", options.zstd_level}};
  for (int s = 0; s < 2; ++s) {
    writers[s]->close();
    result[splits[s]] = stats_json(*writers[s]);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result["seconds"] = seconds;
  if (command.json) {
    std::cout << result.dump() << std::endl;
    return kExitOk;
  }
  for (const char* split : splits) {
    const auto& r = result[split];
    std::printf(
        "%s/%s: %llu records in %llu shard%s, %llu bytes on disk (payloads %llu raw, "
        "%llu stored, ratio %.2f)\n",
        command.output.c_str(), split,
        static_cast<unsigned long long>(r["records"].get<std::uint64_t>()),
        static_cast<unsigned long long>(r["shards"].get<std::uint64_t>()),
        r["shards"].get<std::uint64_t>() == 1 ? "" : "s",
        static_cast<unsigned long long>(r["file_bytes"].get<std::uint64_t>()),
        static_cast<unsigned long long>(r["raw_payload_bytes"].get<std::uint64_t>()),
        static_cast<unsigned long long>(r["stored_payload_bytes"].get<std::uint64_t>()),
        r["compression_ratio"].get<double>());
  }
  std::printf("packed in %.2f s\n", seconds);
  return kExitOk;
}

int inspect_shards(const DataInspectCommand& command) {
  std::vector<std::pair<std::string, std::filesystem::path>> sets;
  if (!holds_shards(command.path) && holds_shards(command.path / "train")) {
    sets.push_back({"train", command.path / "train"});
    if (holds_shards(command.path / "test")) sets.push_back({"test", command.path / "test"});
  } else {
    sets.push_back({"", command.path});
  }
  std::vector<shard::ShardSummary> summaries;
  for (const auto& [split, path] : sets) {
    summaries.push_back(shard::summarize(path, command.examples, command.verify));
  }
  if (command.json) {
    json out;
    if (sets.front().first.empty()) {
      out = shard::to_json(summaries.front());
    } else {
      out = {{"path", command.path.string()}, {"splits", json::object()}};
      for (std::size_t i = 0; i < sets.size(); ++i) {
        out["splits"][sets[i].first] = shard::to_json(summaries[i]);
      }
    }
    std::cout << out.dump() << std::endl;
  } else {
    for (const auto& s : summaries) print_summary(s);
  }
  for (const auto& s : summaries) {
    if (!s.verify_error.empty()) {
      std::fprintf(stderr, "error: %s\n", s.verify_error.c_str());
      return kExitBadInput;
    }
  }
  return kExitOk;
}

}  // namespace tb::app
