#pragma once
// Log-mel features (spec/data.md, = torchaudio.transforms.MelSpectrogram defaults as used
// by the reference) and their inverse for listening.
//
// Public API (namespace dsae::audio):
//   mel_config                  sample rate, n_fft, hop, n_mels, f_min, f_max, log offset
//   hz_to_mel_htk, mel_to_hz_htk   m = 2595 log10(1 + f/700) and its inverse
//   mel_filterbank(cfg)         (n_fft/2+1) x n_mels triangular HTK filters, no area norm
//   log_mel                     STFT power -> mel -> natural log; thread-safe; batch on
//                               all cores. 64,000 samples -> 251 x 80 (T x F), float32
//   stft_power(x, n_fft, hop)   T x (n_fft/2+1) power spectrogram, centred, reflect pad
//   inverse_mel(mel_power, cfg) non-negative least squares per frame (FISTA)
//   griffin_lim(power, gl_cfg)  fast Griffin-Lim (torchaudio's algorithm), 32 iterations,
//                               momentum 0.99, power 2 -> waveform of gl_cfg.length
//   log_mel_to_audio(logmel)    exp -> inverse_mel -> griffin_lim
//
// STFT definition: periodic Hann window of n_fft, centred frames with reflect padding of
// n_fft/2 on both sides, one-sided, |X|^2; frames = 1 + len/hop. Maths is in double (FFTW),
// features are stored as float.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../detail/parallel.hpp"
#include "detail/fft.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dsae::audio {

// requires: sample_rate > 0, n_fft >= 2 (even), hop >= 1, n_mels >= 1,
//           0 <= f_min < f_max <= sample_rate/2.
struct mel_config {
  double sample_rate = 16000.0;
  int n_fft = 2048;
  int hop = 256;
  int n_mels = 80;
  double f_min = 0.0;
  double f_max = 8000.0;
  double log_offset = 2.220446049250313e-16;  // natural log(mel + offset)
};

inline double hz_to_mel_htk(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
inline double mel_to_hz_htk(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

namespace detail {

inline void validate(const mel_config& c) {
  if (!(c.sample_rate > 0) || c.n_fft < 2 || c.n_fft % 2 || c.hop < 1 || c.n_mels < 1 ||
      !(c.f_min >= 0) || !(c.f_max > c.f_min) || c.f_max > c.sample_rate / 2 + 1e-9)
    throw std::invalid_argument(
        "mel_config: need sample_rate > 0, even n_fft >= 2, hop >= 1, n_mels >= 1, "
        "0 <= f_min < f_max <= sample_rate/2 (got sample_rate=" + std::to_string(c.sample_rate) +
        ", n_fft=" + std::to_string(c.n_fft) + ", hop=" + std::to_string(c.hop) +
        ", n_mels=" + std::to_string(c.n_mels) + ", f_min=" + std::to_string(c.f_min) +
        ", f_max=" + std::to_string(c.f_max) + ")");
}

// Periodic Hann window: w[n] = 0.5 - 0.5 cos(2 pi n / N).
inline std::vector<double> hann_periodic(std::size_t n) {
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i)
    w[i] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * double(i) / double(n));
  return w;
}

// Sample of x at index i of the reflect-padded signal (pad on both sides, edge excluded,
// as torch.nn.functional.pad(mode="reflect")). requires: x.size() > pad.
inline double reflect_at(std::span<const float> x, std::ptrdiff_t i) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(x.size());
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return static_cast<double>(x[static_cast<std::size_t>(i)]);
}

// Non-zero column ranges of a filterbank, for a sparse mel product.
struct sparse_filters {
  std::vector<std::size_t> begin, end;  // per mel: [begin, end) over frequency bins
  std::vector<double> weights;          // concatenated weights
  std::vector<std::size_t> offset;      // per mel: start in weights
};

}  // namespace detail

