// cuDNN's loader (gpu/cudnn_library.h). These tests need no GPU: dlopen, dlsym and cuDNN's
// host-only calls (its version, status names, descriptors) work without one, so where
// libcudnn.so.9 is installed they check here that every function the convolution uses resolves
// through the libcudnn.so.9 shim, and that the sub-libraries it loads for them (libcudnn_ops,
// libcudnn_cnn) answer.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "gpu/cudnn_library.h"

namespace tb::gpu {
namespace {

TEST(CudnnLibrary, LoadsOrSaysWhy) {
  std::string why;
  const CudnnLibrary* library = cudnn_library(why);
  if (library == nullptr) {
    EXPECT_FALSE(why.empty());
    GTEST_SKIP() << "cuDNN is not loaded here, which the CUDA backend reports as: " << why;
  }
  EXPECT_TRUE(why.empty()) << why;
  const CudnnLibrary& l = *library;
  const std::vector<std::pair<const char*, bool>> resolved = {
      {"cudnnGetVersion", l.get_version != nullptr},
      {"cudnnGetErrorString", l.get_error_string != nullptr},
      {"cudnnGetLastErrorString", l.get_last_error_string != nullptr},
      {"cudnnCreate", l.create != nullptr},
      {"cudnnDestroy", l.destroy != nullptr},
      {"cudnnSetStream", l.set_stream != nullptr},
      {"cudnnCreateTensorDescriptor", l.create_tensor_descriptor != nullptr},
      {"cudnnSetTensor4dDescriptor", l.set_tensor_4d_descriptor != nullptr},
      {"cudnnDestroyTensorDescriptor", l.destroy_tensor_descriptor != nullptr},
      {"cudnnCreateFilterDescriptor", l.create_filter_descriptor != nullptr},
      {"cudnnSetFilter4dDescriptor", l.set_filter_4d_descriptor != nullptr},
      {"cudnnDestroyFilterDescriptor", l.destroy_filter_descriptor != nullptr},
      {"cudnnCreateConvolutionDescriptor", l.create_convolution_descriptor != nullptr},
      {"cudnnSetConvolution2dDescriptor", l.set_convolution_2d_descriptor != nullptr},
      {"cudnnSetConvolutionMathType", l.set_convolution_math_type != nullptr},
      {"cudnnDestroyConvolutionDescriptor", l.destroy_convolution_descriptor != nullptr},
      {"cudnnGetConvolutionForwardAlgorithm_v7", l.get_forward_algorithm != nullptr},
      {"cudnnGetConvolutionBackwardDataAlgorithm_v7", l.get_backward_data_algorithm != nullptr},
      {"cudnnGetConvolutionBackwardFilterAlgorithm_v7", l.get_backward_filter_algorithm != nullptr},
      {"cudnnGetConvolutionForwardWorkspaceSize", l.get_forward_workspace_size != nullptr},
      {"cudnnGetConvolutionBackwardDataWorkspaceSize",
       l.get_backward_data_workspace_size != nullptr},
      {"cudnnGetConvolutionBackwardFilterWorkspaceSize",
       l.get_backward_filter_workspace_size != nullptr},
      {"cudnnConvolutionForward", l.convolution_forward != nullptr},
      {"cudnnConvolutionBackwardData", l.convolution_backward_data != nullptr},
      {"cudnnConvolutionBackwardFilter", l.convolution_backward_filter != nullptr},
  };
  for (const auto& [name, found] : resolved) EXPECT_TRUE(found) << name;
  EXPECT_TRUE(l.file == "libcudnn.so.9" || l.file == "libcudnn.so") << l.file;
  EXPECT_EQ(l.version / 10000, static_cast<std::size_t>(kCudnnMajor));
  EXPECT_EQ(l.version_string().rfind(std::to_string(kCudnnMajor) + ".", 0), 0u)
      << l.version_string();
}

TEST(CudnnLibrary, NamesStatusesAndMakesDescriptorsWithoutAGpu) {
  std::string why;
  const CudnnLibrary* library = cudnn_library(why);
  if (library == nullptr) GTEST_SKIP() << why;
  const CudnnLibrary& l = *library;
  EXPECT_NE(l.describe(CUDNN_STATUS_NOT_SUPPORTED).find("CUDNN_STATUS_NOT_SUPPORTED"),
            std::string::npos);
  // What the convolution sets up per geometry, in libcudnn_ops and libcudnn_cnn: host-side only.
  cudnnTensorDescriptor_t x = nullptr;
  ASSERT_EQ(l.create_tensor_descriptor(&x), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.set_tensor_4d_descriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 3, 8, 8),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.destroy_tensor_descriptor(x), CUDNN_STATUS_SUCCESS);
  cudnnFilterDescriptor_t w = nullptr;
  ASSERT_EQ(l.create_filter_descriptor(&w), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.set_filter_4d_descriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 4, 3, 3, 3),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.destroy_filter_descriptor(w), CUDNN_STATUS_SUCCESS);
  cudnnConvolutionDescriptor_t conv = nullptr;
  ASSERT_EQ(l.create_convolution_descriptor(&conv), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.set_convolution_2d_descriptor(conv, 1, 1, 2, 2, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.set_convolution_math_type(conv, CUDNN_FMA_MATH), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(l.destroy_convolution_descriptor(conv), CUDNN_STATUS_SUCCESS);
  // A bad argument is cuDNN's error, named, not a crash.
  EXPECT_NE(l.set_tensor_4d_descriptor(nullptr, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 1),
            CUDNN_STATUS_SUCCESS);
}

TEST(CudnnLibrary, AMissingLibraryIsAReasonNotACrash) {
  std::string why;
  EXPECT_EQ(load_cudnn_library("libtrainbench-no-such-cudnn.so.9", why), nullptr);
  EXPECT_NE(why.find("cuDNN not found (libtrainbench-no-such-cudnn.so.9)"), std::string::npos)
      << why;
  EXPECT_NE(why.find("LD_LIBRARY_PATH"), std::string::npos) << why;
}

}  // namespace
}  // namespace tb::gpu
