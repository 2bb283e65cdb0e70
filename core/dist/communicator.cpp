#include "core/dist/communicator.h"

#include <algorithm>
#include <cstdlib>

#include "core/dist/checks.h"
#include "core/util/error.h"

namespace tb::dist {
namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }

  void all_reduce(std::span<float>, ReduceOp) override {}
  std::unique_ptr<Request> all_reduce_async(std::span<float>, ReduceOp) override {
    struct Done final : Request {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(std::span<float>, int root) override { check_rank("broadcast", "root", root, 1); }
  void all_gather(std::span<const float> in, std::span<float> out) override {
    check_all_gather(in.size(), out.size(), 1);
    std::copy(in.begin(), in.end(), out.begin());
  }
  void reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp) override {
    check_reduce_scatter(in.size(), out.size(), 1);
    std::copy(in.begin(), in.end(), out.begin());
  }
  void send(std::span<const float>, int peer, int) override {
    check_rank("send", "peer", peer, 1);
    throw Error("send: a world of one process has nobody to send to");
  }
  void recv(std::span<float>, int peer, int) override {
    check_rank("recv", "peer", peer, 1);
    throw Error("recv: a world of one process has nobody to receive from");
  }
  std::unique_ptr<Request> send_async(std::span<const float> data, int peer, int tag) override {
    send(data, peer, tag);
    return nullptr;
  }
  std::unique_ptr<Request> recv_async(std::span<float> data, int peer, int tag) override {
    recv(data, peer, tag);
    return nullptr;
  }
  void barrier() override {}
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() {
  return std::make_unique<LocalCommunicator>();
}

bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

int launched_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

int launched_local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

std::unique_ptr<Communicator> make_world_communicator() {
  if (mpi_available() && launched_by_mpirun()) return make_mpi_communicator();
  return make_local_communicator();
}

}  // namespace tb::dist
