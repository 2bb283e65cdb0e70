// The kernel table on hand-built traces with known times and launch parameters, and on the real
// PyTorch profiler traces of ../shared/fixtures (skipped when that folder is absent).
#include "core/trace/kernel_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <string>

#include "core/trace/pytorch_import.h"
#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

// Launch args as gpu_activity.cpp writes them (`occupancy` < 0: the device limits were unknown).
std::string cupti_args(const Dim3& grid, const Dim3& block, int registers, int shared,
                       double occupancy = -1.0) {
  nlohmann::json args = {{"grid", grid},
                         {"block", block},
                         {"registers per thread", registers},
                         {"shared memory", shared},
                         {"stream", 7},
                         {"device", 0}};
  if (occupancy >= 0.0) args["est. occupancy %"] = occupancy;
  return args.dump();
}

struct Builder : tb::testing::TraceBuilder {
  TrackId host = track("main");
  TrackId gpu = track("stream 7", TrackKind::gpu_stream, "GPU 0");
  std::int64_t t = 0;
  // A span of `duration` ns after the previous one; its index in the finished trace is the order
  // it was added in (the spans start one after another).
  void add(std::string_view name, std::int64_t duration, std::string args = {},
           Category category = Category::kernel, std::int64_t step = 0) {
    span(gpu, name, category, t, t + duration, step, std::move(args));
    t += duration + 1;
  }
};

const KernelRow* find(const std::vector<KernelRow>& rows, std::string_view name) {
  const auto it =
      std::find_if(rows.begin(), rows.end(), [&](const KernelRow& r) { return r.name == name; });
  return it == rows.end() ? nullptr : &*it;
}

TEST(KernelTable, EmptyTraceHasNoRows) {
  const Trace trace;
  EXPECT_TRUE(kernel_table(trace).empty());
}

TEST(KernelTable, CountsTotalsMinMaxMeanShareAndLongest) {
  Builder b;
  b.add("gemm", 10);                       // span 0
  b.add("gemm", 30);                       // span 1: the longest gemm
  b.add("relu", 100);                      // span 2
  b.add("gemm", 20);                       // span 3
  b.add("copy", 5, {}, Category::memcpy);  // not a kernel: left out by default
  b.add("cudaLaunchKernel", 7, {}, Category::runtime);
  const Trace trace = b.build();
  const auto rows = kernel_table(trace);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "relu");  // longest total first
  EXPECT_EQ(rows[1].name, "gemm");

  const KernelRow& gemm = rows[1];
  EXPECT_EQ(gemm.category, Category::kernel);
  EXPECT_EQ(gemm.count, 3);
  EXPECT_EQ(gemm.total_ns, 60);
  EXPECT_DOUBLE_EQ(gemm.mean_ns, 20.0);
  EXPECT_EQ(gemm.min_ns, 10);
  EXPECT_EQ(gemm.max_ns, 30);
  EXPECT_DOUBLE_EQ(gemm.share, 60.0 / 160.0);
  EXPECT_DOUBLE_EQ(rows[0].share, 100.0 / 160.0);
  EXPECT_EQ(gemm.longest_span, 1u);
  EXPECT_EQ(trace.spans()[gemm.longest_span].end_ns - trace.spans()[gemm.longest_span].start_ns,
            30);
  EXPECT_EQ(rows[0].longest_span, 2u);
  EXPECT_EQ(gemm.names, 1);
  // No args: nothing about the launch is known.
  EXPECT_FALSE(gemm.grid.has_value());
  EXPECT_FALSE(gemm.block.has_value());
  EXPECT_FALSE(gemm.registers_per_thread.has_value());
  EXPECT_FALSE(gemm.shared_memory_bytes.has_value());
  EXPECT_FALSE(gemm.occupancy_pct.has_value());
  EXPECT_EQ(gemm.distinct_configs, 0);
  EXPECT_FALSE(gemm.config_varies);
}

TEST(KernelTable, EqualTotalsAreOrderedByNameAndTheFirstLongestInstanceWins) {
  Builder b;
  b.add("b_kernel", 50);
  b.add("a_kernel", 20);
  b.add("a_kernel", 30);
  b.add("b_kernel", 30);
  b.add("a_kernel", 30);  // as long as span 2: the earlier one is "the longest"
  const Trace trace = b.build();
  const auto rows = kernel_table(trace);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "a_kernel");
  EXPECT_EQ(rows[0].total_ns, 80);
  EXPECT_EQ(rows[0].longest_span, 2u);
  EXPECT_EQ(rows[1].name, "b_kernel");
  EXPECT_EQ(rows[1].total_ns, 80);
  EXPECT_EQ(rows[1].min_ns, 30);
}

