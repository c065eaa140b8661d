// YIN-family tracker: accuracy on synthetic tones, confidence on noise and silence.
#include <boost/test/unit_test.hpp>

#include <dsae/audio/pitch.hpp>

#include <cmath>
#include <numbers>
#include <random>
#include <string>

namespace au = dsae::audio;

namespace {
std::vector<float> harmonic(double f0, std::size_t n, int partials, double sr = 16000.0) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    double v = 0;
    for (int h = 1; h <= partials && f0 * h < 0.45 * sr; ++h)  // no aliased partials
      v += std::sin(2 * std::numbers::pi * f0 * h * double(i) / sr) / h;
    x[i] = static_cast<float>(0.3 * v);
  }
  return x;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(pitch)

BOOST_AUTO_TEST_CASE(estimator_is_named) {
  BOOST_TEST(std::string(au::pitch_estimator_name) == "yin-dsae-v1");
}

BOOST_AUTO_TEST_CASE(tones_across_the_range) {
  for (double f0 : {82.4, 196.0, 261.63, 440.0, 987.77, 1760.0}) {
    for (int partials : {1, 6}) {
      const auto x = harmonic(f0, 16000, partials);
      const auto tr = au::track_pitch(x);
      BOOST_TEST(tr.f0_hz.size() == 1 + 16000 / 128u);
      // Frames fully inside the signal.
      for (std::size_t k = 8; k + 8 < tr.f0_hz.size(); ++k) {
        BOOST_TEST_REQUIRE(tr.f0_hz[k] > 0.0);
        BOOST_TEST(std::abs(tr.f0_hz[k] / f0 - 1.0) < 0.005, "f0 " << f0 << " partials " << partials
                                                                    << " frame " << k << ": " << tr.f0_hz[k]);
        BOOST_TEST(tr.confidence[k] > 0.95);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(noise_has_low_confidence) {
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0.f, 0.3f);
  std::vector<float> x(64000);
  for (float& v : x) v = n(rng);
  const double c = au::mean_confidence(x);
  BOOST_TEST_MESSAGE("white noise mean confidence " << c);
  BOOST_TEST(c < 0.6);
  const auto tr = au::track_pitch(x);
  std::size_t voiced = 0;
  for (double f : tr.f0_hz) voiced += f > 0;
  BOOST_TEST(voiced < tr.f0_hz.size() / 10);
}

BOOST_AUTO_TEST_CASE(silence_is_unvoiced_with_zero_confidence) {
  const std::vector<float> x(8000, 0.f);
  const auto tr = au::track_pitch(x);
  for (std::size_t k = 0; k < tr.f0_hz.size(); ++k) {
    BOOST_TEST(tr.f0_hz[k] == 0.0);
    BOOST_TEST(tr.confidence[k] == 0.0);
  }
  BOOST_TEST(au::mean_confidence(x) == 0.0);
  BOOST_TEST(au::track_pitch(std::vector<float>{}).f0_hz.empty());
}

BOOST_AUTO_TEST_CASE(midi_conversions_and_bad_config) {
  BOOST_TEST(au::hz_to_midi(440.0) == 69.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(au::midi_to_hz(60.0) == 261.6255653005986, boost::test_tools::tolerance(1e-12));
  au::pitch_config bad;
  bad.f_min = 10.0;  // needs a 3200-sample frame at 16 kHz
  BOOST_CHECK_THROW(au::track_pitch(std::vector<float>(4000, 0.f), bad), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
