#pragma once
// fma_peak: the machine's fp32 FMA peak, measured by a register-only loop.
//
// Each thread runs independent chains of vector FMAs on registers (no memory
// traffic), enough chains to cover the FMA latency on every FMA port, so the
// rate is what the core's FMA units can issue: ~32 fp32 FLOP per cycle on
// Zen 3 (2 x 256-bit FMA) and on Zen 4 (512-bit FMAs as two 256-bit halves).
// Benches report a step's arithmetic rate as a fraction of this, never of an
// Eigen GEMM (itself only ~70 % of it).
#include <algorithm>
#include <chrono>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dsae_bench {

namespace detail {
// Vector width in floats of the widest FMA the compiler may emit here.
#if defined(__AVX512F__)
inline constexpr int fma_lanes = 16;
#elif defined(__AVX__)
inline constexpr int fma_lanes = 8;
#else
inline constexpr int fma_lanes = 4;
#endif
typedef float vfloat __attribute__((vector_size(fma_lanes * 4)));
#if defined(__AVX512F__)
#define DSAE_FMA_REG(c) "v"(c)
#else
#define DSAE_FMA_REG(c) "x"(c)
#endif

// 2 * lanes * 12 chains * iters FLOP. 12 chains: latency 4 x 2 ports = 8 in
// flight are needed on Zen; 12 leave slack and still fit the register file.
__attribute__((noinline)) inline float fma_loop(std::int64_t iters, float seed) {
  // Broadcasts, not element stores: element-wise initialisation leaves a and b
  // in memory, and every FMA then reads one of them from the stack.
  vfloat a = vfloat{} + 0.9999f, b = vfloat{} + 1e-6f, c0 = vfloat{} + seed;
  for (int l = 0; l < fma_lanes; ++l) c0[l] += 0.01f * float(l);
  vfloat c1 = c0 + b, c2 = c1 + b, c3 = c2 + b, c4 = c3 + b, c5 = c4 + b;
  vfloat c6 = c5 + b, c7 = c6 + b, c8 = c7 + b, c9 = c8 + b, c10 = c9 + b, c11 = c10 + b;
  asm volatile("" : "+" DSAE_FMA_REG(a), "+" DSAE_FMA_REG(b));
  for (std::int64_t i = 0; i < iters; ++i) {
    // Named variables, not an array: an array is kept on the stack.
#define DSAE_FMA_CHAIN(c) c = c * a + b;  // one FMA with -mfma (-march=native)
    DSAE_FMA_CHAIN(c0) DSAE_FMA_CHAIN(c1) DSAE_FMA_CHAIN(c2) DSAE_FMA_CHAIN(c3)
    DSAE_FMA_CHAIN(c4) DSAE_FMA_CHAIN(c5) DSAE_FMA_CHAIN(c6) DSAE_FMA_CHAIN(c7)
    DSAE_FMA_CHAIN(c8) DSAE_FMA_CHAIN(c9) DSAE_FMA_CHAIN(c10) DSAE_FMA_CHAIN(c11)
#undef DSAE_FMA_CHAIN
    // "v": any vector register (32 with AVX-512); "x" would confine the 12
    // chains and a, b to 16 registers and put a, b in memory (~25 % low on Intel).
    asm volatile("" : "+" DSAE_FMA_REG(c0), "+" DSAE_FMA_REG(c1), "+" DSAE_FMA_REG(c2), "+" DSAE_FMA_REG(c3),
                 "+" DSAE_FMA_REG(c4), "+" DSAE_FMA_REG(c5));
    asm volatile("" : "+" DSAE_FMA_REG(c6), "+" DSAE_FMA_REG(c7), "+" DSAE_FMA_REG(c8), "+" DSAE_FMA_REG(c9),
                 "+" DSAE_FMA_REG(c10), "+" DSAE_FMA_REG(c11));
  }
  const vfloat s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
  float r = 0;
  for (int l = 0; l < fma_lanes; ++l) r += s[l];
  return r;
}
}  // namespace detail

// Peak GFLOP/s of `threads` threads (best of `reps` runs of ~0.1 s each).
inline double fma_peak_gflops(int threads, int reps = 5) {
  constexpr std::int64_t iters = 4'000'000;
  constexpr double flop_per_thread = 2.0 * detail::fma_lanes * 12 * double(iters);
  double best = 0;
  volatile float sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
    { sink = sink + detail::fma_loop(iters, float(omp_get_thread_num())); }
#else
    (void)threads;
    sink = sink + detail::fma_loop(iters, 1.f);
#endif
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flop_per_thread * threads / s * 1e-9);
  }
  return best;
}

}  // namespace dsae_bench
