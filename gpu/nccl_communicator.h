// NcclCommunicator: dist::Communicator for tensors on NVIDIA GPUs, through NCCL.
//
// !!! THE SPANS HOLD DEVICE POINTERS. !!! Every span given to this communicator points into GPU
// memory on the communicator's device: pass device_span(tensor) of f32 CUDA tensors (tensors of
// the backend gpu::make_cuda_backend made; Tensor::data() is host-only and throws for them),
// never host vectors. The interface is the host one
// (core/dist/communicator.h) so that code written against Communicator (gradient buckets, data
// parallelism) runs on either; each op checks its pointers with cudaPointerGetAttributes and
// throws tb::Error ("all_reduce: data is host memory, not memory on CUDA device 0 ...") rather
// than let NCCL fault on a host pointer.
//
// One process per GPU. More than one process is bootstrapped over a host communicator (MPI):
// rank 0 makes NCCL's unique id and the bootstrap broadcasts it, then every rank joins
// (ncclCommInitRank). Without a bootstrap, or with a world of one, it is a world of one GPU.
// NCCL itself is opened at run time (gpu/nccl_library.h): a build without it at hand runs, and
// make_nccl_communicator says "NCCL not found (libnccl.so.2): ..." there.
//
// Streams and ordering. Every op runs on a stream of the communicator's own (stream()), so
// communication runs beside the backend's compute stream:
// - The blocking ops (all_reduce, broadcast, all_gather, reduce_scatter, send, recv, barrier)
//   return when the result is in device memory (they synchronise that stream).
// - all_reduce_async returns at once; its Request's wait() blocks the host until a CUDA event
//   recorded after the all-reduce has passed. Meanwhile kernels on other streams (backward on
//   the compute stream) keep running.
// - Data produced by kernels on another stream must be finished before an op reads it. The
//   communicator's stream is a blocking stream, so work on the legacy default stream (stream 0,
//   cudaMemcpy) is ordered before it already; for a non-blocking stream such as the CUDA
//   backend's, either call wait_for(producer) before the op (once) or set_producer_stream
//   (every op from then on waits for what was queued there when it was called). Both wait on
//   the device, not the host.
// - A consumer stream that must see the result without blocking the host (an optimizer step
//   queued after the async all-reduces) calls make_wait(consumer).
//
// Point to point: NCCL has no tags, so `tag` is ignored; messages between two ranks match in the
// order they were posted. send_async / recv_async are queued and started
// together, as one NCCL group, at the next wait() of any of them or the next other op, so a
// rank may post its receive and its send to the same neighbour in either order (as with MPI's
// non-blocking calls). A blocking send() followed by a blocking recv() on two ranks that send to
// each other deadlocks (NCCL has no eager buffer): post both asynchronously, then wait. NCCL
// cannot tell a receive of another length from the send it matches: lengths must agree (the
// interface's rule), or the ranks hang or read garbage.
//
// As NCCL requires, every rank issues the collectives in the same order, and one communicator is
// used by one host thread at a time. Requests must be waited for (or dropped) before the
// communicator is destroyed; p2p requests never started are dropped with it.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>
#include <span>
#include <string>

#include "core/dist/communicator.h"
#include "core/tensor/backend.h"
#include "core/tensor/tensor.h"

namespace tb::gpu {

class NcclCommunicator : public dist::Communicator {
 public:
  // The CUDA device every op runs on (and every span must be on).
  virtual int device() const = 0;
  // The stream the ops run on (a blocking stream of the communicator's own).
  virtual cudaStream_t stream() const = 0;
  // "2.28.9": the NCCL that was loaded.
  virtual std::string nccl_version() const = 0;

  // Makes the next ops wait, on the device, for everything queued on `producer` now (records an
  // event there and makes stream() wait for it).
  virtual void wait_for(cudaStream_t producer) = 0;
  // From now on, each op first waits (on the device) for everything queued on `producer` when
  // the op is called: how a data-parallel run orders the all-reduce of a gradient bucket after the
  // backward kernels that wrote it, through the plain Communicator interface. nullptr: none
  // (the legacy default stream needs none; see above).
  virtual void set_producer_stream(cudaStream_t producer) = 0;
  // Makes `consumer` wait, on the device, for everything queued on stream() now (the async
  // all-reduces included) without blocking the host.
  virtual void make_wait(cudaStream_t consumer) = 0;
};

// A communicator on CUDA device `device`. bootstrap: the host world (MPI) whose ranks become the
// NCCL ranks (rank r of bootstrap is NCCL rank r, each process on its own GPU: `device` is
// usually the node-local rank); null or a world of one for a world of one GPU. Collective over
// bootstrap: every rank calls it, and if any rank fails (no GPU, no NCCL) every rank throws
// rather than hang. Throws tb::Error: "NCCL communicator: no CUDA device" where there is none,
// "NCCL not found (libnccl.so.2): ..." where NCCL cannot be loaded, or NCCL's own text.
std::unique_ptr<NcclCommunicator> make_nccl_communicator(int device = 0,
                                                         dist::Communicator* bootstrap = nullptr);

// The communicator for a CUDA backend's tensors in data-parallel training (what
// dist::TensorCommunicator gets for a GPU run): NCCL on the backend's device, bootstrapped over
// `host` (collective over it), each op waiting on the device for what the backend had queued when
// the op was called (set_producer_stream), so a gradient bucket is reduced after the kernels
// that wrote it and the host never waits for them. Throws tb::Error for a backend that is not
// CUDA, or as make_nccl_communicator does.
std::unique_ptr<NcclCommunicator> make_nccl_communicator_for(tensor::Backend& backend,
                                                             dist::Communicator& host);

// The elements of an f32 CUDA tensor as a span of device memory, for the ops above. Throws
// tb::Error naming the tensor's device or dtype otherwise.
std::span<float> device_span(tensor::Tensor& tensor);

// Why make_nccl_communicator would fail on this machine before any NCCL call ("NCCL
// communicator: no CUDA device", "NCCL not found ..."), or "" when a GPU and NCCL are there.
std::string nccl_unavailable_reason();

}  // namespace tb::gpu
