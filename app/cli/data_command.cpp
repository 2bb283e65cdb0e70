// `trainbench data check PROJECT`: the dataset inspector on the project's data.
#include <cstdio>
#include <iostream>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/data/dataset.h"
#include "core/data/formats/splits.h"
#include "core/data/inspect.h"
#include "core/data/shard_dataset.h"
#include "core/run/project.h"

namespace tb::app {
namespace {

void print_pairs(const char* title, const std::vector<data::SamplePair>& pairs,
                 const data::InspectReport& r, const char* b_set) {
  if (pairs.empty()) return;
  std::printf("  %s:\n", title);
  auto name = [&](std::int32_t label) {
    return static_cast<std::size_t>(label) < r.class_names.size()
               ? r.class_names[static_cast<std::size_t>(label)].c_str()
               : "?";
  };
  for (const auto& p : pairs) {
    std::printf("    train #%-6lld (%-11s)  %s #%-6lld (%-11s)  rms %.4f%s\n",
                static_cast<long long>(p.a), name(p.label_a), b_set, static_cast<long long>(p.b),
                name(p.label_b), p.rms, p.label_a != p.label_b ? "  labels differ" : "");
  }
}

void print_report(const data::InspectReport& r) {
  std::printf("%s: %lld samples, %s: %lld samples, %lld values each\n", r.train_name.c_str(),
              static_cast<long long>(r.train_samples), r.test_name.c_str(),
              static_cast<long long>(r.test_samples), static_cast<long long>(r.sample_size));
  std::printf("\nclass balance        train    test\n");
  for (std::size_t c = 0; c < r.train_class_counts.size(); ++c) {
    std::printf("  %-16s %7lld %7lld\n", c < r.class_names.size() ? r.class_names[c].c_str() : "?",
                static_cast<long long>(r.train_class_counts[c]),
                static_cast<long long>(r.test_class_counts[c]));
  }
  std::printf("\nexact duplicates\n");
  std::printf(
      "  within train: %lld contents occur more than once; %lld redundant copies; %lld with "
      "disagreeing labels\n",
      static_cast<long long>(r.train_exact_groups), static_cast<long long>(r.train_exact_redundant),
      static_cast<long long>(r.train_exact_label_conflicts));
  std::printf("  test samples identical to a training sample: %lld\n",
              static_cast<long long>(r.test_exact_in_train));
  print_pairs("examples within train", r.train_exact_examples, r, "train");
  print_pairs("examples test/train", r.test_exact_examples, r, "test ");
  std::printf("\nnear-duplicates (rms difference <= %.3g, not identical)\n", r.near_rms);
  std::printf("  within train: %lld pairs, %lld samples involved\n",
              static_cast<long long>(r.train_near_pairs),
              static_cast<long long>(r.train_near_samples));
  std::printf("  test samples with a near-duplicate in train: %lld\n",
              static_cast<long long>(r.test_near_in_train));
  print_pairs("examples within train", r.train_near_examples, r, "train");
  print_pairs("examples test/train", r.test_near_examples, r, "test ");
  std::printf(
      "  (search: %lld principal components keeping %.1f%% of the variance, %lld candidate "
      "pairs verified exactly)\n",
      static_cast<long long>(r.projection_dims), 100.0 * r.projection_variance,
      static_cast<long long>(r.candidate_pairs));
  if (r.knn_k > 0) {
    std::printf("\nkNN baseline (k = %lld on the principal components): test accuracy %.4f\n",
                static_cast<long long>(r.knn_k), r.knn_accuracy);
  }
  std::printf("\nchecked in %.1f s\n", r.seconds);
}

}  // namespace

int check_data(const DataCheckCommand& command) {
  const auto project = run::Project::load(command.project_file, command.overrides);
  if (!data::is_dataset_format(project.data.dataset)) {
    std::fprintf(stderr, "error: %s: data check reads dense datasets in files, not \"%s\"\n",
                 command.project_file.c_str(), project.data.dataset.c_str());
    return kExitBadInput;
  }
  const auto open = [&](bool train) {
    return data::load_into_memory(
        *data::open_split(project.data.dataset, project.data.path, train, project.data.options),
        static_cast<std::uint64_t>(train ? project.data.train_limit : project.data.test_limit));
  };
  const auto train = open(true);
  const auto test = open(false);
  const auto report = data::inspect(train, test, command.options);
  if (command.json) {
    std::cout << data::to_json(report).dump() << std::endl;
  } else {
    print_report(report);
  }
  return kExitOk;
}

}  // namespace tb::app
