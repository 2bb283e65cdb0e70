// CudaBackend's setup and memory: the device, stream and cuBLAS handle, tensors in blocks of the
// caching allocator, copies, fills and dtype conversions. The factory says in one line why there
// is no backend where there is no GPU.
#include "gpu/cuda_backend.h"

#include <cuda_runtime.h>

#include <cstring>

#include "core/dist/tensor_communicator.h"
#include "core/tensor/backend_registry.h"
#include "core/tensor/memory_tracker.h"
#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "gpu/device.h"
#include "gpu/kernels/convert.h"
#include "gpu/nccl_communicator.h"
#include "gpu/pinned_host_memory.h"

namespace tb::gpu {
namespace {

using tensor::Device;
using tensor::DType;
using tensor::Tensor;

// A tensor's storage: a block of the caching allocator, returned to it (not to the device) when
// the last tensor viewing it goes.
class DeviceBuffer final : public tensor::Buffer {
 public:
  DeviceBuffer(std::shared_ptr<CachingAllocator> allocator, std::size_t bytes)
      : allocator_(std::move(allocator)), bytes_(bytes) {
    // A zero-element tensor still gets a block: a defined tensor always has an address.
    data_ = allocator_->allocate(bytes);
    tensor::note_allocated(Device::cuda, bytes_);
  }
  ~DeviceBuffer() override {
    tensor::note_freed(Device::cuda, bytes_);
    allocator_->free(data_);
  }
  void* data() override { return data_; }
  std::size_t bytes() const override { return bytes_; }
  Device device() const override { return Device::cuda; }

 private:
  std::shared_ptr<CachingAllocator> allocator_;
  void* data_ = nullptr;
  std::size_t bytes_;
};

kernels::Element element(DType dtype, const char* op) {
  switch (dtype) {
    case DType::f32:
      return kernels::Element::f32;
    case DType::f16:
      return kernels::Element::f16;
    case DType::bf16:
      return kernels::Element::bf16;
    default:
      throw Error(std::string(op) + ": no conversion for dtype " + tensor::dtype_name(dtype));
  }
}

void require_cuda_tensor(const Tensor& t, const char* op) {
  require(t.defined(), op, "an undefined tensor");
  require(t.device() == Device::cuda, op, "a tensor that is not on the GPU");
}

}  // namespace

void check_cuda(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw Error(std::string(what) + ": " + cudaGetErrorName(status) + " (" +
              cudaGetErrorString(status) + ")");
}

void check_cublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(std::string(what) + ": cuBLAS " + cublasGetStatusName(status) + " (" +
              cublasGetStatusString(status) + ")");
}

void* CudaDeviceMemory::allocate(std::size_t bytes) {
  void* block = nullptr;
  const cudaError_t status = cudaMalloc(&block, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  check_cuda(status, "cudaMalloc");
  return block;
}

void CudaDeviceMemory::free(void* block) {
  // Nothing to do about a failure here (a context already torn down at exit): clear it, so it
  // is not reported later against an unrelated op.
  if (cudaFree(block) != cudaSuccess) cudaGetLastError();
}

std::pair<std::size_t, std::size_t> CudaDeviceMemory::device_memory() const {
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return {0, 0};
  }
  return {free_bytes, total_bytes};
}

CudaDeviceMemory& device_memory() {
  // Stateless and never destroyed: an allocator kept alive by tensors that outlive their backend
  // (or the end of main) can still return its blocks.
  static auto* memory = new CudaDeviceMemory;
  return *memory;
}

std::unique_ptr<tensor::Backend> make_cuda_backend(int device) {
  const auto devices = list_devices();
  if (devices.empty()) throw Error("device \"cuda\": " + unavailable_reason());
  if (device < 0 || device >= static_cast<int>(devices.size())) {
    throw Error("device \"cuda\": there is no CUDA device " + std::to_string(device) + " (" +
                std::to_string(devices.size()) + " found)");
  }
  return std::make_unique<CudaBackend>(device);
}

void register_cuda_backend() {
  tensor::register_cuda_backend_factory({unavailable_reason, make_cuda_backend});
  dist::register_cuda_communicator_factory(
      [](tensor::Backend& backend,
         dist::Communicator& host) -> std::unique_ptr<dist::Communicator> {
        return make_nccl_communicator_for(backend, host);
      });
}

std::optional<CudaPlacement> cuda_placement(const tensor::Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  if (cuda == nullptr) return std::nullopt;
  return CudaPlacement{cuda->device_index(), cuda->stream()};
}

const CachingAllocator* device_allocator(const tensor::Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  return cuda ? &cuda->allocator() : nullptr;
}