TEST(KernelTable, MostFrequentLaunchConfigurationAndWhetherItVaries) {
  struct Case {
    const char* what;
    std::vector<std::pair<Dim3, Dim3>> launches;
    Dim3 grid, block;
    std::int64_t distinct;
  };
  const std::vector<Case> cases = {
      {"one configuration",
       {{{4, 1, 1}, {256, 1, 1}}, {{4, 1, 1}, {256, 1, 1}}},
       {4, 1, 1},
       {256, 1, 1},
       1},
      {"the majority wins",
       {{{8, 1, 1}, {128, 1, 1}}, {{4, 1, 1}, {256, 1, 1}}, {{4, 1, 1}, {256, 1, 1}}},
       {4, 1, 1},
       {256, 1, 1},
       2},
      {"a tie goes to the first seen",
       {{{8, 2, 1}, {64, 1, 1}},
        {{4, 1, 1}, {256, 1, 1}},
        {{4, 1, 1}, {256, 1, 1}},
        {{8, 2, 1}, {64, 1, 1}}},
       {8, 2, 1},
       {64, 1, 1},
       2},
      {"same grid, other block",
       {{{4, 1, 1}, {128, 1, 1}}, {{4, 1, 1}, {256, 1, 1}}, {{4, 1, 1}, {256, 1, 1}}},
       {4, 1, 1},
       {256, 1, 1},
       2},
  };
  for (const Case& c : cases) {
    Builder b;
    for (const auto& [grid, block] : c.launches) b.add("k", 10, cupti_args(grid, block, 32, 0));
    const Trace trace = b.build();
    const auto rows = kernel_table(trace);
    ASSERT_EQ(rows.size(), 1u) << c.what;
    EXPECT_EQ(rows[0].grid, c.grid) << c.what;
    EXPECT_EQ(rows[0].block, c.block) << c.what;
    EXPECT_EQ(rows[0].distinct_configs, c.distinct) << c.what;
    EXPECT_EQ(rows[0].config_varies, c.distinct > 1) << c.what;
  }
}

TEST(KernelTable, MostFrequentRegistersAndSharedMemory) {
  Builder b;
  b.add("k", 10, cupti_args({1, 1, 1}, {32, 1, 1}, 40, 1024));
  b.add("k", 10, cupti_args({1, 1, 1}, {32, 1, 1}, 64, 0));
  b.add("k", 10, cupti_args({1, 1, 1}, {32, 1, 1}, 64, 2048));
  b.add("k", 10, cupti_args({1, 1, 1}, {32, 1, 1}, 40, 2048));
  b.add("k", 10, cupti_args({1, 1, 1}, {32, 1, 1}, 64, 512));
  const auto rows = kernel_table(b.build());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].registers_per_thread, 64);
  EXPECT_EQ(rows[0].shared_memory_bytes, 2048);
  EXPECT_FALSE(rows[0].config_varies);
}

TEST(KernelTable, OccupancyIsTheMeanOfTheInstancesThatCarryOne) {
  Builder b;
  // CUPTI's estimate and Kineto's achieved one count alike; an instance without is left out.
  b.add("mixed", 10, cupti_args({1, 1, 1}, {64, 1, 1}, 32, 0, 50.0));
  b.add("mixed", 10,
        R"({"grid": [1, 1, 1], "block": [64, 1, 1], "est. achieved occupancy %": 25})");
  b.add("mixed", 10, cupti_args({1, 1, 1}, {64, 1, 1}, 32, 0));
  b.add("mixed", 10);
  b.add("zero", 10, R"({"est. achieved occupancy %": 0})");  // known, and 0
  b.add("unknown", 10, cupti_args({1, 1, 1}, {64, 1, 1}, 32, 0));
  b.add("text", 10, R"({"est. occupancy %": "high", "registers per thread": "many"})");
  const auto rows = kernel_table(b.build());
  ASSERT_EQ(rows.size(), 4u);
  const KernelRow* mixed = find(rows, "mixed");
  ASSERT_NE(mixed, nullptr);
  ASSERT_TRUE(mixed->occupancy_pct.has_value());
  EXPECT_DOUBLE_EQ(*mixed->occupancy_pct, 37.5);
  EXPECT_EQ(mixed->occupancy_samples, 2);
  const KernelRow* zero = find(rows, "zero");
  ASSERT_NE(zero, nullptr);
  EXPECT_EQ(zero->occupancy_pct, 0.0);
  EXPECT_EQ(zero->occupancy_samples, 1);
  for (const char* name : {"unknown", "text"}) {
    const KernelRow* row = find(rows, name);
    ASSERT_NE(row, nullptr) << name;
    EXPECT_FALSE(row->occupancy_pct.has_value()) << name;
    EXPECT_EQ(row->occupancy_samples, 0) << name;
  }
  EXPECT_FALSE(find(rows, "text")->registers_per_thread.has_value());
}

