// The CUDA backend's elementwise ops, row reductions, loss and metrics against the CPU backend:
// the same random inputs through both, shapes that do and do not fill whole blocks (and a
// million-element one), results within float rounding of the CPU's; dropout masks and counts
// exactly equal; and the CPU's errors, with the CPU's wording, for bad labels and shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/util/error.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

constexpr double kTolerance = 1e-5;

// Element counts around the kernels' block size (256) and grid-stride loop, up to 2^20 + 3.
const std::vector<std::int64_t> kSizes = {1, 31, 256, 257, 1000, 771 * 3, 1 << 20, (1 << 20) + 3};

// Matrices: one row, odd sizes, rows shorter and longer than a warp's and a block's share.
const std::vector<Shape> kMatrices = {{1, 1},    {7, 13},     {129, 257}, {1024, 1024},
                                      {4096, 7}, {3, 100000}, {5, 3, 4}};

Tensor random_labels(std::int64_t rows, std::int64_t classes, std::uint32_t seed) {
  Tensor t = cpu().empty(Shape{rows}, DType::i32);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(classes) - 1);
  for (std::int64_t i = 0; i < rows; ++i) t.data_i32()[i] = pick(rng);
  return t;
}

// A CPU tensor's copy on the CPU, for ops that work in place.
Tensor clone(const Tensor& t) {
  Tensor c = cpu().empty(t.shape(), t.dtype());
  std::memcpy(c.raw(), t.raw(), t.bytes());
  return c;
}

void expect_close(const Tensor& gpu, const Tensor& reference, const std::string& what) {
  EXPECT_LT(max_rel_error(to_cpu(gpu), reference), kTolerance) << what;
}

void expect_bitwise_equal(const Tensor& gpu, const Tensor& reference, const std::string& what) {
  const Tensor got = to_cpu(gpu);
  ASSERT_EQ(got.bytes(), reference.bytes()) << what;
  std::int64_t differ = 0, first = -1;
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    std::uint32_t a, b;
    std::memcpy(&a, got.data() + i, 4);
    std::memcpy(&b, reference.data() + i, 4);
    if (a != b && differ++ == 0) first = i;
  }
  EXPECT_EQ(differ, 0) << what << ": first difference at " << first;
}

void expect_relative(double got, double reference, const std::string& what) {
  EXPECT_LE(std::abs(got - reference), kTolerance * std::abs(reference))
      << what << ": " << got << " vs " << reference;
}

std::string name(const Shape& s) {
  return "shape " + s.str();
}

TEST(CudaMath, AddRowBiasMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 1;
  for (const Shape& shape : kMatrices) {
    const Tensor y = random_cpu(shape, seed++);
    const Tensor bias = random_cpu(Shape{shape.inner()}, seed++);
    Tensor expected = clone(y);
    cpu().add_row_bias(expected, bias);
    Tensor got = to_gpu(y);
    cuda()->add_row_bias(got, to_gpu(bias));
    expect_close(got, expected, name(shape));
  }
}

TEST(CudaMath, SumRowsMatchesCpu) {
  TB_REQUIRE_GPU();
  std::vector<Shape> shapes = kMatrices;
  shapes.push_back({256, 4096});  // 2^20, many column blocks
  shapes.push_back({100000, 2});  // tall and narrow: split into row chunks
  std::uint32_t seed = 10;
  for (const Shape& shape : shapes) {
    // Multiples of 2^-10: every partial sum is exact in float, whatever order the CPU's loop and
    // the kernel's reduction add in (the CPU's sequential float sum over 10^5 rows is itself off
    // by more than the tolerance).
    Tensor dy = random_cpu(shape, seed++);
    for (std::int64_t i = 0; i < dy.numel(); ++i) {
      dy.data()[i] = std::round(dy.data()[i] * 1024.0f) / 1024.0f;
    }
    Tensor expected = random_cpu(Shape{shape.inner()}, seed);
    cpu().sum_rows(dy, expected);
    Tensor got = to_gpu(random_cpu(Shape{shape.inner()}, seed++));  // garbage to overwrite
    cuda()->sum_rows(to_gpu(dy), got);
    expect_close(got, expected, name(shape));
  }
}

