#pragma once
// FFTW (double) real-FFT plans shared by features, Griffin-Lim and pitch tracking.
// Plans are created once under a global mutex (FFTW's planner is not thread-safe) with
// FFTW_ESTIMATE, which picks the same algorithm on every run, so results are
// bit-reproducible. Execution uses the new-array interface, which FFTW documents as
// thread-safe, on buffers from fftw_malloc (same alignment as the planning buffers).
#include <fftw3.h>

#include <complex>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace dsae::audio::detail {

inline std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

struct fftw_deleter {
  void operator()(void* p) const { fftw_free(p); }
};
template <class T>
using fftw_buffer = std::unique_ptr<T[], fftw_deleter>;

template <class T>
fftw_buffer<T> fftw_alloc(std::size_t n) {
  void* p = fftw_malloc(sizeof(T) * (n ? n : 1));
  if (!p) throw std::bad_alloc();
  return fftw_buffer<T>(static_cast<T*>(p));
}

// A forward (r2c) and inverse (c2r) real FFT of size n. The inverse is unnormalised
// (FFTW convention): c2r(r2c(x)) = n * x. c2r destroys its complex input.
class real_fft {
 public:
  explicit real_fft(std::size_t n) : m_n(n) {
    if (n < 2) throw std::invalid_argument("real_fft: size " + std::to_string(n) + " < 2");
    auto in = fftw_alloc<double>(n);
    auto out = fftw_alloc<fftw_complex>(n / 2 + 1);
    std::lock_guard lock(fftw_planner_mutex());
    m_forward = fftw_plan_dft_r2c_1d(static_cast<int>(n), in.get(), out.get(), FFTW_ESTIMATE);
    m_inverse = fftw_plan_dft_c2r_1d(static_cast<int>(n), out.get(), in.get(),
                                     FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
    if (!m_forward || !m_inverse) throw std::runtime_error("real_fft: FFTW planning failed");
  }
  real_fft(const real_fft&) = delete;
  real_fft& operator=(const real_fft&) = delete;
  ~real_fft() {
    std::lock_guard lock(fftw_planner_mutex());
    if (m_forward) fftw_destroy_plan(m_forward);
    if (m_inverse) fftw_destroy_plan(m_inverse);
  }

  std::size_t size() const { return m_n; }
  std::size_t bins() const { return m_n / 2 + 1; }

  // in: n doubles, out: n/2+1 complex; both from fftw_alloc. Thread-safe.
  void forward(double* in, fftw_complex* out) const { fftw_execute_dft_r2c(m_forward, in, out); }
  // in: n/2+1 complex (destroyed), out: n doubles; both from fftw_alloc. Thread-safe.
  void inverse(fftw_complex* in, double* out) const { fftw_execute_dft_c2r(m_inverse, in, out); }

 private:
  std::size_t m_n;
  fftw_plan m_forward = nullptr;
  fftw_plan m_inverse = nullptr;
};

}  // namespace dsae::audio::detail