TEST(KernelTable, MalformedOrPartialLaunchArgsAreNotKnown) {
  Builder b;
  b.add("two dims", 10, R"({"grid": [4, 1], "block": [32, 1, 1], "registers per thread": 16})");
  b.add("nested", 10, R"({"grid": [[4], 1, 1], "block": [32, 1, 1]})");
  b.add("fraction", 10, R"({"grid": [4, 1.5, 1], "block": [32, 1, 1]})");
  b.add("no block", 10, R"({"grid": [4, 1, 1], "occupancy": {"grid": [1, 2, 3]}})");
  b.add("broken", 10, R"({"grid": [4, 1, 1], "block": [32, 1)");
  b.add("trailing", 10, R"({"grid": [4, 1, 1], "block": [32, 1, 1]} {})");
  b.add("whole float", 10, R"({"grid": [4.0, 1, 1], "block": [32, 1, 1], "shared memory": 8.0})");
  // Spacing, escaped quotes and look-alike keys inside other members change nothing.
  b.add("spaced", 10,
        "{ \"note\" : \"a \\\"grid\\\": [9, 9, 9]\" ,\n \"grid\" : [ 2 , 1 , 1 ] ,"
        "\"occupancy\": {\"block\": [1, 1, 1]}, \"block\":[32,1,1],\t\"flag\": true }");
  const auto rows = kernel_table(b.build());
  ASSERT_EQ(rows.size(), 8u);
  for (const char* name : {"two dims", "nested", "fraction", "no block", "broken", "trailing"}) {
    const KernelRow* row = find(rows, name);
    ASSERT_NE(row, nullptr) << name;
    EXPECT_FALSE(row->grid.has_value()) << name;
    EXPECT_FALSE(row->block.has_value()) << name;
    EXPECT_EQ(row->distinct_configs, 0) << name;
  }
  EXPECT_EQ(find(rows, "two dims")->registers_per_thread, 16);  // the rest of the args still count
  const KernelRow* whole = find(rows, "whole float");
  EXPECT_EQ(whole->grid, (Dim3{4, 1, 1}));
  EXPECT_EQ(whole->shared_memory_bytes, 8);
  const KernelRow* spaced = find(rows, "spaced");
  EXPECT_EQ(spaced->grid, (Dim3{2, 1, 1}));
  EXPECT_EQ(spaced->block, (Dim3{32, 1, 1}));
}

TEST(KernelTable, SpansSharingOneArgsIdReadTheSameArgs) {
  Builder b;
  const ArgsId shared = b.trace.add_args(cupti_args({2, 2, 1}, {128, 1, 1}, 24, 64, 75.0));
  for (int i = 0; i < 3; ++i) {
    b.trace.add_span(
        {i * 100, i * 100 + 10, 0, b.gpu, b.trace.intern("k"), shared, Category::kernel});
  }
  const auto rows = kernel_table(b.build());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, 3);
  EXPECT_EQ(rows[0].grid, (Dim3{2, 2, 1}));
  EXPECT_EQ(rows[0].registers_per_thread, 24);
  EXPECT_EQ(rows[0].occupancy_samples, 3);
  EXPECT_DOUBLE_EQ(*rows[0].occupancy_pct, 75.0);
}

TEST(KernelTable, StepsAreCountedOncePerDistinctStep) {
  Builder b;
  const TrackId other_stream = b.track("stream 9", TrackKind::gpu_stream, "GPU 0");
  b.add("k", 10, {}, Category::kernel, 1);
  b.add("k", 10, {}, Category::kernel, 1);
  b.add("k", 10, {}, Category::kernel, 0);  // no step known: not one
  b.add("k", 10, {}, Category::kernel, 3);
  b.span(other_stream, "k", Category::kernel, 0, 5, 2);
  b.span(other_stream, "k", Category::kernel, 100, 105, 1);
  b.add("once", 10, {}, Category::kernel, 0);
  const auto rows = kernel_table(b.build());
  EXPECT_EQ(find(rows, "k")->steps, 3);
  EXPECT_EQ(find(rows, "k")->count, 6);
  EXPECT_EQ(find(rows, "once")->steps, 0);
}

