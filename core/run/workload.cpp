#include "core/run/workload.h"

#include <algorithm>

#include "core/data/batch_iterator.h"
#include "core/data/formats/splits.h"
#include "core/data/sparse_dataset.h"
#include "core/data/synthetic_recsys.h"
#include "core/data/synthetic_text.h"

namespace tb::run::detail {
namespace {

data::SparseSplit make_sparse_split(const Project& project) {
  if (project.data.dataset == "synthetic-bow")
    return data::make_synthetic_bow(project.data.bow, project.seed);
  return data::make_synthetic_recsys(project.data.recsys, project.seed);
}

// Generated sparse data into nn::SparseModel: CSR batches on the host, labels uploaded.
class SparseWorkload final : public Workload {
 public:
  SparseWorkload(tensor::Backend& backend, const Project& project)
      : backend_(backend),
        split_(make_sparse_split(project)),
        model_(nn::build_sparse_model(backend, project.model, split_.train.field_widths(),
                                      split_.train.classes, project.seed)),
        batches_(split_.train, project.data.batch_size, project.data.shuffle, project.seed) {}

  std::string train_name() const override { return split_.train.name; }
  std::int64_t train_size() const override { return split_.train.size(); }
  std::int64_t test_size() const override { return split_.test.size(); }
  store::Params dataset_params() const override {
    store::Params params = {{"dataset.train.fingerprint", split_.train.fingerprint},
                            {"dataset.test.fingerprint", split_.test.fingerprint},
                            {"dataset.train.samples", std::to_string(split_.train.size())},
                            {"dataset.test.samples", std::to_string(split_.test.size())}};
    for (std::size_t f = 0; f < split_.train.fields.size(); ++f) {
      const auto& field = split_.train.fields[f];
      const auto& name = split_.train.field_names[f];
      params.push_back({"dataset.train." + name + ".columns", std::to_string(field.cols())});
      params.push_back({"dataset.train." + name + ".nnz", std::to_string(field.nnz())});
    }
    return params;
  }
  std::int64_t batches_per_epoch() const override { return batches_.batches_per_epoch(); }
  void start_epoch(std::int64_t epoch) override { batches_.start_epoch(epoch); }
  void skip(std::int64_t batches) override { batches_.skip(batches); }
  std::int64_t next_batch() override {
    if (!batches_.next(batch_)) {
      batch_.size = 0;
      return 0;
    }
    backend_.ensure(y_, {batch_.size}, tensor::DType::i32);
    backend_.upload(y_, batch_.labels.data(), batch_.labels.size() * sizeof(std::int32_t));
    return batch_.size;
  }
  std::int64_t global_batch_size() const override { return batch_.size; }
  const tensor::Tensor& labels() const override { return y_; }

  const tensor::Tensor& forward(bool training) override {
    return model_->forward(batch_.fields, training);
  }
  void backward(const tensor::Tensor& dlogits, float /*loss_scale*/) override {
    model_->backward(dlogits);  // fp32 only (the project file refuses 16-bit precision here)
  }
  Evaluation evaluate(nn::SoftmaxCrossEntropy& loss, std::int64_t batch_size) override {
    data::SparseBatchIterator batches(split_.test, batch_size, false, 0);
    data::SparseBatch batch;
    tensor::Tensor y;
    double loss_sum = 0.0;
    std::int64_t correct = 0;
    while (batches.next(batch)) {
      backend_.ensure(y, {batch.size}, tensor::DType::i32);
      backend_.upload(y, batch.labels.data(), batch.labels.size() * sizeof(std::int32_t));
      const auto& logits = model_->forward(batch.fields, false);
      loss_sum += static_cast<double>(loss.forward(logits, y)) * static_cast<double>(batch.size);
      correct += backend_.count_correct(logits, y);
    }
    const auto n = static_cast<double>(std::max<std::int64_t>(1, split_.test.size()));
    return {loss_sum / n, static_cast<double>(correct) / n};
  }
  std::vector<nn::Parameter*> parameters() override { return model_->parameters(); }
  std::vector<nn::SparseParameter*> sparse_parameters() override {
    return model_->sparse_parameters();
  }
  std::string describe() const override { return model_->describe(); }
  std::int64_t parameter_count() override { return model_->parameter_count(); }
  std::size_t activation_bytes() const override { return model_->activation_bytes(); }
  std::size_t weight_bytes() override { return model_->weight_bytes(); }

 private:
  tensor::Backend& backend_;
  data::SparseSplit split_;
  std::unique_ptr<nn::SparseModel> model_;
  data::SparseBatchIterator batches_;
  data::SparseBatch batch_;
  tensor::Tensor y_;  // [N] i32
};

}  // namespace

void Workload::set_gradient_ready(std::function<void(nn::Parameter&)>) {
  throw Error("parallel.data: " + describe() +
              " has embedding tables, whose row-sparse gradients data parallelism does not "
              "average yet (use a dense model)");
}

std::vector<nn::Parameter*> Workload::parameters_in_gradient_order() {
  auto all = parameters();
  std::reverse(all.begin(), all.end());
  return all;
}

const tensor::Tensor& Workload::features() const {
  static const tensor::Tensor none;
  return none;
}

std::unique_ptr<Workload> make_workload(tensor::Backend& backend, const Project& project,
                                        trace::Recorder* recorder, DataShard shard) {
  if (data::is_dataset_format(project.data.dataset)) {
    return make_dense_workload(backend, project, recorder, shard);
  }
  return std::make_unique<SparseWorkload>(backend, project);
}

}  // namespace tb::run::detail
