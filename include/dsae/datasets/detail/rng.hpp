#pragma once
// Portable seeded shuffling: std::mt19937_64's output sequence is fixed by the standard,
// but std::shuffle and the std distributions are not, so dataset selections use these.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace dsae::datasets::detail {

using rng64 = std::mt19937_64;

// Uniform integer in [0, n) by rejection (no modulo bias). requires: n >= 1.
inline std::uint64_t uniform_below(rng64& rng, std::uint64_t n) {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

// Fisher-Yates shuffle; the same permutation on every platform for the same rng state.
template <class T>
void shuffle(std::vector<T>& v, rng64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(uniform_below(rng, i));
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace dsae::datasets::detail
