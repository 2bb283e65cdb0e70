// PipelineTraining: the training loop's side of pipeline parallelism (dist/pipeline.h): this
// rank's stage of the workload's model, one step of micro-batches at a time, and before an
// evaluation every stage's current weights shared with every rank, so that rank 0 holds the
// whole model and evaluates it alone. Internal to core/run.
#pragma once

#include <utility>
#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/pipeline.h"
#include "core/run/project.h"
#include "core/run/workload.h"

namespace tb::run::detail {

class PipelineTraining {
 public:
  // Throws tb::Error for a sparse model, settings the stage refuses (16-bit, more stages than
  // layers) and a world that is not pipeline.stages ranks.
  PipelineTraining(dist::Communicator& world, tensor::Backend& backend, Workload& work,
                   const PipelineSettings& settings);

  // This rank's stage's parameters: what its optimizer updates.
  std::vector<nn::Parameter*> parameters() { return stage_.parameters(); }
  // One step on the workload's loaded batch (every rank loads the same one).
  dist::PipelineStepResult step(Workload& work, nn::SoftmaxCrossEntropy& loss);
  // Every parameter from the rank whose stage owns it, to every rank.
  void share_parameters();
  double predicted_bubble() const;

 private:
  dist::Communicator& world_;
  nn::Model& model_;
  dist::PipelineStage stage_;
  std::vector<std::pair<nn::Parameter*, int>> owners_;  // every parameter and its stage's rank
};

}  // namespace tb::run::detail
