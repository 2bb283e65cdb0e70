// The MPI world (Open MPI from Debian): MPI is initialised once per process with
// MPI_THREAD_MULTIPLE (async all-reduces run on a communication thread of their own) and
// finalised at exit. Errors come back as values (MPI_ERRORS_RETURN) and are thrown as tb::Error
// with MPI's own text. Blocking collectives are the plain MPI calls (their tuned algorithms:
// MPI_Iallreduce polled to completion moves about 3/4 of MPI_Allreduce's bandwidth here).
#include "core/dist/communicator.h"

#include "core/util/error.h"

#ifdef TRAINBENCH_WITH_MPI
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/dist/checks.h"

namespace tb::dist {
namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void check_mpi(int code, const char* op) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string(op) +
              ": MPI error: " + std::string(text, static_cast<std::size_t>(length)));
}

// Whether MPI runs calls from several threads at once: async all-reduces then run on a thread of
// their own, with a blocking MPI_Allreduce, and truly progress while the training thread
// computes (Open MPI has no progress thread: a nonblocking collective moves only while some
// thread is inside MPI). Open MPI 4.1 from Debian provides it.
bool g_thread_multiple = false;

void initialise_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    MPI_Initialized(&initialised);
    int provided = 0;
    if (initialised) {
      MPI_Query_thread(&provided);
    } else {
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided),
                "initialising MPI");
      std::atexit([] {
        int finalised = 0;
        MPI_Finalized(&finalised);
        if (!finalised) MPI_Finalize();
      });
    }
    g_thread_multiple = provided >= MPI_THREAD_MULTIPLE;
  });
}

int count_of(std::size_t n, const char* op) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(std::string(op) + ": " + std::to_string(n) +
                " values in one call are more than MPI counts (split the buffer)");
  }
  return static_cast<int>(n);
}

// The communication thread's pause between polls of an async all-reduce.
constexpr int kPollSleepUs = 50;
constexpr std::int64_t kPollBurstNs = 200'000;

// Set by SIGTERM, which mpirun sends every rank when one of them died: the watch turns it into
// a recorded failure. Only an atomic store in the handler (async-signal-safe).
std::atomic<bool> g_terminating{false};
extern "C" void on_terminate_signal(int) {
  g_terminating.store(true);
}

