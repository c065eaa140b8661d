// dMelodies: factor space, melody builder, subsets, selection, and the rendered dataset.
#include <boost/test/unit_test.hpp>

#include <dsae/datasets/dmelodies.hpp>

#include <set>

#include "common.hpp"

namespace dm = dsae::datasets::dmelodies;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(dmelodies)

BOOST_AUTO_TEST_CASE(factor_space_and_row_index) {
  BOOST_TEST(dm::total_melodies == 1354752);
  BOOST_TEST((dm::from_row(0) == dm::factors{}));
  const dm::factors last{11, 2, 2, 27, 27, {1, 1, 1, 1}};
  BOOST_TEST(dm::row_index(last) == dm::total_melodies - 1);
  // The spec's formula written out for one melody.
  const dm::factors f{5, 1, 2, 13, 7, {1, 0, 1, 1}};
  const std::int64_t want = ((((((((5LL * 3 + 1) * 3 + 2) * 28 + 13) * 28 + 7) * 2 + 1) * 2 + 0) * 2 + 1) * 2 + 1);
  BOOST_TEST(dm::row_index(f) == want);
  BOOST_TEST((dm::from_row(want) == f));
  for (std::int64_t r = 0; r < dm::total_melodies; r += 9973) BOOST_TEST_REQUIRE(dm::row_index(dm::from_row(r)) == r);
  BOOST_CHECK_THROW(dm::from_row(dm::total_melodies), std::invalid_argument);
  BOOST_CHECK_THROW(dm::row_index(dm::factors{12, 0, 0, 0, 0, {0, 0, 0, 0}}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rhythms_are_lexicographic_6_subsets) {
  BOOST_TEST(dm::rhythm(0) == (std::array<int, 6>{0, 1, 2, 3, 4, 5}));
  BOOST_TEST(dm::rhythm(1) == (std::array<int, 6>{0, 1, 2, 3, 4, 6}));
  BOOST_TEST(dm::rhythm(27) == (std::array<int, 6>{2, 3, 4, 5, 6, 7}));
  std::set<std::array<int, 6>> all;
  for (int k = 0; k < 28; ++k) {
    if (k > 0) BOOST_TEST(dm::rhythm(k - 1) < dm::rhythm(k));
    all.insert(dm::rhythm(k));
    // Slot 0 is a note exactly for k in 0..20.
    BOOST_TEST((dm::rhythm(k)[0] == 0) == (k <= 20));
  }
  BOOST_TEST(all.size() == 28u);
  // Slot 7 is a note exactly for the spec's list.
  const std::set<int> ends{2, 4, 5, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 27};
  for (int k = 0; k < 28; ++k) BOOST_TEST((dm::rhythm(k)[5] == 7) == (ends.count(k) == 1));
  BOOST_CHECK_THROW(dm::rhythm(28), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(first_melody_pitches) {
  const auto p = dm::chord_pitches(dm::from_row(0));
  // C4 E4 G4 | F4 A4 C5 | G4 B4 D5 | C4 E4 G4
  BOOST_TEST(p == (std::array<int, 12>{60, 64, 67, 65, 69, 72, 67, 71, 74, 60, 64, 67}));
  BOOST_TEST(dm::melody(dm::from_row(0)) ==
             (std::array<int, 16>{60, 64, 67, 65, 69, 72, -1, -1, 67, 71, 74, 60, 64, 67, -1, -1}));
  // "down" reverses a chord; minor and blues change the scale; tonic and octave transpose.
  const auto d = dm::chord_pitches(dm::factors{0, 0, 0, 0, 0, {1, 0, 0, 1}});
  BOOST_TEST(d[0] == 67);
  BOOST_TEST(d[2] == 60);
  BOOST_TEST(d[11] == 60);
  BOOST_TEST(dm::chord_pitches(dm::factors{0, 0, 1, 0, 0, {0, 0, 0, 0}})[1] == 63);  // minor third
  BOOST_TEST(dm::chord_pitches(dm::factors{0, 0, 2, 0, 0, {0, 0, 0, 0}})[5] == 72);
  BOOST_TEST(dm::chord_pitches(dm::factors{9, 2, 0, 0, 0, {0, 0, 0, 0}})[0] == 93);  // A6
  // The first melody of the filtered subset starts and ends with a note.
  const auto first = dm::melody(dm::from_row(dm::subset_rows({4})[0]));
  BOOST_TEST(first == (std::array<int, 16>{60, 64, 67, 65, 69, 72, -1, -1, 67, 71, 74, 60, 64, -1, -1, 67}));
}

BOOST_AUTO_TEST_CASE(subset_counts) {
  BOOST_TEST(dm::subset_rows({4}, false).size() == 12544u);
  const auto s4 = dm::subset_rows({4});
  BOOST_TEST(s4.size() == 7056u);
  BOOST_TEST(dm::subset_rows({4, 5}).size() == 14112u);
  std::size_t repeated = 0;
  for (auto r : s4) {
    const auto m = dm::melody(dm::from_row(r));
    BOOST_TEST_REQUIRE((m[0] >= 0 && m[15] >= 0));
    bool rep = false;
    for (std::size_t s = 1; s < 16; ++s) rep |= m[s] >= 0 && m[s] == m[s - 1];
    repeated += rep;
  }
  BOOST_TEST(repeated == 1260u);  // the spec's count of melodies with a repeated pitch
  BOOST_CHECK_THROW(dm::subset_rows({7}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(selection_is_balanced_seeded_and_split) {
  const auto rows = dm::subset_rows({4});
  const auto a = dm::select(rows, 3000, 0, 2);
  BOOST_TEST(a.size() == 3000u);
  std::map<std::pair<std::string, std::size_t>, int> cells;
  std::set<std::int64_t> uniq;
  for (const auto& it : a) ++cells[{it.split, it.instrument}], uniq.insert(it.row);
  BOOST_TEST(uniq.size() == 3000u);
  BOOST_TEST((cells[{"train", 0}]) == 1200);
  BOOST_TEST((cells[{"train", 1}]) == 1200);
  BOOST_TEST((cells[{"val", 0}]) == 300);
  BOOST_TEST((cells[{"val", 1}]) == 300);
  BOOST_TEST(a.front().split == "train");
  BOOST_TEST(a.back().split == "val");
  const auto b = dm::select(rows, 3000, 0, 2);
  const auto c = dm::select(rows, 3000, 1, 2);
  bool same_ab = true, same_ac = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    same_ab &= a[i].row == b[i].row && a[i].instrument == b[i].instrument;
    same_ac &= a[i].row == c[i].row;
  }
  BOOST_TEST(same_ab);
  BOOST_TEST(!same_ac);
  // Octaves 4 and 5: balanced over octave x instrument.
  const auto o = dm::select(dm::subset_rows({4, 5}), 3000, 0, 2);
  std::map<std::pair<int, std::size_t>, int> oc;
  for (const auto& it : o) ++oc[{dm::from_row(it.row).octave, it.instrument}];
  for (int oct : {0, 1})
    for (std::size_t ins : {0u, 1u}) BOOST_TEST((oc[{oct, ins}]) == 750);
  BOOST_CHECK_THROW(dm::select(rows, 0, 0, 2), std::invalid_argument);
  BOOST_CHECK_THROW(dm::select(rows, 7057, 0, 2), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(dataset_is_deterministic_and_consistent) {
  dsae_test::temp_dir tmp("dmel");
  dm::build_options o;
  o.count = 16;
  o.seed = 3;
  o.out = tmp.path / "a";
  o.wav = true;
  const auto rep = dm::build_dataset(o);
  BOOST_TEST(rep.train == 12u);  // round(0.8 * 8) per instrument
  BOOST_TEST(rep.val == 4u);
  o.out = tmp.path / "b";
  o.threads = 1;
  dm::build_dataset(o);
  for (const char* f : {"manifest.json", "train/features.npy", "val/features.npy"})
    BOOST_TEST(dsae_test::slurp(tmp.path / "a" / f) == dsae_test::slurp(tmp.path / "b" / f),
               "file " << f << " differs between runs");

  const auto ds = dsae::data::load_dataset(tmp.path / "a");
  BOOST_TEST(ds.instruments == (std::vector<std::string>{"violin", "trumpet"}));
  BOOST_TEST(ds.train().features.shape(1) == 251u);
  BOOST_TEST(ds.train().features.shape(2) == 80u);
  int violins = 0;
  for (const auto* sp : {&ds.train(), &ds.val()})
    for (const auto& l : sp->labels) {
      const auto f = dm::from_row(l.row);
      BOOST_TEST(l.factors == f.as_array());
      const auto m = dm::melody(f);
      BOOST_TEST(l.pitches == std::vector<int>(m.begin(), m.end()));
      BOOST_TEST(fs::exists(tmp.path / "a" / l.raw["wav"].get<std::string>()));
      violins += l.instrument == "violin";
    }
  BOOST_TEST(violins == 8);
  // End to end: features of item 0 equal the log-mel of a fresh render of its melody.
  const auto& l0 = ds.train().labels[0];
  dsae::audio::fluid_session s(dsae::audio::render_config{});
  const auto clip = s.render(l0.pitches, l0.instrument == "violin" ? dsae::audio::gm_violin
                                                                   : dsae::audio::gm_trumpet);
  const auto feat = dsae::audio::log_mel{}(clip);
  BOOST_TEST(std::equal(feat.begin(), feat.end(), ds.train().features.begin()));
  // The listening copy holds the same clip (16-bit).
  const auto w = dsae::audio::read_wav_mono((tmp.path / "a" / l0.raw["wav"].get<std::string>()).string(), 0);
  BOOST_TEST_REQUIRE(w.size() == clip.size());
  for (std::size_t i = 0; i < w.size(); i += 97) BOOST_TEST_REQUIRE(std::abs(w[i] - clip[i]) < 1e-4f);
}

BOOST_AUTO_TEST_CASE(bad_input) {
  dsae_test::temp_dir tmp("dmel_bad");
  dm::build_options o;
  o.count = 4;
  o.out = tmp.path / "x";
  o.soundfont = (tmp.path / "missing.sf3").string();
  try {
    dm::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("musescore-general-soundfont") != std::string::npos);
  }
  BOOST_TEST(!fs::exists(o.out));
  o.soundfont = dsae::audio::default_soundfont_path;
  o.count = 0;
  BOOST_CHECK_THROW(dm::build_dataset(o), std::invalid_argument);
  o.count = 4;  // 2 per instrument: the 20 % validation share rounds to 0
  BOOST_CHECK_THROW(dm::build_dataset(o), std::invalid_argument);
  BOOST_TEST(!fs::exists(o.out / "manifest.json"));
  o.count = 10;
  dm::build_dataset(o);
  const std::string before = dsae_test::slurp(o.out / "manifest.json");
  o.seed = 9;
  try {
    dm::build_dataset(o);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("--overwrite") != std::string::npos);
  }
  BOOST_TEST(dsae_test::slurp(o.out / "manifest.json") == before);
  o.overwrite = true;
  dm::build_dataset(o);
  BOOST_TEST(dsae_test::slurp(o.out / "manifest.json") != before);
}

BOOST_AUTO_TEST_SUITE_END()
