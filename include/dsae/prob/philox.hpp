#pragma once
// Counter-based Gaussian noise (Random123 Philox4x32-10).
//
// The standard-normal sample at element i of a tensor is a pure function of
// (seed, stream, step, i): key = seed, counter = (i / 2 low, i / 2 high, stream,
// step). One Philox call gives two 53-bit uniforms and Box-Muller turns them into
// two normals, for elements 2k and 2k + 1. Any thread count, any backend (CPU,
// OMP, CUDA) produces the same values; the arithmetic is done in double and
// rounded once to the scalar type.
#include <Random123/philox.h>
#include <cmath>
#include <cstdint>
#include "../config.hpp"

namespace dsae::prob {

struct noise_key {
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;  // which tensor of the step (e.g. eps_v, eps_z, ...)
  std::uint32_t step = 0;    // optimiser step (or evaluation call) counter
};

// Returns the standard-normal sample for element `i` under `key`.
DSAE_HD inline double philox_normal(noise_key key, std::uint64_t i) {
  using gen = r123::Philox4x32;
  const std::uint64_t pair = i >> 1;
  gen::ctr_type c = {{std::uint32_t(pair), std::uint32_t(pair >> 32), key.stream, key.step}};
  gen::key_type k = {{std::uint32_t(key.seed), std::uint32_t(key.seed >> 32)}};
  const gen::ctr_type r = gen()(c, k);
  constexpr double two_m53 = 1.0 / 9007199254740992.0;  // 2^-53
  // 53-bit uniforms in (0, 1]: never 0, so log() is finite.
  const std::uint64_t a = (std::uint64_t(r[0]) << 21) ^ (std::uint64_t(r[1]) >> 11);
  const std::uint64_t b = (std::uint64_t(r[2]) << 21) ^ (std::uint64_t(r[3]) >> 11);
  const double u1 = (double(a & ((1ull << 53) - 1)) + 1.0) * two_m53;
  const double u2 = double(b & ((1ull << 53) - 1)) * two_m53;
  const double rad = std::sqrt(-2.0 * std::log(u1));
  const double ang = 6.283185307179586476925286766559 * u2;
  return (i & 1) ? rad * std::sin(ang) : rad * std::cos(ang);
}

// Uniform in [0, 1) for element `i` under `key` (used for initialisation).
DSAE_HD inline double philox_uniform(noise_key key, std::uint64_t i) {
  using gen = r123::Philox4x32;
  gen::ctr_type c = {{std::uint32_t(i), std::uint32_t(i >> 32), key.stream, key.step ^ 0x9e3779b9u}};
  gen::key_type k = {{std::uint32_t(key.seed), std::uint32_t(key.seed >> 32)}};
  const gen::ctr_type r = gen()(c, k);
  const std::uint64_t a = (std::uint64_t(r[0]) << 21) ^ (std::uint64_t(r[1]) >> 11);
  return double(a & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace dsae::prob
