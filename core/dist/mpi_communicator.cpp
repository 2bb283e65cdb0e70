// The MPI world (Open MPI from Debian): MPI is initialised once per process, with thread support
// (the loader's and the runner's threads exist beside the training loop, though only the training
// thread communicates), and finalised at exit. Errors come back as values (MPI_ERRORS_RETURN)
// and are thrown as tb::Error with MPI's own text.
#include "core/dist/communicator.h"

#include "core/util/error.h"

#ifdef TRAINBENCH_WITH_MPI
#include <mpi.h>

#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>

#include "core/dist/checks.h"

namespace tb::dist {
namespace {

void check_mpi(int code, const char* op) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string(op) +
              ": MPI error: " + std::string(text, static_cast<std::size_t>(length)));
}

void initialise_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
              "initialising MPI");
    std::atexit([] {
      int finalised = 0;
      MPI_Finalized(&finalised);
      if (!finalised) MPI_Finalize();
    });
  });
}

int count_of(std::size_t n, const char* op) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(std::string(op) + ": " + std::to_string(n) +
                " values in one call are more than MPI counts (split the buffer)");
  }
  return static_cast<int>(n);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    initialise_once();
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void all_reduce(std::span<float> data, ReduceOp op) override {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data(), count_of(data.size(), "all_reduce"),
                            MPI_FLOAT, MPI_SUM, comm_),
              "all_reduce");
    if (op == ReduceOp::avg) average(data);
  }

  std::unique_ptr<Request> all_reduce_async(std::span<float> data, ReduceOp op) override {
    auto request = std::make_unique<AsyncReduce>(*this, data, op);
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data.data(), count_of(data.size(), "all_reduce_async"),
                             MPI_FLOAT, MPI_SUM, comm_, &request->request),
              "all_reduce_async");
    return request;
  }

  void broadcast(std::span<float> data, int root) override {
    check_rank("broadcast", "root", root, size_);
    check_mpi(MPI_Bcast(data.data(), count_of(data.size(), "broadcast"), MPI_FLOAT, root, comm_),
              "broadcast");
  }

  void all_gather(std::span<const float> in, std::span<float> out) override {
    check_all_gather(in.size(), out.size(), size_);
    const int n = count_of(in.size(), "all_gather");
    check_mpi(MPI_Allgather(in.data(), n, MPI_FLOAT, out.data(), n, MPI_FLOAT, comm_),
              "all_gather");
  }

  void reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp op) override {
    check_reduce_scatter(in.size(), out.size(), size_);
    check_mpi(
        MPI_Reduce_scatter_block(in.data(), out.data(), count_of(out.size(), "reduce_scatter"),
                                 MPI_FLOAT, MPI_SUM, comm_),
        "reduce_scatter");
    if (op == ReduceOp::avg) average(out);
  }

  void send(std::span<const float> data, int peer, int tag) override {
    check_rank("send", "peer", peer, size_);
    check_mpi(MPI_Send(data.data(), count_of(data.size(), "send"), MPI_FLOAT, peer, tag, comm_),
              "send");
  }

  void recv(std::span<float> data, int peer, int tag) override {
    check_rank("recv", "peer", peer, size_);
    MPI_Status status;
    check_mpi(
        MPI_Recv(data.data(), count_of(data.size(), "recv"), MPI_FLOAT, peer, tag, comm_, &status),
        "recv");
    int received = 0;
    MPI_Get_count(&status, MPI_FLOAT, &received);
    if (static_cast<std::size_t>(received) != data.size()) {
      throw Error("recv: " + std::to_string(received) + " values came from rank " +
                  std::to_string(peer) + ", " + std::to_string(data.size()) + " expected");
    }
  }

  void barrier() override { check_mpi(MPI_Barrier(comm_), "barrier"); }

 private:
  struct AsyncReduce final : Request {
    AsyncReduce(MpiCommunicator& c, std::span<float> d, ReduceOp o) : comm(c), data(d), op(o) {}
    ~AsyncReduce() override {
      // Never leave MPI writing into memory that is about to go.
      if (!done && request != MPI_REQUEST_NULL) MPI_Wait(&request, MPI_STATUS_IGNORE);
    }
    void wait() override {
      if (done) return;
      done = true;
      check_mpi(MPI_Wait(&request, MPI_STATUS_IGNORE), "all_reduce_async");
      if (op == ReduceOp::avg) comm.average(data);
    }
    MpiCommunicator& comm;
    std::span<float> data;
    ReduceOp op;
    MPI_Request request = MPI_REQUEST_NULL;
    bool done = false;
  };

  // Sum to mean: one multiply by 1/size, as DDP divides its summed gradients.
  void average(std::span<float> data) const {
    const float inv = 1.0f / static_cast<float>(size_);
    for (float& v : data) v *= inv;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

bool mpi_available() {
  return true;
}

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace tb::dist

#else  // no MPI in this build

namespace tb::dist {

bool mpi_available() {
  return false;
}

std::unique_ptr<Communicator> make_mpi_communicator() {
  throw Error("this build has no MPI (install libopenmpi-dev and rebuild)");
}

}  // namespace tb::dist

#endif
