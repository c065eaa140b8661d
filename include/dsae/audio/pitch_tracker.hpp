#pragma once
// A pitch tracker chosen by name, for the consumers that let the user pick one (the URMP
// confidence filter, raw pitch accuracy in dsae-eval):
//   "crepe-full"  CREPE full (the paper's tracker), torchcrepe's Viterbi decoding
//   "crepe-tiny"  CREPE tiny (~37x fewer FLOPs), same decoding
//   "crepe-full-weighted_argmax", "crepe-tiny-argmax", ...  another torchcrepe decoder
//   "yin-dsae-v1" the YIN-family tracker of audio/pitch.hpp (no weights needed)
// name() is the full name written with every result ("crepe-full-viterbi", "yin-dsae-v1").
//
//   pitch_tracker tr("crepe-full", urmp_filter_crepe_config());
//   double c = tr.mean_confidence(x);       // CREPE: mean periodicity; YIN: mean confidence
//   std::vector<double> f0 = tr.f0(x);      // Hz, 0 = unvoiced (CREPE: periodicity < 0.5)
//
// Constructing a CREPE tracker loads its weights (once per process, shared) and throws the
// "run scripts/fetch-crepe-weights" message when they are missing. Thread-safe after
// construction.
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "crepe.hpp"
#include "pitch.hpp"

namespace dsae::audio {

// The paper's URMP filter (Hayes et al. 2021): CREPE, Viterbi, hop 128 samples, 50-2000 Hz.
inline crepe_config urmp_filter_crepe_config() {
  crepe_config c;
  c.hop = 128;
  c.f_min = 50.0;
  c.f_max = 2000.0;
  return c;
}

// The paper's RPA: CREPE, Viterbi, hop 160 (torchcrepe's default), 50-2006 Hz.
inline crepe_config rpa_crepe_config() {
  crepe_config c;
  c.hop = 160;
  c.f_min = 50.0;
  c.f_max = crepe_max_fmax;
  return c;
}

class pitch_tracker {
 public:
  // requires: name as listed at the top. throws std::invalid_argument for an unknown name,
  //   std::runtime_error for missing or bad CREPE weights.
  explicit pitch_tracker(const std::string& name, crepe_config crepe = rpa_crepe_config(), pitch_config yin = {})
      : m_crepe_cfg(crepe), m_yin_cfg(yin) {
    if (name == pitch_estimator_name || name == "yin") {
      m_name = pitch_estimator_name;
      return;
    }
    const std::string p = "crepe-";
    if (name.rfind(p, 0) != 0)
      throw std::invalid_argument("unknown pitch tracker '" + name +
                                  "': use crepe-full, crepe-tiny (optionally -viterbi, -weighted_argmax, "
                                  "-argmax) or yin-dsae-v1");
    std::string rest = name.substr(p.size());
    const auto dash = rest.find('-');
    if (dash != std::string::npos) {
      m_crepe_cfg.decoder = parse_crepe_decoder(rest.substr(dash + 1));
      rest = rest.substr(0, dash);
    }
    m_capacity = parse_crepe_capacity(rest);
    m_model = crepe_model::shared(m_capacity);
    m_name = crepe_tracker_name(m_capacity, m_crepe_cfg.decoder);
  }

  [[nodiscard]] const std::string& name() const noexcept { return m_name; }
  [[nodiscard]] bool is_crepe() const noexcept { return m_model != nullptr; }
  [[nodiscard]] int hop() const noexcept { return is_crepe() ? m_crepe_cfg.hop : m_yin_cfg.hop; }
  [[nodiscard]] const crepe_config& crepe() const noexcept { return m_crepe_cfg; }
  [[nodiscard]] const pitch_config& yin() const noexcept { return m_yin_cfg; }
  // The weights file behind a CREPE tracker ("" for YIN).
  [[nodiscard]] std::string weights() const { return is_crepe() ? m_model->source() : std::string(); }

  // Mean per-frame confidence of a 16 kHz signal (CREPE: periodicity; YIN: 1 - d').
  [[nodiscard]] double mean_confidence(std::span<const float> x) const {
    if (!is_crepe()) return audio::mean_confidence(x, m_yin_cfg);
    return crepe_mean_periodicity(crepe_predict(*m_model, x, m_crepe_cfg));
  }

  // f0 contour (Hz, 0 = unvoiced) of a 16 kHz signal, one value per hop from t = 0.
  // CREPE: unvoiced where periodicity < voicing_threshold (torchcrepe.threshold.At).
  [[nodiscard]] std::vector<double> f0(std::span<const float> x, double voicing_threshold = 0.5) const {
    if (!is_crepe()) return track_pitch(x, m_yin_cfg).f0_hz;
    return crepe_voiced_f0(crepe_predict(*m_model, x, m_crepe_cfg), voicing_threshold);
  }

 private:
  std::string m_name;
  crepe_capacity m_capacity = crepe_capacity::full;
  std::shared_ptr<const crepe_model> m_model;
  crepe_config m_crepe_cfg;
  pitch_config m_yin_cfg;
};

}  // namespace dsae::audio
