#include "core/run/pipeline_training.h"

#include <span>

#include "core/dist/pipeline_schedule.h"
#include "core/util/error.h"

namespace tb::run::detail {
namespace {

nn::Model& model_of(Workload& work) {
  nn::Model* model = work.dense_model();
  if (model == nullptr) {
    throw Error("parallel.pipeline: " + work.describe() +
                " is not a dense model; pipeline stages split mlp and cnn models");
  }
  return *model;
}

}  // namespace

PipelineTraining::PipelineTraining(dist::Communicator& world, tensor::Backend& backend,
                                   Workload& work, const PipelineSettings& settings)
    : world_(world),
      model_(model_of(work)),
      stage_(world, backend, model_, static_cast<int>(settings.stages),
             static_cast<int>(settings.microbatches),
             dist::parse_pipeline_schedule(settings.schedule)) {
  // split_stages is deterministic: every rank knows every stage's layers.
  const auto ranges = dist::split_stages(model_, static_cast<int>(settings.stages));
  for (std::size_t s = 0; s < ranges.size(); ++s) {
    for (int layer = ranges[s].begin; layer < ranges[s].end; ++layer) {
      for (nn::Parameter* p : model_.layers()[static_cast<std::size_t>(layer)]->parameters()) {
        owners_.emplace_back(p, static_cast<int>(s));
      }
    }
  }
}

dist::PipelineStepResult PipelineTraining::step(Workload& work, nn::SoftmaxCrossEntropy& loss) {
  return stage_.train_step(work.features(), work.labels(), loss);
}

void PipelineTraining::share_parameters() {
  for (auto& [p, owner] : owners_) {
    world_.broadcast(std::span<float>(p->value.data(), static_cast<std::size_t>(p->value.numel())),
                     owner);
  }
}

double PipelineTraining::predicted_bubble() const {
  return dist::predicted_bubble(stage_.stages(), stage_.microbatches());
}

}  // namespace tb::run::detail
