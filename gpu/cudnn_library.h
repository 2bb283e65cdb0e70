// cuDNN, loaded at run time (dlopen), not linked: a GPU machine without libcudnn.so.9 (a
// driver-only host, a Python environment without nvidia-cudnn) still runs Trainbench, its
// convolutions on the im2col path, and says why. The functions are cuDNN's own, through pointers of
// their declared types (decltype of cudnn.h's prototypes), so a changed prototype is a compile
// error here rather than a crash there.
//
// Only the legacy convolution API that cuDNN 9 still ships (cudnn_cnn_v9.h: descriptors,
// cudnnGetConvolution*Algorithm_v7, cudnnConvolutionForward / BackwardData / BackwardFilter) and
// the handle and tensor/filter descriptors it takes (cudnn_graph_v9.h, cudnn_ops_v9.h). All of
// them are exported by libcudnn.so.9 itself, the shim that loads libcudnn_ops / libcudnn_cnn
// from its own folder when a function needs them, so one dlopen serves every pointer.
//
// Private to gpu/: CudaBackend uses it through cuda_backend_cudnn_conv.cpp.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <memory>
#include <string>

namespace tb::gpu {

// The cuDNN major version this is written against (cudnnGetVersion() is major * 10000 + minor *
// 100 + patch from 9 on). Another major may have dropped or changed the legacy API: refused.
inline constexpr int kCudnnMajor = CUDNN_MAJOR;

struct CudnnLibrary {
  // The handle (cudnn_graph_v9.h).
  decltype(&cudnnGetVersion) get_version = nullptr;
  decltype(&cudnnGetErrorString) get_error_string = nullptr;
  decltype(&cudnnGetLastErrorString) get_last_error_string = nullptr;
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnDestroy) destroy = nullptr;
  decltype(&cudnnSetStream) set_stream = nullptr;
  // Tensor and filter descriptors (cudnn_ops_v9.h).
  decltype(&cudnnCreateTensorDescriptor) create_tensor_descriptor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor_4d_descriptor = nullptr;
  decltype(&cudnnDestroyTensorDescriptor) destroy_tensor_descriptor = nullptr;
  decltype(&cudnnCreateFilterDescriptor) create_filter_descriptor = nullptr;
  decltype(&cudnnSetFilter4dDescriptor) set_filter_4d_descriptor = nullptr;
  decltype(&cudnnDestroyFilterDescriptor) destroy_filter_descriptor = nullptr;
  // The convolution (cudnn_cnn_v9.h).
  decltype(&cudnnCreateConvolutionDescriptor) create_convolution_descriptor = nullptr;
  decltype(&cudnnSetConvolution2dDescriptor) set_convolution_2d_descriptor = nullptr;
  decltype(&cudnnSetConvolutionMathType) set_convolution_math_type = nullptr;
  decltype(&cudnnDestroyConvolutionDescriptor) destroy_convolution_descriptor = nullptr;
  decltype(&cudnnGetConvolutionForwardAlgorithm_v7) get_forward_algorithm = nullptr;
  decltype(&cudnnGetConvolutionBackwardDataAlgorithm_v7) get_backward_data_algorithm = nullptr;
  decltype(&cudnnGetConvolutionBackwardFilterAlgorithm_v7) get_backward_filter_algorithm = nullptr;
  decltype(&cudnnGetConvolutionForwardWorkspaceSize) get_forward_workspace_size = nullptr;
  decltype(&cudnnGetConvolutionBackwardDataWorkspaceSize) get_backward_data_workspace_size =
      nullptr;
  decltype(&cudnnGetConvolutionBackwardFilterWorkspaceSize) get_backward_filter_workspace_size =
      nullptr;
  decltype(&cudnnConvolutionForward) convolution_forward = nullptr;
  decltype(&cudnnConvolutionBackwardData) convolution_backward_data = nullptr;
  decltype(&cudnnConvolutionBackwardFilter) convolution_backward_filter = nullptr;

  std::string file;         // the name dlopen found it by ("libcudnn.so.9")
  std::size_t version = 0;  // cudnnGetVersion()'s code (91900 for 9.19.0)

  // "9.19.0".
  std::string version_string() const;
  // cuDNN's name for a status ("CUDNN_STATUS_NOT_SUPPORTED"), followed by its last error message
  // for this thread where it kept one.
  std::string describe(cudnnStatus_t status) const;
  // Throws tb::Error "`op`: `call`: <describe(status)>" unless status is CUDNN_STATUS_SUCCESS.
  void check(cudnnStatus_t status, const char* op, const char* call) const;
};

// The process's cuDNN (libcudnn.so.9, else libcudnn.so), loaded at the first call and kept for the
// process; null when it cannot be loaded, with the reason in `why` (not found, a missing function,
// another major version).
const CudnnLibrary* cudnn_library(std::string& why);

// Loads cuDNN from `file` (a name for dlopen or a path), not cached: what cudnn_library() does for
// each name it tries, and how the tests see the message for a missing library. Null with the
// reason in `why` on failure.
std::unique_ptr<CudnnLibrary> load_cudnn_library(const char* file, std::string& why);

}  // namespace tb::gpu
