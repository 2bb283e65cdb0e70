// Shape arithmetic, tensor views and host-access rules, and the backend's memory ops.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "core/tensor/backend.h"
#include "core/util/error.h"
#include "tests/core/tensor/test_util.h"

namespace tb::tensor {
namespace {

using test_util::from_vec;
using test_util::to_vec;

TEST(Shape, NumelInnerAndRank) {
  const Shape s{128, 1, 28, 28};
  EXPECT_EQ(s.rank(), 4u);
  EXPECT_EQ(s.numel(), 128 * 28 * 28);
  EXPECT_EQ(s.inner(), 28 * 28);
  EXPECT_EQ(s[0], 128);
  EXPECT_EQ(s[3], 28);

  const Shape m{7, 5};
  EXPECT_EQ(m.numel(), 35);
  EXPECT_EQ(m.inner(), 5);

  // A vector is one row of numel() elements per entry: inner() is the empty product.
  const Shape v{9};
  EXPECT_EQ(v.numel(), 9);
  EXPECT_EQ(v.inner(), 1);

  // A zero dimension empties the tensor.
  EXPECT_EQ((Shape{4, 0, 3}).numel(), 0);
  EXPECT_EQ((Shape{4, 0, 3}).inner(), 0);
}

TEST(Shape, StrAndEquality) {
  EXPECT_EQ((Shape{128, 784}).str(), "[128, 784]");
  EXPECT_EQ((Shape{3}).str(), "[3]");
  EXPECT_EQ(Shape{}.str(), "[]");
  EXPECT_EQ((Shape{2, 3}), Shape(std::vector<std::int64_t>{2, 3}));
  EXPECT_NE((Shape{2, 3}), (Shape{3, 2}));
  EXPECT_NE((Shape{6}), (Shape{6, 1}));

  Shape s{2, 3};
  s[1] = 4;
  EXPECT_EQ(s, (Shape{2, 4}));
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::f32), 4u);
  EXPECT_EQ(dtype_size(DType::i32), 4u);
  EXPECT_STREQ(dtype_name(DType::f32), "f32");
  EXPECT_STREQ(dtype_name(DType::i32), "i32");
}

TEST(Tensor, ReshapeIsAViewSharingStorage) {
  auto backend = make_cpu_backend(1);
  std::vector<float> v(24);
  std::iota(v.begin(), v.end(), 0.0f);
  Tensor t = from_vec(*backend, {2, 3, 4}, v);

  Tensor r = t.reshape({6, 4});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.dtype(), DType::f32);
  EXPECT_EQ(r.data(), t.data());  // same storage, not a copy
  r.data()[5] = -1.0f;
  EXPECT_EQ(t.data()[5], -1.0f);

  // The matrix view is rows x inner(), row-major.
  auto m = t.matrix();
  EXPECT_EQ(m.rows(), 2);
  EXPECT_EQ(m.cols(), 12);
  EXPECT_EQ(m(1, 2), 14.0f);
}

TEST(Tensor, ReshapeToAnotherElementCountThrows) {
  auto backend = make_cpu_backend(1);
  Tensor t = backend->zeros({2, 3});
  EXPECT_THROW(t.reshape({7}), Error);
  EXPECT_THROW(t.reshape({2, 2}), Error);
  try {
    t.reshape({4, 2});
    FAIL() << "reshape [2, 3] -> [4, 2] did not throw";
  } catch (const Error& e) {
    // The message names both shapes so the user can see what was asked.
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos) << e.what();
  }
}

TEST(Tensor, HostAccessWithTheWrongDTypeThrows) {
  auto backend = make_cpu_backend(1);
  Tensor f = backend->zeros({4});
  Tensor i = backend->zeros({4}, DType::i32);
  const Tensor& cf = f;
  const Tensor& ci = i;
  EXPECT_NO_THROW(f.data());
  EXPECT_NO_THROW(i.data_i32());
  EXPECT_THROW(f.data_i32(), Error);
  EXPECT_THROW(cf.data_i32(), Error);
  EXPECT_THROW(i.data(), Error);
  EXPECT_THROW(ci.data(), Error);
  EXPECT_THROW(i.matrix(), Error);  // matrix() is f32 only
  try {
    i.data();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("i32"), std::string::npos) << e.what();
  }
}

TEST(Tensor, UndefinedTensorAccessThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.raw(), nullptr);
  EXPECT_THROW(t.data(), Error);
  EXPECT_THROW(t.data_i32(), Error);
}

TEST(Tensor, BytesAndDevice) {
  auto backend = make_cpu_backend(1);
  Tensor t = backend->empty({3, 5});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.bytes(), 60u);
  EXPECT_EQ(t.device(), Device::cpu);
  // Storage is aligned for Eigen's aligned maps (MatrixMap asserts 32-byte alignment).
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw()) % 32, 0u);
}

