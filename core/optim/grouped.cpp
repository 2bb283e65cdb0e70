#include <algorithm>
#include <bit>
#include <cstdint>
#include <unordered_set>

#include "core/optim/detail.h"

namespace tb::optim::detail {

std::vector<std::vector<std::size_t>> group_slots(std::span<const Slot> slots) {
  const auto same = [](double a, double b) {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
  };
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    // A project has a handful of groups: a linear search over their first slots is enough.
    const auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& group) {
      const Slot& first = slots[group.front()];
      return same(first.base_lr, slots[i].base_lr) &&
             same(first.weight_decay, slots[i].weight_decay);
    });
    if (it == groups.end()) {
      groups.push_back({i});
    } else {
      it->push_back(i);
    }
  }
  return groups;
}

GroupedOptimizer::GroupedOptimizer(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                   const OptimizerSpec& spec, std::vector<std::string> buffer_names)
    : backend_(backend), buffer_names_(std::move(buffer_names)), spec_lr_(spec.lr) {
  std::unordered_set<std::string> seen;
  for (auto* p : params) {
    // Names key the checkpoint's buffers: two parameters of one name would swap state silently.
    if (!seen.insert(p->name).second) {
      throw Error("optimizer: two parameters are named '" + p->name +
                  "'; their saved state could not be told apart");
    }
    Slot slot;
    slot.param = p;
    slot.base_lr = spec.lr;
    slot.weight_decay = spec.weight_decay;
    for (const auto& group : spec.param_groups) {
      if (p->name.find(group.match) == std::string::npos) continue;
      slot.base_lr = group.lr.value_or(spec.lr);
      slot.weight_decay = group.weight_decay.value_or(spec.weight_decay);
      break;  // the first matching group wins
    }
    for (std::size_t b = 0; b < buffer_names_.size(); ++b) {
      slot.buffers.push_back(backend_.zeros(p->value.shape()));
    }
    slots_.push_back(std::move(slot));
  }
  groups_ = group_slots(slots_);
}

double GroupedOptimizer::lr() const {
  return (slots_.empty() ? spec_lr_ : slots_.front().base_lr) * factor_;
}

void GroupedOptimizer::set_lr_factor(double factor) {
  require_at_least(factor, 0.0, "optimizer lr factor");
  factor_ = factor;
}

void GroupedOptimizer::step() {
  ++steps_;
  // Each slot's update depends on its own tensors only, so updating group by group gives every
  // parameter the bits one op per parameter gave.
  for (const auto& group : groups_) {
    group_.clear();
    for (const std::size_t i : group) group_.push_back(&slots_[i]);
    const Slot& first = *group_.front();
    update(group_, static_cast<float>(first.base_lr * factor_),
           static_cast<float>(first.weight_decay));
  }
}

OptimizerState GroupedOptimizer::state() const {
  OptimizerState out;
  out.step = steps_;
  for (const auto& slot : slots_) {
    for (std::size_t b = 0; b < buffer_names_.size(); ++b) {
      const auto& t = slot.buffers[b];
      std::vector<float> values(static_cast<std::size_t>(t.numel()));
      backend_.download(t, values.data(), values.size() * sizeof(float));
      out.tensors.emplace_back(slot.param->name + "." + buffer_names_[b], std::move(values));
    }
  }
  return out;
}

void GroupedOptimizer::load_state(const OptimizerState& state) {
  // Check everything before changing anything, so a bad checkpoint leaves the optimizer as it was.
  if (state.step < 0) {
    throw Error("optimizer state: step must be >= 0 (got " + std::to_string(state.step) + ")");
  }
  const std::size_t expected = slots_.size() * buffer_names_.size();
  std::size_t k = 0;
  for (const auto& slot : slots_) {
    for (const auto& buffer : buffer_names_) {
      const std::string key = slot.param->name + "." + buffer;
      if (k >= state.tensors.size()) {
        throw Error("optimizer state: buffer '" + key + "' is missing (the state has " +
                    std::to_string(state.tensors.size()) + " buffers, " + name() + " needs " +
                    std::to_string(expected) + ")");
      }
      const auto& [got_name, values] = state.tensors[k++];
      if (got_name != key) {
        throw Error("optimizer state: buffer '" + key + "' expected at position " +
                    std::to_string(k - 1) + ", found '" + got_name +
                    "' (saved by another optimizer or model?)");
      }
      if (static_cast<std::int64_t>(values.size()) != slot.param->value.numel()) {
        throw Error("optimizer state: buffer '" + key + "' has " + std::to_string(values.size()) +
                    " values, the parameter has " + std::to_string(slot.param->value.numel()));
      }
    }
  }
  if (state.tensors.size() != expected) {
    throw Error("optimizer state: buffer '" + state.tensors[expected].first + "' is not one of " +
                name() + "'s (saved with other settings?)");
  }
  k = 0;
  for (auto& slot : slots_) {
    for (auto& t : slot.buffers) {
      const auto& values = state.tensors[k++].second;
      backend_.upload(t, values.data(), values.size() * sizeof(float));
    }
  }
  steps_ = state.step;
}

}  // namespace tb::optim::detail
