// Dense samples (Fashion-MNIST's IDX files or a shard pack) into nn::Model, fed by the data
// pipeline with the project's data.loader settings: the training split through a BatchLoader
// (mode "batch") or a StreamLoader per epoch (mode "stream"), the test split through a
// BatchLoader; batches uploaded into x [N, sample shape...].
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/amp/precision.h"
#include "core/data/formats/splits.h"
#include "core/data/pipeline/batch_loader.h"
#include "core/data/pipeline/stream_loader.h"
#include "core/dist/tensor_parallel.h"
#include "core/nn/model.h"
#include "core/run/batch_uploader.h"
#include "core/run/workload.h"
#include "core/util/error.h"

namespace tb::run::detail {
namespace {

std::shared_ptr<const data::RecordSet> open_split(const Project& project, bool train) {
  const auto limit = train ? project.data.train_limit : project.data.test_limit;
  return data::first_records(
      data::open_split(project.data.dataset, project.data.path, train, project.data.options),
      static_cast<std::uint64_t>(limit));
}

std::int64_t classes_of(const data::RecordSet& set) {
  const std::int64_t classes = data::metadata_classes(set.metadata());
  if (classes < 2) {
    throw Error(set.name() + ": its metadata names no class count (\"classes\" >= 2)");
  }
  return classes;
}

std::filesystem::path default_cache_root() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "trainbench" / "samples";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : ".") / ".cache" / "trainbench" / "samples";
}

// The decoded-sample cache of one split: the samples are cached by position, so the cache is tied
// to the set's content (fingerprint), size and sample spec; a split without a fingerprint gets no
// disk cache (its content cannot be told apart from another's).
std::shared_ptr<data::SampleCache> make_cache(const Project& project, const data::RecordSet& set,
                                              const std::string& split) {
  const auto& settings = project.data.loader;
  const auto budget = static_cast<std::uint64_t>(settings.cache_mib) << 20;
  if (settings.cache == "memory") return std::make_shared<data::MemorySampleCache>(budget);
  if (settings.cache != "lmdb") return nullptr;
  const std::string fingerprint = set.fingerprint();
  if (fingerprint.empty()) {
    throw Error(set.name() +
                ": data.loader.cache \"lmdb\" needs a dataset whose content has a "
                "fingerprint (use \"memory\")");
  }
  const auto root =
      settings.cache_dir.empty() ? default_cache_root() : std::filesystem::path(settings.cache_dir);
  const std::string folder = split + "-" + fingerprint.substr(fingerprint.find(':') + 1) + "-" +
                             std::to_string(set.size());
  const std::string identity = fingerprint + " n=" + std::to_string(set.size()) + " " +
                               set.spec().describe() + " " + set.metadata().dump();
  return data::open_lmdb_sample_cache(root / folder, identity, set.spec().numel(), budget);
}

// A host tensor's storage taken over from a loaded batch, so the CPU backend trains on the
// loader's floats without copying them (a batch of 128 Fashion-MNIST images is 400 KB, a copy
// of which was ~2% of an MLP step).
class BatchFeatures final : public tensor::Buffer {
 public:
  tensor::HostVector<float> values;
  void* data() override { return values.data(); }
  std::size_t bytes() const override { return values.size() * sizeof(float); }
  tensor::Device device() const override { return tensor::Device::cpu; }
};

data::LoaderOptions with_cache(data::LoaderOptions options,
                               std::shared_ptr<data::SampleCache> cache) {
  options.cache = std::move(cache);
  return options;
}

// What batch and stream options share: threads, queue, errors, augmentation, trace.
template <class Options>
void set_threads_and_samples(Options& options, const LoaderSettings& settings,
                             trace::Recorder* recorder, tensor::Backend& backend) {
  options.workers = static_cast<int>(settings.workers);
  options.prefetch = static_cast<int>(settings.prefetch);
  options.on_error = settings.on_error == "skip" ? data::OnError::skip : data::OnError::fail;
  options.augment = {settings.crop_padding, settings.flip};
  options.recorder = recorder;
  options.host_memory = backend.host_memory();
}

data::LoaderOptions loader_options(const Project& project, trace::Recorder* recorder,
                                   tensor::Backend& backend) {
  const auto& settings = project.data.loader;
  data::LoaderOptions options;
  options.batch_size = project.data.batch_size;
  options.shuffle = project.data.shuffle;
  options.seed = project.seed;
  set_threads_and_samples(options, settings, recorder, backend);
  return options;
}

