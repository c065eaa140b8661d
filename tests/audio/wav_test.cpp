// WAV I/O through libsndfile and libsamplerate resampling.
#include <boost/test/unit_test.hpp>

#include <dsae/audio/pitch.hpp>
#include <dsae/audio/wav.hpp>

#include <cmath>
#include <fstream>
#include <numbers>

#include "common.hpp"

namespace au = dsae::audio;

BOOST_AUTO_TEST_SUITE(wav)

BOOST_AUTO_TEST_CASE(float_round_trip_multichannel) {
  dsae_test::temp_dir tmp("wav_rt");
  xt::xtensor<float, 2> x = xt::zeros<float>({std::size_t(1000), std::size_t(3)});
  for (std::size_t i = 0; i < 1000; ++i)
    for (std::size_t c = 0; c < 3; ++c) x(i, c) = std::sin(0.01f * float(i * (c + 1)));
  const auto p = (tmp.path / "a.wav").string();
  au::write_wav(p, x, 48000);
  const auto w = au::read_wav(p);
  BOOST_TEST(w.sample_rate == 48000);
  BOOST_TEST(w.channels() == 3u);
  BOOST_TEST(w.frames() == 1000u);
  BOOST_TEST(std::equal(x.begin(), x.end(), w.samples.begin()));
  int sr = 0;
  const auto right = au::read_wav_mono(p, 2, &sr);
  BOOST_TEST(sr == 48000);
  BOOST_TEST(right[10] == x(10, 2));
  BOOST_CHECK_THROW(au::read_wav_mono(p, 3), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(pcm16_quantises_and_is_reproducible) {
  dsae_test::temp_dir tmp("wav_pcm");
  std::vector<float> x(500);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.05f * float(i));
  const auto p1 = (tmp.path / "a.wav").string(), p2 = (tmp.path / "b.wav").string();
  au::write_wav_mono(p1, x, 16000, SF_FORMAT_PCM_16);
  au::write_wav_mono(p2, x, 16000, SF_FORMAT_PCM_16);
  const auto y = au::read_wav_mono(p1, 0);
  for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(std::abs(y[i] - x[i]) < 1.0f / 32000);
  std::ifstream a(p1, std::ios::binary), b(p2, std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(a)), {}), sb((std::istreambuf_iterator<char>(b)), {});
  BOOST_TEST(sa == sb);
}

BOOST_AUTO_TEST_CASE(missing_and_corrupt_files_name_the_file) {
  dsae_test::temp_dir tmp("wav_bad");
  const auto missing = (tmp.path / "nope.wav").string();
  try {
    au::read_wav(missing);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(missing) != std::string::npos);
  }
  const auto corrupt = (tmp.path / "corrupt.wav").string();
  {
    std::ofstream f(corrupt, std::ios::binary);
    f << "RIFF\x10\x00\x00\x00WAVEjunkjunkjunkjunk";
  }
  try {
    au::read_wav(corrupt);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(corrupt) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(truncated_file_is_detected) {
  // Issue 13 item 10: libsndfile clamps a data chunk that runs past the end of the file, so
  // a cut recording read without error. Now the declared chunk is checked against the size.
  dsae_test::temp_dir tmp("wav_cut");
  const auto p = (tmp.path / "cut.wav").string();
  std::vector<float> x(4000, 0.25f);
  au::write_wav_mono(p, x, 16000, SF_FORMAT_PCM_16);
  std::string raw;
  {
    std::ifstream f(p, std::ios::binary);
    raw.assign((std::istreambuf_iterator<char>(f)), {});
  }
  BOOST_TEST(au::read_wav(p).frames() == 4000u);
  BOOST_TEST(au::read_wav_memory({reinterpret_cast<const unsigned char*>(raw.data()), raw.size()}, "mem").frames() == 4000u);
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << raw.substr(0, raw.size() - 1000);
  }
  try {
    au::read_wav(p);
    BOOST_FAIL("no exception for a truncated WAV");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(p) != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("truncated") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(resample_48k_to_16k_keeps_pitch) {
  std::vector<float> x(48000);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = 0.5f * std::sin(float(2 * std::numbers::pi * 440.0 * double(i) / 48000.0));
  const auto y = au::resample(x, 48000, 16000);
  BOOST_TEST(std::abs(double(y.size()) - 16000.0) <= 2.0);
  const auto tr = au::track_pitch(y);
  BOOST_TEST(tr.f0_hz[60] == 440.0, boost::test_tools::tolerance(0.003));
  // Amplitude preserved away from the edges.
  float peak = 0;
  for (std::size_t i = 2000; i < 14000; ++i) peak = std::max(peak, std::abs(y[i]));
  BOOST_TEST(peak == 0.5f, boost::test_tools::tolerance(0.01f));
  BOOST_CHECK_THROW(au::resample(x, 0, 16000), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
