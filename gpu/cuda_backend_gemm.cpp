// CudaBackend::gemm on cuBLAS.
//
// The engine's matrices are row-major and cuBLAS's are column-major. A row-major r x c matrix
// read column-major (leading dimension c) is its transpose, so the row-major product
// C = op(A) op(B) is computed as the column-major product C^T = op(B)^T op(A)^T: the operands
// swap places and each keeps its own transpose flag. No data moves.
#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <string>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"

namespace tb::gpu {
namespace {

using tensor::DType;
using tensor::Tensor;

bool fits_int(std::int64_t v) {
  return v <= INT_MAX;
}

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::f16:
      return CUDA_R_16F;
    case DType::bf16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

}  // namespace

void CudaBackend::gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                       float alpha, float beta) {
  constexpr const char* op = "gemm";
  // f32 x f32 is the CPU backend's gemm. f16 x f16 and bf16 x bf16 (into f32) are an extension
  // of this backend only: the CPU one reads every operand through Tensor::matrix(), which throws
  // on a 16-bit tensor. They let a mixed-precision path keep its activations and weights in 16
  // bits and still accumulate in fp32 on the Tensor Cores (takes_16bit_matmul_operands: Linear
  // passes its 16-bit input, working weight and narrowed output gradient here).
  const DType in = a.dtype();
  const bool half_inputs = (in == DType::f16 || in == DType::bf16) && b.dtype() == in;
  require(half_inputs || (in == DType::f32 && b.dtype() == DType::f32), op,
          std::string("operands must both be f32, both f16 or both bf16, got ") +
              tensor::dtype_name(a.dtype()) + " and " + tensor::dtype_name(b.dtype()));
  const void* a_ptr = half_inputs ? any(a, op) : f32(a, op);
  const void* b_ptr = half_inputs ? any(b, op) : f32(b, op);
  float* c_ptr = f32(c, op);

  const auto A = matrix_dims(a), B = matrix_dims(b), C = matrix_dims(c);
  const auto m = trans_a ? A.cols : A.rows;
  const auto k = trans_a ? A.rows : A.cols;
  const auto kb = trans_b ? B.cols : B.rows;
  const auto n = trans_b ? B.rows : B.cols;
  require(k == kb && C.rows == m && C.cols == n, op,
          "shapes do not multiply: " + a.shape().str() + (trans_a ? "^T" : "") + " x " +
              b.shape().str() + (trans_b ? "^T" : "") + " -> " + c.shape().str());
  require(fits_int(m) && fits_int(n) && fits_int(k) && fits_int(A.cols) && fits_int(B.cols), op,
          "a dimension exceeds what cuBLAS takes (2^31 - 1)");
  if (m == 0 || n == 0) return;

  // cuBLAS wants leading dimensions >= 1 even for an empty operand (k == 0, where it only scales
  // C by beta, as the CPU does).
  const int lda = static_cast<int>(std::max<std::int64_t>(1, A.cols));
  const int ldb = static_cast<int>(std::max<std::int64_t>(1, B.cols));
  const int ldc = static_cast<int>(n);
  // CUBLAS_COMPUTE_32F keeps f32 x f32 in true fp32 (TF32 needs the _FAST_TF32 compute type or
  // the TF32 math mode, and the handle is set to the default one: see the CudaBackend
  // constructor), so results match the CPU to rounding. For 16-bit inputs the same compute type
  // means Tensor Core products accumulated in fp32.
  check_cublas(cublasGemmEx(cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                            trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                            static_cast<int>(m), static_cast<int>(k), &alpha, b_ptr,
                            cuda_type(b.dtype()), ldb, a_ptr, cuda_type(a.dtype()), lda, &beta,
                            c_ptr, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               op);
}

}  // namespace tb::gpu