TEST(CudaMath, ReluForwardAndBackwardMatchCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 20;
  for (std::int64_t n : kSizes) {
    const Tensor x = random_cpu(Shape{n}, seed++);
    const Tensor dy = random_cpu(Shape{n}, seed++);
    Tensor y = cpu().empty(Shape{n}), dx = cpu().empty(Shape{n});
    cpu().relu_forward(x, y);
    cpu().relu_backward(y, dy, dx);
    Tensor gy = cuda()->empty(Shape{n}, DType::f32), gdx = cuda()->empty(Shape{n}, DType::f32);
    cuda()->relu_forward(to_gpu(x), gy);
    cuda()->relu_backward(gy, to_gpu(dy), gdx);
    expect_close(gy, y, "forward, n = " + std::to_string(n));
    expect_close(gdx, dx, "backward, n = " + std::to_string(n));
  }
}

TEST(CudaMath, DropoutDrawsTheCpusMaskExactly) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 30;
  for (std::int64_t n : kSizes) {
    for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
      for (std::uint64_t stream :
           {std::uint64_t{0}, std::uint64_t{12345}, std::uint64_t{0xDEADBEEFCAFEF00Dull}}) {
        const std::string what = "n = " + std::to_string(n) + ", p = " + std::to_string(p) +
                                 ", seed = " + std::to_string(stream);
        const Tensor x = random_cpu(Shape{n}, seed++);
        const Tensor dy = random_cpu(Shape{n}, seed++);
        Tensor y = cpu().empty(Shape{n}), dx = cpu().empty(Shape{n});
        cpu().dropout_forward(x, y, p, stream);
        cpu().dropout_backward(dy, dx, p, stream);
        Tensor gy = cuda()->empty(Shape{n}, DType::f32);
        Tensor gdx = cuda()->empty(Shape{n}, DType::f32);
        cuda()->dropout_forward(to_gpu(x), gy, p, stream);
        cuda()->dropout_backward(to_gpu(dy), gdx, p, stream);
        expect_bitwise_equal(gy, y, "forward, " + what);
        expect_bitwise_equal(gdx, dx, "backward, " + what);
      }
    }
  }
}

TEST(CudaMath, DropoutBackwardDropsWhatForwardDropped) {
  TB_REQUIRE_GPU();
  const std::int64_t n = 100003;
  const Tensor ones = [&] {
    Tensor t = cpu().empty(Shape{n});
    cpu().fill(t, 1.0f);
    return to_gpu(t);
  }();
  Tensor mask_forward = cuda()->empty(Shape{n}, DType::f32);
  Tensor mask_backward = cuda()->empty(Shape{n}, DType::f32);
  cuda()->dropout_forward(ones, mask_forward, 0.3f, 77);
  cuda()->dropout_backward(ones, mask_backward, 0.3f, 77);
  const Tensor f = to_cpu(mask_forward), b = to_cpu(mask_backward);
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(f.data()[i], b.data()[i]) << i;
    dropped += f.data()[i] == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / n, 0.3, 0.01);
}

TEST(CudaMath, MulMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 40;
  for (std::int64_t n : kSizes) {
    const Tensor a = random_cpu(Shape{n}, seed++);
    const Tensor b = random_cpu(Shape{n}, seed++);
    Tensor expected = cpu().empty(Shape{n});
    cpu().mul(a, b, expected);
    Tensor got = cuda()->empty(Shape{n}, DType::f32);
    cuda()->mul(to_gpu(a), to_gpu(b), got);
    expect_close(got, expected, "n = " + std::to_string(n));
  }
}

