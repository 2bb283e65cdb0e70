// Page-locked host memory for the data pipeline's batches (Backend::host_memory() of the CUDA
// backend): a copy from it to the device is a DMA that runs asynchronously on a copy stream.
#pragma once

#include <memory>

#include "core/tensor/host_memory.h"

namespace tb::gpu {

// cudaHostAlloc (portable: usable with every device) behind a tensor::CachingHostMemory, since
// pinning costs about a millisecond per megabyte; allocated with `device` current. One per
// device for the process, never destroyed: batches may outlive the backend that asked for it.
std::shared_ptr<tensor::HostMemory> pinned_host_memory(int device);

}  // namespace tb::gpu
