// Communicator: the collectives and point-to-point messages of parallel training, on host floats.
//
// One interface, two worlds: a world of one process (make_local_communicator, the default, which
// costs nothing: every collective over one rank is a copy or nothing) and the processes mpirun
// started (the MPI implementation, core/dist/mpi_communicator.cpp, built where OpenMPI is found).
// NCCL, for tensors on GPUs, implements the same interface in gpu/ (a later step).
//
// Every rank calls each collective in the same order with the same lengths (as MPI requires); a
// length that cannot be right on this rank (all_gather's out not size() times in, ...) throws
// tb::Error naming the operation and the lengths before anything is sent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace tb::dist {

enum class ReduceOp : std::uint8_t { sum, avg };

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "local", "mpi"

  // A collective started and not yet waited for (all_reduce_async): the data must stay alive and
  // untouched until wait() returns.
  class Request {
   public:
    virtual ~Request() = default;
    virtual void wait() = 0;
  };

  // data = op over every rank's data (in place; the same length everywhere).
  virtual void all_reduce(std::span<float> data, ReduceOp op) = 0;
  // The same, started now and finished by the request's wait(): how a bucket of gradients is
  // reduced while backward goes on computing the next one.
  virtual std::unique_ptr<Request> all_reduce_async(std::span<float> data, ReduceOp op) = 0;
  // data = root's data, on every rank.
  virtual void broadcast(std::span<float> data, int root) = 0;
  // out = every rank's `in`, one after the other in rank order (out: size() * in.size()).
  virtual void all_gather(std::span<const float> in, std::span<float> out) = 0;
  // `in` is size() equal blocks; out (one block) = op over the ranks of block rank().
  virtual void reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp op) = 0;
  virtual void send(std::span<const float> data, int peer, int tag) = 0;
  virtual void recv(std::span<float> data, int peer, int tag) = 0;
  virtual void barrier() = 0;
};

// The world of one process.
std::unique_ptr<Communicator> make_local_communicator();

// Whether this process was started by mpirun (Open MPI's or MPICH's environment says so).
bool launched_by_mpirun();
// Whether this build has the MPI implementation.
bool mpi_available();
// The processes mpirun started, as one world (MPI is initialised on the first call and finalised
// at exit). Throws tb::Error where the build has no MPI.
std::unique_ptr<Communicator> make_mpi_communicator();
// The MPI world when launched by mpirun and built with MPI, else the world of one.
std::unique_ptr<Communicator> make_world_communicator();

}  // namespace tb::dist
