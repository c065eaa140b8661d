#pragma once
// random_permutation: a uniform random permutation of 0..n-1 from the counter-based
// generator (Fisher-Yates on philox uniforms), so a batch order, a swap pairing or a
// train/val split depends only on (seed, stream, counter): the same on every backend,
// thread count and resume.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "philox.hpp"

namespace dsae::prob {

// ensures: a permutation of 0..n-1 (empty for n <= 0), a function of (n, key) only.
inline std::vector<index_t> random_permutation(index_t n, noise_key key) {
  std::vector<index_t> p(static_cast<std::size_t>(std::max<index_t>(n, 0)));
  for (index_t i = 0; i < n; ++i) p[std::size_t(i)] = i;
  for (index_t i = n - 1; i > 0; --i) {
    const auto j = index_t(philox_uniform(key, std::uint64_t(i)) * double(i + 1));
    std::swap(p[std::size_t(i)], p[std::size_t(std::min(j, i))]);
  }
  return p;
}

}  // namespace dsae::prob