TEST(CudaMath, CopyRangeMatchesCpuAndRefusesRangesOutside) {
  TB_REQUIRE_GPU();
  const Tensor src = random_cpu(Shape{1000}, 45);
  const Tensor dst = random_cpu(Shape{700}, 46);
  Tensor expected = clone(dst);
  Tensor got = to_gpu(dst);
  const Tensor src_gpu = to_gpu(src);
  for (const auto& [from, to, count] :
       {std::tuple<int, int, int>{0, 0, 300}, {999, 699, 1}, {123, 301, 257}, {500, 5, 0}}) {
    cpu().copy_range(src, from, expected, to, count);
    cuda()->copy_range(src_gpu, from, got, to, count);
  }
  EXPECT_EQ(max_rel_error(to_cpu(got), expected), 0.0);
  EXPECT_THROW(cuda()->copy_range(src_gpu, 900, got, 0, 101), Error);
  EXPECT_THROW(cuda()->copy_range(src_gpu, 0, got, 650, 51), Error);
}

TEST(CudaMath, ScaleMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 50;
  for (std::int64_t n : kSizes) {
    for (float factor : {0.37f, -2.0f, 0.0f}) {
      const Tensor x = random_cpu(Shape{n}, seed++);
      Tensor expected = clone(x);
      cpu().scale(expected, factor);
      Tensor got = to_gpu(x);
      cuda()->scale(got, factor);
      expect_close(got, expected,
                   "n = " + std::to_string(n) + ", factor " + std::to_string(factor));
    }
  }
}

TEST(CudaMath, SumSquaresMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 60;
  std::vector<std::int64_t> sizes = kSizes;
  sizes.push_back(5 << 20);  // more elements than the grid's threads: several per thread
  for (std::int64_t n : sizes) {
    const Tensor x = random_cpu(Shape{n}, seed++, -3.0f, 3.0f);
    expect_relative(cuda()->sum_squares(to_gpu(x)), cpu().sum_squares(x),
                    "n = " + std::to_string(n));
  }
  EXPECT_EQ(cuda()->sum_squares(cuda()->empty(Shape{0}, DType::f32)), 0.0);
}

struct SoftmaxCase {
  std::int64_t rows, classes;
  float spread;  // logits uniform in [-spread, spread)
};

// Rows given to a warp (up to 1024 classes) and to a whole block (more), a million elements,
// and logits so spread out that most probabilities underflow to 0.
const std::vector<SoftmaxCase> kSoftmaxCases = {
    {1, 1, 1.0f},    {1, 10, 3.0f},   {37, 10, 5.0f},    {128, 1000, 5.0f}, {3, 1024, 5.0f},
    {3, 1025, 5.0f}, {5, 3000, 5.0f}, {4096, 256, 5.0f}, {64, 33, 90.0f},   {2, 100000, 10.0f},
};

TEST(CudaMath, SoftmaxCrossEntropyForwardAndBackwardMatchCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 70;
  for (const SoftmaxCase& c : kSoftmaxCases) {
    const std::string what = std::to_string(c.rows) + " x " + std::to_string(c.classes) +
                             ", spread " + std::to_string(c.spread);
    const Shape shape{c.rows, c.classes};
    const Tensor logits = random_cpu(shape, seed++, -c.spread, c.spread);
    const Tensor labels = random_labels(c.rows, c.classes, seed++);
    Tensor probs = cpu().empty(shape), dlogits = cpu().empty(shape);
    const float loss = cpu().softmax_cross_entropy_forward(logits, labels, probs);
    cpu().softmax_cross_entropy_backward(probs, labels, dlogits);

    const Tensor glabels = to_gpu(labels);
    Tensor gprobs = cuda()->empty(shape, DType::f32), gdlogits = cuda()->empty(shape, DType::f32);
    const float gloss = cuda()->softmax_cross_entropy_forward(to_gpu(logits), glabels, gprobs);
    cuda()->softmax_cross_entropy_backward(gprobs, glabels, gdlogits);
    expect_relative(gloss, loss, "loss, " + what);
    expect_close(gprobs, probs, "probs, " + what);
    // Backward from the CPU's probabilities too, so that it is checked on its own.
    Tensor gdlogits_own = cuda()->empty(shape, DType::f32);
    cuda()->softmax_cross_entropy_backward(to_gpu(probs), glabels, gdlogits_own);
    expect_close(gdlogits, dlogits, "dlogits, " + what);
    expect_close(gdlogits_own, dlogits, "dlogits from the CPU's probs, " + what);
  }
}

