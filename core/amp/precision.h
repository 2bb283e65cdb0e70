// The precision policy of a run: which format weights, activations and gradients are stored in.
//
// fp16 and bf16 keep fp32 master weights that the optimizer updates; the 16-bit copies are what the
// forward and backward passes see. Only fp16 needs loss scaling: its smallest normal value (2^-14)
// lets small gradients underflow, while bf16 has float's exponent range.
#pragma once

#include <string_view>

#include "core/tensor/tensor.h"

namespace tb::amp {

enum class Precision { fp32, fp16, bf16 };

// "fp32" | "fp16" | "bf16"; anything else throws tb::Error naming the accepted values.
Precision parse_precision(std::string_view text);
const char* precision_name(Precision precision);

// The dtype activations and the working copy of the weights are stored in.
tensor::DType storage_dtype(Precision precision);

// Whether gradients need dynamic loss scaling to survive in this precision (fp16 only).
bool needs_loss_scaling(Precision precision);

}  // namespace tb::amp
