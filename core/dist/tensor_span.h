// The elements of an f32 tensor as the span a Communicator carries, wherever the tensor lives:
// host memory for the local and MPI worlds, device memory for NCCL (which checks that its
// pointers are on its GPU). Tensor::data() is host-only; this is not.
#pragma once

#include <span>

#include "core/tensor/tensor.h"

namespace tb::dist {

// Throws tb::Error for an undefined tensor or one that is not f32.
std::span<float> tensor_span(tensor::Tensor& t);

}  // namespace tb::dist
