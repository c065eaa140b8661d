#pragma once
// GEMM and launch helpers of the Thrust backend, per device system:
// - CUDA: cuBLAS (row-major C = op(A) op(B) is computed as the column-major
//   C^T = op(B)^T op(A)^T, i.e. the operands are swapped, no copies); element
//   kernels are launched with par_nosync, so nothing waits for the GPU until a
//   value comes back to the host (reductions, to_host).
// - OMP / CPP: device memory IS host memory, so the operands are wrapped in
//   Eigen::Map and handed to cpu<T>::gemm (same blocking and row splitting as
//   the reference backend, hence the same results).
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>
#include <thrust/functional.h>
#include <stdexcept>
#include <string>

#include "../../config.hpp"
#include "thrust_kernels.hpp"

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <thrust/system/cuda/execution_policy.h>
#define DSAE_THRUST_CUDA 1
#else
#include "../cpu.hpp"
#define DSAE_THRUST_CUDA 0
#endif

namespace dsae::detail::thrust_k {

// On host device systems (OMP/CPP) an op over fewer elements than this runs
// as a plain loop on the calling thread: forking a team per LSTM step costs
// more than the step (and much more on a loaded machine).
inline constexpr index_t host_serial_below = index_t(1) << 15;

// Applies f to every index in [0, n).
template <class F>
void launch(index_t n, const F& f) {
  if (n <= 0) return;
#if DSAE_THRUST_CUDA
  thrust::for_each_n(thrust::cuda::par_nosync, thrust::counting_iterator<index_t>(0), n, f);
#else
  if (n < host_serial_below) {
    for (index_t i = 0; i < n; ++i) f(i);
    return;
  }
  thrust::for_each_n(thrust::device, thrust::counting_iterator<index_t>(0), n, f);
#endif
}

// Sum over [0, n) of f(i) (a double per index), on the device.
template <class R, class F>
R reduce(index_t n, const F& f) {
  if (n <= 0) return R(0);
#if !DSAE_THRUST_CUDA
  if (n < host_serial_below) {
    R acc = R(0);
    for (index_t i = 0; i < n; ++i) acc += f(i);
    return acc;
  }
#endif
  return thrust::transform_reduce(thrust::device, thrust::counting_iterator<index_t>(0),
                                  thrust::counting_iterator<index_t>(n), f, R(0), thrust::plus<R>());
}

#if DSAE_THRUST_CUDA
inline void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("dsae thrust backend (backend/thrust.hpp): ") + what + ": " +
                             cudaGetErrorString(e));
}
inline void cublas_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("dsae thrust backend (backend/thrust.hpp): ") + what +
                             " failed with cuBLAS status " + std::to_string(int(s)));
}
// One handle per host thread (a cuBLAS handle must not be used by two threads at once:
// two models trained on two threads each get their own), created on first use and
// deliberately never destroyed (a destructor could run after the CUDA runtime unloads).
inline cublasHandle_t cublas() {
  thread_local cublasHandle_t h = [] {
    cublasHandle_t x = nullptr;
    cublas_check(cublasCreate(&x), "cublasCreate");
    // The stream Thrust launches on, so GEMMs and element kernels stay ordered.
#ifdef CUDA_API_PER_THREAD_DEFAULT_STREAM
    cublas_check(cublasSetStream(x, cudaStreamPerThread), "cublasSetStream");
#else
    cublas_check(cublasSetStream(x, cudaStreamLegacy), "cublasSetStream");
#endif
    return x;
  }();
  return h;
}
inline void gemm_cuda(float* C, index_t ldc, const float* A, index_t lda, bool ta, const float* B, index_t ldb,
                      bool tb, index_t M, index_t N, index_t K, float alpha, float beta) {
  cublas_check(cublasSgemm(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M),
                           int(K), &alpha, B, int(ldb), A, int(lda), &beta, C, int(ldc)),
               "cublasSgemm");
}
inline void gemm_cuda(double* C, index_t ldc, const double* A, index_t lda, bool ta, const double* B, index_t ldb,
                      bool tb, index_t M, index_t N, index_t K, double alpha, double beta) {
  cublas_check(cublasDgemm(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M),
                           int(K), &alpha, B, int(ldb), A, int(lda), &beta, C, int(ldc)),
               "cublasDgemm");
}
#endif

// C (M x N, row stride ldc) = alpha op(A) op(B) + beta C, all row-major.
template <class T>
void gemm(view<T> C, cview<T> A, bool ta, cview<T> B, bool tb, T alpha, T beta) {
  const index_t M = C.r, N = C.c;
  if (M == 0 || N == 0) return;
#if DSAE_THRUST_CUDA
  const index_t K = ta ? A.r : A.c;
  if (K == 0) {  // cuBLAS scales C by beta; keep beta == 0 from reading C
    if (beta == T(0)) launch(M * N, fill_f<T>{C, T(0)});
    else launch(M * N, scale_f<T>{C, beta});
    return;
  }
  gemm_cuda(C.p, C.ld, A.p, A.ld == 0 ? A.c : A.ld, ta, B.p, B.ld == 0 ? B.c : B.ld, tb, M, N, K, alpha, beta);
#else
  using mat = typename cpu<T>::tensor;
  using stride = Eigen::OuterStride<>;
  Eigen::Map<mat, 0, stride> c(C.p, M, N, stride(C.ld));
  const Eigen::Map<const mat, 0, stride> a(A.p, A.r, A.c, stride(A.ld == 0 ? A.c : A.ld));
  const Eigen::Map<const mat, 0, stride> b(B.p, B.r, B.c, stride(B.ld == 0 ? B.c : B.ld));
  cpu<T>::gemm(c, a, ta, b, tb, alpha, beta);
#endif
}

}  // namespace dsae::detail::thrust_k