CudaBackend::CudaBackend(int device) : device_(device) {
  check_cuda(cudaSetDevice(device), "selecting the CUDA device");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device), "reading the CUDA device's properties");
  name_ = "cuda:" + std::to_string(device) + " (" + prop.name + ")";
  properties_ = {device,     prop.name,  prop.multiProcessorCount,
                 prop.major, prop.minor, static_cast<std::int64_t>(prop.totalGlobalMem)};
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a CUDA stream");
  check_cuda(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking),
             "creating the copy stream");
  check_cuda(cudaEventCreateWithFlags(&ops_issued_, cudaEventDisableTiming),
             "creating a CUDA event");
  check_cublas(cublasCreate(&cublas_), "creating the cuBLAS handle");
  check_cublas(cublasSetStream(cublas_, stream_), "cublasSetStream");
  // The default math mode, stated: 16-bit operands with CUBLAS_COMPUTE_32F run on the Tensor
  // Cores with fp32 accumulation (mixed precision), while f32 products stay true fp32; the TF32
  // mode would also move f32 x f32 onto the Tensor Cores at a 10-bit mantissa, off the CPU's
  // results.
  check_cublas(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  allocator_ = std::make_shared<CachingAllocator>(device_memory());
}

CudaBackend::~CudaBackend() {
  if (stream_) cudaStreamSynchronize(stream_);
  if (copy_stream_) cudaStreamSynchronize(copy_stream_);
  cudnn_.reset();  // its handle is bound to stream_, destroyed below
  if (scratch_.block) allocator_->free(scratch_.block);
  if (scratch2_.block) allocator_->free(scratch2_.block);
  if (host_) cudaFreeHost(host_);
  if (cublas_) cublasDestroy(cublas_);
  if (ops_issued_) cudaEventDestroy(ops_issued_);
  if (copy_stream_) cudaStreamDestroy(copy_stream_);
  if (stream_) cudaStreamDestroy(stream_);
  // Tensors still alive keep the allocator (and the blocks) until the last of them goes.
  allocator_->release_cached();
}

void CudaBackend::synchronize() {
  sync("synchronize");
}

void CudaBackend::sync(const char* op) {
  check_cuda(cudaStreamSynchronize(stream_), op);
  check_cuda(cudaGetLastError(), op);
}

void* CudaBackend::grow(Workspace& w, std::size_t bytes) {
  if (w.bytes < bytes) {
    if (w.block) allocator_->free(w.block);
    w.block = nullptr;
    w.bytes = 0;
    w.block = allocator_->allocate(bytes);
    w.bytes = bytes;
  }
  return w.block;
}

void* CudaBackend::scratch(std::size_t bytes) {
  return grow(scratch_, bytes);
}

void* CudaBackend::scratch2(std::size_t bytes) {
  return grow(scratch2_, bytes);
}

void* CudaBackend::host_scratch(std::size_t bytes) {
  if (host_bytes_ < bytes) {
    // Earlier reads through the old buffer have completed (each op syncs before reading it).
    if (host_) cudaFreeHost(host_);
    host_ = nullptr;
    host_bytes_ = 0;
    check_cuda(cudaMallocHost(&host_, bytes), "allocating pinned host memory");
    host_bytes_ = bytes;
  }
  return host_;
}

float* CudaBackend::f32(Tensor& t, const char* op) {
  require_cuda_tensor(t, op);
  require(t.dtype() == DType::f32, op,
          std::string("expected an f32 tensor, got ") + tensor::dtype_name(t.dtype()));
  return static_cast<float*>(t.raw());
}

const float* CudaBackend::f32(const Tensor& t, const char* op) {
  return f32(const_cast<Tensor&>(t), op);
}

std::int32_t* CudaBackend::i32(Tensor& t, const char* op) {
  require_cuda_tensor(t, op);
  require(t.dtype() == DType::i32, op,
          std::string("expected an i32 tensor, got ") + tensor::dtype_name(t.dtype()));
  return static_cast<std::int32_t*>(t.raw());
}

const std::int32_t* CudaBackend::i32(const Tensor& t, const char* op) {
  return i32(const_cast<Tensor&>(t), op);
}

void* CudaBackend::any(Tensor& t, const char* op) {
  require_cuda_tensor(t, op);
  return t.raw();
}

const void* CudaBackend::any(const Tensor& t, const char* op) {
  return any(const_cast<Tensor&>(t), op);
}

Tensor CudaBackend::empty(Shape shape, DType dtype) {
  for (auto d : shape.dims()) {
    if (d < 0) throw Error("negative dimension in shape " + shape.str());
  }
  const auto bytes = static_cast<std::size_t>(shape.numel()) * tensor::dtype_size(dtype);
  return Tensor(std::make_shared<DeviceBuffer>(allocator_, bytes), std::move(shape), dtype);
}

