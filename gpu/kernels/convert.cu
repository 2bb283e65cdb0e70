#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/convert.h"
#include "gpu/kernels/launch.h"

namespace tb::gpu::kernels {
namespace {

__device__ float load(const void* p, Element e, std::int64_t i) {
  switch (e) {
    case Element::f16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case Element::bf16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

__device__ void store(void* p, Element e, std::int64_t i, float v) {
  // A NaN keeps its sign and the top of its payload, as the CPU's conversions keep them
  // (core/tensor/half.h), rather than CUDA's one canonical NaN: the same bits on both devices.
  const std::uint32_t x = __float_as_uint(v);
  if (e != Element::f32 && (x & 0x7FFFFFFFu) > 0x7F800000u) {
    static_cast<std::uint16_t*>(p)[i] =
        e == Element::f16
            ? static_cast<std::uint16_t>(((x >> 16) & 0x8000u) | 0x7E00u | ((x >> 13) & 0x3FFu))
            : static_cast<std::uint16_t>((x >> 16) | 0x0040u);
    return;
  }
  switch (e) {
    case Element::f16:
      static_cast<__half*>(p)[i] = __float2half_rn(v);
      break;
    case Element::bf16:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
      break;
    default:
      static_cast<float*>(p)[i] = v;
  }
}

__global__ void fill_kernel(float* p, std::int64_t n, float value) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) p[i] = value;
}

__global__ void fill_i32_kernel(std::int32_t* p, std::int64_t n, std::int32_t value) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) p[i] = value;
}

__global__ void convert_kernel(const void* src, Element from, void* dst, Element to,
                               std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride())
    store(dst, to, i, load(src, from, i));
}

__global__ void round_kernel(float* p, std::int64_t n, Element storage) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    p[i] = storage == Element::f16 ? __half2float(__float2half_rn(p[i]))
                                   : __bfloat162float(__float2bfloat16_rn(p[i]));
  }
}

}  // namespace

void fill_f32(float* p, std::int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, n, value);
  check_launch(__func__);
}

void fill_i32(std::int32_t* p, std::int64_t n, std::int32_t value, cudaStream_t stream) {
  if (n <= 0) return;
  fill_i32_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, n, value);
  check_launch(__func__);
}

void convert(const void* src, Element from, void* dst, Element to, std::int64_t n,
             cudaStream_t stream) {
  if (n <= 0) return;
  convert_kernel<<<grid_for(n), kBlock, 0, stream>>>(src, from, dst, to, n);
  check_launch(__func__);
}

void round_f32_to(float* p, std::int64_t n, Element storage, cudaStream_t stream) {
  if (n <= 0 || storage == Element::f32) return;
  round_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, n, storage);
  check_launch(__func__);
}

}  // namespace tb::gpu::kernels
