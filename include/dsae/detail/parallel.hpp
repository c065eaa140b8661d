#pragma once
// Splitting row ranges across OpenMP threads. Results never depend on the
// thread count: every op that uses this writes disjoint rows, and reductions
// combine per-thread partials in a fixed order.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>
#include "../config.hpp"
#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace dsae::detail {

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// How many threads the backend's parallel regions use: OpenMP's maximum, less
// the cores other processes keep busy. A fork-join region whose threads share a
// core with another busy process waits at every barrier for the descheduled
// thread: with the second core taken (a second training, a build), 2 threads
// were 2-33x slower than 1 (docs/performance.md). On Linux the busy CPU time of
// the whole machine (/proc/stat) less this process's own (getrusage) is read at
// most every 0.5 s (first after 0.1 s); the cores left free, rounded, bound the count. Results do
// not depend on it (every op is thread-count independent). The cache is shared
// by the process's threads (atomics). DSAE_ADAPTIVE_THREADS=0 turns it off.
class thread_budget {
 public:
  static int threads(int max) {
    if (max <= 1) return max;
    static const bool on = [] {
      const char* e = std::getenv("DSAE_ADAPTIVE_THREADS");
      return !(e && std::strcmp(e, "0") == 0);
    }();
    if (!on) return max;
    static thread_budget b;
    b.refresh();
    const int free = b.m_free.load(std::memory_order_relaxed);
    return free <= 0 ? max : std::clamp(free, 1, max);
  }

 private:
  std::atomic<long long> m_last_ns{0};
  std::atomic<bool> m_busy{false};
  std::atomic<int> m_free{0};  // 0: not measured yet
  double m_cpu_busy_s = -1, m_own_s = 0;

  static long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void refresh() {
#if defined(__linux__)
    const long long t = now_ns(), last = m_last_ns.load(std::memory_order_relaxed);
    // The first interval is short, so that a short run adapts too.
    const bool second = m_free.load(std::memory_order_relaxed) == 0;
    if (last != 0 && t - last < (second ? 100'000'000 : 500'000'000)) return;
    bool expected = false;
    if (!m_busy.compare_exchange_strong(expected, true)) return;  // another thread measures
    double busy = 0;
    int cpus = 0;
    if (read_proc_stat(busy, cpus)) {
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      const double own = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
      if (m_cpu_busy_s >= 0 && last != 0) {
        const double wall = 1e-9 * double(t - last);
        const double others = std::max(0.0, (busy - m_cpu_busy_s) - (own - m_own_s)) / wall;
        m_free.store(std::max(1, int(double(cpus) - others + 0.5)), std::memory_order_relaxed);
      }
      m_cpu_busy_s = busy;
      m_own_s = own;
    }
    m_last_ns.store(t, std::memory_order_relaxed);
    m_busy.store(false);
#endif
  }
#if defined(__linux__)
  // Busy CPU seconds of the whole machine since boot, and the CPU count.
  static bool read_proc_stat(double& busy_s, int& cpus) {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return false;
    char line[512];
    bool ok = false;
    unsigned long long v[8] = {};
    cpus = 0;
    while (std::fgets(line, sizeof line, f)) {
      if (std::strncmp(line, "cpu ", 4) == 0)
        ok = std::sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", v, v + 1, v + 2, v + 3, v + 4, v + 5,
                         v + 6, v + 7) == 8;
      else if (std::strncmp(line, "cpu", 3) == 0)
        ++cpus;
      else
        break;
    }
    std::fclose(f);
    if (!ok || cpus == 0) return false;
    // user nice system idle iowait irq softirq steal: all but idle and iowait are taken.
    const double hz = double(sysconf(_SC_CLK_TCK));
    busy_s = double(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
    return true;
  }
#endif
};

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
  const int nt = thread_budget::threads(max_threads());
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
