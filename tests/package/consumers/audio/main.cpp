// dsae::audio: the log-mel of a 440 Hz sine peaks in the mel band whose centre
// is nearest 440 Hz, in every frame.
#include <dsae/audio/features.hpp>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

int main() {
  const dsae::audio::mel_config cfg;  // 16 kHz, n_fft 2048, hop 256, 80 HTK mels
  std::vector<float> x(16000);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = float(0.5 * std::sin(2 * std::numbers::pi * 440.0 * double(i) / cfg.sample_rate));
  const dsae::audio::log_mel mel(cfg);
  const auto f = mel(x);  // frames x n_mels

  // Band m's centre is the (m+1)-th of n_mels + 2 points evenly spaced in mel.
  const double lo = dsae::audio::hz_to_mel_htk(cfg.f_min), hi = dsae::audio::hz_to_mel_htk(cfg.f_max);
  std::size_t want = 0;
  double best = 1e300;
  for (int m = 0; m < cfg.n_mels; ++m) {
    const double c = dsae::audio::mel_to_hz_htk(lo + (hi - lo) * (m + 1) / (cfg.n_mels + 1));
    if (std::abs(c - 440.0) < best) best = std::abs(c - 440.0), want = std::size_t(m);
  }
  bool ok = f.shape(0) == mel.frames(x.size()) && f.shape(1) == std::size_t(cfg.n_mels);
  for (std::size_t t = 0; ok && t < f.shape(0); ++t) {
    std::size_t arg = 0;
    for (std::size_t m = 1; m < f.shape(1); ++m)
      if (f(t, m) > f(t, arg)) arg = m;
    ok = arg == want;
  }
  std::printf("log-mel %zu x %zu, peak band %zu in every frame: %s\n", f.shape(0), f.shape(1), want,
              ok ? "yes" : "NO");
  std::printf(ok ? "consumer ok\n" : "consumer failed\n");
  return ok ? 0 : 1;
}