// Triangular HTK mel filters, (n_fft/2+1) x n_mels, exactly as torchaudio's
// melscale_fbanks(norm=None, mel_scale="htk"). ensures: entries in [0, 1].
inline xt::xtensor<double, 2> mel_filterbank(const mel_config& cfg) {
  detail::validate(cfg);
  const std::size_t n_freqs = static_cast<std::size_t>(cfg.n_fft / 2 + 1);
  const std::size_t n_mels = static_cast<std::size_t>(cfg.n_mels);
  std::vector<double> all_freqs(n_freqs);
  for (std::size_t i = 0; i < n_freqs; ++i)
    all_freqs[i] = (cfg.sample_rate / 2) * double(i) / double(n_freqs - 1);
  const double m_min = hz_to_mel_htk(cfg.f_min), m_max = hz_to_mel_htk(cfg.f_max);
  std::vector<double> f_pts(n_mels + 2);
  for (std::size_t i = 0; i < n_mels + 2; ++i)
    f_pts[i] = mel_to_hz_htk(m_min + (m_max - m_min) * double(i) / double(n_mels + 1));
  xt::xtensor<double, 2> fb = xt::zeros<double>({n_freqs, n_mels});
  for (std::size_t f = 0; f < n_freqs; ++f)
    for (std::size_t m = 0; m < n_mels; ++m) {
      const double down = (all_freqs[f] - f_pts[m]) / (f_pts[m + 1] - f_pts[m]);
      const double up = (f_pts[m + 2] - all_freqs[f]) / (f_pts[m + 2] - f_pts[m + 1]);
      fb(f, m) = std::max(0.0, std::min(down, up));
    }
  return fb;
}

// Power spectrogram |STFT|^2, T x (n_fft/2+1) with T = 1 + x.size()/hop.
// requires: x.size() > n_fft/2 (reflect padding).
xt::xtensor<double, 2> stft_power(std::span<const float> x, int n_fft = 2048, int hop = 256);

// Log-mel extractor. Holds the filterbank and FFT plans; operator() and batch() are
// thread-safe and allocate only their own scratch buffers.
class log_mel {
 public:
  explicit log_mel(mel_config cfg = {})
      : m_cfg(cfg), m_fft((detail::validate(cfg), static_cast<std::size_t>(cfg.n_fft))),
        m_window(detail::hann_periodic(static_cast<std::size_t>(cfg.n_fft))),
        m_fb(mel_filterbank(cfg)) {
    const std::size_t n_freqs = m_fb.shape(0), n_mels = m_fb.shape(1);
    for (std::size_t m = 0; m < n_mels; ++m) {
      std::size_t b = n_freqs, e = 0;
      for (std::size_t f = 0; f < n_freqs; ++f)
        if (m_fb(f, m) > 0) {
          b = std::min(b, f);
          e = f + 1;
        }
      if (b >= e) b = e = 0;  // an empty filter (too many mels for n_fft) stays zero
      m_sparse.begin.push_back(b);
      m_sparse.end.push_back(e);
      m_sparse.offset.push_back(m_sparse.weights.size());
      for (std::size_t f = b; f < e; ++f) m_sparse.weights.push_back(m_fb(f, m));
    }
  }

  const mel_config& config() const { return m_cfg; }
  const xt::xtensor<double, 2>& filterbank() const { return m_fb; }
  std::size_t frames(std::size_t n_samples) const {
    return 1 + n_samples / static_cast<std::size_t>(m_cfg.hop);
  }
  std::size_t bins() const { return static_cast<std::size_t>(m_cfg.n_mels); }

  // Log-mel of one clip. requires: x.size() > n_fft/2; ensures: frames(x.size()) x n_mels.
  xt::xtensor<float, 2> operator()(std::span<const float> x) const {
    xt::xtensor<float, 2> out = xt::zeros<float>({frames(x.size()), bins()});
    compute_into(x, std::span<float>(out.data(), out.size()));
    return out;
  }

