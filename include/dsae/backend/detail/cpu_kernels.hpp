#pragma once
// Register-tiled fp32 kernels for the frame-wise layers of cpu<float>.
//
// Why not Eigen: the frame-wise products are (256 frames) x (64..80) x (64..80)
// blocks; Eigen packs both operands on every call and reaches ~35-40 % of the
// FMA peak on them. Here the weight operand is packed once per pass (it is
// tiny), the frame operand is read in place, and a tile of MR frames x NV
// vectors of outputs stays in registers over the whole reduction, so the
// inner loop is NV vector loads + MR broadcasts per MR x NV FMAs.
//
// Every output element is one left-to-right sum over k: the result does not
// depend on the tiling, the block size or the thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../../config.hpp"
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <atomic>
#include <cstdint>

namespace dsae::detail::kernels {

// The products' arithmetic (2 M N K per product, element-wise work not counted), for the
// benches' "% of FMA peak". Always compiled and off until a bench turns it on at run time
// (flop_counting(true)): a macro that changed these inline bodies would make translation
// units built with and without it disagree (an ODR violation). Off, it costs one relaxed
// load per product call.
struct flop_counter {
  std::atomic<bool> on{false};
  std::atomic<std::int64_t> count{0};
};
inline flop_counter& flop_state() {
  static flop_counter c;
  return c;
}
inline void flop_counting(bool on) { flop_state().on.store(on, std::memory_order_relaxed); }
inline std::int64_t flop_count() { return flop_state().count.load(std::memory_order_relaxed); }
inline void add_flops(std::int64_t x) {
  auto& c = flop_state();
  if (c.on.load(std::memory_order_relaxed)) c.count.fetch_add(x, std::memory_order_relaxed);
}
#define DSAE_ADD_FLOPS(x) ::dsae::detail::kernels::add_flops(std::int64_t(x))

// Tiles: tile_rows x 2 vectors, and where 32 vector registers allow it a
// wide panel of wide_rows x 4 vectors (24 accumulators: with two FMA ports of
// latency 4, 16 accumulators and 8 broadcasts per 16 FMAs leave the Intel
// cores ~10 % short of the 6 x 4 tile's rate; bench/core measures both).
#if defined(__AVX512F__)
inline constexpr int lanes = 16;
inline constexpr int tile_rows = 8;  // 8 x 2 zmm accumulators of 32 registers
inline constexpr int wide_rows = 6;  // 6 x 4 zmm
#elif defined(__AVX__)
inline constexpr int lanes = 8;
inline constexpr int tile_rows = 6;  // 6 x 2 ymm accumulators of 16 registers
inline constexpr int wide_rows = 0;  // no wide panel
#else
inline constexpr int lanes = 4;
inline constexpr int tile_rows = 6;
inline constexpr int wide_rows = 0;
#endif

typedef float vfloat __attribute__((vector_size(lanes * sizeof(float))));
// Same vector with element alignment, for loads/stores at any float address.
typedef float vfloat_u __attribute__((vector_size(lanes * sizeof(float)), aligned(alignof(float)), may_alias));

inline vfloat load(const float* p) { return *reinterpret_cast<const vfloat_u*>(p); }
inline void store(float* p, vfloat v) { *reinterpret_cast<vfloat_u*>(p) = v; }
// A broadcast straight from memory: one load uop, no shuffle on an FMA port.
inline vfloat splat(const float* p) {
#if defined(__AVX512F__)
  return vfloat(_mm512_set1_ps(*p));
#elif defined(__AVX__)
  return vfloat(_mm256_broadcast_ss(p));
#else
  return vfloat{} + *p;
#endif
}

// True when a product with n output columns can use the tiled kernels.
inline bool tiled_cols(index_t n) { return n > 0 && n % lanes == 0; }

// C[r, j] (+)= sum_k A(r, k) * Bm[k, j] for r < MR, j < NV * lanes, where
// A(r, k) = a[r * a_rs + k * a_ks] and Bm is row-major with leading dimension
// ldb. init: the starting value of the sum per column (a bias), or null for
// zero; accumulate: add the sum to C instead of storing it.
template <int MR, int NV>
inline void tile(const float* a, index_t a_rs, index_t a_ks, index_t K, const float* b, index_t ldb,
                 const float* init, float* c, index_t ldc, bool accumulate) {
  // Fully unrolled loops over the tile, so that acc lives in registers (GCC
  // keeps a partly unrolled array on the stack and reloads it every k).
  vfloat acc[MR][NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const vfloat i0 = init ? load(init + v * lanes) : vfloat{};
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r][v] = i0;
  }
  for (index_t k = 0; k < K; ++k) {
    vfloat bk[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bk[v] = load(b + k * ldb + v * lanes);
    const float* ak = a + k * a_ks;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const vfloat ar = splat(ak + r * a_rs);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * bk[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + v * lanes;
      store(p, accumulate ? load(p) + acc[r][v] : acc[r][v]);
    }
}

// All rows of one column panel of NV vectors: full tiles of MR rows, then the rest.
template <int MR, int NV>
inline void panel(index_t M, index_t K, const float* a, index_t a_rs, index_t a_ks, const float* b, index_t ldb,
                  const float* init, float* c, index_t ldc, bool accumulate) {
  index_t r0 = 0;
  for (; r0 + MR <= M; r0 += MR)
    tile<MR, NV>(a + r0 * a_rs, a_rs, a_ks, K, b, ldb, init, c + r0 * ldc, ldc, accumulate);
  const float* ar = a + r0 * a_rs;
  float* cr = c + r0 * ldc;
  switch (M - r0) {  // the last rows, fewer than a tile
    case 7: if constexpr (MR > 7) tile<7, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    case 6: if constexpr (MR > 6) tile<6, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    case 5: if constexpr (MR > 5) tile<5, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    case 4: if constexpr (MR > 4) tile<4, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    case 3: tile<3, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    case 2: tile<2, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    case 1: tile<1, NV>(ar, a_rs, a_ks, K, b, ldb, init, cr, ldc, accumulate); break;
    default: break;
  }
}

// C (M x N, ldc) (+)= A (M x K, strides a_rs / a_ks) * Bm (K x N, ldb) [+ init
// broadcast over rows]. requires: tiled_cols(N) (checked: the last panel would read
// and write past the row otherwise), M, K >= 0.
inline void gemm_tiled(index_t M, index_t N, index_t K, const float* a, index_t a_rs, index_t a_ks,
                       const float* b, index_t ldb, const float* init, float* c, index_t ldc,
                       bool accumulate) {
  if (!tiled_cols(N) || M < 0 || K < 0)
    ::dsae::detail::fail("gemm_tiled: N = ", N, " is not a positive multiple of ", lanes, " lanes (or M = ", M,
                         ", K = ", K, " is negative); callers must check tiled_cols(N) first");
  DSAE_ADD_FLOPS(2 * M * N * K);
  index_t j0 = 0;
  if constexpr (wide_rows > 0)
    for (; j0 + 4 * lanes <= N; j0 += 4 * lanes)
      panel<wide_rows, 4>(M, K, a, a_rs, a_ks, b + j0, ldb, init ? init + j0 : nullptr, c + j0, ldc, accumulate);
  for (; j0 + 2 * lanes <= N; j0 += 2 * lanes)
    panel<tile_rows, 2>(M, K, a, a_rs, a_ks, b + j0, ldb, init ? init + j0 : nullptr, c + j0, ldc, accumulate);
  if (j0 < N)
    panel<tile_rows, 1>(M, K, a, a_rs, a_ks, b + j0, ldb, init ? init + j0 : nullptr, c + j0, ldc, accumulate);
}

// The tanh VJP of a block of rows, fused with the bias gradient's partial sum:
// d[r, :] = g[r, :] * (1 - h[r, :]^2) and colsum[:] += sum over r of d[r, :], rows
// summed in order (a fixed order: results do not depend on the caller's
// threads). requires: tiled_cols(cols).
inline void tanh_grad_rows(index_t rows, index_t cols, const float* g, index_t ldg, const float* h, index_t ldh,
                           float* d, index_t ldd, float* colsum) {
  constexpr int nv = 4;  // column vectors per pass: nv accumulators in registers
  index_t j0 = 0;
  for (; j0 + nv * lanes <= cols; j0 += nv * lanes) {
    vfloat acc[nv];
#pragma GCC unroll 4
    for (int v = 0; v < nv; ++v) acc[v] = load(colsum + j0 + v * lanes);
    for (index_t r = 0; r < rows; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < nv; ++v) {
        const index_t j = j0 + v * lanes;
        const vfloat hv = load(h + r * ldh + j), gv = load(g + r * ldg + j);
        const vfloat dv = gv - gv * hv * hv;
        store(d + r * ldd + j, dv);
        acc[v] += dv;
      }
    }
#pragma GCC unroll 4
    for (int v = 0; v < nv; ++v) store(colsum + j0 + v * lanes, acc[v]);
  }
  for (; j0 < cols; j0 += lanes) {
    vfloat acc = load(colsum + j0);
    for (index_t r = 0; r < rows; ++r) {
      const vfloat hv = load(h + r * ldh + j0), gv = load(g + r * ldg + j0);
      const vfloat dv = gv - gv * hv * hv;
      store(d + r * ldd + j0, dv);
      acc += dv;
    }
    store(colsum + j0, acc);
  }
}

// True when none of the n floats at p is NaN or Inf: v - v is +0 for a finite v
// and NaN otherwise, and a NaN stays in the running sum. Vectorised, no early
// exit (Eigen's allFinite() runs element by element).
inline bool all_finite(const float* p, index_t n) {
  vfloat acc{};
  index_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const vfloat v = load(p + i);
    acc += v - v;
  }
  float tail = 0;
  for (; i < n; ++i) tail += p[i] - p[i];
  for (int l = 0; l < lanes; ++l) tail += acc[l];
  return tail == 0.0f;
}