TEST(KernelTable, CommunicationCountsOnGpuStreamsOnly) {
  Builder b;
  b.add("ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)", 40,
        cupti_args({2, 1, 1}, {512, 1, 1}, 96, 0), Category::communication);
  b.span(b.host, "MPI_Allreduce", Category::communication, 0, 1000);  // host time, no device time
  b.add("gemm", 10);
  const auto rows = kernel_table(b.build());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].category, Category::communication);
  EXPECT_EQ(rows[0].block, (Dim3{512, 1, 1}));
  EXPECT_EQ(find(rows, "MPI_Allreduce"), nullptr);
  EXPECT_DOUBLE_EQ(rows[0].share, 0.8);
}

TEST(KernelTable, CopiesAndMemsetsOnlyWhenAskedNamedAsTheirSpans) {
  Builder b;
  b.add("gemm", 100);
  b.add("Memcpy HtoD (Pageable -> Device)", 60, R"({"bytes": 4096, "kind": "HtoD"})",
        Category::memcpy);
  b.add("Memcpy HtoD (Pageable -> Device)", 20, {}, Category::memcpy);
  b.add("Memset", 20, R"({"bytes": 64})", Category::memset);
  const Trace trace = b.build();
  const auto kernels = kernel_table(trace);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_DOUBLE_EQ(kernels[0].share, 1.0);

  for (const bool group : {false, true}) {
    const auto rows = kernel_table(trace, {.include_copies = true, .group_templates = group});
    ASSERT_EQ(rows.size(), 3u) << group;
    EXPECT_EQ(rows[0].name, "gemm");
    EXPECT_DOUBLE_EQ(rows[0].share, 0.5);
    // Grouping is for kernels' C++ names: a copy keeps its name, parentheses and all.
    EXPECT_EQ(rows[1].name, "Memcpy HtoD (Pageable -> Device)");
    EXPECT_EQ(rows[1].category, Category::memcpy);
    EXPECT_EQ(rows[1].count, 2);
    EXPECT_EQ(rows[1].total_ns, 80);
    EXPECT_DOUBLE_EQ(rows[1].share, 0.4);
    EXPECT_FALSE(rows[1].grid.has_value());
    EXPECT_EQ(rows[2].name, "Memset");
    EXPECT_EQ(rows[2].category, Category::memset);
  }
}

TEST(KernelTable, GroupNamesStripReturnTypeTemplateArgumentsAndParameters) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>, "
       "at::detail::Array<char*, 3> >(int, at::native::AddFunctor<float>, at::detail::Array<char*, "
       "3>)",
       "at::native::vectorized_elementwise_kernel"},
      {"void cudnn::detail::dgrad_engine<float, 512, 6, 5, 3, 3, 3, false>(int, int, int, float "
       "const*, int, float const*, int, float*, kernel_grad_params, unsigned long long, int, "
       "unsigned long long, int, float, int, int, int)",
       "cudnn::detail::dgrad_engine"},
      {"void at::native::(anonymous namespace)::distribution_elementwise_grid_stride_kernel<float, "
       "4>(int, at::PhiloxCudaState)",
       "at::native::(anonymous namespace)::distribution_elementwise_grid_stride_kernel"},
      {"void at::native::elementwise_kernel<128, 2, at::native::gpu_kernel_impl<at::native::"
       "(anonymous namespace)::launch_clamp_scalar(at::TensorIteratorBase&)::{lambda()#1}::"
       "operator()() const::{lambda(float)#1}>(at::TensorIteratorBase&, "
       "at::native::(anonymous namespace)::launch_clamp_scalar(at::TensorIteratorBase&)::"
       "{lambda()#1}::operator()() const::{lambda(float)#1} const&)::{lambda(int)#1}>(int, "
       "at::native::gpu_kernel_impl<at::native::(anonymous namespace)::launch_clamp_scalar(at::"
       "TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda(float)#1}>(at::"
       "TensorIteratorBase&, at::native::(anonymous namespace)::launch_clamp_scalar(at::"
       "TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda(float)#1} const&)::"
       "{lambda(int)#1})",
       "at::native::elementwise_kernel"},
      {"ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)",
       "ncclKernel_AllReduce_RING_LL_Sum_float"},
      {"sm80_xmma_gemm_f32f32_f32f32_f32_nn_n_tilesize128x128x8_stage3_warpsize2x2x1_ffma_aligna4",
       "sm80_xmma_gemm_f32f32_f32f32_f32_nn_n_tilesize128x128x8_stage3_warpsize2x2x1_ffma_aligna4"},
      {"triton_poi_fused_add_0", "triton_poi_fused_add_0"},
      {"Kernel", "Kernel"},
      {"<unnamed>", "<unnamed>"},  // nothing left: kept as it is
      {"", ""},
      {"  void  spaced<int>  ", "spaced"},
  };
  for (const auto& [name, group] : cases) EXPECT_EQ(kernel_group_name(name), group) << name;
}