  // As operator(), writing frames(x.size())*n_mels floats (row-major T x F) into out.
  void compute_into(std::span<const float> x, std::span<float> out) const {
    check_length(x.size());
    const std::size_t T = frames(x.size()), F = bins();
    if (out.size() != T * F)
      throw std::invalid_argument("log_mel::compute_into: output has " +
                                  std::to_string(out.size()) + " values, expected " +
                                  std::to_string(T) + " x " + std::to_string(F));
    const std::size_t n = m_fft.size(), nb = m_fft.bins();
    auto frame = detail::fftw_alloc<double>(n);
    auto spec = detail::fftw_alloc<fftw_complex>(nb);
    std::vector<double> power(nb);
    const std::ptrdiff_t half = static_cast<std::ptrdiff_t>(n / 2);
    for (std::size_t t = 0; t < T; ++t) {
      const std::ptrdiff_t start = static_cast<std::ptrdiff_t>(t) * m_cfg.hop - half;
      if (start >= 0 && start + static_cast<std::ptrdiff_t>(n) <= static_cast<std::ptrdiff_t>(x.size())) {
        const float* src = x.data() + start;  // interior frame: no padding needed
        for (std::size_t k = 0; k < n; ++k) frame[k] = m_window[k] * double(src[k]);
      } else {
        for (std::size_t k = 0; k < n; ++k)
          frame[k] = m_window[k] * detail::reflect_at(x, start + static_cast<std::ptrdiff_t>(k));
      }
      m_fft.forward(frame.get(), spec.get());
      for (std::size_t k = 0; k < nb; ++k)
        power[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
      for (std::size_t m = 0; m < F; ++m) {
        double acc = 0.0;
        const double* w = m_sparse.weights.data() + m_sparse.offset[m];
        for (std::size_t f = m_sparse.begin[m]; f < m_sparse.end[m]; ++f) acc += power[f] * *w++;
        out[t * F + m] = static_cast<float>(std::log(acc + m_cfg.log_offset));
      }
    }
  }

  // Log-mel of every row of clips (N x samples) on `threads` workers (0 = all).
  // ensures: N x T x F, identical for any thread count.
  xt::xtensor<float, 3> batch(const xt::xtensor<float, 2>& clips, int threads = 0) const {
    const std::size_t N = clips.shape(0), L = clips.shape(1);
    check_length(L);
    const std::size_t T = frames(L), F = bins();
    xt::xtensor<float, 3> out = xt::zeros<float>({N, T, F});
    [[maybe_unused]] int nt = 1;
#ifdef _OPENMP
    nt = threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
#endif
    dsae::detail::exception_slot errors;  // a throw inside the region must not abort
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(N); ++i)
      errors.run([&] {
        compute_into(std::span<const float>(clips.data() + std::size_t(i) * L, L),
                     std::span<float>(out.data() + std::size_t(i) * T * F, T * F));
      });
    errors.rethrow();
    return out;
  }

 private:
  void check_length(std::size_t n) const {
    if (n <= static_cast<std::size_t>(m_cfg.n_fft / 2))
      throw std::invalid_argument("log_mel: signal of " + std::to_string(n) +
                                  " samples is too short for reflect padding of " +
                                  std::to_string(m_cfg.n_fft / 2) + " (need more)");
  }

  mel_config m_cfg;
  detail::real_fft m_fft;
  std::vector<double> m_window;
  xt::xtensor<double, 2> m_fb;
  detail::sparse_filters m_sparse;
};

inline xt::xtensor<double, 2> stft_power(std::span<const float> x, int n_fft, int hop) {
  if (n_fft < 2 || n_fft % 2 || hop < 1)
    throw std::invalid_argument("stft_power: need even n_fft >= 2 and hop >= 1 (got n_fft=" +
                                std::to_string(n_fft) + ", hop=" + std::to_string(hop) + ")");
  if (x.size() <= static_cast<std::size_t>(n_fft / 2))
    throw std::invalid_argument("stft_power: signal of " + std::to_string(x.size()) +
                                " samples is too short for n_fft " + std::to_string(n_fft));
  const std::size_t n = static_cast<std::size_t>(n_fft), nb = n / 2 + 1;
  const std::size_t T = 1 + x.size() / static_cast<std::size_t>(hop);
  detail::real_fft fft(n);
  const auto window = detail::hann_periodic(n);
  auto frame = detail::fftw_alloc<double>(n);
  auto spec = detail::fftw_alloc<fftw_complex>(nb);
  xt::xtensor<double, 2> out = xt::zeros<double>({T, nb});
  for (std::size_t t = 0; t < T; ++t) {
    const std::ptrdiff_t start = static_cast<std::ptrdiff_t>(t) * hop - n_fft / 2;
    for (std::size_t k = 0; k < n; ++k)
      frame[k] = window[k] * detail::reflect_at(x, start + static_cast<std::ptrdiff_t>(k));
    fft.forward(frame.get(), spec.get());
    for (std::size_t k = 0; k < nb; ++k)
      out(t, k) = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
  }
  return out;
}

