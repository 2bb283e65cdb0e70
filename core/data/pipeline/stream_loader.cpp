#include "core/data/pipeline/stream_loader.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "core/data/pipeline/worker_threads.h"
#include "core/ds/bloom_filter.h"
#include "core/ds/content_hash.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

class SetStream final : public RecordStream {
 public:
  explicit SetStream(std::shared_ptr<const RecordSet> set)
      : set_(std::move(set)), reader_(set_->open_reader()) {}
  std::string name() const override { return set_->name(); }
  SampleSpec spec() const override { return set_->spec(); }
  nlohmann::json metadata() const override { return set_->metadata(); }
  bool next(RecordRef& out) override {
    if (position_ >= set_->size()) return false;
    out = reader_->read(position_++);  // advanced first: a bad record is passed over
    return true;
  }

 private:
  std::shared_ptr<const RecordSet> set_;
  std::unique_ptr<RecordReader> reader_;
  std::uint64_t position_ = 0;
};

// A record the reader holds (in the shuffle buffer) after the stream moved on.
struct HeldRecord {
  std::uint64_t key = 0;
  std::int32_t label = 0;
  std::vector<std::byte> payload;
};

}  // namespace

std::unique_ptr<RecordStream> stream_of(std::shared_ptr<const RecordSet> set) {
  return std::make_unique<SetStream>(std::move(set));
}

StreamLoader::StreamLoader(std::unique_ptr<RecordStream> stream, StreamOptions options)
    : stream_(std::move(stream)),
      options_(std::move(options)),
      decoder_(stream_->spec(), stream_->metadata(), stream_->name()),
      payload_bytes_(stream_->spec().payload_bytes()),
      classes_(metadata_classes(stream_->metadata())),
      numel_(stream_->spec().numel()) {
  if (options_.batch_size < 1) throw Error("data loader: batch_size must be >= 1");
  if (options_.prefetch < 1) throw Error("data loader: prefetch must be >= 1");
  if (options_.workers < 1) throw Error("data loader: streaming needs workers >= 1");
  if (options_.shuffle_buffer < 0) throw Error("data loader: shuffle_buffer must be >= 0");
  if (options_.augment.enabled() && stream_->spec().shape.size() != 3) {
    throw Error("data loader: augmentation (random crop, flip) needs image samples [C, H, W]; " +
                stream_->name() + " holds " + stream_->spec().describe());
  }
  // Checks bits per key now, on the caller's thread (it throws naming the setting).
  if (options_.dedup) (void)ds::BlockedBloomFilter::optimal_probes(options_.dedup_bits_per_key);
  threads_.emplace_back([this] {
    yield_to_the_training_loop();
    if (options_.recorder) options_.recorder->name_this_thread("loader reader");
    reader_loop();
  });
  for (int w = 0; w < options_.workers; ++w) {
    threads_.emplace_back([this, w] {
      yield_to_the_training_loop();
      if (options_.recorder) {
        options_.recorder->name_this_thread("loader worker " + std::to_string(w + 1));
      }
      worker_loop();
    });
  }
}