TEST(KernelTable, GroupingTemplatesMergesInstancesIntoOneRow) {
  const std::string add =
      "void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>, "
      "at::detail::Array<char*, 3> >(int, at::native::AddFunctor<float>, "
      "at::detail::Array<char*, 3>)";
  const std::string mul =
      "void at::native::vectorized_elementwise_kernel<4, at::native::MulFunctor<float>, "
      "at::detail::Array<char*, 3> >(int, at::native::MulFunctor<float>, "
      "at::detail::Array<char*, 3>)";
  Builder b;
  b.add(add, 10, cupti_args({64, 1, 1}, {128, 1, 1}, 16, 0, 100.0), Category::kernel, 1);
  b.add(mul, 30, cupti_args({64, 1, 1}, {128, 1, 1}, 20, 0, 50.0), Category::kernel, 2);
  b.add(add, 20, cupti_args({32, 1, 1}, {128, 1, 1}, 16, 0), Category::kernel, 2);
  b.add("gemm", 45);
  const Trace trace = b.build();

  const auto plain = kernel_table(trace);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(find(plain, add)->count, 2);
  EXPECT_EQ(find(plain, mul)->count, 1);

  const auto grouped = kernel_table(trace, {.group_templates = true});
  ASSERT_EQ(grouped.size(), 2u);
  const KernelRow& row = grouped[0];
  EXPECT_EQ(row.name, "at::native::vectorized_elementwise_kernel");
  EXPECT_EQ(row.names, 2);
  EXPECT_EQ(row.count, 3);
  EXPECT_EQ(row.total_ns, 60);
  EXPECT_EQ(row.min_ns, 10);
  EXPECT_EQ(row.max_ns, 30);
  EXPECT_EQ(row.longest_span, 1u);  // the Mul instance
  EXPECT_EQ(row.grid, (Dim3{64, 1, 1}));
  EXPECT_TRUE(row.config_varies);
  EXPECT_EQ(row.registers_per_thread, 16);
  EXPECT_DOUBLE_EQ(*row.occupancy_pct, 75.0);
  EXPECT_EQ(row.steps, 2);
  EXPECT_EQ(grouped[1].name, "gemm");
  EXPECT_EQ(grouped[1].names, 1);
}

// --- the real traces of ../shared/fixtures -----------------------------------------------

std::filesystem::path fixture(const char* name) {
  return std::filesystem::path(TRAINBENCH_SOURCE_DIR) / ".." / "shared" / "fixtures" / name;
}

#define REQUIRE_FIXTURE(name)                                                 \
  if (!std::filesystem::exists(fixture(name))) {                              \
    GTEST_SKIP() << "fixture " << fixture(name).string()                      \
                 << " is not here (the shared real traces are optional; see " \
                    "../shared/fixtures/README.md)";                          \
  }

// The kernel spans the table counts, and their summed time.
std::pair<std::int64_t, std::int64_t> device_work(const Trace& trace) {
  std::int64_t count = 0, total = 0;
  for (const Span& span : trace.spans()) {
    const bool comm_on_stream = span.category == Category::communication &&
                                trace.track(span.track).kind == TrackKind::gpu_stream;
    if (span.category != Category::kernel && !comm_on_stream) continue;
    ++count;
    total += span.end_ns - span.start_ns;
  }
  return {count, total};
}

