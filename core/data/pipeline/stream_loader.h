// StreamLoader: streaming mode of the data pipeline, for sources of unknown or unbounded length
// read front to back (a log that keeps growing, a generator, a network feed).
//
//   reader thread:  stream.next() -> dedup (Bloom filter over content hashes) -> shuffle buffer
//                   -> raw batches of batch_size, numbered in order
//   N workers:      decode (SampleDecoder) and augment a raw batch
//   next():         hands the decoded batches out in their order
//
// Deduplication: a record whose payload's XXH3 content hash the filter has (probably) seen is
// left out and counted. The filter is a BlockedBloomFilter sized for `dedup_expected` samples at
// `dedup_bits_per_key`: it never lets a repeat through while the stream stays within that size,
// and wrongly drops about its false-positive rate of new samples (~1% at 10 bits/key;
// stats().dedup_false_positive_rate is the formula's figure for the filter's load).
//
// Shuffle buffer (tf.data's shuffle(buffer_size)): the first `shuffle_buffer` records fill it;
// each later record takes the place of a randomly chosen one, which is emitted; at the end the
// rest is emitted in random order. 0 keeps the stream's order.
//
// Determinism: the reader alone decides which records form batch b and in what order, from the
// seed; workers only decode. So for a seed and a stream the batches are the same for any worker
// count. Augmentation draws use (seed, 0, sample key).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/data/pipeline/batch_loader.h"

namespace tb::data {

// Records read front to back. next() throws tb::FormatError for a record it cannot read; with
// on_error skip the loader counts it and asks for the next one, so a stream that can go on past a
// bad record should leave itself positioned after it.
class RecordStream {
 public:
  virtual ~RecordStream() = default;
  virtual std::string name() const = 0;
  virtual SampleSpec spec() const = 0;
  virtual nlohmann::json metadata() const = 0;
  // The next record (payload valid until the next call); false at the end of the stream.
  virtual bool next(RecordRef& out) = 0;
};

// A RecordSet read front to back as a stream (tests, and sets used in streaming mode).
std::unique_ptr<RecordStream> stream_of(std::shared_ptr<const RecordSet> set);

struct StreamOptions {
  std::int64_t batch_size = 64;
  std::uint64_t seed = 0;
  std::int64_t shuffle_buffer = 0;
  bool dedup = true;
  std::uint64_t dedup_expected = 1'000'000;  // samples the filter is sized for
  double dedup_bits_per_key = 10.0;
  int workers = 2;   // decode threads, >= 1
  int prefetch = 4;  // batches between the reader and next(), >= 1
  OnError on_error = OnError::fail;
  AugmentSpec augment;
  trace::Recorder* recorder = nullptr;
  std::shared_ptr<tensor::HostMemory> host_memory;  // as LoaderOptions::host_memory
};

struct StreamStats {
  std::uint64_t read = 0;                // records taken from the stream
  std::uint64_t duplicates_skipped = 0;  // left out by the Bloom filter
  std::uint64_t skipped_records = 0;     // unreadable, left out (on_error skip)
  std::uint64_t samples = 0;             // delivered by next()
  double dedup_false_positive_rate = 0;  // expected, for the filter's current load
};

class StreamLoader {
 public:
  // Starts reading at once. Throws tb::Error for bad options.
  StreamLoader(std::unique_ptr<RecordStream> stream, StreamOptions options);
  ~StreamLoader();
  StreamLoader(const StreamLoader&) = delete;
  StreamLoader& operator=(const StreamLoader&) = delete;

  const SampleDecoder& decoder() const { return decoder_; }
  // The next batch; false once the stream has ended and every batch was handed out. The last
  // batch may be short. Rethrows the reader's or a worker's error after the batches before it.
  bool next(LoadedBatch& out);
  StreamStats stats() const;
  // Batches decoded and waiting for next() (the queue depth the trace records).
  std::int64_t ready_batches() const;

 private:
  struct RawBatch {
    std::int64_t index = 0;
    std::vector<std::uint64_t> keys;
    std::vector<std::int32_t> labels;
    std::vector<std::byte> payloads;  // keys.size() * payload bytes
  };
  void reader_loop();
  void worker_loop();
  void decode(const RawBatch& raw, LoadedBatch& out, std::vector<float>& scratch) const;

  std::unique_ptr<RecordStream> stream_;
  StreamOptions options_;
  SampleDecoder decoder_;
  std::size_t payload_bytes_ = 0;
  std::int64_t classes_ = 0;  // metadata "classes"; labels are checked against it when > 0
  std::size_t numel_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<RawBatch> raw_;                   // read, waiting for a worker
  std::map<std::int64_t, LoadedBatch> ready_;  // decoded, by index
  std::int64_t in_decode_ = 0;
  std::int64_t next_out_ = 0;
  std::int64_t total_batches_ = -1;  // known once the reader reached the end (or failed)
  std::exception_ptr error_;         // thrown once batch total_batches_ would be due
  bool stopping_ = false;
  StreamStats stats_;             // dedup_false_positive_rate is derived in stats()
  std::size_t dedup_blocks_ = 0;  // the filter's size, once the reader made it
  int dedup_probes_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace tb::data
