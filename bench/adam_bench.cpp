// The fused Adam step against this machine's memory bandwidth, measured in the same run.
//
// An Adam step over n fp32 parameters must read p, g, m, v (16 bytes) and write p, m, v (12 bytes)
// per parameter: it is memory-bound, so the fair peer is the fastest thing the memory system
// does, a large copy moving the same bytes: 14n bytes read into another 14n bytes (28n in all),
// on the same threads, each thread copying its own contiguous share. Two copies are timed, glibc's
// memcpy and a plain vectorised copy loop (which of them is faster depends on the CPU: glibc may
// pick `rep movsb` or non-temporal stores), and Adam is compared with the faster. Everything is
// reported as bytes moved per second (reads + writes, as STREAM counts them); the target is Adam
// >= 60% of the copy.
//
//   bench_adam [params=10000000] [threads=2] [repetitions=30]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/tensor/backend.h"

namespace {

using Clock = std::chrono::steady_clock;
using tb::tensor::Tensor;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void fill_random(Tensor& t, std::uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
}

// memcpy of n floats split into `threads` contiguous chunks, one per thread.
void parallel_memcpy(const float* src, float* dst, std::int64_t n, int threads) {
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    std::memcpy(dst + begin, src + begin, static_cast<std::size_t>(end - begin) * sizeof(float));
  }
}

// The same copy as a loop the compiler vectorises (STREAM's "copy").
void parallel_loop_copy(const float* src, float* dst, std::int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = argc > 1 ? std::atoll(argv[1]) : 10'000'000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 30;
  if (n <= 0 || threads <= 0 || reps <= 0) {
    std::fprintf(stderr, "usage: bench_adam [params>0] [threads>0] [repetitions>0]\n");
    return 2;
  }

  auto backend = tb::tensor::make_cpu_backend(threads);
  Tensor p = backend->empty({n}), g = backend->empty({n}), m = backend->zeros({n}),
         v = backend->zeros({n}), none;
  fill_random(p, 1, -1.0f, 1.0f);
  fill_random(g, 2, -1.0f, 1.0f);
  const std::int64_t copy_n = 7 * n / 2;  // 14n bytes copied: 28n moved, as Adam
  std::vector<float> src(static_cast<std::size_t>(copy_n), 1.0f);
  std::vector<float> dst(static_cast<std::size_t>(copy_n), 0.0f);  // touched: no first-use faults

  tb::tensor::AdamStep step{.lr = 1e-3f, .weight_decay = 1e-2f, .decoupled = true};
  std::vector<double> memcpy_s, loop_s, adam_s;
  // Interleaved, so a change in machine load hits both series alike; the first round warms up.
  for (int r = 0; r <= reps; ++r) {
    auto t0 = Clock::now();
    parallel_memcpy(src.data(), dst.data(), copy_n, threads);
    auto t1 = Clock::now();
    parallel_loop_copy(src.data(), dst.data(), copy_n, threads);
    auto t1b = Clock::now();
    step.bias_correction1 = 1.0f - std::pow(0.9f, static_cast<float>(r + 1));
    step.bias_correction2 = 1.0f - std::pow(0.999f, static_cast<float>(r + 1));
    auto t2 = Clock::now();
    backend->adam_step(p, g, m, v, none, step);
    auto t3 = Clock::now();
    if (r == 0) continue;
    memcpy_s.push_back(std::chrono::duration<double>(t1 - t0).count());
    loop_s.push_back(std::chrono::duration<double>(t1b - t1).count());
    adam_s.push_back(std::chrono::duration<double>(t3 - t2).count());
  }
  // Keep the copy observable so it cannot be elided.
  volatile float sink = dst[static_cast<std::size_t>(copy_n / 2)] + p.data()[n / 2];
  (void)sink;

  const double copy_bytes = 2.0 * static_cast<double>(copy_n) * sizeof(float);
  const double adam_bytes = 28.0 * static_cast<double>(n);
  const double memcpy_gbs = copy_bytes / median(memcpy_s) / 1e9;
  const double loop_gbs = copy_bytes / median(loop_s) / 1e9;
  const double adam_gbs = adam_bytes / median(adam_s) / 1e9;
  const double peer_gbs = std::max(memcpy_gbs, loop_gbs);
  const double ratio = adam_gbs / peer_gbs;
  std::printf("params %lld, threads %d, repetitions %d (medians)\n", static_cast<long long>(n),
              threads, reps);
  std::printf("peer  memcpy     %6.1f MB -> %6.1f MB : %7.3f ms  %6.2f GB/s (read + write)\n",
              copy_bytes / 2e6, copy_bytes / 2e6, median(memcpy_s) * 1e3, memcpy_gbs);
  std::printf("peer  copy loop  %6.1f MB -> %6.1f MB : %7.3f ms  %6.2f GB/s (read + write)\n",
              copy_bytes / 2e6, copy_bytes / 2e6, median(loop_s) * 1e3, loop_gbs);
  std::printf(
      "ours  adam_step  %6.1f MB (28 B/param)  : %7.3f ms  %6.2f GB/s (16 read + 12 written)\n",
      adam_bytes / 1e6, median(adam_s) * 1e3, adam_gbs);
  std::printf("ratio adam / faster copy = %.2f (target >= 0.60): %s\n", ratio,
              ratio >= 0.6 ? "PASS" : "FAIL");
  return 0;
}
