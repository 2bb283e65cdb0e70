// The Communicator's all-reduce against MPI_Allreduce called directly, measured in the same run.
//
// For each message size (powers of two from 4 KiB to max_mib MiB of floats) both contenders sum
// the same buffer across the ranks: ours through Communicator::all_reduce(sum) of
// make_mpi_communicator(), the peer a plain MPI_Allreduce(MPI_IN_PLACE, MPI_FLOAT, MPI_SUM,
// MPI_COMM_WORLD). They are interleaved (one batch of each per repetition, in alternating order,
// so a neighbour's load on a shared machine falls on both alike), after a warm-up. A batch is
// `calls` back-to-back all-reduces between barriers; its time is the slowest rank's, divided by
// `calls`; the times shown are the medians over the repetitions. Bandwidth is bus bandwidth as
// NCCL's tests report it, 2(n-1)/n * bytes / time: what each rank's link carries in a ring
// all-reduce, comparable across rank counts. The ratio (ours / plain, in bandwidth) is the median
// over repetitions of each repetition's paired ratio, the two batches having run back to back.
// The last line is the figure: that ratio over the sizes >= 1 MiB (geometric mean of the
// per-size ratios, and the worst size); issue 10 asks for >= 0.9.
//
//   mpirun -np 2 bench_dist_allreduce [max_mib=64] [repetitions=21]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "core/dist/communicator.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds per call of `calls` back-to-back all-reduces, as the slowest rank saw them. The buffer
// is refilled first (outside the timing) so that repeated sums stay finite.
template <typename AllReduce>
double time_batch(std::vector<float>& data, int calls, AllReduce&& all_reduce) {
  std::fill(data.begin(), data.end(), 1.0f);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) all_reduce();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return seconds / calls;
}

std::string size_text(std::size_t bytes) {
  char text[32];
  if (bytes >= (1u << 20)) {
    std::snprintf(text, sizeof text, "%zu MiB", bytes >> 20);
  } else {
    std::snprintf(text, sizeof text, "%zu KiB", bytes >> 10);
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t max_mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
  const int repetitions = argc > 2 ? std::atoi(argv[2]) : 21;
  if (max_mib == 0 || repetitions <= 0) {
    std::fprintf(stderr, "usage: bench_dist_allreduce [max_mib=64] [repetitions=21]\n");
    return 2;
  }
  // Initialises MPI (and finalises it at exit); the plain calls below use the same world.
  const auto comm = tb::dist::make_mpi_communicator();
  const int n = comm->size(), rank = comm->rank();
  const double bus_factor = 2.0 * (n - 1) / n;

  if (rank == 0) {
    char library[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(library, &length);
    std::string first_line(library, static_cast<std::size_t>(length));
    first_line = first_line.substr(0, first_line.find_first_of(",\n"));
    std::printf("all-reduce (sum, fp32) over %d ranks, %s; median of %d interleaved repetitions\n",
                n, first_line.c_str(), repetitions);
    std::printf("bus bandwidth = 2(n-1)/n * bytes / time\n\n");
    std::printf("%10s %14s %14s %14s %14s %8s\n", "size", "ours us", "MPI us", "ours GB/s",
                "MPI GB/s", "ratio");
  }

  double log_ratio_sum = 0.0, worst_ratio = 0.0;
  int large_sizes = 0;
  std::size_t worst_bytes = 0;
  for (std::size_t bytes = 4u << 10; bytes <= (max_mib << 20); bytes *= 2) {
    const std::size_t count = bytes / sizeof(float);
    std::vector<float> data(count);
    // Enough calls per batch that a small message's batch is well above the clock's resolution;
    // few enough that sums of ones stay finite for any reasonable rank count.
    const int calls = static_cast<int>(std::clamp<std::size_t>((1u << 20) / bytes, 1, 16));
    auto ours = [&] { comm->all_reduce(data, tb::dist::ReduceOp::sum); };
    auto plain = [&] {
      MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
    };
    for (int warm = 0; warm < 2; ++warm) {
      time_batch(data, calls, ours);
      time_batch(data, calls, plain);
    }
    std::vector<double> ours_s, plain_s;
    for (int r = 0; r < repetitions; ++r) {
      if (r % 2 == 0) {
        ours_s.push_back(time_batch(data, calls, ours));
        plain_s.push_back(time_batch(data, calls, plain));
      } else {
        plain_s.push_back(time_batch(data, calls, plain));
        ours_s.push_back(time_batch(data, calls, ours));
      }
    }
    const double t_ours = median(ours_s), t_plain = median(plain_s);
    const double bw_ours = bus_factor * static_cast<double>(bytes) / t_ours / 1e9;
    const double bw_plain = bus_factor * static_cast<double>(bytes) / t_plain / 1e9;
    // Each repetition's two batches ran back to back, so their ratio sees the same machine load:
    // the median of these paired ratios is steadier than the ratio of the two medians when
    // other processes come and go.
    std::vector<double> paired;
    for (int r = 0; r < repetitions; ++r) paired.push_back(plain_s[r] / ours_s[r]);
    const double ratio = median(paired);
    if (bytes >= (1u << 20)) {
      log_ratio_sum += std::log(ratio);
      if (large_sizes == 0 || ratio < worst_ratio) {
        worst_ratio = ratio;
        worst_bytes = bytes;
      }
      ++large_sizes;
    }
    if (rank == 0) {
      std::printf("%10s %14.1f %14.1f %14.2f %14.2f %8.3f\n", size_text(bytes).c_str(),
                  t_ours * 1e6, t_plain * 1e6, bw_ours, bw_plain, ratio);
      std::fflush(stdout);
    }
  }
  if (rank == 0) {
    if (large_sizes > 0) {
      std::printf(
          "\nsizes >= 1 MiB: ours / plain MPI = %.3f (geometric mean of %d sizes; worst %.3f at "
          "%s); issue 10 asks >= 0.9\n",
          std::exp(log_ratio_sum / large_sizes), large_sizes, worst_ratio,
          size_text(worst_bytes).c_str());
    } else {
      std::printf("\nno size >= 1 MiB measured (max_mib %zu)\n", max_mib);
    }
  }
  comm->barrier();
  return 0;
}
