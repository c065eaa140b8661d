// Log-mel: definition checks, parity with an independent numpy implementation on rendered
// clips, thread invariance, and the inverse (NNLS inverse mel + Griffin-Lim).
#include <boost/test/unit_test.hpp>

#include <dsae/audio/features.hpp>
#include <dsae/data/npy.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <numbers>

#include "common.hpp"

namespace au = dsae::audio;
namespace utf = boost::unit_test;

namespace {

bool numpy_available() {
  const std::string cmd = std::string(DSAE_PYTHON) + " -c \"import numpy\" >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

struct numpy_precondition {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    if (numpy_available()) return true;
    std::cout << "SKIPPED: numpy not importable by " << DSAE_PYTHON << std::endl;
    boost::test_tools::assertion_result r(false);
    r.message() << "SKIPPED: numpy not importable";
    return r;
  }
};

std::vector<float> sine(double hz, std::size_t n, double sr = 16000.0, double amp = 0.5) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i)
    x[i] = static_cast<float>(amp * std::sin(2 * std::numbers::pi * hz * double(i) / sr));
  return x;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(features)

BOOST_AUTO_TEST_CASE(htk_mel_scale_and_filterbank) {
  BOOST_TEST(au::hz_to_mel_htk(700.0) == 2595.0 * std::log10(2.0), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(au::mel_to_hz_htk(au::hz_to_mel_htk(1234.5)) == 1234.5, boost::test_tools::tolerance(1e-9));
  const auto fb = au::mel_filterbank({});
  BOOST_TEST(fb.shape(0) == 1025u);
  BOOST_TEST(fb.shape(1) == 80u);
  // Triangles: every filter has a non-zero peak <= 1, neighbouring filters overlap, and
  // the filters' centres increase.
  double prev_centre = -1;
  for (std::size_t m = 0; m < 80; ++m) {
    double best = 0, centre = 0;
    for (std::size_t f = 0; f < 1025; ++f)
      if (fb(f, m) > best) best = fb(f, m), centre = double(f);
    BOOST_TEST(best > 0.0);
    BOOST_TEST(best <= 1.0);
    BOOST_TEST(centre >= prev_centre);
    prev_centre = centre;
  }
  // A bin between centres is covered by at most two filters whose weights sum to <= 1.
  for (std::size_t f = 0; f < 1025; ++f) {
    double s = 0;
    int n = 0;
    for (std::size_t m = 0; m < 80; ++m) s += fb(f, m), n += fb(f, m) > 0;
    BOOST_TEST(n <= 2);
    BOOST_TEST(s <= 1.0 + 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(shape_and_sine_peak) {
  const au::log_mel lm;
  const auto x = sine(1000.0, 64000);
  const auto y = lm(x);
  BOOST_TEST(y.shape(0) == 251u);
  BOOST_TEST(y.shape(1) == 80u);
  // The loudest mel bin in the middle frame is the one whose centre is nearest 1 kHz.
  const auto fb = lm.filterbank();
  std::size_t want = 0;
  double best_w = 0;
  const std::size_t bin1k = static_cast<std::size_t>(std::lround(1000.0 / 8000.0 * 1024));
  for (std::size_t m = 0; m < 80; ++m)
    if (fb(bin1k, m) > best_w) best_w = fb(bin1k, m), want = m;
  std::size_t arg = 0;
  for (std::size_t m = 1; m < 80; ++m)
    if (y(125, m) > y(125, arg)) arg = m;
  BOOST_TEST(arg == want);
  // Parseval-style level: a 0.5-amplitude sine has |X|^2 = (0.5 * sum(w) / 2)^2 at its bin.
  const double peak_power = std::pow(0.5 * 1024.0 / 2.0, 2);
  BOOST_TEST(std::exp(double(y(125, arg))) < peak_power * 1.5 * 1.01);  // + two half-amplitude neighbours
  BOOST_TEST(std::exp(double(y(125, arg))) > peak_power * 0.25);
  // Silence gives log(offset).
  const std::vector<float> z(64000, 0.f);
  const auto ys = lm(z);
  BOOST_TEST(ys(10, 10) == float(std::log(2.220446049250313e-16)));
}

BOOST_AUTO_TEST_CASE(too_short_signal_throws) {
  const au::log_mel lm;
  const std::vector<float> x(1000, 0.1f);
  BOOST_CHECK_THROW(lm(x), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(batch_is_thread_invariant) {
  const auto& clips = dsae_test::rendered_clips();
  const au::log_mel lm;
  const auto a = lm.batch(clips, 1);
  const auto b = lm.batch(clips, 2);
  BOOST_TEST(a.shape(0) == clips.shape(0));
  BOOST_TEST(std::equal(a.begin(), a.end(), b.begin()));
  const auto one = lm(std::span<const float>(clips.data() + 64000, 64000));
  BOOST_TEST(std::equal(one.begin(), one.end(), a.begin() + 251 * 80));
}

BOOST_AUTO_TEST_CASE(parity_with_numpy_reference, *utf::precondition(numpy_precondition{})) {
  const auto& clips = dsae_test::rendered_clips();
  dsae_test::temp_dir tmp("logmel_parity");
  const auto in = (tmp.path / "clips.npy").string(), out = (tmp.path / "ref.npy").string();
  dsae::data::save_npy<2>(in, clips);
  const std::string cmd = std::string(DSAE_PYTHON) + " " + DSAE_TEST_SOURCE_DIR +
                          "/tests/audio/logmel_reference.py " + in + " " + out;
  BOOST_REQUIRE(std::system(cmd.c_str()) == 0);
  const auto ref = xt::load_npy<double>(out);
  const au::log_mel lm;
  const auto ours = lm.batch(clips);
  BOOST_REQUIRE(ref.size() == ours.size());
  double max_diff = 0, max_all = 0;
  std::size_t counted = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const double d = std::abs(double(ours.data()[i]) - ref.data()[i]);
    max_all = std::max(max_all, d);
    if (ref.data()[i] > -20) max_diff = std::max(max_diff, d), ++counted;
  }
  BOOST_TEST_MESSAGE("log-mel parity on " << clips.shape(0) << " rendered clips: max |diff| = "
                     << max_diff << " over " << counted << " bins above -20 (all bins: "
                     << max_all << ")");
  BOOST_TEST(counted > ours.size() / 2);
  BOOST_TEST(max_diff < 1e-3);
}

BOOST_AUTO_TEST_CASE(inverse_mel_is_nonnegative_least_squares) {
  const auto& clips = dsae_test::rendered_clips();
  const std::span<const float> x(clips.data(), 64000);
  const au::log_mel lm;
  const auto spec = au::stft_power(x);
  const auto fb = lm.filterbank();
  // mel = spec @ fb, in double.
  xt::xtensor<double, 2> mel = xt::zeros<double>({spec.shape(0), std::size_t(80)});
  for (std::size_t t = 0; t < spec.shape(0); ++t)
    for (std::size_t f = 0; f < 1025; ++f)
      for (std::size_t m = 0; m < 80; ++m) mel(t, m) += spec(t, f) * fb(f, m);
  const auto s = au::inverse_mel(mel);
  BOOST_TEST(s.shape(1) == 1025u);
  double worst = 0;
  for (std::size_t t = 0; t < s.shape(0); ++t) {
    double num = 0, den = 0;
    for (std::size_t m = 0; m < 80; ++m) {
      double r = 0;
      for (std::size_t f = 0; f < 1025; ++f) r += s(t, f) * fb(f, m);
      num += (r - mel(t, m)) * (r - mel(t, m));
      den += mel(t, m) * mel(t, m);
    }
    worst = std::max(worst, std::sqrt(num / den));
  }
  for (double v : s) BOOST_TEST_REQUIRE(v >= 0.0);
  BOOST_TEST_MESSAGE("inverse_mel: worst per-frame relative residual " << worst);
  BOOST_TEST(worst < 0.05);
}

BOOST_AUTO_TEST_CASE(griffin_lim_round_trip) {
  const auto& clips = dsae_test::rendered_clips();
  const au::log_mel lm;
  for (std::size_t c : {std::size_t(0), std::size_t(3)}) {  // one violin, one trumpet
    const std::span<const float> x(clips.data() + c * 64000, 64000);
    const auto logmel = lm(x);
    const auto y = au::log_mel_to_audio(logmel);
    BOOST_TEST(y.size() == 64000u);
    const auto again = lm(y);
    // Compare on bins within 60 dB (ln: 13.8) of the clip's loudest bin.
    float top = -1e9f;
    for (float v : logmel) top = std::max(top, v);
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < logmel.size(); ++i)
      if (logmel.data()[i] > top - 13.8f) sum += std::abs(double(logmel.data()[i]) - again.data()[i]), ++n;
    const double mean = sum / double(n);
    BOOST_TEST_MESSAGE("griffin-lim clip " << c << ": mean |log-mel diff| = " << mean << " on "
                       << n << " bins within 60 dB of the peak");
    BOOST_TEST(mean < 0.5);
    if (c == 0) {  // deterministic for a fixed seed
      const auto y2 = au::log_mel_to_audio(logmel);
      BOOST_TEST(std::equal(y.begin(), y.end(), y2.begin()));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
