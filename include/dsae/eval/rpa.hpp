#pragma once
// Raw pitch accuracy exactly as mir_eval.melody (0.7) computes it for two F0 contours
// (Hz) that share one time base:
//   voicing   = 1 where freq > 0, else 0   (0 Hz and negative Hz are unvoiced)
//   cents     = 1200 log2(|freq| / 10 Hz) where freq != 0, else 0
//               (a negative frequency is "unvoiced, but this is my pitch guess": it
//                still counts for RPA, which ignores the estimate's voicing)
//   RPA       = sum over frames with ref_cent != 0 and est_cent != 0 of
//               ref_voicing * (|ref_cent - est_cent| < tolerance), divided by
//               sum(ref_voicing); 0 if the reference has no voiced frame.
// NaN frequencies behave as in mir_eval (unvoiced, never a correct pitch).
// mir_eval.melody.evaluate(ref_time, ...) first prepends a copy of frame 0 at t = 0
// when ref_time[0] > 0; the overload taking `times` reproduces that too.
#include "dsae/eval/detail/check.hpp"

#include <Eigen/Core>

#include <cmath>

namespace dsae::eval {

struct cent_contour {
  Eigen::VectorXd voicing;  // 0/1 per frame
  Eigen::VectorXd cents;    // 0 where the frequency is 0
};

// requires: base_frequency > 0.
// ensures: mir_eval.melody.freq_to_voicing + hz2cents of freq_hz.
inline cent_contour to_cent_voicing(const Eigen::Ref<const Eigen::VectorXd>& freq_hz,
                                    double base_frequency = 10.0) {
  if (!(base_frequency > 0.0))
    detail::fail("dsae::eval::to_cent_voicing (rpa.hpp): base_frequency must be > 0, got ",
                 base_frequency);
  cent_contour c;
  c.voicing.resize(freq_hz.size());
  c.cents.resize(freq_hz.size());
  for (Eigen::Index t = 0; t < freq_hz.size(); ++t) {
    const double f = freq_hz(t);
    c.voicing(t) = f > 0.0 ? 1.0 : 0.0;
    c.cents(t) = f != 0.0 ? 1200.0 * std::log2(std::abs(f) / base_frequency) : 0.0;
  }
  return c;
}

// requires: the four vectors have one length; voicings in [0, 1] (the reference voicing
//   may be a reward weight as in mir_eval); cent_tolerance > 0.
// ensures: mir_eval.melody.raw_pitch_accuracy(ref_voicing, ref_cent, est_voicing, est_cent,
//   cent_tolerance); 0 for empty input or an all-unvoiced reference.
inline double raw_pitch_accuracy_cents(const Eigen::Ref<const Eigen::VectorXd>& ref_voicing,
                                       const Eigen::Ref<const Eigen::VectorXd>& ref_cent,
                                       const Eigen::Ref<const Eigen::VectorXd>& est_voicing,
                                       const Eigen::Ref<const Eigen::VectorXd>& est_cent,
                                       double cent_tolerance = 50.0) {
  const char* where = "dsae::eval::raw_pitch_accuracy_cents (rpa.hpp)";
  const Eigen::Index n = ref_cent.size();
  if (ref_voicing.size() != n || est_voicing.size() != n || est_cent.size() != n)
    detail::fail(where, ": lengths differ: ref_voicing ", ref_voicing.size(), ", ref_cent ", n,
                 ", est_voicing ", est_voicing.size(), ", est_cent ", est_cent.size());
  if (!(cent_tolerance > 0.0)) detail::fail(where, ": cent_tolerance must be > 0, got ", cent_tolerance);
  for (Eigen::Index t = 0; t < n; ++t)
    if (!(ref_voicing(t) >= 0.0 && ref_voicing(t) <= 1.0) ||
        !(est_voicing(t) >= 0.0 && est_voicing(t) <= 1.0))
      detail::fail(where, ": voicing must lie in [0, 1]; frame ", t, " has ref ", ref_voicing(t),
                   ", est ", est_voicing(t));
  if (n == 0) return 0.0;
  const double voiced = ref_voicing.sum();
  if (voiced == 0.0) return 0.0;
  double hit = 0.0;
  Eigen::Index both = 0;
  for (Eigen::Index t = 0; t < n; ++t) {
    if (est_cent(t) != 0.0 && ref_cent(t) != 0.0) {  // NaN != 0 holds, as in numpy
      ++both;
      if (std::abs(ref_cent(t) - est_cent(t)) < cent_tolerance) hit += ref_voicing(t);
    }
  }
  if (both == 0) return 0.0;
  return hit / voiced;
}

// requires: ref_freq and est_freq (Hz) have one length and share a time base that starts
//   at t = 0 (frame k at k * hop); cent_tolerance > 0; base_frequency > 0.
// ensures: mir_eval.melody.raw_pitch_accuracy(*to_cent_voicing(times, ref, times, est)).
inline double raw_pitch_accuracy(const Eigen::Ref<const Eigen::VectorXd>& ref_freq,
                                 const Eigen::Ref<const Eigen::VectorXd>& est_freq,
                                 double cent_tolerance = 50.0, double base_frequency = 10.0) {
  if (ref_freq.size() != est_freq.size())
    detail::fail("dsae::eval::raw_pitch_accuracy (rpa.hpp): ref_freq has ", ref_freq.size(),
                 " frames but est_freq has ", est_freq.size(),
                 "; both contours must share one time base");
  const cent_contour r = to_cent_voicing(ref_freq, base_frequency);
  const cent_contour e = to_cent_voicing(est_freq, base_frequency);
  return raw_pitch_accuracy_cents(r.voicing, r.cents, e.voicing, e.cents, cent_tolerance);
}

// requires: times, ref_freq, est_freq of one length >= 1 (the shared time base, seconds).
// ensures: mir_eval.melody.evaluate(times, ref, times, est)["Raw Pitch Accuracy"]: when
//   times[0] > 0 frame 0 is counted twice, as mir_eval prepends it at t = 0.
inline double raw_pitch_accuracy(const Eigen::Ref<const Eigen::VectorXd>& times,
                                 const Eigen::Ref<const Eigen::VectorXd>& ref_freq,
                                 const Eigen::Ref<const Eigen::VectorXd>& est_freq,
                                 double cent_tolerance = 50.0, double base_frequency = 10.0) {
  const char* where = "dsae::eval::raw_pitch_accuracy (rpa.hpp)";
  if (times.size() != ref_freq.size() || times.size() != est_freq.size())
    detail::fail(where, ": times has ", times.size(), " entries, ref_freq ", ref_freq.size(),
                 ", est_freq ", est_freq.size(), "; all three must match");
  if (times.size() == 0) detail::fail(where, ": empty contours");
  if (!(times(0) > 0.0)) return raw_pitch_accuracy(ref_freq, est_freq, cent_tolerance, base_frequency);
  const Eigen::Index n = times.size();
  Eigen::VectorXd r(n + 1), e(n + 1);
  r << ref_freq(0), ref_freq;
  e << est_freq(0), est_freq;
  return raw_pitch_accuracy(r, e, cent_tolerance, base_frequency);
}

}  // namespace dsae::eval
