#include "core/amp/loss_scaler.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "core/util/error.h"

namespace tb::amp {

namespace {

template <typename T>
[[noreturn]] void invalid(const char* field, const char* requirement, T got) {
  std::ostringstream message;
  message << "amp." << field << " must be " << requirement << " (got " << got << ")";
  throw Error(message.str());
}

}  // namespace

void LossScalerOptions::validate() const {
  // Written so that NaN fails every check: a comparison with NaN is false.
  constexpr double float_max = std::numeric_limits<float>::max();
  if (!(init_scale > 0.0 && init_scale <= float_max))
    invalid("init_scale", "> 0 and a finite float", init_scale);
  if (!(growth_factor > 1.0 && growth_factor <= float_max))
    invalid("growth_factor", "> 1 and finite", growth_factor);
  if (!(backoff_factor > 0.0 && backoff_factor < 1.0))
    invalid("backoff_factor", "> 0 and < 1", backoff_factor);
  if (growth_interval < 1) invalid("growth_interval", ">= 1", growth_interval);
}

LossScaler::LossScaler(const LossScalerOptions& options) : options_(options) {
  options_.validate();
  scale_ = static_cast<float>(options_.init_scale);
}

bool LossScaler::update(bool found_inf) {
  ++steps_;
  if (found_inf) {
    // Product in double, stored as float: what GradScaler's update kernel does.
    scale_ = static_cast<float>(static_cast<double>(scale_) * options_.backoff_factor);
    growth_tracker_ = 0;
    ++skipped_;
    ++consecutive_skips_;
    events_.push_back({steps_, scale_, true, skipped_});
    return false;
  }
  consecutive_skips_ = 0;
  if (++growth_tracker_ == options_.growth_interval) {
    growth_tracker_ = 0;
    const auto grown = static_cast<float>(static_cast<double>(scale_) * options_.growth_factor);
    if (std::isfinite(grown)) {  // at float's limit the scale stays put, as in PyTorch
      scale_ = grown;
      events_.push_back({steps_, scale_, false, skipped_});
    }
  }
  return true;
}

std::vector<ScaleEvent> LossScaler::take_events() {
  std::vector<ScaleEvent> out;
  out.swap(events_);
  return out;
}

}  // namespace tb::amp
