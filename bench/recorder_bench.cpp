// The trace recorder's cost per span, beside the design it replaced, measured in the same run.
//
// Ours: trace::Recorder (per-thread block chains, one release store per event, no lock). The
// peer: the same events pushed into a per-thread std::vector behind a std::mutex that a drainer
// also takes (the previous recorder). Both are timed as a ScopedSpan is used in the engine: two
// steady-clock reads and one record per span, and as record() alone with precomputed times. A
// drainer thread empties both every millisecond while they record, as the runner does. The
// requirement: <= 50 ns per span.
//
//   bench_recorder [spans_per_thread=5000000] [threads=1,2]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "core/trace/recorder.h"

namespace {

using Clock = std::chrono::steady_clock;
using tb::trace::Category;

// The previous recorder's hot path: a mutex per thread buffer, taken by record() and drain().
class MutexRecorder {
 public:
  explicit MutexRecorder(int threads) : buffers_(static_cast<std::size_t>(threads)) {}
  void record(int thread, const char* name, std::int64_t start, std::int64_t end,
              std::int64_t step) {
    auto& buffer = buffers_[static_cast<std::size_t>(thread)];
    std::lock_guard lock(buffer.mutex);
    buffer.spans.push_back(
        {name, Category::other, false, static_cast<std::uint32_t>(thread), start, end, step, 0.0});
  }
  // As the recorder's drain: every thread's spans copied out, then ordered by start.
  std::size_t drain() {
    std::vector<tb::trace::RecordedSpan> all;
    for (auto& buffer : buffers_) {
      std::lock_guard lock(buffer.mutex);
      all.insert(all.end(), buffer.spans.begin(), buffer.spans.end());
      buffer.spans.clear();
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });
    return all.size();
  }

 private:
  struct Buffer {
    std::mutex mutex;
    std::vector<tb::trace::RecordedSpan> spans;
  };
  std::vector<Buffer> buffers_;
};

std::int64_t now_ns(Clock::time_point origin) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin).count();
}

// Runs `body(thread)` on `threads` threads while a drainer calls `drain` every millisecond;
// returns ns per span (wall time of the slowest thread / spans per thread).
template <typename Body, typename Drain>
double timed(int threads, std::int64_t spans, Body body, Drain drain) {
  std::atomic<bool> done{false};
  std::size_t drained = 0;
  std::thread drainer([&] {
    while (!done.load()) {
      drained += drain();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<double> seconds(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto start = Clock::now();
      body(t);
      seconds[static_cast<std::size_t>(t)] =
          std::chrono::duration<double>(Clock::now() - start).count();
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  drainer.join();
  drained += drain();
  if (drained != static_cast<std::size_t>(spans * threads)) {
    std::fprintf(stderr, "lost spans: %zu of %lld\n", drained,
                 static_cast<long long>(spans * threads));
    std::exit(1);
  }
  return *std::max_element(seconds.begin(), seconds.end()) * 1e9 / static_cast<double>(spans);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t spans = argc > 1 ? std::atoll(argv[1]) : 5'000'000;
  constexpr int kRounds = 5;
  std::printf("trace recorder: ns per span, median of %d interleaved rounds, %lld spans/thread\n",
              kRounds, static_cast<long long>(spans));
  std::printf("%-8s %-28s %12s %12s %8s\n", "threads", "what", "ours", "mutex peer", "ratio");
  for (const int threads : {1, 2}) {
    std::vector<double> ours_scoped, peer_scoped, ours_record, peer_record;
    for (int round = 0; round < kRounds; ++round) {
      {
        tb::trace::Recorder recorder;
        ours_scoped.push_back(timed(
            threads, spans,
            [&](int) {
              for (std::int64_t i = 0; i < spans; ++i) {
                tb::trace::ScopedSpan span(&recorder, "forward", Category::forward, i);
              }
            },
            [&] { return recorder.drain().size(); }));
      }
      {
        MutexRecorder recorder(threads);
        const auto origin = Clock::now();
        peer_scoped.push_back(timed(
            threads, spans,
            [&](int t) {
              for (std::int64_t i = 0; i < spans; ++i) {
                const auto start = now_ns(origin);
                recorder.record(t, "forward", start, now_ns(origin), i);
              }
            },
            [&] { return recorder.drain(); }));
      }
      {
        tb::trace::Recorder recorder;
        ours_record.push_back(timed(
            threads, spans,
            [&](int) {
              for (std::int64_t i = 0; i < spans; ++i) {
                recorder.record("forward", Category::forward, i, i + 1, i);
              }
            },
            [&] { return recorder.drain().size(); }));
      }
      {
        MutexRecorder recorder(threads);
        peer_record.push_back(timed(
            threads, spans,
            [&](int t) {
              for (std::int64_t i = 0; i < spans; ++i) recorder.record(t, "forward", i, i + 1, i);
            },
            [&] { return recorder.drain(); }));
      }
    }
    const auto row = [&](const char* what, const std::vector<double>& ours,
                         const std::vector<double>& peer) {
      std::printf("%-8d %-28s %9.1f ns %9.1f ns %7.2fx\n", threads, what, median(ours),
                  median(peer), median(peer) / median(ours));
    };
    row("ScopedSpan (2 clock reads)", ours_scoped, peer_scoped);
    row("record() only", ours_record, peer_record);
  }
  return 0;
}