// An operation some thread is inside now: since when, and which (for the watch).
struct InFlight {
  std::atomic<std::int64_t> since_ns{0};  // 0: none
  std::atomic<const char*> op{nullptr};
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    initialise_once();
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    if (g_thread_multiple) {
      // Async all-reduces on a communicator of their own: collectives of two threads on one
      // communicator could pair up differently on different ranks.
      check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &async_comm_), "MPI_Comm_dup");
      MPI_Comm_set_errhandler(async_comm_, MPI_ERRORS_RETURN);
      worker_ = std::thread([this] { run_async_queue(); });
    }
  }
  ~MpiCommunicator() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_ready_.notify_all();
    if (worker_.joinable()) worker_.join();
    {
      std::lock_guard lock(watch_mutex_);
      watch_stop_ = true;
    }
    watch_wake_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) {
      MPI_Comm_free(&comm_);
      if (async_comm_ != MPI_COMM_NULL) MPI_Comm_free(&async_comm_);
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void set_observer(Observer* observer) override { observer_.store(observer); }

  void watch(double timeout_s, std::function<void(const std::string&)> on_failure) override {
    if (timeout_s <= 0) throw Error("watch: the timeout must be positive seconds");
    {
      std::lock_guard lock(watch_mutex_);
      timeout_ns_ = static_cast<std::int64_t>(timeout_s * 1e9);
      on_failure_ = std::move(on_failure);
    }
    if (watchdog_.joinable()) return;
    struct sigaction action {};
    action.sa_handler = on_terminate_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
    watchdog_ = std::thread([this] { run_watch(); });
  }

  void abort(int exit_code) override { MPI_Abort(MPI_COMM_WORLD, exit_code); }

  void all_reduce(std::span<float> data, ReduceOp op) override {
    const Busy busy(*this, main_, "all_reduce", data.size_bytes());
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data(), count_of(data.size(), "all_reduce"),
                            MPI_FLOAT, MPI_SUM, comm_),
              "all_reduce");
    if (op == ReduceOp::avg) average(data);
  }

  std::unique_ptr<Request> all_reduce_async(std::span<float> data, ReduceOp op) override {
    auto request = std::make_unique<AsyncReduce>(*this, data, op);
    count_of(data.size(), "all_reduce_async");
    if (!g_thread_multiple) {
      // No thread may call MPI beside the training thread: a nonblocking collective that moves
      // when this thread next enters MPI (at wait()).
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()), MPI_FLOAT,
                               MPI_SUM, comm_, &request->request),
                "all_reduce_async");
      request->began_ns = steady_ns();
      return request;
    }
    {
      std::lock_guard lock(queue_mutex_);
      queue_.push_back(request->state);
    }
    queue_ready_.notify_one();
    return request;
  }

  void broadcast(std::span<float> data, int root) override {
    check_rank("broadcast", "root", root, size_);
    const Busy busy(*this, main_, "broadcast", data.size_bytes());
    check_mpi(MPI_Bcast(data.data(), count_of(data.size(), "broadcast"), MPI_FLOAT, root, comm_),
              "broadcast");
  }

  void all_gather(std::span<const float> in, std::span<float> out) override {
    check_all_gather(in.size(), out.size(), size_);
    const int n = count_of(in.size(), "all_gather");
    const Busy busy(*this, main_, "all_gather", out.size_bytes());
    check_mpi(MPI_Allgather(in.data(), n, MPI_FLOAT, out.data(), n, MPI_FLOAT, comm_),
              "all_gather");
  }

  void reduce_scatter(std::span<const float> in, std::span<float> out, ReduceOp op) override {
    check_reduce_scatter(in.size(), out.size(), size_);
    const Busy busy(*this, main_, "reduce_scatter", in.size_bytes());
    check_mpi(
        MPI_Reduce_scatter_block(in.data(), out.data(), count_of(out.size(), "reduce_scatter"),
                                 MPI_FLOAT, MPI_SUM, comm_),
        "reduce_scatter");
    if (op == ReduceOp::avg) average(out);
  }

  void send(std::span<const float> data, int peer, int tag) override {
    check_rank("send", "peer", peer, size_);
    const Busy busy(*this, main_, "send", data.size_bytes());
    check_mpi(MPI_Send(data.data(), count_of(data.size(), "send"), MPI_FLOAT, peer, tag, comm_),
              "send");
  }

  void recv(std::span<float> data, int peer, int tag) override {
    check_rank("recv", "peer", peer, size_);
    MPI_Status status;
    {
      const Busy busy(*this, main_, "recv", data.size_bytes());
      check_mpi(MPI_Recv(data.data(), count_of(data.size(), "recv"), MPI_FLOAT, peer, tag, comm_,
                         &status),
                "recv");
    }
    check_received(status, "recv", peer, data.size());
  }

  std::unique_ptr<Request> send_async(std::span<const float> data, int peer, int tag) override {
    check_rank("send_async", "peer", peer, size_);
    auto request = std::make_unique<PointToPoint>(*this, "send_async", peer, data.size_bytes(),
                                                  data.size(), false);
    check_mpi(MPI_Isend(data.data(), count_of(data.size(), "send_async"), MPI_FLOAT, peer, tag,
                        comm_, &request->request),
              "send_async");
    return request;
  }

  std::unique_ptr<Request> recv_async(std::span<float> data, int peer, int tag) override {
    check_rank("recv_async", "peer", peer, size_);
    auto request = std::make_unique<PointToPoint>(*this, "recv_async", peer, data.size_bytes(),
                                                  data.size(), true);
    check_mpi(MPI_Irecv(data.data(), count_of(data.size(), "recv_async"), MPI_FLOAT, peer, tag,
                        comm_, &request->request),
              "recv_async");
    return request;
  }

  void barrier() override {
    const Busy busy(*this, main_, "barrier", 0);
    check_mpi(MPI_Barrier(comm_), "barrier");
  }

 private:
  // One operation in flight on `where` for the watch, and its span for the observer.
  class Busy {
   public:
    Busy(MpiCommunicator& comm, InFlight& where, const char* op, std::size_t bytes)
        : comm_(comm), where_(where), op_(op), bytes_(bytes), observer_(comm.observer_.load()) {
      if (observer_ != nullptr) start_ = observer_->now_ns();
      where_.op.store(op);
      where_.since_ns.store(steady_ns());
    }
    ~Busy() {
      where_.since_ns.store(0);
      if (observer_ != nullptr) observer_->on_operation(op_, bytes_, start_, observer_->now_ns());
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    MpiCommunicator& comm_;
    InFlight& where_;
    const char* op_;
    std::size_t bytes_;
    Observer* observer_;
    std::int64_t start_ = 0;
  };

  // Counts a thread blocked in wait() for as long as it is there.
  struct WaiterCount {
    explicit WaiterCount(std::atomic<int>& n) : count(n) { count.fetch_add(1); }
    ~WaiterCount() { count.fetch_sub(1); }
    WaiterCount(const WaiterCount&) = delete;
    WaiterCount& operator=(const WaiterCount&) = delete;
    std::atomic<int>& count;
  };

  // What the communication thread and the request share: the request may be destroyed first.
  struct AsyncState {
    std::span<float> data;
    ReduceOp op;
    std::mutex mutex;
    std::condition_variable done_signal;
    bool done = false;
    std::exception_ptr error;
    std::int64_t began_ns = 0, ended_ns = 0;
  };

  struct AsyncReduce final : Request {
    AsyncReduce(MpiCommunicator& c, std::span<float> d, ReduceOp o)
        : comm(c), state(std::make_shared<AsyncState>()) {
      state->data = d;
      state->op = o;
    }
    ~AsyncReduce() override {
      // Never leave MPI writing into memory that is about to go.
      try {
        wait();
      } catch (...) {
        // Whoever waited first reported it.
      }
    }
    void wait() override {
      if (waited) return;
      waited = true;
      if (request != MPI_REQUEST_NULL) {  // the single-threaded path
        const Busy busy(comm, comm.main_, "all_reduce_async", state->data.size_bytes());
        check_mpi(MPI_Wait(&request, MPI_STATUS_IGNORE), "all_reduce_async");
        ended_ns = steady_ns();
        if (state->op == ReduceOp::avg) comm.average(state->data);
        return;
      }
      const WaiterCount waiting(comm.waiters_);
      std::unique_lock lock(state->mutex);
      state->done_signal.wait(lock, [&] { return state->done; });
      began_ns = state->began_ns;
      ended_ns = state->ended_ns;
      if (state->error) std::rethrow_exception(state->error);
    }
    MpiCommunicator& comm;
    std::shared_ptr<AsyncState> state;
    MPI_Request request = MPI_REQUEST_NULL;
    bool waited = false;
  };

  struct PointToPoint final : Request {
    PointToPoint(MpiCommunicator& c, const char* o, int p, std::size_t b, std::size_t n,
                 bool receiving)
        : comm(c), op(o), peer(p), bytes(b), expected(n), is_receive(receiving) {}
    ~PointToPoint() override {
      if (request != MPI_REQUEST_NULL) MPI_Wait(&request, MPI_STATUS_IGNORE);
    }
    void wait() override {
      if (request == MPI_REQUEST_NULL) return;
      MPI_Status status;
      {
        const Busy busy(comm, comm.main_, op, bytes);
        check_mpi(MPI_Wait(&request, &status), op);
      }
      if (is_receive) check_received(status, op, peer, expected);
    }
    MpiCommunicator& comm;
    const char* op;
    int peer;
    std::size_t bytes, expected;
    bool is_receive;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  static void check_received(const MPI_Status& status, const char* op, int peer,
                             std::size_t expected) {
    int received = 0;
    MPI_Get_count(&status, MPI_FLOAT, &received);
    if (static_cast<std::size_t>(received) != expected) {
      throw Error(std::string(op) + ": " + std::to_string(received) + " values came from rank " +
                  std::to_string(peer) + ", " + std::to_string(expected) + " expected");
    }
  }

  // The communication thread: async all-reduces one after the other, in the order they were
  // started (the same on every rank), each an MPI_Iallreduce on async_comm_ polled to completion.
  void run_async_queue() {
    for (;;) {
      std::shared_ptr<AsyncState> job;
      {
        std::unique_lock lock(queue_mutex_);
        queue_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, with nothing left to run
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      std::exception_ptr error;
      const std::int64_t began = steady_ns();
      try {
        const Busy busy(*this, async_, "all_reduce_async", job->data.size_bytes());
        // Started, then polled with short sleeps: a blocking MPI_Allreduce would spin on a core
        // that the training threads need (with as many ranks as cores, every core has one),
        // and a spinning rank waiting for a peer that is not scheduled burns what the peer
        // needs. Sleeping between polls leaves the cores to backward.
        MPI_Request request = MPI_REQUEST_NULL;
        check_mpi(MPI_Iallreduce(MPI_IN_PLACE, job->data.data(), static_cast<int>(job->data.size()),
                                 MPI_FLOAT, MPI_SUM, async_comm_, &request),
                  "all_reduce_async");
        // Each time the thread has a core, it polls for a burst (a wake-up costs up to a
        // scheduler slice when the cores are busy, so one poll per wake-up would crawl).
        int done = 0;
        while (!done) {
          const std::int64_t burst_end = steady_ns() + kPollBurstNs;
          do {
            check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "all_reduce_async");
          } while (!done && steady_ns() < burst_end);
          // While the training thread waits for a result it has left its core: poll without
          // pauses then, so the exposed part of communication is as short as it can be.
          if (!done && waiters_.load(std::memory_order_relaxed) == 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(kPollSleepUs));
          }
        }
        if (job->op == ReduceOp::avg) average(job->data);
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard lock(job->mutex);
        job->began_ns = began;
        job->ended_ns = steady_ns();
        job->error = error;
        job->done = true;
      }
      job->done_signal.notify_all();
    }
  }

  // The watch: every 50 ms, whether mpirun is ending the job or an operation waits too long.
  void run_watch() {
    std::unique_lock lock(watch_mutex_);
    while (
        !watch_wake_.wait_for(lock, std::chrono::milliseconds(50), [&] { return watch_stop_; })) {
      std::string reason;
      if (g_terminating.load()) {
        reason = "mpirun is ending the job (another rank failed, or the job was cancelled)";
      }
      for (InFlight* where : {&main_, &async_}) {
        const std::int64_t since = where->since_ns.load();
        if (reason.empty() && since != 0 && steady_ns() - since > timeout_ns_) {
          reason = std::string(where->op.load()) + " waited more than " +
                   std::to_string(timeout_ns_ / 1'000'000'000) +
                   " s for the other ranks (a rank died or hangs)";
        }
      }
      if (reason.empty()) continue;
      reason = "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + reason;
      std::fprintf(stderr, "trainbench: %s\n", reason.c_str());
      try {
        if (on_failure_) on_failure_(reason);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "trainbench: recording the failure failed: %s\n", e.what());
      }
      std::fflush(stderr);
      if (g_terminating.load()) _exit(1);
      MPI_Abort(MPI_COMM_WORLD, 1);  // mpirun ends every rank
      _exit(1);
    }
  }

  // Sum to mean: one multiply by 1/size, as DDP divides its summed gradients.
  void average(std::span<float> data) const {
    const float inv = 1.0f / static_cast<float>(size_);
    for (float& v : data) v *= inv;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm async_comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::atomic<Observer*> observer_{nullptr};
  InFlight main_, async_;
  std::atomic<int> waiters_{0};  // threads blocked waiting for an async all-reduce

  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::deque<std::shared_ptr<AsyncState>> queue_;
  bool stopping_ = false;
  std::thread worker_;

  std::mutex watch_mutex_;
  std::condition_variable watch_wake_;
  bool watch_stop_ = false;
  std::int64_t timeout_ns_ = 0;
  std::function<void(const std::string&)> on_failure_;
  std::thread watchdog_;
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
