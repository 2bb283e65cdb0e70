// How the CUDA backend picks its convolution's path (gpu/cuda_backend_impl.h): TRAINBENCH_CONV's
// values (no GPU needed), what a backend made under each reports, and that both paths repeat a
// convolution bit for bit (on a GPU; skipped without one).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "gpu/cuda_backend_impl.h"
#include "tests/gpu/conv_cases.h"
#include "tests/gpu/conv_paths.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

TEST(ConvRequest, ParsesTheValuesOfTrainbenchConv) {
  EXPECT_EQ(parse_conv_request(""), ConvRequest::automatic);
  EXPECT_EQ(parse_conv_request("auto"), ConvRequest::automatic);
  EXPECT_EQ(parse_conv_request("cudnn"), ConvRequest::cudnn);
  EXPECT_EQ(parse_conv_request("im2col"), ConvRequest::im2col);
  EXPECT_EQ(parse_conv_request("CUDNN"), std::nullopt);
  EXPECT_EQ(parse_conv_request("gemm"), std::nullopt);
}

// What a fresh backend reports with TRAINBENCH_CONV set to `value` while it settles its path (the
// variable is read then, at the first convolution or conv_path()), and the error of a small
// convolution on it ("" where there is none).
struct Settled {
  ConvPath path = ConvPath::im2col;
  std::string description, conv_error;
  CudaBackend::ConvCounts counts;
};

Settled settle_with(const char* value) {
  const char* old = std::getenv("TRAINBENCH_CONV");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  setenv("TRAINBENCH_CONV", value, 1);
  const auto backend = make_cuda_backend(0);
  auto& cuda_backend = dynamic_cast<CudaBackend&>(*backend);
  Settled s;
  s.path = cuda_backend.conv_path();
  s.description = cuda_backend.conv_path_description();
  Tensor x = backend->zeros({1, 1, 3, 3}), w = backend->zeros({1, 1, 3, 3});
  Tensor b = backend->zeros({1}), y = backend->zeros({1, 1, 1, 1});
  try {
    backend->conv2d_forward(x, w, b, y, geometry(ConvCase{1, 1, 1, 3, 3, 3, 1, 0}));
    backend->synchronize();
  } catch (const Error& e) {
    s.conv_error = e.what();
  }
  s.counts = cuda_backend.conv_counts();
  if (saved) {
    setenv("TRAINBENCH_CONV", saved->c_str(), 1);
  } else {
    unsetenv("TRAINBENCH_CONV");
  }
  return s;
}

TEST(ConvPathOfABackend, FollowsTrainbenchConv) {
  TB_REQUIRE_GPU();
  const Settled im2col = settle_with("im2col");
  EXPECT_EQ(im2col.path, ConvPath::im2col);
  EXPECT_EQ(im2col.description, "im2col (TRAINBENCH_CONV=im2col)");
  EXPECT_EQ(im2col.conv_error, "");
  EXPECT_EQ(im2col.counts.im2col, 1);
  EXPECT_EQ(im2col.counts.cudnn, 0);

  // auto: cuDNN where it loads, else im2col saying why; either way the convolution runs.
  const Settled automatic = settle_with("auto");
  EXPECT_EQ(automatic.conv_error, "");
  if (automatic.path == ConvPath::cudnn) {
    EXPECT_EQ(automatic.description.rfind("cudnn (cuDNN 9.", 0), 0u) << automatic.description;
    EXPECT_EQ(automatic.counts.cudnn, 1) << automatic.description;
  } else {
    EXPECT_EQ(automatic.description.rfind("im2col (", 0), 0u) << automatic.description;
    EXPECT_GT(automatic.description.size(), std::strlen("im2col ()"));
  }

  // cudnn: cuDNN, or every convolution says why it cannot be had.
  const Settled cudnn = settle_with("cudnn");
  EXPECT_EQ(cudnn.path, automatic.path);
  if (cudnn.path == ConvPath::im2col) {
    EXPECT_NE(cudnn.conv_error.find("conv2d_forward: TRAINBENCH_CONV=cudnn, but cuDNN cannot be "
                                    "used: "),
              std::string::npos)
        << cudnn.conv_error;
  } else {
    EXPECT_EQ(cudnn.conv_error, "");
  }

  const Settled typo = settle_with("cudnnn");
  EXPECT_NE(typo.conv_error.find("conv2d_forward: TRAINBENCH_CONV is \"cudnnn\"; it takes auto, "
                                 "cudnn or im2col"),
            std::string::npos)
      << typo.conv_error;
}

class CudaConvRepeats : public ConvPathTest {};
TB_CONV_PATHS(CudaConvRepeats);

// The algorithms either path may use add in a fixed order (cuDNN's chosen ones are deterministic),
// so the same call gives the same bits, 16-bit operands included.
TEST_P(CudaConvRepeats, BitForBit) {
  const ConvCase cc = conv_cases().back();  // the largest: im2col in two chunks
  const auto g = geometry(cc);
  const Shape x_shape{cc.batch, cc.in_channels, cc.h, cc.w};
  const Shape w_shape{cc.out_channels, cc.in_channels, cc.kernel, cc.kernel};
  const Shape y_shape{cc.batch, cc.out_channels, g.out_h(), g.out_w()};
  for (DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(tensor::dtype_name(dtype));
    Tensor x = cuda()->empty(x_shape, dtype), w = cuda()->empty(w_shape, dtype);
    cuda()->convert(to_gpu(random_cpu(x_shape, 1)), x);
    cuda()->convert(to_gpu(random_cpu(w_shape, 2)), w);
    const Tensor b = to_gpu(random_cpu({cc.out_channels}, 3));
    const Tensor dy = to_gpu(random_cpu(y_shape, 4));
    Tensor first[4], second[4];  // y, dx, dw, db
    for (Tensor* out : {first, second}) {
      out[0] = cuda()->empty(y_shape);
      out[1] = cuda()->empty(x_shape);
      out[2] = cuda()->empty(w_shape);
      out[3] = cuda()->empty({cc.out_channels});
      cuda()->conv2d_forward(x, w, b, out[0], g);
      cuda()->conv2d_backward(x, w, dy, &out[1], out[2], out[3], g);
    }
    for (int i = 0; i < 4; ++i) {
      const Tensor a = to_cpu(first[i]), c = to_cpu(second[i]);
      EXPECT_EQ(std::memcmp(a.raw(), c.raw(), a.bytes()), 0) << "result " << i;
    }
  }
}

}  // namespace
}  // namespace tb::gpu::testing
