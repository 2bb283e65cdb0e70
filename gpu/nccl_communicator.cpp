#include "gpu/nccl_communicator.h"

#include <cuda_runtime.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/dist/checks.h"
#include "core/util/error.h"
#include "gpu/cuda_backend.h"
#include "gpu/device.h"
#include "gpu/nccl_library.h"

namespace tb::gpu {
namespace {

using dist::ReduceOp;
using Request = dist::Communicator::Request;

void check_cuda(cudaError_t status, const std::string& what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw Error(what + ": " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
}

// The communicator's device made current for one op (cudaEventCreate and NCCL's launches use
// the current device), and the caller's restored after: the caller may be on another GPU.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    int current = -1;
    check_cuda(cudaGetDevice(&current), "selecting the CUDA device");
    if (current != device) {
      check_cuda(cudaSetDevice(device), "selecting the CUDA device");
      previous_ = current;
    }
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

// A CUDA event, destroyed with its last owner (cudaEventDestroy of an event not yet reached is
// allowed: CUDA frees it when reached). Timed events cost a little more; only the async
// all-reduce's start and end are.
struct Event {
  cudaEvent_t event = nullptr;
  explicit Event(bool timed = false) {
    check_cuda(cudaEventCreateWithFlags(&event, timed ? cudaEventDefault : cudaEventDisableTiming),
               "creating a CUDA event");
  }
  ~Event() {
    if (event) cudaEventDestroy(event);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

// An op over no elements: nothing was queued, nothing to wait for.
struct Done final : Request {
  void wait() override {}
};

ncclRedOp_t nccl_op(ReduceOp op) {
  return op == ReduceOp::avg ? ncclAvg : ncclSum;
}

// "" when this machine has a GPU (device `device`, when >= 0); else why not.
std::string device_reason(int device) {
  const auto devices = list_devices();
  if (devices.empty()) {
    const std::string reason = unavailable_reason();
    return "NCCL communicator: no CUDA device" +
           (reason == "no CUDA device" ? std::string() : " (" + reason + ")");
  }
  if (device >= static_cast<int>(devices.size()) || device < -1) {
    return "NCCL communicator: there is no CUDA device " + std::to_string(device) + " (" +
           std::to_string(devices.size()) + " found)";
  }
  return "";
}

class Nccl final : public NcclCommunicator {
 public:
  Nccl(const NcclLibrary& nccl, int device, int rank, int size, const ncclUniqueId& id)
      : nccl_(nccl), device_(device), rank_(rank), size_(size) {
    DeviceScope scope(device_);
    // NCCL first: on a multi-rank world the other ranks wait in ncclCommInitRank for this one.
    nccl_.check(nccl_.comm_init_rank(&comm_, size_, id, rank_),
                "NCCL communicator: ncclCommInitRank");
    try {
      // A blocking stream: work on the legacy default stream (cudaMemcpy) is ordered before it.
      check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault),
                 "NCCL communicator: creating its stream");
      check_cuda(cudaEventCreateWithFlags(&producer_event_, cudaEventDisableTiming),
                 "NCCL communicator: creating a CUDA event");
      check_cuda(cudaEventCreateWithFlags(&queued_event_, cudaEventDisableTiming),
                 "NCCL communicator: creating a CUDA event");
      check_cuda(cudaStreamCreateWithFlags(&clock_stream_, cudaStreamNonBlocking),
                 "NCCL communicator: creating its clock stream");
      check_cuda(cudaEventCreateWithFlags(&anchor_event_, cudaEventDefault),
                 "NCCL communicator: creating a CUDA event");
      check_cuda(cudaMalloc(&barrier_value_, sizeof(float)),
                 "NCCL communicator: allocating the barrier's value");
      check_cuda(cudaMemset(barrier_value_, 0, sizeof(float)),
                 "NCCL communicator: clearing the barrier's value");
    } catch (...) {
      release();
      throw;
    }
  }

  ~Nccl() override {
    pending_.clear();  // never started: dropped (their requests' wait() throws)
    try {
      DeviceScope scope(device_);
      release();
    } catch (const Error&) {
      release();
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }
  int device() const override { return device_; }
  cudaStream_t stream() const override { return stream_; }
  std::string nccl_version() const override { return nccl_.version_string(); }

  void wait_for(cudaStream_t producer) override {
    DeviceScope scope(device_);
    check_cuda(cudaEventRecord(producer_event_, producer), "wait_for");
    check_cuda(cudaStreamWaitEvent(stream_, producer_event_, 0), "wait_for");
  }
  void set_producer_stream(cudaStream_t producer) override { producer_ = producer; }
  void make_wait(cudaStream_t consumer) override {
    DeviceScope scope(device_);
    check_cuda(cudaEventRecord(queued_event_, stream_), "make_wait");
    check_cuda(cudaStreamWaitEvent(consumer, queued_event_, 0), "make_wait");
  }

  void all_reduce(std::span<float> data, ReduceOp op) override {
    if (data.empty()) return;
    DeviceScope scope(device_);
    check_device_memory(data.data(), "all_reduce", "data");
    before_op();
    nccl_.check(nccl_.all_reduce(data.data(), data.data(), data.size(), ncclFloat32, nccl_op(op),
                                 comm_, stream_),
                "all_reduce", comm_);
    sync("all_reduce");
  }

  std::unique_ptr<Request> all_reduce_async(std::span<float> data, ReduceOp op) override {
    if (data.empty()) return std::make_unique<Done>();
    DeviceScope scope(device_);
    check_device_memory(data.data(), "all_reduce_async", "data");
    before_op();
    // Timed on the device: the request says when the all-reduce itself ran (not when it was
    // queued behind the producer's kernels), as GradientBuckets' overlap share needs.
    auto started = std::make_shared<Event>(true);
    check_cuda(cudaEventRecord(started->event, stream_), "all_reduce_async");
    nccl_.check(nccl_.all_reduce(data.data(), data.data(), data.size(), ncclFloat32, nccl_op(op),
                                 comm_, stream_),
                "all_reduce_async", comm_);
    auto event = std::make_shared<Event>(true);
    check_cuda(cudaEventRecord(event->event, stream_), "all_reduce_async");
    return std::make_unique<EventRequest>(*this, std::move(event), "all_reduce_async",
                                          std::move(started));
  }

  void broadcast(std::span<float> data, int root) override {
    dist::check_rank("broadcast", "root", root, size_);
    if (data.empty()) return;
    DeviceScope scope(device_);
    check_device_memory(data.data(), "broadcast", "data");
    before_op();
    nccl_.check(
        nccl_.broadcast(data.data(), data.data(), data.size(), ncclFloat32, root, comm_, stream_),
        "broadcast", comm_);
    sync("broadcast");
  }

  void all_gather(std::span<const float> in, std::span<float> out) override {
    dist::check_all_gather(in.size(), out.size(), size_);
    if (in.empty()) return;
    DeviceScope scope(device_);
    check_device_memory(in.data(), "all_gather", "in");
    check_device_memory(out.data(), "all_gather", "out");
    before_op();
    nccl_.check(nccl_.all_gather(in.data(), out.data(), in.size(), ncclFloat32, comm_, stream_),
                "all_gather", comm_);
    sync("all_gather");
  }

  void reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp op) override {
    dist::check_reduce_scatter(in.size(), out.size(), size_);
    if (out.empty()) return;
    DeviceScope scope(device_);
    check_device_memory(in.data(), "reduce_scatter", "in");
    check_device_memory(out.data(), "reduce_scatter", "out");
    before_op();
    nccl_.check(nccl_.reduce_scatter(in.data(), out.data(), out.size(), ncclFloat32, nccl_op(op),
                                     comm_, stream_),
                "reduce_scatter", comm_);
    sync("reduce_scatter");
  }

  void send(std::span<const float> data, int peer, int tag) override {
    send_async(data, peer, tag)->wait();
  }
  void recv(std::span<float> data, int peer, int tag) override {
    recv_async(data, peer, tag)->wait();
  }
  std::unique_ptr<Request> send_async(std::span<const float> data, int peer, int) override {
    // Kept as float* beside the receives' buffers; ncclSend only reads it.
    return post(true, const_cast<float*>(data.data()), data.size(), peer);
  }
  std::unique_ptr<Request> recv_async(std::span<float> data, int peer, int) override {
    return post(false, data.data(), data.size(), peer);
  }

  void barrier() override {
    DeviceScope scope(device_);
    before_op();
    nccl_.check(
        nccl_.all_reduce(barrier_value_, barrier_value_, 1, ncclFloat32, ncclSum, comm_, stream_),
        "barrier", comm_);
    sync("barrier");
  }

 private:
  // A message posted and not yet started: started with the others, as one NCCL group, at the
  // first wait() or the next other op.
  struct P2pState {
    std::shared_ptr<Event> event;  // set when started
  };
  struct Pending {
    bool send = false;
    float* data = nullptr;
    std::size_t count = 0;
    int peer = 0;
    std::shared_ptr<P2pState> state;
  };

  class EventRequest final : public Request {
   public:
    // started: a timed event recorded just before the op, `event` timed too; null: untimed.
    EventRequest(Nccl& comm, std::shared_ptr<Event> event, const char* op,
                 std::shared_ptr<Event> started = nullptr)
        : comm_(comm), event_(std::move(event)), started_(std::move(started)), op_(op) {}
    void wait() override {
      comm_.wait_event(*event_, op_);
      if (started_) {
        comm_.host_times(*started_, *event_, began_ns, ended_ns);
        started_.reset();
      }
    }

   private:
    Nccl& comm_;
    std::shared_ptr<Event> event_;
    std::shared_ptr<Event> started_;
    const char* op_;
  };

  class P2pRequest final : public Request {
   public:
    P2pRequest(Nccl& comm, std::shared_ptr<P2pState> state, const char* op)
        : comm_(comm), state_(std::move(state)), op_(op) {}
    void wait() override {
      if (!state_->event) {
        DeviceScope scope(comm_.device_);
        comm_.start_pending();
      }
      if (!state_->event) {
        throw Error(std::string(op_) + ": the message was never started (an earlier NCCL error)");
      }
      comm_.wait_event(*state_->event, op_);
    }

   private:
    Nccl& comm_;
    std::shared_ptr<P2pState> state_;
    const char* op_;
  };

  std::unique_ptr<Request> post(bool send, float* data, std::size_t count, int peer) {
    const char* op = send ? "send" : "recv";
    dist::check_rank(op, "peer", peer, size_);
    if (size_ == 1) {
      throw Error(send ? "send: a world of one GPU has nobody to send to"
                       : "recv: a world of one GPU has nobody to receive from");
    }
    if (peer == rank_) {
      throw Error(std::string(op) + ": peer " + std::to_string(peer) +
                  " is this rank (NCCL sends and receives only between two ranks)");
    }
    if (count == 0) return std::make_unique<Done>();
    DeviceScope scope(device_);
    check_device_memory(data, op, "data");
    // The producer's work is waited for now, as posted; the message starts later.
    wait_producer();
    auto state = std::make_shared<P2pState>();
    pending_.push_back({send, data, count, peer, state});
    return std::make_unique<P2pRequest>(*this, std::move(state), op);
  }

  // Starts every posted message as one group, so sends and receives between two ranks match
  // whatever order each posted them in.
  void start_pending() {
    if (pending_.empty()) return;
    const std::vector<Pending> pending = std::move(pending_);
    pending_.clear();
    nccl_.check(nccl_.group_start(), "send/recv: ncclGroupStart", comm_);
    ncclResult_t first = ncclSuccess;
    const char* failed = nullptr;
    for (const Pending& p : pending) {
      const ncclResult_t result =
          p.send ? nccl_.send(p.data, p.count, ncclFloat32, p.peer, comm_, stream_)
                 : nccl_.recv(p.data, p.count, ncclFloat32, p.peer, comm_, stream_);
      if (result != ncclSuccess && first == ncclSuccess) {
        first = result;
        failed = p.send ? "send" : "recv";
      }
    }
    const ncclResult_t end = nccl_.group_end();  // closes the group even after a failure
    if (first != ncclSuccess) nccl_.check(first, failed, comm_);
    nccl_.check(end, "send/recv: ncclGroupEnd", comm_);
    auto event = std::make_shared<Event>();
    check_cuda(cudaEventRecord(event->event, stream_), "send/recv");
    for (const Pending& p : pending) p.state->event = event;
  }

  // What every op does before it queues its NCCL call: messages posted earlier start first (ops
  // run in the order they were called), and the producer stream's work is waited for.
  void before_op() {
    start_pending();
    wait_producer();
  }

  void wait_producer() {
    if (producer_ == nullptr) return;
    check_cuda(cudaEventRecord(producer_event_, producer_), "waiting for the producer stream");
    check_cuda(cudaStreamWaitEvent(stream_, producer_event_, 0), "waiting for the producer stream");
  }

  void sync(const char* op) {
    const cudaError_t status = cudaStreamSynchronize(stream_);
    if (status != cudaSuccess) fail(op, status);
  }

  // When two timed events, both reached, passed, in steady-clock nanoseconds: their distance from
  // an anchor event whose host time is known (recorded on an idle stream of its own and waited
  // for, so it passes at once), renewed every second so float milliseconds stay exact to well
  // under a microsecond. Best effort: a timing error leaves both 0 (unknown).
  void host_times(const Event& started, const Event& ended, std::int64_t& began_ns,
                  std::int64_t& ended_ns) {
    DeviceScope scope(device_);
    const auto steady_ns = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
    if (anchor_ns_ == 0 || steady_ns() - anchor_ns_ > 1'000'000'000) {
      if (cudaEventRecord(anchor_event_, clock_stream_) != cudaSuccess ||
          cudaEventSynchronize(anchor_event_) != cudaSuccess) {
        cudaGetLastError();
        anchor_ns_ = 0;
        return;
      }
      anchor_ns_ = steady_ns();
    }
    float began_ms = 0.0f, ended_ms = 0.0f;
    if (cudaEventElapsedTime(&began_ms, anchor_event_, started.event) != cudaSuccess ||
        cudaEventElapsedTime(&ended_ms, anchor_event_, ended.event) != cudaSuccess) {
      cudaGetLastError();
      return;
    }
    began_ns = anchor_ns_ + std::llround(static_cast<double>(began_ms) * 1e6);
    ended_ns = anchor_ns_ + std::llround(static_cast<double>(ended_ms) * 1e6);
  }

  void wait_event(const Event& event, const char* op) {
    const cudaError_t status = cudaEventSynchronize(event.event);
    if (status != cudaSuccess) fail(op, status);
  }

  // A failed wait: NCCL's asynchronous error where it has one (a peer gone), else CUDA's.
  [[noreturn]] void fail(const char* op, cudaError_t status) {
    cudaGetLastError();
    ncclResult_t async = ncclSuccess;
    if (nccl_.comm_get_async_error(comm_, &async) == ncclSuccess && async != ncclSuccess &&
        async != ncclInProgress) {
      nccl_.check(async, op, comm_);
    }
    check_cuda(status, op);
    throw Error(std::string(op) + ": failed");  // not reached: status is an error
  }

  // NCCL on a host pointer faults the context (or reads garbage): refused with words instead.
  void check_device_memory(const void* p, const char* op, const char* what) const {
    cudaPointerAttributes attributes{};
    const cudaError_t status = cudaPointerGetAttributes(&attributes, p);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw Error(std::string(op) + ": " + what + " is not CUDA memory (" +
                  cudaGetErrorString(status) + ")");
    }
    if (attributes.type == cudaMemoryTypeManaged) return;
    if (attributes.type == cudaMemoryTypeDevice) {
      if (attributes.device == device_) return;
      throw Error(std::string(op) + ": " + what + " is memory on CUDA device " +
                  std::to_string(attributes.device) + ", not on device " + std::to_string(device_) +
                  " (this communicator's)");
    }
    throw Error(std::string(op) + ": " + what + " is host memory, not memory on CUDA device " +
                std::to_string(device_) +
                " (the NCCL communicator takes device_span() of a CUDA tensor)");
  }

  void release() {
    if (stream_) cudaStreamSynchronize(stream_);
    if (comm_) nccl_.comm_destroy(comm_);
    comm_ = nullptr;
    if (barrier_value_) cudaFree(barrier_value_);
    barrier_value_ = nullptr;
    if (queued_event_) cudaEventDestroy(queued_event_);
    queued_event_ = nullptr;
    if (producer_event_) cudaEventDestroy(producer_event_);
    producer_event_ = nullptr;
    if (anchor_event_) cudaEventDestroy(anchor_event_);
    anchor_event_ = nullptr;
    if (clock_stream_) cudaStreamDestroy(clock_stream_);
    clock_stream_ = nullptr;
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
  }

  const NcclLibrary& nccl_;
  const int device_;
  const int rank_;
  const int size_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaStream_t producer_ = nullptr;
  cudaEvent_t producer_event_ = nullptr;  // marks producer_ (or wait_for's stream) for stream_
  cudaEvent_t queued_event_ = nullptr;    // marks stream_ for make_wait's consumer
  float* barrier_value_ = nullptr;        // the one float barrier() all-reduces
  cudaStream_t clock_stream_ = nullptr;   // idle: an anchor recorded there passes at once
  cudaEvent_t anchor_event_ = nullptr;    // timed; passed at steady-clock anchor_ns_
  std::int64_t anchor_ns_ = 0;            // 0: no anchor yet
  std::vector<Pending> pending_;
};

// Why this process cannot make a communicator on `device`, or "" (with `nccl` set) if it can.
std::string local_reason(int device, const NcclLibrary*& nccl) {
  nccl = nullptr;
  std::string why = device_reason(device);
  if (why.empty()) nccl = nccl_library(why);
  return why;
}

}  // namespace

std::unique_ptr<NcclCommunicator> make_nccl_communicator(int device,
                                                         dist::Communicator* bootstrap) {
  const int size = bootstrap != nullptr ? bootstrap->size() : 1;
  const int rank = bootstrap != nullptr ? bootstrap->rank() : 0;
  const NcclLibrary* nccl = nullptr;
  const std::string why =
      device < 0 ? "NCCL communicator: there is no CUDA device " + std::to_string(device)
                 : local_reason(device, nccl);
  ncclUniqueId id{};
  if (size == 1) {
    if (!why.empty()) throw Error(why);
    DeviceScope scope(device);
    nccl->check(nccl->get_unique_id(&id), "NCCL communicator: ncclGetUniqueId");
    return std::make_unique<Nccl>(*nccl, device, 0, 1, id);
  }

  // Every rank says whether it can start before any waits in NCCL's own bootstrap, so a rank
  // without a GPU or NCCL makes every rank throw instead of leaving the others hanging.
  std::array<float, 1> failed = {why.empty() ? 0.0f : 1.0f};
  bootstrap->all_reduce(failed, ReduceOp::sum);
  if (!why.empty()) throw Error(why);
  if (failed[0] > 0.0f) {
    throw Error("NCCL communicator: " + std::to_string(static_cast<int>(failed[0])) + " of the " +
                std::to_string(size) + " ranks cannot start NCCL (each says why)");
  }

  // Rank 0 makes the id, and the bootstrap carries its 128 bytes in floats (copied bit for bit:
  // the floats are never computed with). packet[0] says whether rank 0 could make it.
  constexpr std::size_t kIdFloats = (sizeof(ncclUniqueId) + sizeof(float) - 1) / sizeof(float);
  std::array<float, 1 + kIdFloats> packet{};
  std::string id_error;
  if (rank == 0) {
    DeviceScope scope(device);
    const ncclResult_t result = nccl->get_unique_id(&id);
    if (result == ncclSuccess) {
      packet[0] = 1.0f;
      std::memcpy(&packet[1], &id, sizeof id);
    } else {
      id_error = "NCCL communicator: ncclGetUniqueId: NCCL " + nccl->describe(result);
    }
  }
  bootstrap->broadcast(packet, 0);
  if (packet[0] != 1.0f) {
    throw Error(rank == 0 ? id_error
                          : "NCCL communicator: rank 0 could not make NCCL's unique id (it "
                            "says why)");
  }
  std::memcpy(&id, &packet[1], sizeof id);
  return std::make_unique<Nccl>(*nccl, device, rank, size, id);
}

std::unique_ptr<NcclCommunicator> make_nccl_communicator_for(tensor::Backend& backend,
                                                             dist::Communicator& host) {
  const auto placement = cuda_placement(backend);
  if (!placement) {
    throw Error("NCCL communicator: the " + backend.name() +
                " backend's tensors are not on a CUDA device");
  }
  auto communicator = make_nccl_communicator(placement->device, &host);
  communicator->set_producer_stream(placement->stream);
  return communicator;
}

std::span<float> device_span(tensor::Tensor& tensor) {
  if (tensor.device() != tensor::Device::cuda) {
    throw Error("device_span: the tensor is on the CPU, not on a CUDA device");
  }
  if (tensor.dtype() != tensor::DType::f32) {
    throw Error(std::string("device_span: the tensor is ") + tensor::dtype_name(tensor.dtype()) +
                ", not f32");
  }
  return {static_cast<float*>(tensor.raw()), static_cast<std::size_t>(tensor.numel())};
}

std::string nccl_unavailable_reason() {
  const NcclLibrary* nccl = nullptr;
  return local_reason(-1, nccl);
}

}  // namespace tb::gpu