// ---- inverse ------------------------------------------------------------------------

// requires: iterations >= 1.
struct inverse_mel_config {
  int iterations = 200;  // FISTA iterations per frame
};

// Non-negative least squares per frame: argmin_{s >= 0} || fb^T s - mel ||^2, solved with
// FISTA (accelerated projected gradient, step 1/L, L = largest eigenvalue of fb^T fb),
// started from the filter-weighted average of the mel values covering each bin.
// mel_power: T x n_mels (linear power, not log). ensures: T x (n_fft/2+1), all >= 0.
inline xt::xtensor<double, 2> inverse_mel(const xt::xtensor<double, 2>& mel_power,
                                          const mel_config& cfg = {},
                                          inverse_mel_config icfg = {}) {
  const xt::xtensor<double, 2> fb = mel_filterbank(cfg);
  const std::size_t nf = fb.shape(0), nm = fb.shape(1), T = mel_power.shape(0);
  if (mel_power.shape(1) != nm)
    throw std::invalid_argument("inverse_mel: mel spectrogram has " +
                                std::to_string(mel_power.shape(1)) + " bins, expected " +
                                std::to_string(nm));
  if (icfg.iterations < 1) throw std::invalid_argument("inverse_mel: iterations < 1");
  // L = lambda_max(fb^T fb) by power iteration on the n_mels x n_mels Gram matrix.
  std::vector<double> gram(nm * nm, 0.0);
  for (std::size_t f = 0; f < nf; ++f)
    for (std::size_t a = 0; a < nm; ++a)
      if (fb(f, a) != 0)
        for (std::size_t b = 0; b < nm; ++b) gram[a * nm + b] += fb(f, a) * fb(f, b);
  std::vector<double> v(nm, 1.0), w(nm);
  double lmax = 1.0;
  for (int it = 0; it < 100; ++it) {
    for (std::size_t a = 0; a < nm; ++a) {
      double acc = 0;
      for (std::size_t b = 0; b < nm; ++b) acc += gram[a * nm + b] * v[b];
      w[a] = acc;
    }
    double norm = 0;
    for (double x : w) norm += x * x;
    norm = std::sqrt(norm);
    if (norm == 0) break;
    lmax = norm;
    for (std::size_t a = 0; a < nm; ++a) v[a] = w[a] / norm;
  }
  const double step = 1.0 / (lmax * 1.01);
  // Per frequency bin, the (mel, weight) pairs of the filters covering it (at most two
  // for triangular filters), so each FISTA step costs O(n_freqs).
  std::vector<std::size_t> nz_begin(nf + 1, 0), nz_mel;
  std::vector<double> nz_w, colsum(nf, 0.0);
  for (std::size_t f = 0; f < nf; ++f) {
    nz_begin[f] = nz_mel.size();
    for (std::size_t m = 0; m < nm; ++m)
      if (fb(f, m) > 0) {
        nz_mel.push_back(m);
        nz_w.push_back(fb(f, m));
        colsum[f] += fb(f, m);
      }
  }
  nz_begin[nf] = nz_mel.size();

  xt::xtensor<double, 2> out = xt::zeros<double>({T, nf});
  dsae::detail::exception_slot errors;  // std::bad_alloc in a thread: an error, not SIGABRT
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t ti = 0; ti < static_cast<std::ptrdiff_t>(T); ++ti) errors.run([&] {
    const std::size_t t = static_cast<std::size_t>(ti);
    std::vector<double> s(nf), y(nf), prev(nf), resid(nm);
    for (std::size_t f = 0; f < nf; ++f) {
      double acc = 0;
      for (std::size_t j = nz_begin[f]; j < nz_begin[f + 1]; ++j)
        acc += nz_w[j] * std::max(0.0, mel_power(t, nz_mel[j]));
      s[f] = colsum[f] > 0 ? acc / colsum[f] : 0.0;
    }
    y = s;
    double tk = 1.0;
    for (int it = 0; it < icfg.iterations; ++it) {
      for (std::size_t m = 0; m < nm; ++m) resid[m] = -mel_power(t, m);
      for (std::size_t f = 0; f < nf; ++f)
        for (std::size_t j = nz_begin[f]; j < nz_begin[f + 1]; ++j)
          resid[nz_mel[j]] += nz_w[j] * y[f];
      prev = s;
      for (std::size_t f = 0; f < nf; ++f) {
        double g = 0;
        for (std::size_t j = nz_begin[f]; j < nz_begin[f + 1]; ++j) g += nz_w[j] * resid[nz_mel[j]];
        s[f] = std::max(0.0, y[f] - step * g);
      }
      const double tn = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * tk * tk));
      for (std::size_t f = 0; f < nf; ++f) y[f] = s[f] + ((tk - 1.0) / tn) * (s[f] - prev[f]);
      tk = tn;
    }
    for (std::size_t f = 0; f < nf; ++f) out(t, f) = s[f];
  });
  errors.rethrow();
  return out;
}

