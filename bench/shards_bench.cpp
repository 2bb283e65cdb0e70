// The shard format on Fashion-MNIST: pack time and bytes with and without zstd, read throughput
// (key-order scan, 10,000-key ranges, random point reads, the verification pass), and loading a
// packed copy for training beside loading the IDX .gz files it came from (the peer).
//
//   build/bench/bench_shards [FASHION_MNIST_DIR]
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include <unistd.h>
#include "core/data/dataset.h"
#include "core/data/formats/splits.h"
#include "core/data/shard_dataset.h"

namespace {

using namespace tb::data;
using Clock = std::chrono::steady_clock;

// Best of `repeats` wall times, in seconds: the figure least disturbed by other work.
double best_of(int repeats, const std::function<void()>& body) {
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

void row(const char* what, double seconds, double records, double raw_bytes) {
  std::printf("  %-34s %8.3f s %12.0f records/s %9.0f MB/s\n", what, seconds, records / seconds,
              raw_bytes / seconds / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path idx = argc > 1 ? argv[1] : default_fashion_mnist_dir();
  const auto out = std::filesystem::temp_directory_path() /
                   ("trainbench-bench-shards-" + std::to_string(::getpid()));
  for (int level : {0, 3}) {
    const auto dir = out / ("zstd" + std::to_string(level));
    std::uint64_t file_bytes = 0;
    const double pack_s = best_of(1, [&] {
      for (const auto& [prefix, split] : {std::pair{"train", "train"}, {"t10k", "test"}}) {
        auto source = shard::fashion_mnist_source(idx, prefix);
        shard::ShardWriterOptions options;
        options.zstd_level = level;
        options.metadata = source->metadata().dump();
        shard::ShardWriter writer(dir / split, source->spec(), options);
        shard::pack(*source, writer);
        writer.close();
        file_bytes += writer.stats().file_bytes;
      }
    });
    std::printf(
        "zstd %d: packed train + test (70,000 records) in %.2f s (IDX .gz read included), "
        "%llu bytes on disk\n",
        level, pack_s, static_cast<unsigned long long>(file_bytes));
    auto set = shard::ShardSet::open(dir / "train");
    const double n = static_cast<double>(set.size());
    const double raw = n * static_cast<double>(set.spec().payload_bytes());
    std::uint64_t sink = 0;
    row("scan in key order (for_each)",
        best_of(5, [&] { set.for_each([&](const shard::RecordView& r) { sink += r.label; }); }), n,
        raw);
    row("ranges of 10,000 keys",
        best_of(5,
                [&] {
                  for (std::uint64_t lo = 0; lo < set.size(); lo += 10000) {
                    set.range(lo, lo + 10000, [&](const shard::RecordView& r) { sink += r.label; });
                  }
                }),
        n, raw);
    std::mt19937_64 rng(1);
    std::vector<std::uint64_t> keys(100000);
    for (auto& k : keys) k = rng() % set.size();
    shard::Record record;
    row("random point reads (100,000)",
        best_of(3,
                [&] {
                  for (auto k : keys) sink += set.read(k, record) ? 1u : 0u;
                }),
        static_cast<double>(keys.size()),
        static_cast<double>(keys.size() * set.spec().payload_bytes()));
    row("verify (every checksum)", best_of(3, [&] { sink += set.verify(); }), n, raw);
    row("load train + test for training",
        best_of(3,
                [&] {
                  sink += load_into_memory(*open_split("shards", dir, true)).size() +
                          load_into_memory(*open_split("shards", dir, false)).size();
                }),
        70000, 70000 * 784.0);
    std::printf("  (sink %llu)\n", static_cast<unsigned long long>(sink));
  }
  const double idx_s = best_of(3, [&] { (void)load_fashion_mnist(idx); });
  row("peer: load_fashion_mnist (IDX .gz)", idx_s, 70000, 70000 * 784.0);
  std::filesystem::remove_all(out);
  return 0;
}