// One pass of the training split as a stream, its shuffle buffer and augmentation drawn anew for
// each epoch.
data::StreamOptions stream_options(const Project& project, trace::Recorder* recorder,
                                   tensor::Backend& backend, std::int64_t epoch,
                                   std::uint64_t expected_samples) {
  const auto& settings = project.data.loader;
  data::StreamOptions options;
  options.batch_size = project.data.batch_size;
  options.seed = project.seed ^ (static_cast<std::uint64_t>(epoch + 1) * 0x9E3779B97F4A7C15ull);
  options.shuffle_buffer = project.data.shuffle ? settings.shuffle_buffer : 0;
  options.dedup = settings.dedup;
  options.dedup_expected = std::max<std::uint64_t>(expected_samples, 1024);
  set_threads_and_samples(options, settings, recorder, backend);
  return options;
}

void add_pass(data::StreamStats& totals, const data::StreamStats& pass) {
  totals.read += pass.read;
  totals.duplicates_skipped += pass.duplicates_skipped;
  totals.skipped_records += pass.skipped_records;
  totals.samples += pass.samples;
}

class DenseWorkload final : public Workload {
 public:
  DenseWorkload(tensor::Backend& backend, const Project& project, trace::Recorder* recorder,
                DataShard shard)
      : backend_(backend),
        project_(project),
        recorder_(recorder),
        train_set_(open_split(project, true)),
        test_set_(open_split(project, false)),
        streaming_(project.data.loader.mode == "stream"),
        shard_count_(shard.count) {
    if (!streaming_) {
      auto options = loader_options(project, recorder, backend);
      options.shard_rank = shard.rank;
      options.shard_count = shard.count;
      train_ = std::make_unique<data::BatchLoader>(
          train_set_, with_cache(std::move(options), make_cache(project, *train_set_, "train")));
    }
    const auto& shape = train_set_->spec().shape;
    std::vector<std::int64_t> sample(shape.begin(), shape.end());
    if (test_set_->spec() != train_set_->spec()) {
      throw Error(test_set_->name() + " holds " + test_set_->spec().describe() + ", but " +
                  train_set_->name() + " holds " + train_set_->spec().describe());
    }
    model_ = shard.tensor_world != nullptr
                 ? dist::build_tensor_parallel_mlp(backend, project.model, tensor::Shape(sample),
                                                   classes_of(*train_set_), project.seed,
                                                   *shard.tensor_world)
                 : nn::build_model(backend, project.model, tensor::Shape(sample),
                                   classes_of(*train_set_), project.seed);
    model_->set_storage(amp::storage_dtype(amp::parse_precision(project.precision)));
    dims_ = {0};
    dims_.insert(dims_.end(), sample.begin(), sample.end());
    if (backend.device() != tensor::Device::cpu) {
      uploader_ = std::make_unique<BatchUploader>(backend, sample);
    }
  }

  // The run's batches go back first, then the pinned pages they came from (the next run in this
  // process may use other batch sizes).
  ~DenseWorkload() override {
    uploader_.reset();
    train_.reset();
    stream_.reset();
    test_.reset();
    batch_ = {};
    test_batch_ = {};
    features_.reset();
    if (const auto memory = backend_.host_memory()) memory->trim();
  }

