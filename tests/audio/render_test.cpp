// FluidSynth rendering rules (spec/data.md): length, mono peak 1, determinism, thread
// invariance, repeated pitches not cut, the intended pitch in every note slot.
#include <boost/test/unit_test.hpp>

#include <dsae/audio/pitch.hpp>
#include <dsae/audio/render.hpp>

#include <algorithm>
#include <cmath>

#include "common.hpp"

namespace au = dsae::audio;

namespace {
double rms(const float* x, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return std::sqrt(s / double(n));
}
}  // namespace

BOOST_AUTO_TEST_SUITE(render)

BOOST_AUTO_TEST_CASE(length_and_peak) {
  const auto& clips = dsae_test::rendered_clips();
  BOOST_TEST(clips.shape(0) == 6u);
  BOOST_TEST(clips.shape(1) == 64000u);
  for (std::size_t c = 0; c < clips.shape(0); ++c) {
    float peak = 0;
    for (std::size_t i = 0; i < 64000; ++i) peak = std::max(peak, std::abs(clips(c, i)));
    BOOST_TEST(peak == 1.0f);
    // Not silent in the first slot (every test melody starts with a note).
    BOOST_TEST(rms(&clips(c, 0), 4000) > 0.01);
  }
}

BOOST_AUTO_TEST_CASE(deterministic_and_thread_invariant) {
  const auto& clips = dsae_test::rendered_clips();
  au::fluid_session session(au::render_config{});
  // A fresh synthesizer per melody: rendering something else first changes nothing.
  (void)session.render(dsae_test::test_melodies()[2], au::gm_trumpet);
  const auto again = session.render(dsae_test::test_melodies()[0], au::gm_violin);
  BOOST_TEST(std::equal(again.begin(), again.end(), clips.data()));
  const auto t = session.render(dsae_test::test_melodies()[0], au::gm_trumpet);
  BOOST_TEST(std::equal(t.begin(), t.end(), clips.data() + 3 * 64000));
  // Single-threaded render_melodies gives the same bytes.
  std::vector<std::vector<int>> mel(dsae_test::test_melodies().begin(), dsae_test::test_melodies().end());
  std::vector<au::gm_preset> pre(3, au::gm_violin);
  const auto one = au::render_melodies(mel, pre, au::render_config{}, 1);
  BOOST_TEST(std::equal(one.begin(), one.end(), clips.begin()));
}

BOOST_AUTO_TEST_CASE(polyphony_limit_does_not_change_output) {
  // 64 voices (dsae's default) and FluidSynth's 256 render the same bytes: no voice is stolen.
  au::render_config big;
  big.polyphony = 256;
  au::fluid_session s(big);
  const auto& clips = dsae_test::rendered_clips();
  for (std::size_t c : {std::size_t(1), std::size_t(4)}) {
    const auto x = s.render(dsae_test::test_melodies()[1], c == 1 ? au::gm_violin : au::gm_trumpet);
    BOOST_TEST(std::equal(x.begin(), x.end(), clips.data() + c * 64000));
  }
}

BOOST_AUTO_TEST_CASE(reverb_switch_changes_output) {
  au::render_config dry;
  dry.reverb = false;
  au::fluid_session s(dry);
  const auto x = s.render(dsae_test::test_melodies()[0], au::gm_violin);
  const auto& wet = dsae_test::rendered_clips();
  BOOST_TEST(!std::equal(x.begin(), x.end(), wet.data()));
  // The dry clip decays to silence in the final rests (slots 14-15) faster than the wet one.
  BOOST_TEST(rms(x.data() + 15 * 4000, 4000) < rms(wet.data() + 15 * 4000, 4000));
}

BOOST_AUTO_TEST_CASE(repeated_pitch_is_not_cut) {
  // Melody 1 holds G4 in slots 12 and 13: the second note must sound as loud as the first
  // (with note-on before note-off the second G4 would be silenced at once).
  const auto& clips = dsae_test::rendered_clips();
  for (std::size_t c : {std::size_t(1), std::size_t(4)}) {
    const float* x = clips.data() + c * 64000;
    const double first = rms(x + 12 * 4000 + 1000, 2000);
    const double second = rms(x + 13 * 4000 + 1000, 2000);
    BOOST_TEST_MESSAGE("clip " << c << ": repeated G4 rms " << first << " then " << second);
    BOOST_TEST(first > 0.02);
    BOOST_TEST(second > 0.5 * first);
  }
}

BOOST_AUTO_TEST_CASE(rendered_pitch_matches_every_note) {
  const auto& clips = dsae_test::rendered_clips();
  au::pitch_config pc;
  pc.hop = 64;
  for (std::size_t c = 0; c < clips.shape(0); ++c) {
    const auto& mel = dsae_test::test_melodies()[c % 3];
    const auto tr = au::track_pitch(std::span<const float>(clips.data() + c * 64000, 64000), pc);
    for (std::size_t s = 0; s < 16; ++s) {
      if (mel[s] < 0) continue;
      // The sustained part of the slot: frames (1024 long) centred 1500..2500 samples after
      // the onset, i.e. analysis windows within [988, 3012], clear of attack and release.
      std::vector<double> f0;
      for (std::size_t k = 0; k < tr.f0_hz.size(); ++k) {
        const std::size_t centre = k * 64;
        if (centre >= s * 4000 + 1500 && centre <= s * 4000 + 2500 && tr.f0_hz[k] > 0)
          f0.push_back(tr.f0_hz[k]);
      }
      BOOST_TEST_REQUIRE(!f0.empty());
      std::nth_element(f0.begin(), f0.begin() + f0.size() / 2, f0.end());
      const double midi = au::hz_to_midi(f0[f0.size() / 2]);
      BOOST_TEST(std::lround(midi) == mel[s], "clip " << c << " slot " << s << ": estimated MIDI "
                                                      << midi << ", intended " << mel[s]);
      BOOST_TEST(std::abs(midi - mel[s]) < 0.35);
    }
  }
}

BOOST_AUTO_TEST_CASE(missing_soundfont_names_the_package) {
  au::render_config cfg;
  cfg.soundfont = "/nonexistent/dir/MuseScore_General.sf3";
  try {
    au::fluid_session s(cfg);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("musescore-general-soundfont") != std::string::npos);
    BOOST_TEST(m.find("/nonexistent/dir/MuseScore_General.sf3") != std::string::npos);
  }
  BOOST_CHECK_THROW(au::render_melodies({{60}}, {au::gm_violin}, cfg), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(bad_melody_rejected) {
  au::fluid_session s(au::render_config{});
  const std::vector<int> bad{60, 128};
  BOOST_CHECK_THROW(s.render(bad, au::gm_violin), std::invalid_argument);
  BOOST_CHECK_THROW(au::render_melodies({{60}, {60, 62}}, {au::gm_violin, au::gm_violin},
                                        au::render_config{}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
