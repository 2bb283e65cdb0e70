// Communicator: the collectives and point-to-point messages of parallel training, on host floats.
//
// One interface, two worlds: a world of one process (make_local_communicator, the default, which
// costs nothing: every collective over one rank is a copy or nothing) and the processes mpirun
// started (the MPI implementation, core/dist/mpi_communicator.cpp, built where OpenMPI is found).
// NCCL, for tensors on GPUs, implements the same interface in gpu/nccl_communicator.h.
//
// Every rank calls each collective in the same order with the same lengths (as MPI requires); a
// length that cannot be right on this rank (all_gather's out not size() times in, ...) throws
// tb::Error naming the operation and the lengths before anything is sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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
    // When the operation itself ran (steady-clock nanoseconds), known once wait() returned; both
    // 0 where nothing ran (a world of one). Queued is not running: a collective that waited
    // behind another started when that one ended.
    std::int64_t began_ns = 0;
    std::int64_t ended_ns = 0;
  };

  // Told of every operation that moved data, from the thread that ran it (the caller's, or the
  // communication thread's for async all-reduces): how communication gets its spans in a trace.
  // Times are the observer's own clock (now_ns), read at the start and the end of the operation.
  class Observer {
   public:
    virtual ~Observer() = default;
    virtual std::int64_t now_ns() = 0;
    virtual void on_operation(const char* op, std::size_t bytes, std::int64_t start_ns,
                              std::int64_t end_ns) = 0;
  };
  // Null: none. Set it before the operations it should see and clear it after they ended.
  virtual void set_observer(Observer* /*observer*/) {}

  // A rank that died or hangs must not hang the others: once an operation has waited more than
  // `timeout_s` for the other ranks, or mpirun is ending the job (SIGTERM, as it does when a rank
  // dies), `on_failure` is called once with the reason, on a thread of the watch's own (the
  // training thread may be stuck inside MPI), and the process ends (mpirun ends the others).
  // on_failure should only record the failure (mark the session failed). A world of one has
  // nobody to wait for and watches nothing.
  // Called again, it replaces the timeout and the handler (null: nobody to tell).
  virtual void watch(double /*timeout_s*/, std::function<void(const std::string&)> /*on_failure*/) {
  }
  // Ends every rank of the job now (MPI_Abort), after a failure this rank has recorded: the others
  // would otherwise wait for it until their timeout. Nothing in a world of one.
  virtual void abort(int /*exit_code*/) {}

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
  // The same, started now and finished by the request's wait() (a pipeline stage posts its
  // receive before it computes, and never blocks a neighbour on a send); `data` stays alive and
  // untouched until then. A receive of another length than was sent throws at wait().
  virtual std::unique_ptr<Request> send_async(std::span<const float> data, int peer, int tag) = 0;
  virtual std::unique_ptr<Request> recv_async(std::span<float> data, int peer, int tag) = 0;
  virtual void barrier() = 0;
};

// The world of one process.
std::unique_ptr<Communicator> make_local_communicator();

// Whether this process was started by mpirun (Open MPI's or MPICH's environment says so).
bool launched_by_mpirun();
// This process's rank as mpirun's environment says, before MPI starts (a command that prints
// progress only on rank 0); 0 outside mpirun.
int launched_rank();
// This process's rank among those mpirun started on its own machine (Open MPI's
// OMPI_COMM_WORLD_LOCAL_RANK, MPICH's MPI_LOCALRANKID): which GPU a data-parallel rank takes.
// 0 outside mpirun.
int launched_local_rank();
// Whether this build has the MPI implementation.
bool mpi_available();
// The processes mpirun started, as one world (MPI is initialised on the first call and finalised
// at exit). Throws tb::Error where the build has no MPI.
std::unique_ptr<Communicator> make_mpi_communicator();
// The MPI world when launched by mpirun and built with MPI, else the world of one.
std::unique_ptr<Communicator> make_world_communicator();

}  // namespace tb::dist
