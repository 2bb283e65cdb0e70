// Kernels for filling and converting tensors: raw device pointers, element counts, one stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tb::gpu::kernels {

// Element types as the kernels see them (tensor::DType's f32, f16, bf16).
enum class Element : std::uint8_t { f32, f16, bf16 };

// p[i] = value for i < n (f32).
void fill_f32(float* p, std::int64_t n, float value, cudaStream_t stream);
// p[i] = value for i < n (i32).
void fill_i32(std::int32_t* p, std::int64_t n, std::int32_t value, cudaStream_t stream);
// dst[i] = src[i] converted from `from` to `to` (round to nearest even when narrowing; f32 to
// f32 is not asked for: that is a copy).
void convert(const void* src, Element from, void* dst, Element to, std::int64_t n,
             cudaStream_t stream);
// p[i] = (float)(to16(p[i])): rounds f32 values to what f16 or bf16 can hold, in place.
void round_f32_to(float* p, std::int64_t n, Element storage, cudaStream_t stream);

}  // namespace tb::gpu::kernels
