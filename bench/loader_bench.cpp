// The data pipeline's two figures from the data-pipeline issue, each beside its peer measured in
// the same run:
//
// 1. Reading the shard format with decode-light samples (u8 -> normalized f32, no augmentation)
//    through the BatchLoader, as payload bytes per second, beside the raw sequential read rate of
//    the same shard files from the page cache (read(2) in 1 MiB blocks, nothing parsed).
//    Requirement: loader >= 70% of raw. Also the CRC32C every record read verifies, beside the
//    table it falls back to where the CPU lacks SSE4.2.
// 2. A decode-heavy pipeline (zstd-compressed shards, random crop with padding 4 and flip) with
//    1 and 2 workers: batches per second. Requirement: 2 workers >= 1.7x 1 worker on 2 cores.
//
//   build/bench/bench_loader [FASHION_MNIST_DIR]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/formats/shards.h"
#include "core/data/formats/splits.h"
#include "core/data/pipeline/batch_loader.h"
#include "core/data/shard_dataset.h"
#include "core/data/shard_writer.h"

namespace {

using namespace tb::data;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double best_of(int repeats, const std::function<void()>& body) {
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

void pack_split(const fs::path& idx, const fs::path& out, int zstd_level) {
  auto source = as_record_source(open_split("fashion-mnist", idx, true));
  shard::ShardWriterOptions options;
  options.metadata = source->metadata().dump();
  options.zstd_level = zstd_level;
  shard::ShardWriter writer(out, source->spec(), options);
  shard::pack(*source, writer);
  writer.close();
}

// Bytes read from every .tbs file under dir, front to back.
std::uint64_t read_raw(const fs::path& dir, std::vector<char>& buffer) {
  std::uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const int fd = ::open(entry.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ssize_t got;
    while ((got = ::read(fd, buffer.data(), buffer.size())) > 0)
      total += static_cast<std::uint64_t>(got);
    ::close(fd);
  }
  return total;
}

// One epoch through the loader; returns the number of batches.
std::int64_t epoch(BatchLoader& loader) {
  loader.start_epoch(0);
  LoadedBatch batch;
  std::int64_t batches = 0;
  while (loader.next(batch)) ++batches;
  return batches;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path idx = argc > 1 ? fs::path(argv[1]) : default_fashion_mnist_dir();
  const fs::path work =
      fs::temp_directory_path() / ("trainbench-bench-loader-" + std::to_string(::getpid()));
  fs::create_directories(work);
  pack_split(idx, work / "plain", 0);
  pack_split(idx, work / "zstd", 3);
  const auto plain = open_shard_record_set(work / "plain");
  const std::uint64_t payload_bytes = plain->size() * plain->spec().payload_bytes();

  std::vector<char> buffer(1 << 20);
  std::uint64_t file_bytes = read_raw(work / "plain", buffer);  // warms the page cache
  const double raw_s = best_of(5, [&] { file_bytes = read_raw(work / "plain", buffer); });
  const double raw_rate = static_cast<double>(file_bytes) / raw_s;

  std::printf("Fashion-MNIST train, %llu records, %.1f MB of payload (%.1f MB of shard files)\n\n",
              static_cast<unsigned long long>(plain->size()), payload_bytes / 1e6,
              file_bytes / 1e6);
  std::printf("1. decode-light read vs raw sequential read (page cache)\n");
  std::printf("   %-40s %10.0f MB/s\n", "raw read(2) of the shard files", raw_rate / 1e6);
  {
    // The records alone, CRC-verified, through one RecordReader in key order: no decode at all.
    const auto reader = plain->open_reader();
    std::uint64_t sink = 0;
    const double s = best_of(5, [&] {
      for (std::uint64_t i = 0; i < plain->size(); ++i) {
        sink += std::to_integer<std::uint64_t>(reader->read(i).payload[100]);
      }
    });
    const double rate = static_cast<double>(payload_bytes) / s;
    std::printf("   %-40s %10.0f MB/s  = %.0f%% of raw (sink %llu)\n",
                "records read, verified, not decoded", rate / 1e6, 100.0 * rate / raw_rate,
                static_cast<unsigned long long>(sink));
  }
  for (const int workers : {1, 2}) {
    LoaderOptions o;
    o.batch_size = 256;
    o.shuffle = false;
    o.workers = workers;
    o.prefetch = 8;
    BatchLoader loader(plain, o);
    epoch(loader);
    const double s = best_of(5, [&] { epoch(loader); });
    const double rate = static_cast<double>(payload_bytes) / s;
    std::printf("   BatchLoader, %d worker%s in key order, f32 %8.0f MB/s  = %.0f%% of raw\n",
                workers, workers == 1 ? ", " : "s,", rate / 1e6, 100.0 * rate / raw_rate);
  }
  {
    LoaderOptions o;
    o.batch_size = 256;
    o.shuffle = true;
    o.workers = 2;
    o.prefetch = 8;
    BatchLoader loader(plain, o);
    epoch(loader);
    const double s = best_of(5, [&] { epoch(loader); });
    const double rate = static_cast<double>(payload_bytes) / s;
    std::printf("   BatchLoader, 2 workers, shuffled         %9.0f MB/s  = %.0f%% of raw\n",
                rate / 1e6, 100.0 * rate / raw_rate);
  }

  {
    // The record checksum every read verifies: crc32c() takes the SSE4.2 instruction wherever the
    // CPU has it, portable builds included; the peer is the table it falls back to elsewhere.
    std::vector<std::byte> bytes(std::size_t{64} << 20);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 31);
    std::uint32_t crc = 0;
    const double hardware_s = best_of(3, [&] { crc += shard::crc32c(bytes); });
    const double table_s = best_of(3, [&] { crc += shard::crc32c_portable(bytes); });
    std::printf("   %-40s %10.0f MB/s  (table: %.0f MB/s, %.1fx; %08x)\n", "crc32c over 64 MiB",
                bytes.size() / hardware_s / 1e6, bytes.size() / table_s / 1e6, table_s / hardware_s,
                crc);
  }

  std::printf("\n2. decode-heavy pipeline (zstd records, crop 4 + flip), batches of 256\n");
  const auto compressed = open_shard_record_set(work / "zstd");
  double rate[3] = {0, 0, 0};
  for (const int workers : {1, 2}) {
    LoaderOptions o;
    o.batch_size = 256;
    o.shuffle = true;
    o.workers = workers;
    o.prefetch = 8;
    o.augment = {4, true};
    BatchLoader loader(compressed, o);
    std::int64_t batches = epoch(loader);
    const double s = best_of(3, [&] { batches = epoch(loader); });
    rate[workers] = static_cast<double>(batches) / s;
    std::printf("   %d worker%s %10.1f batches/s\n", workers, workers == 1 ? " " : "s",
                rate[workers]);
  }
  std::printf("   2 workers / 1 worker: %.2fx\n", rate[2] / rate[1]);
  fs::remove_all(work);
  return 0;
}
