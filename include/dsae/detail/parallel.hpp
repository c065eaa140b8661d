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

// Eigen's own GEMM threading off for this thread within a scope. The backend
// splits work across threads itself, with few coarse parallel regions; Eigen
// would otherwise fork a team for every mid-sized product (e.g. each LSTM
// step), which is slow and, on a loaded machine, catastrophic. Eigen reads
// omp_get_max_threads(), a per-thread OpenMP setting, unless a program sets
// Eigen::setNbThreads() itself; so nothing process-wide is changed here and
// two threads stepping two models do not interfere.
struct eigen_serial_scope {
#if defined(_OPENMP)
  int m_prev;
  eigen_serial_scope() : m_prev(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~eigen_serial_scope() { omp_set_num_threads(m_prev); }
#else
  eigen_serial_scope() = default;
#endif
  eigen_serial_scope(const eigen_serial_scope&) = delete;
  eigen_serial_scope& operator=(const eigen_serial_scope&) = delete;
};

// Calls f(begin, count) on contiguous chunks of [0, n) in parallel when the work
// (n * cost_per_row) is large enough to pay for a fork; serially otherwise.
template <class F>
void parallel_rows(index_t n, double cost_per_row, F&& f) {
  const int nt = max_threads();
  if (nt <= 1 || in_parallel() || double(n) * cost_per_row < 1.5e5 || n < 2) {
    eigen_serial_scope serial;  // products in f stay on this thread
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
