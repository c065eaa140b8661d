#pragma once
// Counter-based Gaussian noise (Random123 Philox4x32-10), noise stream version 2.
//
// The standard-normal sample at element i of a tensor is a pure function of
// (seed, stream, step, i). One Philox call (key = seed, counter = (k low,
// k high, stream, step)) gives four 32-bit words; two float Box-Muller pairs
// turn them into four normals. Elements are laid out in groups of 64 so that a
// 16-lane vector unit fills whole registers: element i belongs to counter
// k = (i / 64) * 16 + i % 16 and is slot s = (i / 16) % 4 of it (slots 0, 1:
// the cosine and sine of the pair from words 0, 1; slots 2, 3: words 2, 3).
//
// Everything is float arithmetic in which every product that feeds a sum is an
// explicit fused multiply-add, every other operation is a single IEEE-rounded
// +, -, *, sqrt or an exact integer step. The compiler therefore has nothing to
// contract differently, and the scalar code below (CPU, OpenMP, CUDA) and the
// vector code of the CPU backend (backend/detail/cpu_noise.hpp, the same
// template instantiated on vector types) give bit-identical values on every
// ISA and thread count.
//
// Version 1 (before 2026-12-04) drew one Philox call per element and did a
// double Box-Muller with the C library's log/sin/cos: 20x slower, and the
// values differ. Checkpoints record the version (train/checkpoint.hpp).
#include <Random123/philox.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include "../config.hpp"

namespace dsae::prob {

// The version of the noise stream below; recorded in checkpoints.
inline constexpr int noise_stream_version = 2;

struct noise_key {
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;  // which tensor of the step (e.g. eps_v, eps_z, ...)
  std::uint32_t step = 0;    // optimiser step (or evaluation call) counter
};

}  // namespace dsae::prob

namespace dsae::detail::noise {

// The arithmetic of the noise on one float (Ops for the templates below). The
// CPU backend's vector Ops (backend/detail/cpu_noise.hpp) has the same members
// on vector types. Constants enter as F{} + c (a broadcast for vectors, exact).
struct scalar_ops {
  using F = float;
  using U = std::uint32_t;
  using I = std::int32_t;
  DSAE_HD static F fmadd(F a, F b, F c) {
#if defined(__CUDA_ARCH__)
    return fmaf(a, b, c);
#else
    return std::fma(a, b, c);
#endif
  }
  DSAE_HD static U bits(F x) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(x);
#else
    U u;
    std::memcpy(&u, &x, 4);
    return u;
#endif
  }
  DSAE_HD static F from_bits(U u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    F x;
    std::memcpy(&x, &u, 4);
    return x;
#endif
  }
  DSAE_HD static I to_int(U u) { return I(u); }  // values < 2^31 here
  DSAE_HD static F to_float(I i) { return F(i); }
  DSAE_HD static F sqrt(F x) {
#if defined(__CUDA_ARCH__)
    return __fsqrt_rn(x);
#else
    return std::sqrt(x);
#endif
  }
};

