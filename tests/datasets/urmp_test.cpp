// URMP loader on a URMP-shaped folder that the test builds: 48 kHz AuSep WAVs in the real
// naming scheme, with a silent track, an unvoiced noise track and a noise gap that the
// pitch-confidence filter must drop, a stereo track (left channel used), and other files.
#include <boost/test/unit_test.hpp>

#include <dsae/datasets/urmp.hpp>

#include <cmath>
#include <numbers>
#include <random>
#include <sstream>

#include "common.hpp"

namespace ur = dsae::datasets::urmp;
namespace au = dsae::audio;
namespace fs = std::filesystem;

namespace {

constexpr double sr = 48000.0;

// A harmonic tone with vibrato; seconds [gap_from, gap_to) replaced by white noise.
std::vector<float> tone(double f0, double seconds, double amp, int partials, double gap_from = -1,
                        double gap_to = -1, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.2f);
  const std::size_t n = static_cast<std::size_t>(seconds * sr);
  std::vector<float> x(n);
  double phase = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double t = double(i) / sr;
    const double f = f0 * (1.0 + 0.004 * std::sin(2 * std::numbers::pi * 5.5 * t));
    phase += 2 * std::numbers::pi * f / sr;
    double v = 0;
    for (int h = 1; h <= partials; ++h) v += std::sin(h * phase) / h;
    x[i] = static_cast<float>(amp * v / 1.5);
    if (t >= gap_from && t < gap_to) x[i] = noise(rng);
  }
  return x;
}

std::vector<float> white(double seconds, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.1f);
  std::vector<float> x(static_cast<std::size_t>(seconds * sr));
  for (float& v : x) v = noise(rng);
  return x;
}

void mono(const fs::path& p, const std::vector<float>& x) { au::write_wav_mono(p.string(), x, int(sr)); }

