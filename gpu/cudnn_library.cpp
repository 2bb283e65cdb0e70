#include "gpu/cudnn_library.h"

#include <dlfcn.h>

#include "core/util/error.h"

namespace tb::gpu {
namespace {

template <class Fn>
void find(void* handle, Fn& out, const char* name, const std::string& file, std::string& why) {
  out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!out && why.empty()) why = "cuDNN (" + file + ") has no " + name;
}

// cudnnGetVersion()'s code as "major.minor.patch": major * 10000 + minor * 100 + patch from
// cuDNN 9 on, major * 1000 + minor * 100 + patch before.
std::string version_text(std::size_t code) {
  const bool old = code < 10000;
  const std::size_t major = old ? code / 1000 : code / 10000;
  const std::size_t minor = old ? (code % 1000) / 100 : (code % 10000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

std::size_t major_of(std::size_t code) {
  return code < 10000 ? code / 1000 : code / 10000;
}

}  // namespace

std::unique_ptr<CudnnLibrary> load_cudnn_library(const char* file, std::string& why) {
  why.clear();
  void* handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    why = std::string("cuDNN not found (") + file + "): " + (error ? error : "dlopen failed") +
          " (add the folder holding it, e.g. a Python environment's nvidia/cudnn/lib, to "
          "LD_LIBRARY_PATH)";
    return nullptr;
  }
  auto library = std::make_unique<CudnnLibrary>();
  auto& l = *library;
  l.file = file;
  find(handle, l.get_version, "cudnnGetVersion", l.file, why);
  find(handle, l.get_error_string, "cudnnGetErrorString", l.file, why);
  find(handle, l.get_last_error_string, "cudnnGetLastErrorString", l.file, why);
  find(handle, l.create, "cudnnCreate", l.file, why);
  find(handle, l.destroy, "cudnnDestroy", l.file, why);
  find(handle, l.set_stream, "cudnnSetStream", l.file, why);
  find(handle, l.create_tensor_descriptor, "cudnnCreateTensorDescriptor", l.file, why);
  find(handle, l.set_tensor_4d_descriptor, "cudnnSetTensor4dDescriptor", l.file, why);
  find(handle, l.destroy_tensor_descriptor, "cudnnDestroyTensorDescriptor", l.file, why);
  find(handle, l.create_filter_descriptor, "cudnnCreateFilterDescriptor", l.file, why);
  find(handle, l.set_filter_4d_descriptor, "cudnnSetFilter4dDescriptor", l.file, why);
  find(handle, l.destroy_filter_descriptor, "cudnnDestroyFilterDescriptor", l.file, why);
  find(handle, l.create_convolution_descriptor, "cudnnCreateConvolutionDescriptor", l.file, why);
  find(handle, l.set_convolution_2d_descriptor, "cudnnSetConvolution2dDescriptor", l.file, why);
  find(handle, l.set_convolution_math_type, "cudnnSetConvolutionMathType", l.file, why);
  find(handle, l.destroy_convolution_descriptor, "cudnnDestroyConvolutionDescriptor", l.file, why);
  find(handle, l.get_forward_algorithm, "cudnnGetConvolutionForwardAlgorithm_v7", l.file, why);
  find(handle, l.get_backward_data_algorithm, "cudnnGetConvolutionBackwardDataAlgorithm_v7", l.file,
       why);
  find(handle, l.get_backward_filter_algorithm, "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
       l.file, why);
  find(handle, l.get_forward_workspace_size, "cudnnGetConvolutionForwardWorkspaceSize", l.file,
       why);
  find(handle, l.get_backward_data_workspace_size, "cudnnGetConvolutionBackwardDataWorkspaceSize",
       l.file, why);
  find(handle, l.get_backward_filter_workspace_size,
       "cudnnGetConvolutionBackwardFilterWorkspaceSize", l.file, why);
  find(handle, l.convolution_forward, "cudnnConvolutionForward", l.file, why);
  find(handle, l.convolution_backward_data, "cudnnConvolutionBackwardData", l.file, why);
  find(handle, l.convolution_backward_filter, "cudnnConvolutionBackwardFilter", l.file, why);
  if (why.empty()) {
    l.version = l.get_version();
    if (major_of(l.version) != static_cast<std::size_t>(kCudnnMajor)) {
      why = "cuDNN " + l.version_string() + " (" + l.file + ") is not cuDNN " +
            std::to_string(kCudnnMajor) + ", whose legacy convolution API this was built against";
    }
  }
  if (!why.empty()) {
    dlclose(handle);
    return nullptr;
  }
  // The handle stays open for the process: backends' cuDNN handles may live until exit.
  return library;
}

const CudnnLibrary* cudnn_library(std::string& why) {
  struct Loaded {
    std::unique_ptr<CudnnLibrary> library;
    std::string why;
  };
  static const Loaded loaded = [] {
    Loaded l;
    l.library = load_cudnn_library("libcudnn.so.9", l.why);
    if (!l.library) {
      // An unversioned development link, where only that exists. The reason stays the first one
      // unless that link was found and refused (another major version), which says more.
      std::string second;
      l.library = load_cudnn_library("libcudnn.so", second);
      if (l.library) {
        l.why.clear();
      } else if (second.rfind("cuDNN not found", 0) != 0) {
        l.why = second;
      }
    }
    return l;
  }();
  why = loaded.why;
  return loaded.library.get();
}

std::string CudnnLibrary::version_string() const {
  return version_text(version);
}

std::string CudnnLibrary::describe(cudnnStatus_t status) const {
  const char* name = get_error_string ? get_error_string(status) : nullptr;
  std::string text = name ? name : "cuDNN status " + std::to_string(static_cast<int>(status));
  if (get_last_error_string) {
    char message[512] = {};
    get_last_error_string(message, sizeof message);
    if (message[0] != '\0') text += " (" + std::string(message) + ")";
  }
  return text;
}

void CudnnLibrary::check(cudnnStatus_t status, const char* op, const char* call) const {
  if (status != CUDNN_STATUS_SUCCESS) {
    throw Error(std::string(op) + ": " + call + ": " + describe(status));
  }
}

}  // namespace tb::gpu