// requires: n_iter >= 0, 0 <= momentum < 1, power > 0, even n_fft >= 2, hop >= 1, length >= 1.
struct griffin_lim_config {
  int n_iter = 32;
  double momentum = 0.99;
  double power = 2.0;  // the input spectrogram is |X|^power
  int n_fft = 2048;
  int hop = 256;
  std::size_t length = 64000;
  bool rand_init = true;    // random initial phases (torchaudio's default)
  std::uint64_t seed = 0;   // seeds the initial phases: same input -> same waveform
};

namespace detail {

// Inverse STFT as torch.istft(center=True, periodic Hann, onesided): overlap-add of
// windowed irfft frames, divided by the summed squared window, trimmed by n_fft/2.
inline std::vector<double> istft(const std::vector<std::complex<double>>& spec, std::size_t T,
                                 const real_fft& fft, const std::vector<double>& window,
                                 std::size_t hop, std::size_t length) {
  const std::size_t n = fft.size(), nb = fft.bins();
  const std::size_t full = n + hop * (T - 1);
  std::vector<double> acc(full, 0.0), env(full, 0.0);
  auto c = fftw_alloc<fftw_complex>(nb);
  auto r = fftw_alloc<double>(n);
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t k = 0; k < nb; ++k) {
      c[k][0] = spec[t * nb + k].real();
      c[k][1] = (k == 0 || k == nb - 1) ? 0.0 : spec[t * nb + k].imag();
    }
    fft.inverse(c.get(), r.get());
    for (std::size_t k = 0; k < n; ++k) {
      acc[t * hop + k] += r[k] / double(n) * window[k];
      env[t * hop + k] += window[k] * window[k];
    }
  }
  std::vector<double> y(length, 0.0);
  const std::size_t off = n / 2;
  for (std::size_t i = 0; i < length && off + i < full; ++i)
    y[i] = env[off + i] > 1e-11 ? acc[off + i] / env[off + i] : 0.0;
  return y;
}

inline void stft_complex(std::span<const double> x, const real_fft& fft,
                         const std::vector<double>& window, std::size_t hop, std::size_t T,
                         std::vector<std::complex<double>>& out) {
  const std::size_t n = fft.size(), nb = fft.bins();
  const std::ptrdiff_t len = static_cast<std::ptrdiff_t>(x.size());
  auto frame = fftw_alloc<double>(n);
  auto spec = fftw_alloc<fftw_complex>(nb);
  out.resize(T * nb);
  for (std::size_t t = 0; t < T; ++t) {
    const std::ptrdiff_t start = static_cast<std::ptrdiff_t>(t * hop) - static_cast<std::ptrdiff_t>(n / 2);
    for (std::size_t k = 0; k < n; ++k) {
      std::ptrdiff_t i = start + static_cast<std::ptrdiff_t>(k);
      if (i < 0) i = -i;
      if (i >= len) i = 2 * (len - 1) - i;
      frame[k] = window[k] * x[static_cast<std::size_t>(i)];
    }
    fft.forward(frame.get(), spec.get());
    for (std::size_t k = 0; k < nb; ++k) out[t * nb + k] = {spec[k][0], spec[k][1]};
  }
}

}  // namespace detail