TEST(CpuBackend, EmptyRejectsNegativeDimensions) {
  auto backend = make_cpu_backend(1);
  EXPECT_THROW(backend->empty({2, -1}), Error);
}

TEST(CpuBackend, ZerosFillCopyUploadDownload) {
  auto backend = make_cpu_backend(1);
  Tensor z = backend->zeros({3, 4});
  for (float v : to_vec(z)) EXPECT_EQ(v, 0.0f);

  backend->fill(z, 2.5f);
  for (float v : to_vec(z)) EXPECT_EQ(v, 2.5f);

  Tensor zi = backend->zeros({5}, DType::i32);
  backend->fill(zi, 7.0f);
  for (auto v : test_util::to_vec_i32(zi)) EXPECT_EQ(v, 7);

  std::vector<float> src{1, 2, 3, 4, 5, 6};
  Tensor a = from_vec(*backend, {2, 3}, src);
  Tensor b = backend->empty({3, 2});  // copy needs equal counts, not equal shapes
  backend->copy(a, b);
  EXPECT_EQ(to_vec(b), src);
  b.data()[0] = 9.0f;
  EXPECT_EQ(a.data()[0], 1.0f);  // a real copy

  std::vector<float> back(6);
  backend->download(a, back.data(), back.size() * sizeof(float));
  EXPECT_EQ(back, src);

  Tensor wrong = backend->empty({5});
  EXPECT_THROW(backend->copy(a, wrong), Error);
  Tensor wrong_dtype = backend->empty({2, 3}, DType::i32);
  EXPECT_THROW(backend->copy(a, wrong_dtype), Error);
  std::vector<float> too_big(7);
  EXPECT_THROW(backend->upload(a, too_big.data(), too_big.size() * sizeof(float)), Error);
  EXPECT_THROW(backend->download(a, too_big.data(), too_big.size() * sizeof(float)), Error);
}

TEST(CpuBackend, CopyRangeMovesElementsBetweenOffsetsAndRefusesRangesOutside) {
  auto backend = make_cpu_backend(1);
  Tensor flat = backend->zeros({7});
  Tensor a = from_vec(*backend, {2, 2}, {1, 2, 3, 4});
  Tensor b = from_vec(*backend, {3}, {5, 6, 7});
  backend->copy_range(a, 0, flat, 0, 4);  // packed one after the other, as a bucket is
  backend->copy_range(b, 0, flat, 4, 3);
  EXPECT_EQ(to_vec(flat), (std::vector<float>{1, 2, 3, 4, 5, 6, 7}));
  backend->copy_range(flat, 5, a, 1, 2);  // and back out from the middle
  EXPECT_EQ(to_vec(a), (std::vector<float>{1, 6, 7, 4}));
  backend->copy_range(flat, 7, a, 4, 0);  // nothing, at the very ends

  EXPECT_THROW(backend->copy_range(flat, 5, a, 0, 3), Error);   // past flat's end
  EXPECT_THROW(backend->copy_range(flat, 0, a, 2, 3), Error);   // past a's end
  EXPECT_THROW(backend->copy_range(flat, -1, a, 0, 1), Error);  // before the start
  EXPECT_THROW(backend->copy_range(flat, 0, a, 0, -1), Error);
  Tensor ids = backend->zeros({7}, DType::i32);
  EXPECT_THROW(backend->copy_range(flat, 0, ids, 0, 1), Error);
  EXPECT_EQ(to_vec(a), (std::vector<float>{1, 6, 7, 4}));  // refused ranges wrote nothing
}

TEST(CpuBackend, EnsureReallocatesOnlyOnAChange) {
  auto backend = make_cpu_backend(1);
  Tensor t;
  backend->ensure(t, {4, 4});
  ASSERT_TRUE(t.defined());
  const void* first = t.raw();
  backend->ensure(t, {4, 4});
  EXPECT_EQ(t.raw(), first);  // steady state: no reallocation
  backend->ensure(t, {4, 5});
  EXPECT_EQ(t.shape(), (Shape{4, 5}));
  backend->ensure(t, {4, 5}, DType::i32);
  EXPECT_EQ(t.dtype(), DType::i32);
}

TEST(CpuBackend, ThreadsSetting) {
  auto backend = make_cpu_backend(3);
  EXPECT_EQ(backend->threads(), 3);
  EXPECT_EQ(backend->name(), "cpu");
  EXPECT_EQ(backend->device(), Device::cpu);
  backend->set_threads(0);  // clamped: there is always at least one thread
  EXPECT_EQ(backend->threads(), 1);
}

}  // namespace
}  // namespace tb::tensor