void expect_sums(const Trace& trace, const std::vector<KernelRow>& rows) {
  const auto [count, total] = device_work(trace);
  EXPECT_EQ(std::accumulate(rows.begin(), rows.end(), std::int64_t{0},
                            [](std::int64_t s, const KernelRow& r) { return s + r.count; }),
            count);
  EXPECT_EQ(std::accumulate(rows.begin(), rows.end(), std::int64_t{0},
                            [](std::int64_t s, const KernelRow& r) { return s + r.total_ns; }),
            total);
  double shares = 0.0;
  for (const KernelRow& r : rows) shares += r.share;
  EXPECT_NEAR(shares, 1.0, 1e-9);
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end(), [](const KernelRow& a, const KernelRow& b) {
    return a.total_ns > b.total_ns;
  }));
}

TEST(KernelTableFixtures, KinetoSmallH100) {
  REQUIRE_FIXTURE("kineto_gpu_small.trace.json");
  const Trace trace = import_pytorch_trace(fixture("kineto_gpu_small.trace.json"));
  const auto rows = kernel_table(trace);
  ASSERT_FALSE(rows.empty());
  expect_sums(trace, rows);
  EXPECT_EQ(device_work(trace).first, 1);  // one kernel, "Kernel", 20 ns
  const KernelRow& top = rows[0];
  EXPECT_EQ(top.name, "Kernel");
  EXPECT_EQ(top.count, 1);
  EXPECT_EQ(top.total_ns, 20);
  EXPECT_EQ(top.grid, (Dim3{1, 1, 1}));
  EXPECT_EQ(top.block, (Dim3{1, 1, 1}));
  EXPECT_EQ(top.registers_per_thread, 0);
  EXPECT_EQ(top.shared_memory_bytes, 0);
  EXPECT_EQ(top.occupancy_pct, 0.0);  // "est. achieved occupancy %": 0 is known, not absent
  EXPECT_EQ(trace.name(trace.spans()[top.longest_span].name), "Kernel");
}

TEST(KernelTableFixtures, ResNet50OnV100) {
  REQUIRE_FIXTURE("resnet50_gpu_workers0.pt.trace.json.gz");
  const Trace trace = import_pytorch_trace(fixture("resnet50_gpu_workers0.pt.trace.json.gz"));
  const auto rows = kernel_table(trace);
  expect_sums(trace, rows);
  EXPECT_EQ(device_work(trace).first, 8772);
  EXPECT_EQ(rows.size(), 67u);  // distinct kernel names in the file
  // cuDNN's data-gradient convolution takes the most time: 162 launches, 80.756 ms in all, in
  // five grid shapes of 8x8 blocks, the first seen of the two most frequent winning the tie.
  const KernelRow& top = rows[0];
  EXPECT_TRUE(top.name.starts_with("void cudnn::detail::dgrad_engine<float, 512, 6, 5, 3, 3, 3"))
      << top.name;
  EXPECT_EQ(top.count, 162);
  EXPECT_EQ(top.total_ns, 80'756'000);
  EXPECT_EQ(top.min_ns, 323'000);
  EXPECT_EQ(top.max_ns, 1'017'000);
  EXPECT_EQ(top.grid, (Dim3{16, 7, 32}));
  EXPECT_EQ(top.block, (Dim3{8, 8, 1}));
  EXPECT_TRUE(top.config_varies);
  EXPECT_EQ(top.registers_per_thread, 88);
  EXPECT_EQ(top.shared_memory_bytes, 3328);
  EXPECT_EQ(top.occupancy_samples, 162);
  EXPECT_NEAR(*top.occupancy_pct, 29.78, 0.01);
  const Span& longest = trace.spans()[top.longest_span];
  EXPECT_EQ(longest.end_ns - longest.start_ns, 1'017'000);
  EXPECT_EQ(trace.name(longest.name), top.name);

  // Grouped: fewer rows, the same time; the elementwise kernels of every functor in one row.
  const auto grouped = kernel_table(trace, {.group_templates = true});
  expect_sums(trace, grouped);
  EXPECT_LT(grouped.size(), rows.size());
  const KernelRow* elementwise = find(grouped, "at::native::vectorized_elementwise_kernel");
  ASSERT_NE(elementwise, nullptr);
  EXPECT_GT(elementwise->names, 1);

  // With copies: every memcpy and memset span gets a row too.
  const auto with_copies = kernel_table(trace, {.include_copies = true});
  std::int64_t copies = 0;
  for (const KernelRow& r : with_copies) {
    if (r.category == Category::memcpy || r.category == Category::memset) copies += r.count;
  }
  EXPECT_EQ(copies, 12 + 312);
}

}  // namespace
}  // namespace tb::trace