// Fast Griffin-Lim (Perraudin et al. 2013) exactly as torchaudio.functional.griffinlim:
// phases from the STFT of the current estimate, minus momentum/(1+momentum) times the
// previous rebuilt STFT, normalised to unit modulus.
// spec: T x (n_fft/2+1) holding |X|^power. ensures: gl.length samples.
inline std::vector<float> griffin_lim(const xt::xtensor<double, 2>& spec,
                                      const griffin_lim_config& gl = {}) {
  if (gl.n_iter < 0 || !(gl.momentum >= 0 && gl.momentum < 1) || !(gl.power > 0) ||
      gl.n_fft < 2 || gl.n_fft % 2 || gl.hop < 1 || gl.length < 1)
    throw std::invalid_argument("griffin_lim: invalid config (n_iter=" + std::to_string(gl.n_iter) +
                                ", momentum=" + std::to_string(gl.momentum) +
                                ", n_fft=" + std::to_string(gl.n_fft) + ")");
  const std::size_t n = static_cast<std::size_t>(gl.n_fft), nb = n / 2 + 1;
  if (spec.shape(1) != nb || spec.shape(0) < 1)
    throw std::invalid_argument("griffin_lim: spectrogram is " + std::to_string(spec.shape(0)) +
                                " x " + std::to_string(spec.shape(1)) + ", expected T x " +
                                std::to_string(nb));
  const std::size_t T = spec.shape(0), hop = static_cast<std::size_t>(gl.hop);
  detail::real_fft fft(n);
  const auto window = detail::hann_periodic(n);
  std::vector<double> mag(T * nb);
  for (std::size_t i = 0; i < T * nb; ++i)
    mag[i] = std::pow(std::max(0.0, spec.data()[i]), 1.0 / gl.power);
  std::vector<std::complex<double>> angles(T * nb, {1.0, 0.0}), tprev(T * nb, {0.0, 0.0}),
      rebuilt, prod(T * nb);
  if (gl.rand_init) {
    std::mt19937_64 rng(gl.seed);
    for (auto& a : angles) {
      const double re = double(rng() >> 11) * 0x1.0p-53, im = double(rng() >> 11) * 0x1.0p-53;
      a = {re, im};
    }
  }
  // The istft output length for the inner loop: the same as the target length.
  const double alpha = gl.momentum / (1.0 + gl.momentum);
  for (int it = 0; it < gl.n_iter; ++it) {
    for (std::size_t i = 0; i < T * nb; ++i) prod[i] = mag[i] * angles[i];
    const auto inverse = detail::istft(prod, T, fft, window, hop, gl.length);
    detail::stft_complex(inverse, fft, window, hop, T, rebuilt);
    for (std::size_t i = 0; i < T * nb; ++i) {
      std::complex<double> a = rebuilt[i] - alpha * tprev[i];
      angles[i] = a / (std::sqrt(std::norm(a)) + 1e-16);  // |a| without hypot's cost
    }
    tprev = rebuilt;
  }
  for (std::size_t i = 0; i < T * nb; ++i) prod[i] = mag[i] * angles[i];
  const auto y = detail::istft(prod, T, fft, window, hop, gl.length);
  return std::vector<float>(y.begin(), y.end());
}

// Waveform from a log-mel (T x n_mels): exp(x) - log_offset (clamped at 0), inverse_mel,
// griffin_lim. ensures: gl.length samples (not normalised).
inline std::vector<float> log_mel_to_audio(const xt::xtensor<float, 2>& logmel,
                                           const mel_config& cfg = {},
                                           const griffin_lim_config& gl = {},
                                           inverse_mel_config icfg = {}) {
  if (gl.n_fft != cfg.n_fft || gl.hop != cfg.hop)
    throw std::invalid_argument("log_mel_to_audio: griffin_lim n_fft/hop (" +
                                std::to_string(gl.n_fft) + "/" + std::to_string(gl.hop) +
                                ") differ from the mel config (" + std::to_string(cfg.n_fft) +
                                "/" + std::to_string(cfg.hop) + ")");
  xt::xtensor<double, 2> mel = xt::zeros<double>({logmel.shape(0), logmel.shape(1)});
  for (std::size_t i = 0; i < mel.size(); ++i)
    mel.data()[i] = std::max(0.0, std::exp(double(logmel.data()[i])) - cfg.log_offset);
  return griffin_lim(inverse_mel(mel, cfg, icfg), gl);
}

}  // namespace dsae::audio
