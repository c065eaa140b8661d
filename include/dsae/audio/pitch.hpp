#pragma once
// YIN-family F0 tracker with a per-frame confidence (de Cheveigne & Kawahara 2002).
//
// Public API (namespace dsae::audio):
//   pitch_estimator_name        "yin-dsae-v1": the name written into dataset manifests
//   pitch_config                sample rate, frame length, hop, f_min/f_max, threshold
//   pitch_track                 f0_hz (0 = unvoiced), confidence in [0, 1], time_s per frame
//   track_pitch(x, cfg)         the tracker; thread-safe
//   mean_confidence(x, cfg)     mean of the per-frame confidence (the URMP filter)
//   hz_to_midi / midi_to_hz
//
// Algorithm "yin-dsae-v1": frames centred at t*hop (zero outside the signal), integration
// window W = frame_length - tau_max. Difference function d(tau) = sum_{j<W} (x_j - x_{j+tau})^2
// from an FFT cross-correlation plus prefix-sum energies; cumulative-mean-normalised d'(tau)
// on [tau_min, tau_max] = [floor(sr/f_max), ceil(sr/f_min)]; g = min d' (parabolic).
// confidence = 1 - g clamped to [0, 1]; voiced iff g < threshold. The period tau* is the
// shortest-lag local minimum of d' below max(threshold, g + octave_margin) (the global
// minimum if none), refined by parabolic interpolation of d; f0 = sample_rate / tau* if voiced.
// Frames with mean-square energy below silence_power have confidence 0 and f0 0.
// This replaces the paper's CREPE (full model, viterbi); see docs/data.md.
#include <algorithm>
#include <cmath>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail/fft.hpp"