TEST(CudaMath, SoftmaxCrossEntropyOfNoRowsIsZero) {
  TB_REQUIRE_GPU();
  Tensor probs = cuda()->empty(Shape{0, 10}, DType::f32);
  EXPECT_EQ(cuda()->softmax_cross_entropy_forward(cuda()->empty(Shape{0, 10}, DType::f32),
                                                  cuda()->empty(Shape{0}, DType::i32), probs),
            0.0f);
}

TEST(CudaMath, ABadLabelThrowsAsOnTheCpu) {
  TB_REQUIRE_GPU();
  for (const SoftmaxCase& c : {SoftmaxCase{37, 10, 1.0f}, SoftmaxCase{6, 3000, 1.0f}}) {
    for (std::int32_t bad : {-1, static_cast<std::int32_t>(c.classes), 1 << 30}) {
      const Shape shape{c.rows, c.classes};
      const Tensor logits = random_cpu(shape, 80);
      Tensor labels = random_labels(c.rows, c.classes, 81);
      labels.data_i32()[4] = bad;
      labels.data_i32()[c.rows - 1] = -7;  // a later bad row: the first one is reported
      Tensor probs = cpu().empty(shape);
      const std::string expected =
          error_of([&] { cpu().softmax_cross_entropy_forward(logits, labels, probs); });
      ASSERT_NE(expected.find("is outside"), std::string::npos) << expected;
      Tensor gprobs = cuda()->empty(shape, DType::f32);
      EXPECT_EQ(error_of([&] {
                  cuda()->softmax_cross_entropy_forward(to_gpu(logits), to_gpu(labels), gprobs);
                }),
                expected);
    }
  }
  // The backend goes on working after the error.
  const Tensor logits = random_cpu(Shape{8, 10}, 82);
  const Tensor labels = random_labels(8, 10, 83);
  Tensor probs = cpu().empty(Shape{8, 10});
  Tensor gprobs = cuda()->empty(Shape{8, 10}, DType::f32);
  expect_relative(cuda()->softmax_cross_entropy_forward(to_gpu(logits), to_gpu(labels), gprobs),
                  cpu().softmax_cross_entropy_forward(logits, labels, probs), "after the error");
}

TEST(CudaMath, CountCorrectMatchesCpuIncludingTies) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 90;
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {
      {1, 1}, {1, 10}, {37, 10}, {1000, 3}, {128, 1000}, {7, 1025}, {5, 3000}, {4096, 256}};
  for (auto [rows, classes] : shapes) {
    for (bool ties : {false, true}) {
      Tensor logits = random_cpu(Shape{rows, classes}, seed++, -3.0f, 3.0f);
      // Values from {-3, ..., 2}: most rows have several equal maxima, and only the first of
      // them may count.
      if (ties) {
        for (std::int64_t i = 0; i < logits.numel(); ++i) {
          logits.data()[i] = std::floor(logits.data()[i]);
        }
      }
      const Tensor labels = random_labels(rows, std::min<std::int64_t>(classes, 4), seed++);
      EXPECT_EQ(cuda()->count_correct(to_gpu(logits), to_gpu(labels)),
                cpu().count_correct(logits, labels))
          << rows << " x " << classes << (ties ? ", ties" : "");
    }
  }
}

TEST(CudaMath, CountCorrectTreatsNanAsTheCpuDoes) {
  TB_REQUIRE_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Eigen's maxCoeff keeps element 0 when it is NaN and never takes a later NaN.
  const std::vector<std::vector<float>> rows = {
      {nan, 1.0f, 2.0f}, {0.0f, nan, 2.0f}, {0.0f, 3.0f, nan}, {nan, nan, nan}, {1.0f, 1.0f, nan}};
  for (std::int32_t label = 0; label < 3; ++label) {
    Tensor logits = cpu().empty(Shape{5, 3});
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::memcpy(logits.data() + r * 3, rows[r].data(), 3 * sizeof(float));
    }
    Tensor labels = cpu().empty(Shape{5}, DType::i32);
    for (int r = 0; r < 5; ++r) labels.data_i32()[r] = label;
    EXPECT_EQ(cuda()->count_correct(to_gpu(logits), to_gpu(labels)),
              cpu().count_correct(logits, labels))
        << "label " << label;
  }
}

