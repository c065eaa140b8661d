#pragma once
// Splitting row ranges across OpenMP threads. Results never depend on the
// thread count: every op that uses this writes disjoint rows, and reductions
// combine per-thread partials in a fixed order.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <utility>
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

// Threads for `work` independent items: the requested count (0 = OpenMP's default), never
// more than the cores or the items (each thread may hold a large per-thread state, e.g. a
// FluidSynth synthesizer, so --threads 4096 must not allocate 4096 of them). At least 1.
inline int worker_threads(long long requested, std::size_t work) {
  long long n = requested > 0 ? requested : max_threads();
#if defined(_OPENMP)
  n = std::min<long long>(n, std::max(1, omp_get_num_procs()));
#endif
  n = std::min<long long>(n, (long long)std::min<std::size_t>(work, std::size_t(1) << 20));
  return int(std::max<long long>(n, 1));
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

// An exception that leaves an OpenMP region terminates the process (std::terminate, SIGABRT):
// every parallel region runs its body through an exception_slot, which keeps the first
// exception and lets the other iterations finish quickly; rethrow() after the region then
// turns it into an ordinary error of the calling thread.
//
//   detail::exception_slot errors;
//   #pragma omp parallel for              // a loop: one run() per iteration
//   for (i = ...) errors.run([&] { body(i); });
//   errors.rethrow();
//
//   #pragma omp parallel                  // a whole region: one run() per thread
//   errors.run([&] { ... });              // (no worksharing construct inside run())
//   errors.rethrow();
class exception_slot {
 public:
  // Runs f() unless an earlier call failed; captures what f throws.
  template <class F>
  void run(F&& f) noexcept {
    if (m_failed.load(std::memory_order_relaxed)) return;
    try {
      f();
    } catch (...) {
      capture(std::current_exception());
    }
  }
  void capture(std::exception_ptr e) noexcept {
    std::lock_guard lock(m_mutex);
    if (!m_error) m_error = std::move(e);
    m_failed.store(true, std::memory_order_relaxed);
  }
  bool failed() const noexcept { return m_failed.load(std::memory_order_relaxed); }
  // Rethrows the first captured exception, if any (call after the region).
  void rethrow() {
    if (m_error) std::rethrow_exception(std::exchange(m_error, nullptr));
  }

 private:
  std::mutex m_mutex;
  std::exception_ptr m_error;
  std::atomic<bool> m_failed{false};
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
  exception_slot errors;  // e.g. std::bad_alloc in one thread: an error, not SIGABRT
#pragma omp parallel num_threads(nt)
  errors.run([&] {
    const int t = omp_get_thread_num(), k = omp_get_num_threads();
    const index_t b = n * t / k, e = n * (t + 1) / k;
    if (e > b) f(b, e - b);
  });
  errors.rethrow();
#endif
}

}  // namespace dsae::detail