namespace dsae::audio {

inline constexpr const char* pitch_estimator_name = "yin-dsae-v1";

// requires: sample_rate > 0, hop >= 1, 0 < f_min < f_max, tau_max = ceil(sr/f_min) with
// 2*tau_max <= frame_length, 0 < threshold < 1.
struct pitch_config {
  double sample_rate = 16000.0;
  int frame_length = 1024;   // 64 ms at 16 kHz
  int hop = 128;             // CREPE's hop in the paper's URMP preprocessing
  double f_min = 50.0;
  double f_max = 2000.0;
  double threshold = 0.15;   // voiced iff min d' < threshold (confidence > 1 - threshold)
  double octave_margin = 0.2;  // a shorter-lag dip within this of the best is preferred
  double silence_power = 1e-10;  // mean square below this: silent frame
};

struct pitch_track {
  std::vector<double> f0_hz;       // 0 where unvoiced
  std::vector<double> confidence;  // in [0, 1]
  std::vector<double> time_s;      // frame centres
};

inline double hz_to_midi(double hz) { return 69.0 + 12.0 * std::log2(hz / 440.0); }
inline double midi_to_hz(double midi) { return 440.0 * std::exp2((midi - 69.0) / 12.0); }

// Tracks f0 over x. ensures: 1 + x.size()/hop frames (none for an empty signal).
inline pitch_track track_pitch(std::span<const float> x, const pitch_config& cfg = {}) {
  const int tau_max = static_cast<int>(std::ceil(cfg.sample_rate / cfg.f_min));
  const int tau_min = std::max(2, static_cast<int>(std::floor(cfg.sample_rate / cfg.f_max)));
  if (!(cfg.sample_rate > 0) || cfg.hop < 1 || !(cfg.f_min > 0) || !(cfg.f_max > cfg.f_min) ||
      2 * tau_max > cfg.frame_length || !(cfg.threshold > 0 && cfg.threshold < 1))
    throw std::invalid_argument(
        "pitch_config: need sample_rate > 0, hop >= 1, 0 < f_min < f_max, "
        "frame_length >= 2*ceil(sample_rate/f_min), 0 < threshold < 1 (got frame_length=" +
        std::to_string(cfg.frame_length) + ", f_min=" + std::to_string(cfg.f_min) +
        ", f_max=" + std::to_string(cfg.f_max) + ", hop=" + std::to_string(cfg.hop) + ")");
  pitch_track out;
  if (x.empty()) return out;
  const std::size_t L = static_cast<std::size_t>(cfg.frame_length);
  const std::size_t W = L - static_cast<std::size_t>(tau_max);
  std::size_t nfft = 1;
  while (nfft < L + W) nfft <<= 1;
  const detail::real_fft fft(nfft);
  auto a = detail::fftw_alloc<double>(nfft), b = detail::fftw_alloc<double>(nfft),
       r = detail::fftw_alloc<double>(nfft);
  auto A = detail::fftw_alloc<fftw_complex>(nfft / 2 + 1),
       B = detail::fftw_alloc<fftw_complex>(nfft / 2 + 1);
  std::vector<double> frame(L), prefix(L + 1), d(static_cast<std::size_t>(tau_max) + 2),
      dn(static_cast<std::size_t>(tau_max) + 2);

  const std::size_t T = 1 + x.size() / static_cast<std::size_t>(cfg.hop);
  out.f0_hz.assign(T, 0.0);
  out.confidence.assign(T, 0.0);
  out.time_s.resize(T);
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(x.size());
  for (std::size_t t = 0; t < T; ++t) {
    out.time_s[t] = double(t * static_cast<std::size_t>(cfg.hop)) / cfg.sample_rate;
    const std::ptrdiff_t start =
        static_cast<std::ptrdiff_t>(t) * cfg.hop - static_cast<std::ptrdiff_t>(L / 2);
    double energy = 0;
    for (std::size_t k = 0; k < L; ++k) {
      const std::ptrdiff_t i = start + static_cast<std::ptrdiff_t>(k);
      frame[k] = (i >= 0 && i < n) ? double(x[static_cast<std::size_t>(i)]) : 0.0;
      energy += frame[k] * frame[k];
    }
    if (energy / double(L) < cfg.silence_power) continue;
    // r(tau) = sum_{j<W} frame[j] frame[j+tau] via one FFT correlation.
    std::fill(a.get(), a.get() + nfft, 0.0);
    std::fill(b.get(), b.get() + nfft, 0.0);
    std::copy(frame.begin(), frame.end(), a.get());
    std::copy(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(W), b.get());
    fft.forward(a.get(), A.get());
    fft.forward(b.get(), B.get());
    for (std::size_t k = 0; k < nfft / 2 + 1; ++k) {
      // A * conj(B)
      const double re = A[k][0] * B[k][0] + A[k][1] * B[k][1];
      const double im = A[k][1] * B[k][0] - A[k][0] * B[k][1];
      A[k][0] = re;
      A[k][1] = im;
    }
    fft.inverse(A.get(), r.get());
    prefix[0] = 0;
    for (std::size_t k = 0; k < L; ++k) prefix[k + 1] = prefix[k] + frame[k] * frame[k];
    const double e0 = prefix[W];
    double running = 0;
    dn[0] = 1.0;
    for (int tau = 1; tau <= tau_max; ++tau) {
      const std::size_t u = static_cast<std::size_t>(tau);
      const double et = prefix[u + W] - prefix[u];
      const double dv = std::max(0.0, e0 + et - 2.0 * r[u] / double(nfft));
      d[u] = dv;
      running += dv;
      dn[u] = running > 0 ? dv * double(tau) / running : 1.0;
    }
    // Global minimum g of d' (periodicity of the frame), then the shortest-lag local
    // minimum within `octave_margin` of max(threshold, g): picking the shortest such
    // period avoids the sub-octave errors that reverberant tails cause in plain YIN.
    int gbest = tau_min;
    for (int tau = tau_min; tau <= tau_max; ++tau)
      if (dn[static_cast<std::size_t>(tau)] < dn[static_cast<std::size_t>(gbest)]) gbest = tau;
    const double g = dn[static_cast<std::size_t>(gbest)];
    const bool voiced = g < cfg.threshold;
    const double accept = std::max(cfg.threshold, g + cfg.octave_margin);
    int best = gbest;
    for (int tau = tau_min; tau < gbest; ++tau) {
      const std::size_t u = static_cast<std::size_t>(tau);
      if (dn[u] < accept && dn[u] <= dn[u - 1] && dn[u] <= dn[u + 1]) {
        best = tau;
        break;
      }
    }
    const std::size_t ub = static_cast<std::size_t>(best);
    double tau_ref = best;
    if (best > tau_min && best < tau_max) {
      // On the raw d: d' carries a 1/running-mean factor that biases short lags.
      const double y0 = d[ub - 1], y1 = d[ub], y2 = d[ub + 1];
      const double den = y0 - 2 * y1 + y2;
      if (den > 0) tau_ref = best + std::clamp(0.5 * (y0 - y2) / den, -1.0, 1.0);
    }
    double dmin = g;
    if (gbest > tau_min && gbest < tau_max) {
      const std::size_t ug = static_cast<std::size_t>(gbest);
      const double y0 = dn[ug - 1], y1 = dn[ug], y2 = dn[ug + 1];
      const double den = y0 - 2 * y1 + y2;
      if (den > 0) {
        const double delta = std::clamp(0.5 * (y0 - y2) / den, -1.0, 1.0);
        dmin = std::min(y1, y1 - 0.25 * (y0 - y2) * delta);
      }
    }
    out.confidence[t] = std::clamp(1.0 - dmin, 0.0, 1.0);
    if (voiced) out.f0_hz[t] = cfg.sample_rate / tau_ref;
  }
  return out;
}

// Mean per-frame confidence of x (0 for an empty signal).
inline double mean_confidence(std::span<const float> x, const pitch_config& cfg = {}) {
  const pitch_track p = track_pitch(x, cfg);
  if (p.confidence.empty()) return 0.0;
  double s = 0;
  for (double c : p.confidence) s += c;
  return s / double(p.confidence.size());
}

}  // namespace dsae::audio