// colsum[:] += sum over r of y[r, :] (rows in order). Rows inner, up to 8
// column vectors per pass in registers: each pass streams its rows once.
// requires: tiled_cols(cols).
template <int NV>
inline void sum_rows_panel(index_t rows, const float* y, index_t ldy, float* colsum) {
  vfloat acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = load(colsum + v * lanes);
  for (index_t r = 0; r < rows; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[v] += load(y + r * ldy + v * lanes);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) store(colsum + v * lanes, acc[v]);
}
inline void sum_rows(index_t rows, index_t cols, const float* y, index_t ldy, float* colsum) {
  index_t j0 = 0;
  for (; j0 + 8 * lanes <= cols; j0 += 8 * lanes) sum_rows_panel<8>(rows, y + j0, ldy, colsum + j0);
  switch ((cols - j0) / lanes) {
    case 7: sum_rows_panel<7>(rows, y + j0, ldy, colsum + j0); break;
    case 6: sum_rows_panel<6>(rows, y + j0, ldy, colsum + j0); break;
    case 5: sum_rows_panel<5>(rows, y + j0, ldy, colsum + j0); break;
    case 4: sum_rows_panel<4>(rows, y + j0, ldy, colsum + j0); break;
    case 3: sum_rows_panel<3>(rows, y + j0, ldy, colsum + j0); break;
    case 2: sum_rows_panel<2>(rows, y + j0, ldy, colsum + j0); break;
    case 1: sum_rows_panel<1>(rows, y + j0, ldy, colsum + j0); break;
    default: break;
  }
}

}  // namespace dsae::detail::kernels