StreamLoader::~StreamLoader() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void StreamLoader::reader_loop() {
  std::optional<ds::BlockedBloomFilter> seen;
  std::int64_t index = 0;
  try {
    if (options_.dedup) {
      seen.emplace(static_cast<std::size_t>(std::max<std::uint64_t>(options_.dedup_expected, 1)),
                   options_.dedup_bits_per_key);
      const std::lock_guard lock(mutex_);
      dedup_blocks_ = seen->block_count();
      dedup_probes_ = seen->probes();
    }
    std::mt19937_64 rng(options_.seed ^ 0x5EED5EED5EED5EEDull);
    const auto buffer_size = static_cast<std::size_t>(options_.shuffle_buffer);
    std::vector<HeldRecord> buffer;
    RawBatch batch;
    // Hands a full (or, at the end, the last) batch to the workers; false when stopping.
    const auto push = [&]() {
      std::unique_lock lock(mutex_);
      const auto room = [&] {
        return static_cast<std::int64_t>(raw_.size() + ready_.size()) + in_decode_ <
               options_.prefetch;
      };
      changed_.wait(lock, [&] { return stopping_ || room(); });
      if (stopping_) return false;
      batch.index = index++;
      raw_.push_back(std::move(batch));
      batch = RawBatch{};
      changed_.notify_all();
      return true;
    };
    const auto emit = [&](std::uint64_t key, std::int32_t label,
                          std::span<const std::byte> payload) {
      batch.keys.push_back(key);
      batch.labels.push_back(label);
      batch.payloads.insert(batch.payloads.end(), payload.begin(), payload.end());
      return static_cast<std::int64_t>(batch.keys.size()) < options_.batch_size || push();
    };
    RecordRef record;
    while (true) {
      {
        const std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      try {
        if (!stream_->next(record)) break;
        check_record(record, payload_bytes_, classes_, [&] {
          return stream_->name() + ": record with key " + std::to_string(record.key);
        });
      } catch (const FormatError&) {
        if (options_.on_error == OnError::fail) throw;
        const std::lock_guard lock(mutex_);
        ++stats_.skipped_records;
        continue;
      }
      bool duplicate = false;
      if (seen) duplicate = !seen->insert_if_absent(ds::content_hash(record.payload));
      {
        const std::lock_guard lock(mutex_);
        ++stats_.read;
        stats_.duplicates_skipped += duplicate ? 1 : 0;
      }
      if (duplicate) continue;
      if (buffer_size == 0) {
        if (!emit(record.key, record.label, record.payload)) return;
        continue;
      }
      HeldRecord incoming{record.key, record.label,
                          std::vector<std::byte>(record.payload.begin(), record.payload.end())};
      if (buffer.size() < buffer_size) {
        buffer.push_back(std::move(incoming));
        continue;
      }
      HeldRecord& chosen = buffer[rng() % buffer_size];
      std::swap(chosen, incoming);  // incoming now holds the record to emit
      if (!emit(incoming.key, incoming.label, incoming.payload)) return;
    }
    std::shuffle(buffer.begin(), buffer.end(), rng);
    for (const auto& held : buffer) {
      if (!emit(held.key, held.label, held.payload)) return;
    }
    if (!batch.keys.empty() && !push()) return;
  } catch (...) {
    const std::lock_guard lock(mutex_);
    error_ = std::current_exception();
  }
  const std::lock_guard lock(mutex_);
  total_batches_ = index;
  changed_.notify_all();
}

void StreamLoader::worker_loop() {
  std::vector<float> scratch;
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !raw_.empty(); });
    if (stopping_) return;
    RawBatch raw = std::move(raw_.front());
    raw_.pop_front();
    ++in_decode_;
    lock.unlock();
    LoadedBatch decoded;
    decode(raw, decoded, scratch);
    lock.lock();
    --in_decode_;
    ready_.emplace(decoded.index, std::move(decoded));
    changed_.notify_all();
  }
}

void StreamLoader::decode(const RawBatch& raw, LoadedBatch& out,
                          std::vector<float>& scratch) const {
  const std::int64_t started = options_.recorder ? options_.recorder->now_ns() : 0;
  const std::size_t count = raw.keys.size();
  out.index = raw.index;
  out.size = static_cast<std::int64_t>(count);
  tensor::use_host_memory(out.features, options_.host_memory.get());
  tensor::use_host_memory(out.labels, options_.host_memory.get());
  out.labels.assign(raw.labels.begin(), raw.labels.end());
  out.positions = raw.keys;  // a stream has no positions: the samples' keys
  out.features.resize(count * numel_);
  for (std::size_t i = 0; i < count; ++i) {
    const std::span<float> sample(out.features.data() + i * numel_, numel_);
    decoder_.decode({raw.payloads.data() + i * payload_bytes_, payload_bytes_}, sample);
    augment_sample(options_.augment, decoder_.spec().shape, decoder_.zero_feature(), options_.seed,
                   0, raw.keys[i], sample, scratch);
  }
  if (options_.recorder) {
    options_.recorder->record("decode", trace::Category::data, started, options_.recorder->now_ns(),
                              raw.index);
  }
}

bool StreamLoader::next(LoadedBatch& out) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return ready_.contains(next_out_) || (total_batches_ >= 0 && next_out_ >= total_batches_);
  });
  const auto found = ready_.find(next_out_);
  if (found == ready_.end()) {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return false;
  }
  out = std::move(found->second);
  ready_.erase(found);
  ++next_out_;
  stats_.samples += static_cast<std::uint64_t>(out.size);
  lock.unlock();
  changed_.notify_all();
  return true;
}

std::int64_t StreamLoader::ready_batches() const {
  const std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(ready_.size());
}

StreamStats StreamLoader::stats() const {
  const std::lock_guard lock(mutex_);
  StreamStats stats = stats_;
  if (dedup_blocks_ > 0) {
    // The filter holds one key per record let through: the formula at that load.
    stats.dedup_false_positive_rate = ds::BlockedBloomFilter::blocked_fpr_formula(
        static_cast<double>(stats.read - stats.duplicates_skipped), dedup_blocks_, dedup_probes_);
  }
  return stats;
}

}  // namespace tb::data