void CudaBackend::upload(Tensor& dst, const void* host, std::size_t bytes) {
  require(bytes <= dst.bytes(), "upload", "more bytes than the tensor holds");
  // Synchronous for pageable memory: the caller may reuse `host` as soon as this returns.
  check_cuda(cudaMemcpyAsync(any(dst, "upload"), host, bytes, cudaMemcpyHostToDevice, stream_),
             "upload");
  sync("upload");
}

std::shared_ptr<tensor::HostMemory> CudaBackend::host_memory() {
  return pinned_host_memory(device_);
}

void CudaBackend::upload_async(Tensor& dst, const void* host, std::size_t bytes) {
  require(bytes <= dst.bytes(), "upload_async", "more bytes than the tensor holds");
  // The copy may overwrite what ops already issued still read (the step before used this
  // buffer): it waits for them, and for nothing issued later.
  check_cuda(cudaEventRecord(ops_issued_, stream_), "upload_async");
  check_cuda(cudaStreamWaitEvent(copy_stream_, ops_issued_, 0), "upload_async");
  check_cuda(
      cudaMemcpyAsync(any(dst, "upload_async"), host, bytes, cudaMemcpyHostToDevice, copy_stream_),
      "upload_async");
}

void CudaBackend::finish_uploads() {
  // Ops issued after this see the data: the copies completed before they were queued.
  check_cuda(cudaStreamSynchronize(copy_stream_), "finish_uploads");
}

void CudaBackend::download(const Tensor& src, void* host, std::size_t bytes) {
  require(bytes <= src.bytes(), "download", "more bytes than the tensor holds");
  check_cuda(cudaMemcpyAsync(host, any(src, "download"), bytes, cudaMemcpyDeviceToHost, stream_),
             "download");
  sync("download");
}

void CudaBackend::fill(Tensor& t, float value) {
  switch (t.dtype()) {
    case DType::i32:
      kernels::fill_i32(i32(t, "fill"), t.numel(), static_cast<std::int32_t>(value), stream_);
      return;
    case DType::f32:
      kernels::fill_f32(f32(t, "fill"), t.numel(), value, stream_);
      return;
    case DType::f16:
    case DType::bf16: {
      // Filled in f32 and narrowed, so the value rounds as convert() rounds it.
      auto* wide =
          static_cast<float*>(scratch(static_cast<std::size_t>(t.numel()) * sizeof(float)));
      kernels::fill_f32(wide, t.numel(), value, stream_);
      kernels::convert(wide, kernels::Element::f32, any(t, "fill"), element(t.dtype(), "fill"),
                       t.numel(), stream_);
      return;
    }
  }
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  require_same_numel("copy", src, dst);
  require(src.dtype() == dst.dtype(), "copy", "dtypes differ");
  if (src.same_storage(dst) && src.raw() == dst.raw()) return;
  check_cuda(cudaMemcpyAsync(any(dst, "copy"), any(src, "copy"), src.bytes(),
                             cudaMemcpyDeviceToDevice, stream_),
             "copy");
}

void CudaBackend::copy_range(const Tensor& src, std::int64_t src_offset, Tensor& dst,
                             std::int64_t dst_offset, std::int64_t count) {
  tensor::require_copy_range(src, src_offset, dst, dst_offset, count);
  if (count == 0) return;
  const std::size_t element = tensor::dtype_size(src.dtype());
  check_cuda(
      cudaMemcpyAsync(static_cast<char*>(any(dst, "copy_range")) +
                          static_cast<std::size_t>(dst_offset) * element,
                      static_cast<const char*>(any(src, "copy_range")) +
                          static_cast<std::size_t>(src_offset) * element,
                      static_cast<std::size_t>(count) * element, cudaMemcpyDeviceToDevice, stream_),
      "copy_range");
}

void CudaBackend::convert(const Tensor& src, Tensor& dst) {
  require_same_numel("convert", src, dst);
  if (src.dtype() == dst.dtype()) return copy(src, dst);
  // The CPU's conversions: f32 to and from f16 or bf16, nothing else.
  const auto half = [](DType d) { return d == DType::f16 || d == DType::bf16; };
  require((src.dtype() == DType::f32 && half(dst.dtype())) ||
              (half(src.dtype()) && dst.dtype() == DType::f32),
          "convert",
          std::string("no conversion from ") + tensor::dtype_name(src.dtype()) + " to " +
              tensor::dtype_name(dst.dtype()));
  kernels::convert(any(src, "convert"), element(src.dtype(), "convert"), any(dst, "convert"),
                   element(dst.dtype(), "convert"), src.numel(), stream_);
}

void CudaBackend::round_to(Tensor& t, DType storage) {
  require(storage == DType::f32 || storage == DType::f16 || storage == DType::bf16, "round_to",
          "storage must be f32, f16 or bf16");
  if (storage == DType::f32) return;
  kernels::round_f32_to(f32(t, "round_to"), t.numel(), element(storage, "round_to"), stream_);
}

}  // namespace tb::gpu