TEST(CudaMath, MismatchedShapesAndDtypesThrow) {
  TB_REQUIRE_GPU();
  Backend& gpu = *cuda();
  auto f32 = [&](Shape s) { return gpu.empty(std::move(s), DType::f32); };
  Tensor y = f32({4, 5}), wrong = f32({6}), out = f32({20}), labels = gpu.empty({4}, DType::i32);
  EXPECT_THROW(gpu.add_row_bias(y, wrong), Error);
  EXPECT_THROW(gpu.sum_rows(y, wrong), Error);
  EXPECT_THROW(gpu.relu_forward(y, wrong), Error);
  EXPECT_THROW(gpu.relu_backward(y, out, wrong), Error);
  EXPECT_THROW(gpu.dropout_forward(y, wrong, 0.5f, 1), Error);
  EXPECT_THROW(gpu.dropout_backward(y, wrong, 0.5f, 1), Error);
  EXPECT_THROW(gpu.dropout_forward(y, out, 1.0f, 1), Error) << "p must be below 1";
  EXPECT_THROW(gpu.dropout_forward(y, out, -0.1f, 1), Error);
  EXPECT_THROW(gpu.mul(y, out, wrong), Error);
  EXPECT_THROW(gpu.mul(y, wrong, out), Error);
  Tensor probs_wrong = f32({5, 4});
  EXPECT_THROW(gpu.softmax_cross_entropy_forward(y, labels, probs_wrong), Error);
  Tensor probs = f32({4, 5});
  EXPECT_THROW(gpu.softmax_cross_entropy_forward(y, gpu.empty({3}, DType::i32), probs), Error);
  EXPECT_THROW(gpu.softmax_cross_entropy_backward(y, labels, probs_wrong), Error);
  EXPECT_THROW(gpu.softmax_cross_entropy_backward(y, gpu.empty({5}, DType::i32), probs), Error);
  EXPECT_THROW(gpu.count_correct(y, gpu.empty({3}, DType::i32)), Error);
  // Wrong dtypes and tensors that are not on the GPU.
  EXPECT_THROW(gpu.softmax_cross_entropy_forward(y, f32({4}), probs), Error);
  EXPECT_THROW(gpu.count_correct(gpu.empty({4, 5}, DType::i32), labels), Error);
  Tensor host = cpu().empty(Shape{20});
  EXPECT_THROW(gpu.relu_forward(host, out), Error);
  EXPECT_THROW(gpu.scale(host, 2.0f), Error);
  EXPECT_THROW(gpu.sum_squares(host), Error);
  Tensor undefined;
  EXPECT_THROW(gpu.sum_squares(undefined), Error);
  // The CPU's wording.
  Tensor cy = cpu().empty(Shape{4, 5}), cwrong = cpu().empty(Shape{6});
  // No rows: the CPU sees [0, 5] as a 0 x 0 matrix, which a [5] sum does not match.
  Tensor no_rows = f32({0, 5}), five = f32({5});
  Tensor cno_rows = cpu().empty(Shape{0, 5}), cfive = cpu().empty(Shape{5});
  EXPECT_EQ(error_of([&] { gpu.sum_rows(no_rows, five); }),
            error_of([&] { cpu().sum_rows(cno_rows, cfive); }));
  EXPECT_EQ(error_of([&] { gpu.add_row_bias(y, wrong); }),
            error_of([&] { cpu().add_row_bias(cy, cwrong); }));
  EXPECT_EQ(error_of([&] { gpu.relu_forward(y, wrong); }),
            error_of([&] { cpu().relu_forward(cy, cwrong); }));
}

}  // namespace
}  // namespace tb::gpu::testing
