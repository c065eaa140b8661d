#pragma once
// Splitting row ranges across OpenMP threads. Results never depend on the
// thread count: every op that uses this writes disjoint rows, and reductions
// combine per-thread partials in a fixed order.
#include <algorithm>
#include "../config.hpp"
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dsae::detail {

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline bool in_parallel() {
#if defined(_OPENMP)
  return omp_in_parallel();
#else
  return false;
#endif
}

// Calls f(begin, count) on contiguous chunks of [0, n) in parallel when the work
// (n * cost_per_row) is large enough to pay for a fork; serially otherwise.
template <class F>
void parallel_rows(index_t n, double cost_per_row, F&& f) {
  const int nt = max_threads();
  if (nt <= 1 || in_parallel() || double(n) * cost_per_row < 1.5e5 || n < 2) {
    f(index_t(0), n);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), k = omp_get_num_threads();
    const index_t b = n * t / k, e = n * (t + 1) / k;
    if (e > b) f(b, e - b);
  }
#endif
}

}  // namespace dsae::detail