// The fixture: vn 5 segments (#2 replaced by noise) + 4 stereo segments, tpt 5 segments,
// a silent vn track (2 segments), a noise tpt track (2 segments), a flute track.
struct urmp_fixture {
  dsae_test::temp_dir tmp{"urmp"};
  fs::path root = tmp.path / "URMP" / "Dataset";
  urmp_fixture() {
    const fs::path a = root / "01_Jupiter_vn_tpt", b = root / "02_Sonata_vn_fl",
                   c = root / "03_Dance_tpt_vn";
    for (const auto& d : {a, b, c}) fs::create_directories(d);
    mono(a / "AuSep_1_vn_01_Jupiter.wav", tone(440.0, 20.3, 0.5, 6, 8.5, 11.5));  // 5 segs, #2 noisy
    mono(a / "AuSep_2_tpt_01_Jupiter.wav", tone(233.1, 20.2, 0.2, 8));         // 5 segs
    mono(a / "AuMix_01_Jupiter_vn_tpt.wav", tone(300.0, 2.0, 0.5, 3));         // not AuSep: ignored
    dsae_test::spit(a / "Notes_1_vn_01_Jupiter.txt", "0.0 440.0 1.0\n");
    mono(b / "AuSep_1_vn_02_Sonata.wav", std::vector<float>(static_cast<std::size_t>(8.6 * sr), 0.f));
    mono(b / "AuSep_2_fl_02_Sonata.wav", tone(880.0, 4.2, 0.5, 2));            // flute: not selected
    mono(c / "AuSep_1_tpt_03_Dance.wav", white(8.4, 7));                       // unvoiced
    // Stereo: left a violin tone, right noise. 4 segments.
    const auto left = tone(659.3, 16.5, 0.4, 5), right = white(16.5, 9);
    xt::xtensor<float, 2> st = xt::zeros<float>({left.size(), std::size_t(2)});
    for (std::size_t i = 0; i < left.size(); ++i) st(i, 0) = left[i], st(i, 1) = right[i];
    au::write_wav((c / "AuSep_2_vn_03_Dance.wav").string(), st, int(sr));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(urmp)

BOOST_AUTO_TEST_CASE(pipeline_filters_normalises_and_splits) {
  urmp_fixture fx;
  // Track discovery in the real naming scheme, sorted by piece then track number.
  const auto t = ur::find_tracks(fx.root, {"vn", "tpt"});
  BOOST_TEST_REQUIRE(t.size() == 5u);
  BOOST_TEST(t[0].piece == "01_Jupiter_vn_tpt");
  BOOST_TEST(t[0].code == "vn");
  BOOST_TEST(t[1].code == "tpt");
  BOOST_TEST(t[2].path.filename() == "AuSep_1_vn_02_Sonata.wav");
  BOOST_TEST(ur::find_tracks(fx.root, {"fl"}).size() == 1u);

  ur::options o;
  o.root = fx.root;
  o.out = fx.tmp.path / "out";
  o.wav = true;
  o.pitch_tracker = "yin-dsae-v1";  // the paper's CREPE-full filter: crepe_filter below (tiny)
  const auto rep = ur::build_dataset(o);
  BOOST_TEST(rep.tracks == 5u);
  // 5 + 5 + 2 + 2 + 4 segments; kept: 4 + 4 violin, 5 trumpet.
  BOOST_TEST(rep.segments == 18u);
  BOOST_TEST(rep.kept == 13u);
  const auto& vn = rep.split_counts.at("violin");
  const auto& tp = rep.split_counts.at("trumpet");
  BOOST_TEST(vn[0] == 6u);  // round(0.8 * 8)
  BOOST_TEST(vn[1] == 1u);  // round(0.1 * 8)
  BOOST_TEST(vn[2] == 1u);
  BOOST_TEST(tp[0] == 4u);  // round(0.8 * 5)
  BOOST_TEST(tp[1] == 1u);  // round(0.5), half away from zero
  BOOST_TEST(tp[2] == 0u);  // an empty split is still written (0 x 251 x 80)
  const auto ds = dsae::data::load_dataset(o.out);
  BOOST_TEST(ds.manifest["preprocessing"]["pitch_estimator"] == "yin-dsae-v1");
  BOOST_TEST(ds.has("test"));
  BOOST_TEST(ds.train().features.shape(0) == 10u);
  BOOST_TEST(ds.train().features.shape(1) == 251u);
  std::map<std::string, double> peak;
  for (const auto* sp : {&ds.train(), &ds.val(), &ds.split("test")})
    for (const auto& l : sp->labels) {
      const std::string src = l.raw["source"];
      // Dropped material never appears: the silent track, the noise track, the noisy segment.
      BOOST_TEST(src.find("02_Sonata") == std::string::npos);
      BOOST_TEST(src.find("AuSep_1_tpt_03_Dance") == std::string::npos);
      BOOST_TEST(!(src.find("AuSep_1_vn_01") != std::string::npos && l.raw["segment"] == 2));
      BOOST_TEST(l.raw["confidence"].get<double>() > 0.85);
      const auto w = au::read_wav_mono((o.out / l.raw["wav"].get<std::string>()).string(), 0);
      BOOST_TEST_REQUIRE(w.size() == 64000u);
      for (float v : w) peak[l.instrument] = std::max(peak[l.instrument], double(std::abs(v)));
      // Left channel of the stereo track: a violin tone at E5 (659 Hz).
      if (src.find("AuSep_2_vn_03") != std::string::npos) {
        const auto tr = au::track_pitch(w);
        BOOST_TEST(tr.f0_hz[250] == 659.3, boost::test_tools::tolerance(0.01));
      }
    }
  // Renormalised per instrument: the loudest kept segment peaks at 1 (16-bit copy).
  BOOST_TEST(peak["violin"] == 1.0, boost::test_tools::tolerance(1e-3));
  BOOST_TEST(peak["trumpet"] == 1.0, boost::test_tools::tolerance(1e-3));

  // Deterministic: a second run gives the same bytes.
  o.out = fx.tmp.path / "out2";
  o.threads = 1;
  ur::build_dataset(o);
  for (const char* f : {"manifest.json", "train/features.npy", "val/features.npy", "test/features.npy"})
    BOOST_TEST(dsae_test::slurp(fx.tmp.path / "out" / f) == dsae_test::slurp(fx.tmp.path / "out2" / f));
}

// The CREPE confidence filter (tiny capacity: the paper's full model costs ~37x more) on a
// smaller fixture: vn 3 segments (#1 noise), tpt 2 segments, an unvoiced tpt track.
BOOST_AUTO_TEST_CASE(crepe_filter) {
  dsae_test::temp_dir tmp{"urmp_crepe"};
  const fs::path root = tmp.path / "URMP", a = root / "01_Jupiter_vn_tpt", c = root / "03_Dance_tpt_vn";
  fs::create_directories(a);
  fs::create_directories(c);
  mono(a / "AuSep_1_vn_01_Jupiter.wav", tone(440.0, 12.2, 0.5, 6, 4.5, 7.5));
  // 5 trumpet segments: 0.8/0.1/0.1 then gives a non-empty validation split (issue 19: an
  // empty one is refused; with 2 + 2 kept segments this test used to write one).
  mono(a / "AuSep_2_tpt_01_Jupiter.wav", tone(233.1, 20.2, 0.2, 8));
  mono(c / "AuSep_1_tpt_03_Dance.wav", white(4.1, 7));
  ur::options o;
  o.root = root;
  o.out = tmp.path / "out";
  BOOST_TEST(o.pitch_tracker == "crepe-full");  // the paper's filter is the default
  BOOST_TEST(o.crepe.hop == 128);
  BOOST_TEST(o.crepe.f_max == 2000.0);
  o.pitch_tracker = "crepe-tiny";
  const auto rep = ur::build_dataset(o);
  BOOST_TEST(rep.segments == 9u);
  BOOST_TEST(rep.kept == 7u);
  const auto ds = dsae::data::load_dataset(o.out);
  const auto& pre = ds.manifest["preprocessing"];
  BOOST_TEST(pre["pitch_estimator"] == "crepe-tiny-viterbi");
  BOOST_TEST(pre["pitch_hop"] == 128);
  BOOST_TEST(pre["matches_paper_estimator"] == false);
  for (const auto* sp : {&ds.train(), &ds.val(), &ds.split("test")})
    for (const auto& l : sp->labels) {
      const std::string src = l.raw["source"];
      BOOST_TEST(src.find("03_Dance") == std::string::npos);
      BOOST_TEST(!(src.find("AuSep_1_vn_01") != std::string::npos && l.raw["segment"] == 1));
      BOOST_TEST(l.raw["confidence"].get<double>() > 0.85);
    }
}

BOOST_AUTO_TEST_CASE(bad_input) {
  urmp_fixture fx;
  ur::options o;
  o.pitch_tracker = "yin-dsae-v1";  // errors only: the tracker does not matter
  o.out = fx.tmp.path / "out";
  // Not a URMP folder.
  o.root = fx.tmp.path / "nothing";
  fs::create_directories(o.root / "random_folder");
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("not a URMP folder") != std::string::npos);
  }
  o.root = fx.tmp.path / "missing";
  BOOST_CHECK_THROW(ur::build_dataset(o), std::runtime_error);
  // Empty selection: no track of that instrument.
  o.root = fx.root;
  o.codes = {"tba"};
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("empty selection") != std::string::npos);
  }
  // A corrupt WAV: the error names the file; with skip_bad the run goes on and lists it.
  o.codes = {"tpt"};
  const fs::path bad = fx.root / "01_Jupiter_vn_tpt" / "AuSep_3_tpt_01_Jupiter.wav";
  // Truncated (issue 13 item 10: libsndfile clamps the frame count, so the cut file was
  // used silently and not listed in skipped_files): keep the header and half the samples.
  {
    const std::string whole = dsae_test::slurp(bad);
    dsae_test::spit(bad, whole.substr(0, whole.size() / 2));
  }
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(bad.string()) != std::string::npos);
  }
  BOOST_TEST(!dsae::data::holds_dataset(o.out));
  o.skip_bad = true;
  std::ostringstream log;
  o.log = &log;
  const auto rep = ur::build_dataset(o);
  BOOST_TEST(rep.skipped_files == 1u);
  BOOST_TEST(rep.kept == 5u);
  BOOST_TEST(log.str().find("AuSep_3_tpt_01_Jupiter.wav") != std::string::npos);
  const auto ds = dsae::data::load_dataset(o.out);
  BOOST_TEST(ds.manifest["skipped_files"][0]["file"] == "01_Jupiter_vn_tpt/AuSep_3_tpt_01_Jupiter.wav");
  // An existing dataset is refused without overwrite (before any work).
  o.skip_bad = false;
  fs::remove(bad);
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("--overwrite") != std::string::npos);
  }
  // Empty selection: only unvoiced trumpet material left.
  fs::remove(fx.root / "01_Jupiter_vn_tpt" / "AuSep_2_tpt_01_Jupiter.wav");
  o.overwrite = true;
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("pitch-confidence") != std::string::npos);
  }
  BOOST_TEST(dsae::data::holds_dataset(o.out));  // a failed run leaves the old dataset alone
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 19 items 13 and 15: repeated codes and an empty validation split are refused; a WAV
// whose sample rate the resampler cannot take is named while scanning, and --skip-bad skips it.
BOOST_AUTO_TEST_SUITE(urmp_round2)