  std::string train_name() const override { return train_set_->name(); }
  std::int64_t train_size() const override { return static_cast<std::int64_t>(train_set_->size()); }
  std::int64_t test_size() const override { return static_cast<std::int64_t>(test_set_->size()); }
  store::Params dataset_params() const override {
    return {{"dataset.train.fingerprint", train_set_->fingerprint()},
            {"dataset.test.fingerprint", test_set_->fingerprint()},
            {"dataset.train.samples", std::to_string(train_size())},
            {"dataset.test.samples", std::to_string(test_size())}};
  }
  std::int64_t batches_per_epoch() const override {
    if (train_) return train_->batches_per_epoch();
    const auto b = project_.data.batch_size;
    return (train_size() + b - 1) / b;
  }
  bool exact_epoch_length() const override { return !streaming_ || !project_.data.loader.dedup; }
  void start_epoch(std::int64_t epoch) override {
    epoch_ = epoch;
    if (uploader_) uploader_->reset();
    if (train_) {
      train_->start_epoch(epoch);
      return;
    }
    finish_stream();
    stream_ = std::make_unique<data::StreamLoader>(
        data::stream_of(train_set_),
        stream_options(project_, recorder_, backend_, epoch, train_set_->size()));
  }
  // Batch mode restarts the epoch past its first batches (the batches already decoded for it
  // are dropped, so this happens only when there is something to skip); a stream is read past
  // them, as its order is the seed's.
  void skip(std::int64_t batches) override {
    if (batches <= 0) return;
    if (uploader_) uploader_->reset();
    if (train_) {
      train_->start_epoch(epoch_, batches);
      return;
    }
    for (std::int64_t i = 0; i < batches && stream_->next(batch_); ++i) {
    }
  }
  std::int64_t next_batch() override {
    global_batch_ = 0;
    if (uploader_) {
      // On a device the next batch's upload overlaps this step (BatchUploader), so the batch
      // the loader gave last is the one ahead: the global size comes from the current batch.
      if (!uploader_->next([this](data::LoadedBatch& b) { return next_from_loader(b); })) {
        return 0;
      }
      global_batch_ = global_samples(uploader_->host());
      return uploader_->size();
    }
    if (!next_from_loader(batch_)) return 0;
    global_batch_ = global_samples(batch_);
    // The batch's floats become x's storage; x's previous floats go back to the loader.
    dims_[0] = batch_.size;
    std::swap(features_->values, batch_.features);
    x_ = tensor::Tensor(features_, tensor::Shape(dims_), tensor::DType::f32);
    backend_.ensure(y_, {batch_.size}, tensor::DType::i32);
    backend_.upload(y_, batch_.labels.data(), batch_.labels.size() * sizeof(std::int32_t));
    return batch_.size;
  }
  const tensor::Tensor& labels() const override { return uploader_ ? uploader_->y() : y_; }
  std::int64_t global_batch_size() const override { return global_batch_; }
  void set_gradient_ready(std::function<void(nn::Parameter&)> ready) override {
    model_->set_gradient_ready(std::move(ready));
  }
  nn::Model* dense_model() override { return model_.get(); }
  const tensor::Tensor& features() const override { return uploader_ ? uploader_->x() : x_; }
  std::vector<nn::Parameter*> parameters_in_gradient_order() override {
    return model_->parameters_in_gradient_order();
  }
  std::int64_t loader_queue_depth() const override {
    if (train_) return train_->ready_batches();
    return stream_ ? stream_->ready_batches() : 0;
  }
  store::Params loader_params() const override {
    if (train_) {
      const auto stats = train_->stats();
      return {{"loader.mode", "batch"},
              {"loader.samples", std::to_string(stats.samples)},
              {"loader.decoded", std::to_string(stats.decoded)},
              {"loader.cache_hits", std::to_string(stats.cache_hits)},
              {"loader.skipped_records", std::to_string(stats.skipped_records)}};
    }
    auto totals = stream_totals_;
    double false_positive_rate = 0.0;
    if (stream_) {
      const auto stats = stream_->stats();
      add_pass(totals, stats);
      false_positive_rate = stats.dedup_false_positive_rate;
    }
    return {{"loader.mode", "stream"},
            {"loader.samples", std::to_string(totals.samples)},
            {"loader.read", std::to_string(totals.read)},
            {"loader.duplicates_skipped", std::to_string(totals.duplicates_skipped)},
            {"loader.skipped_records", std::to_string(totals.skipped_records)},
            {"loader.dedup_false_positive_rate", std::to_string(false_positive_rate)}};
  }