// ln(u) for u in [2^-24, 1] (Cephes-style: u = m 2^e, m in [sqrt(1/2), sqrt(2)),
// ln(1 + x) = x - x^2/2 + x^3 P(x), x = m - 1 exact). ~1 ulp.
template <class Ops>
DSAE_HD inline typename Ops::F log_unit(typename Ops::F u) {
  using F = typename Ops::F;
  using U = typename Ops::U;
  using I = typename Ops::I;
  const U bits = Ops::bits(u);
  I e = Ops::to_int(bits >> 23) - 127;
  F m = Ops::from_bits((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const auto big = m > 1.41421356f;
  m = big ? m * 0.5f : m;  // exact
  e = big ? e + 1 : e;
  const F x = m - 1.0f;  // exact (Sterbenz)
  const F z = x * x;
  F p = F{} + 7.0376836292e-2f;
  p = Ops::fmadd(p, x, F{} - 1.1514610310e-1f);
  p = Ops::fmadd(p, x, F{} + 1.1676998740e-1f);
  p = Ops::fmadd(p, x, F{} - 1.2420140846e-1f);
  p = Ops::fmadd(p, x, F{} + 1.4249322787e-1f);
  p = Ops::fmadd(p, x, F{} - 1.6668057665e-1f);
  p = Ops::fmadd(p, x, F{} + 2.0000714765e-1f);
  p = Ops::fmadd(p, x, F{} - 2.4999993993e-1f);
  p = Ops::fmadd(p, x, F{} + 3.3333331174e-1f);
  const F ef = Ops::to_float(e);
  F y = (x * z) * p;                                      // x^3 P(x)
  y = Ops::fmadd(ef, F{} - 2.12194440e-4f, y);            // low part of e ln 2
  y = Ops::fmadd(z, F{} - 0.5f, y);                       // - x^2 / 2
  return Ops::fmadd(ef, F{} + 0.693359375f, x + y);       // high part of e ln 2 (exact product)
}

// (cos, sin) of 2 pi j / 2^24 for an integer j in [0, 2^24): the nearest
// quarter turn and the offset from it are exact integer steps; sin/cos of the
// offset, in [-pi/4, pi/4], by Cephes' minimax polynomials.
template <class Ops>
DSAE_HD inline void sincos_turns(typename Ops::U j, typename Ops::F& c, typename Ops::F& s) {
  using F = typename Ops::F;
  using U = typename Ops::U;
  using I = typename Ops::I;
  const U q = (j + (1u << 21)) >> 22;                          // 0..4
  const I off = Ops::to_int(j) - Ops::to_int(q << 22);        // [-2^21, 2^21]
  const F x = Ops::to_float(off) * 3.74507028e-07f;           // float(pi / 2) 2^-22: exact scaling
  const F z = x * x;
  F ps = F{} - 1.9515295891e-4f;
  ps = Ops::fmadd(ps, z, F{} + 8.3321608736e-3f);
  ps = Ops::fmadd(ps, z, F{} - 1.6666654611e-1f);
  const F sx = Ops::fmadd(ps * z, x, x);
  F pc = F{} + 2.443315711809948e-5f;
  pc = Ops::fmadd(pc, z, F{} - 1.388731625493765e-3f);
  pc = Ops::fmadd(pc, z, F{} + 4.166664568298827e-2f);
  const F cx = Ops::fmadd(pc * z, z, Ops::fmadd(z, F{} - 0.5f, F{} + 1.0f));
  // Rotate by the quadrant: q = 0: (c, s); 1: (-s, c); 2: (-c, -s); 3: (s, -c).
  const U qm = q & 3u;
  const auto odd = (qm & 1u) != 0u;
  const F c0 = odd ? -sx : cx, s0 = odd ? cx : sx;
  const auto neg = qm >= 2u;
  c = neg ? -c0 : c0;
  s = neg ? -s0 : s0;
}

// One Box-Muller pair from two 32-bit words: radius from w0, angle from w1.
template <class Ops>
DSAE_HD inline void box_muller(typename Ops::U w0, typename Ops::U w1, typename Ops::F& n0, typename Ops::F& n1) {
  using F = typename Ops::F;
  const F u1 = Ops::to_float(Ops::to_int((w0 >> 8) + 1u)) * 5.96046448e-08f;  // (0, 1] in 2^-24 steps, exact
  const F rad = Ops::sqrt(log_unit<Ops>(u1) * -2.0f);
  F c, s;
  sincos_turns<Ops>(w1 >> 8, c, s);
  n0 = rad * c;
  n1 = rad * s;
}

// Philox4x32-10 of a 64-bit block counter under a key.
DSAE_HD inline r123::Philox4x32::ctr_type philox_block(prob::noise_key key, std::uint64_t k) {
  using gen = r123::Philox4x32;
  gen::ctr_type c = {{std::uint32_t(k), std::uint32_t(k >> 32), key.stream, key.step}};
  gen::key_type kk = {{std::uint32_t(key.seed), std::uint32_t(key.seed >> 32)}};
  return gen()(c, kk);
}

}  // namespace dsae::detail::noise

namespace dsae::prob {

// The block counter and slot of element i (see the layout above).
DSAE_HD inline std::uint64_t noise_counter(std::uint64_t i) { return ((i >> 6) << 4) | (i & 15u); }
DSAE_HD inline int noise_slot(std::uint64_t i) { return int((i >> 4) & 3u); }

// The four normals of block counter k: out[s] is slot s.
DSAE_HD inline void philox_normal4(noise_key key, std::uint64_t k, float out[4]) {
  const auto r = detail::noise::philox_block(key, k);
  detail::noise::box_muller<detail::noise::scalar_ops>(r[0], r[1], out[0], out[1]);
  detail::noise::box_muller<detail::noise::scalar_ops>(r[2], r[3], out[2], out[3]);
}

// The standard-normal sample for element `i` under `key`.
DSAE_HD inline float philox_normal(noise_key key, std::uint64_t i) {
  float v[4];
  philox_normal4(key, noise_counter(i), v);
  return v[noise_slot(i)];
}

// Uniform in [0, 1) for element `i` under `key` (used for initialisation and
// permutations; unchanged since version 1).
DSAE_HD inline double philox_uniform(noise_key key, std::uint64_t i) {
  using gen = r123::Philox4x32;
  gen::ctr_type c = {{std::uint32_t(i), std::uint32_t(i >> 32), key.stream, key.step ^ 0x9e3779b9u}};
  gen::key_type k = {{std::uint32_t(key.seed), std::uint32_t(key.seed >> 32)}};
  const gen::ctr_type r = gen()(c, k);
  const std::uint64_t a = (std::uint64_t(r[0]) << 21) ^ (std::uint64_t(r[1]) >> 11);
  return double(a & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace dsae::prob