BOOST_AUTO_TEST_CASE(repeated_codes_empty_val_and_bad_rates) {
  dsae_test::temp_dir tmp("urmp2");
  const fs::path root = tmp.path / "URMP", piece = root / "01_Jupiter_vn_tpt";
  fs::create_directories(piece);
  mono(piece / "AuSep_1_vn_01_Jupiter.wav", tone(440.0, 8.4, 0.5, 6));  // 2 segments
  ur::options o;
  o.pitch_tracker = "yin-dsae-v1";
  o.root = root;
  o.out = tmp.path / "out";
  o.codes = {"vn", "vn", "tpt"};
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("'vn' is given twice") != std::string::npos);
  }
  o.codes = {"vn"};
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("validation split empty") != std::string::npos, e.what());
  }
  BOOST_TEST(!fs::exists(o.out / "manifest.json"));
  // 50 Hz -> 16 kHz is a ratio of 320 (libsamplerate takes up to 256).
  const fs::path slow = piece / "AuSep_2_vn_01_Jupiter.wav";
  au::write_wav_mono(slow.string(), std::vector<float>(400, 0.1f), 50);
  try {
    ur::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(slow.string()) != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("sample rate") != std::string::npos, e.what());
  }
  o.skip_bad = true;
  o.log = nullptr;
  mono(piece / "AuSep_3_vn_01_Jupiter.wav", tone(523.3, 16.4, 0.5, 6, -1, -1, 3));  // 4 more segments
  const auto rep = ur::build_dataset(o);
  BOOST_TEST(rep.skipped_files == 1u);
  const auto ds = dsae::data::load_dataset(o.out);
  BOOST_TEST(ds.manifest["skipped_files"][0]["file"] == "01_Jupiter_vn_tpt/AuSep_2_vn_01_Jupiter.wav");
}

BOOST_AUTO_TEST_SUITE_END()