  const tensor::Tensor& forward(bool training) override {
    return model_->forward(uploader_ ? uploader_->x() : x_, training);
  }
  void backward(const tensor::Tensor& dlogits, float loss_scale) override {
    model_->backward(dlogits, loss_scale);
  }
  Evaluation evaluate(nn::SoftmaxCrossEntropy& loss, std::int64_t batch_size) override {
    if (!test_ || test_batch_size_ != batch_size) {
      auto options = loader_options(project_, recorder_, backend_);
      options.batch_size = batch_size;
      options.shuffle = false;
      options.augment = {};
      if (!test_cache_) test_cache_ = make_cache(project_, *test_set_, "test");
      options.cache = test_cache_;
      test_ = std::make_unique<data::BatchLoader>(test_set_, options);
      test_batch_size_ = batch_size;
    }
    test_->start_epoch(0);
    tensor::Tensor x, y;
    double loss_sum = 0.0;
    std::int64_t correct = 0;
    std::int64_t samples = 0;
    while (test_->next(test_batch_)) {
      upload(test_batch_, x, y);
      const auto& logits = model_->forward(x, false);
      loss_sum +=
          static_cast<double>(loss.forward(logits, y)) * static_cast<double>(test_batch_.size);
      correct += backend_.count_correct(logits, y);
      samples += test_batch_.size;
    }
    const auto n = static_cast<double>(std::max<std::int64_t>(1, samples));
    return {loss_sum / n, static_cast<double>(correct) / n};
  }
  std::vector<nn::Parameter*> parameters() override { return model_->parameters(); }
  std::string describe() const override { return model_->describe(); }
  std::int64_t parameter_count() override { return model_->parameter_count(); }
  std::size_t activation_bytes() const override { return model_->activation_bytes(); }
  std::size_t workspace_bytes() const override { return model_->workspace_bytes(); }
  std::size_t weight_bytes() override { return model_->weight_bytes(); }
  void set_training_steps_done(std::uint64_t steps) override {
    model_->set_training_steps_done(steps);
  }

 private:
  bool next_from_loader(data::LoadedBatch& batch) {
    return train_ ? train_->next(batch) : stream_->next(batch);
  }

  // The samples of `batch`'s global batch over every rank (its own size with one rank).
  std::int64_t global_samples(const data::LoadedBatch& batch) const {
    if (!train_ || shard_count_ <= 1) return batch.size;
    std::int64_t total = 0;
    for (int r = 0; r < shard_count_; ++r) total += train_->shard_samples(batch.index, r);
    return total;
  }

  // The last epoch's stream is done with: its counts join the run's.
  void finish_stream() {
    if (!stream_) return;
    add_pass(stream_totals_, stream_->stats());
    stream_.reset();
  }

  void upload(const data::LoadedBatch& batch, tensor::Tensor& x, tensor::Tensor& y) {
    dims_[0] = batch.size;
    backend_.ensure(x, tensor::Shape(dims_));
    backend_.ensure(y, {batch.size}, tensor::DType::i32);
    backend_.upload(x, batch.features.data(), batch.features.size() * sizeof(float));
    backend_.upload(y, batch.labels.data(), batch.labels.size() * sizeof(std::int32_t));
  }

  tensor::Backend& backend_;
  const Project& project_;
  trace::Recorder* recorder_;
  std::shared_ptr<const data::RecordSet> train_set_;
  std::shared_ptr<const data::RecordSet> test_set_;
  bool streaming_ = false;
  std::unique_ptr<data::BatchLoader> train_;    // mode "batch"
  std::unique_ptr<data::StreamLoader> stream_;  // mode "stream": this epoch's pass
  data::StreamStats stream_totals_;             // the finished passes'
  std::unique_ptr<data::BatchLoader> test_;     // made at the first evaluation
  std::shared_ptr<data::SampleCache> test_cache_;
  std::int64_t test_batch_size_ = 0;
  std::unique_ptr<nn::Model> model_;
  std::int64_t epoch_ = 0;
  int shard_count_ = 1;
  std::int64_t global_batch_ = 0;   // over every rank, for the batch last taken
  std::vector<std::int64_t> dims_;  // [N, sample shape...]
  data::LoadedBatch batch_;
  data::LoadedBatch test_batch_;
  std::shared_ptr<BatchFeatures> features_ = std::make_shared<BatchFeatures>();  // x_ on the CPU
  tensor::Tensor x_;                         // [N, sample shape...] f32, on the CPU
  tensor::Tensor y_;                         // [N] i32, on the CPU
  std::unique_ptr<BatchUploader> uploader_;  // on a device: x and y, one batch uploaded ahead
};

}  // namespace

std::unique_ptr<Workload> make_dense_workload(tensor::Backend& backend, const Project& project,
                                              trace::Recorder* recorder, DataShard shard) {
  return std::make_unique<DenseWorkload>(backend, project, recorder, shard);
}

}  // namespace tb::run::detail
