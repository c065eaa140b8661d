#pragma once
// Vectorised noise stream (prob/philox.hpp, version 2) for the CPU backend.
//
// Sixteen Philox counters at a time, one per vector lane, and the same
// Box-Muller template as the scalar reference instantiated on 16-lane vectors.
// Every operation is the scalar one lane-wise (explicit FMAs, IEEE sqrt, exact
// integer steps), so the values are bit-identical to prob::philox_normal on any
// ISA: tests/backend/test_cpu_noise.cpp checks that, for AVX-512, AVX2 and
// SSE builds alike.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../config.hpp"
#include "../../prob/philox.hpp"
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace dsae::detail::noise {

inline constexpr int lanes = 16;  // the stream's group layout: 16 counters x 4 slots

#if !defined(__CUDACC__)
struct vector_ops {
  typedef float F __attribute__((vector_size(lanes * 4)));
  typedef std::uint32_t U __attribute__((vector_size(lanes * 4)));
  typedef std::int32_t I __attribute__((vector_size(lanes * 4)));
  typedef std::uint64_t U64 __attribute__((vector_size(lanes * 8)));

  static F fmadd(F a, F b, F c) {
#if defined(__AVX512F__)
    return F(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c)));
#elif defined(__FMA__)
    return halves8(a, b, c, [](__m256 x, __m256 y, __m256 z) { return _mm256_fmadd_ps(x, y, z); });
#else
    F r;
    for (int l = 0; l < lanes; ++l) r[l] = std::fma(a[l], b[l], c[l]);  // correctly rounded, in software
    return r;
#endif
  }
  static F sqrt(F x) {
#if defined(__AVX512F__)
    return F(_mm512_sqrt_ps(__m512(x)));
#elif defined(__AVX__)
    return halves8(x, x, x, [](__m256 v, __m256, __m256) { return _mm256_sqrt_ps(v); });
#elif defined(__SSE2__)
    __m128 h[4];
    std::memcpy(h, &x, sizeof x);
    for (auto& v : h) v = _mm_sqrt_ps(v);
    std::memcpy(&x, h, sizeof x);
    return x;
#else
    for (int l = 0; l < lanes; ++l) x[l] = std::sqrt(x[l]);
    return x;
#endif
  }
  static U bits(F x) { return (U)x; }
  static F from_bits(U u) { return (F)u; }
  static I to_int(U u) { return (I)u; }
  static F to_float(I i) { return __builtin_convertvector(i, F); }

  // (hi, lo) of the 64-bit products a * m, lane-wise.
  static void mulhilo(std::uint32_t m, U a, U& hi, U& lo) {
    const U64 p = __builtin_convertvector(a, U64) * std::uint64_t(m);
    lo = __builtin_convertvector(p, U);
    hi = __builtin_convertvector(p >> 32, U);
  }

 private:
#if defined(__AVX__)
  template <class Op>
  static F halves8(F a, F b, F c, Op op) {
    __m256 x[2], y[2], z[2];
    std::memcpy(x, &a, sizeof a);
    std::memcpy(y, &b, sizeof b);
    std::memcpy(z, &c, sizeof c);
    x[0] = op(x[0], y[0], z[0]);
    x[1] = op(x[1], y[1], z[1]);
    F r;
    std::memcpy(&r, x, sizeof r);
    return r;
  }
#endif
};

// The 64 normals of group g (counters 16 g .. 16 g + 15), slot-major: out[s * 16 + lane].
inline void group(prob::noise_key key, std::uint64_t g, float* out) {
  using V = vector_ops;
  V::U c0, c1, c2, c3;
  const std::uint64_t k0 = g * lanes;
  for (int l = 0; l < lanes; ++l) {
    const std::uint64_t k = k0 + std::uint64_t(l);
    c0[l] = std::uint32_t(k);
    c1[l] = std::uint32_t(k >> 32);
  }
  c2 = V::U{} + key.stream;
  c3 = V::U{} + key.step;
  // Philox4x32-10 (Random123's round function and constants), lane-wise.
  std::uint32_t key0 = std::uint32_t(key.seed), key1 = std::uint32_t(key.seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
    V::U hi0, lo0, hi1, lo1;
    V::mulhilo(0xD2511F53u, c0, hi0, lo0);
    V::mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    c0 = hi1 ^ c1 ^ key0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ key1;
    c3 = lo0;
  }
  V::F n[4];
  box_muller<V>(c0, c1, n[0], n[1]);
  box_muller<V>(c2, c3, n[2], n[3]);
  std::memcpy(out, n, sizeof n);
}

#else
// nvcc rejects vector types in the host-device templates: under nvcc (the CUDA
// build of tests that also use cpu<T>) the CPU backend draws the same values
// with the scalar code.
inline void group(prob::noise_key key, std::uint64_t g, float* out) {
  for (int l = 0; l < lanes; ++l) {
    float v[4];
    prob::philox_normal4(key, g * lanes + std::uint64_t(l), v);
    for (int k = 0; k < 4; ++k) out[k * lanes + l] = v[k];
  }
}
#endif

// p[i] = prob::philox_normal(key, i0 + i) for i < n; i0 a multiple of 64.
template <class T>
inline void fill(T* p, std::uint64_t i0, index_t n, prob::noise_key key) {
  alignas(64) float buf[4 * lanes];
  for (index_t done = 0; done < n; done += 4 * lanes) {
    const index_t m = std::min<index_t>(4 * lanes, n - done);
    if constexpr (std::is_same_v<T, float>) {
      if (m == 4 * lanes) {
        group(key, (i0 + std::uint64_t(done)) / (4 * lanes), p + done);
        continue;
      }
    }
    group(key, (i0 + std::uint64_t(done)) / (4 * lanes), buf);
    for (index_t i = 0; i < m; ++i) p[done + i] = T(buf[i]);
  }
}

}  // namespace dsae::detail::noise
