#pragma once
// dMelodies (Pati, Gururani, Lerch, ISMIR 2020) as specified in spec/data.md: the factor
// space, the melody builder, the TS-DSAE subsets, seeded selection and the audio dataset.
//
// Public API (namespace dsae::datasets::dmelodies):
//   factor_sizes, factor_names, total_melodies (1,354,752)
//   factors                 the nine factor indices; row_index() / from_row()
//   rhythm(k)               the k-th 6-subset of the 8 eighth-note slots (lexicographic)
//   chord_pitches(f)        the 12 arpeggio pitches (MIDI)
//   melody(f)               16 slots, MIDI pitch or -1 (rest)
//   subset_rows(octaves, drop_edge_rests)   C major rows for octaves (4, 5, 6), sorted
//   select(rows, count, seed, instruments)  balanced instruments (and octaves), 80/20 split
//   build_options, build_dataset(opts)      render + log-mel + write DIR (see data/dataset.hpp)
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../audio/features.hpp"
#include "../audio/render.hpp"
#include "../audio/wav.hpp"
#include "../data/dataset.hpp"
#include "detail/rng.hpp"

namespace dsae::datasets::dmelodies {

inline constexpr std::array<int, 9> factor_sizes{12, 3, 3, 28, 28, 2, 2, 2, 2};
inline constexpr std::array<const char*, 9> factor_names = data::dmelodies_factor_names;
inline constexpr std::int64_t total_melodies = 12LL * 3 * 3 * 28 * 28 * 16;  // 1,354,752
inline constexpr int slots = 16;
inline constexpr int first_octave = 4;  // octave index 0 = octave 4 (C4 = MIDI 60)

// Scale degree offsets (semitones from the root), degrees 0..8.
inline constexpr std::array<std::array<int, 9>, 3> scales{{
    {0, 2, 4, 5, 7, 9, 11, 12, 14},   // major
    {0, 2, 3, 5, 7, 8, 11, 12, 14},   // minor
    {0, 2, 3, 5, 6, 9, 10, 12, 14}}};  // blues
inline constexpr std::array<std::array<int, 3>, 4> chords{{{0, 2, 4}, {3, 5, 7}, {4, 6, 8}, {0, 2, 4}}};

struct factors {
  int tonic = 0, octave = 0, scale = 0, rhythm_bar1 = 0, rhythm_bar2 = 0;
  std::array<int, 4> arp{0, 0, 0, 0};  // 0 = up, 1 = down

  std::array<int, 9> as_array() const {
    return {tonic, octave, scale, rhythm_bar1, rhythm_bar2, arp[0], arp[1], arp[2], arp[3]};
  }
  // requires: every index within factor_sizes (throws std::invalid_argument otherwise).
  static factors from_array(const std::array<int, 9>& a) {
    for (std::size_t k = 0; k < 9; ++k)
      if (a[k] < 0 || a[k] >= factor_sizes[k])
        throw std::invalid_argument(std::string("dmelodies: factor ") + factor_names[k] + " = " +
                                    std::to_string(a[k]) + " outside 0.." +
                                    std::to_string(factor_sizes[k] - 1));
    return factors{a[0], a[1], a[2], a[3], a[4], {a[5], a[6], a[7], a[8]}};
  }
  friend bool operator==(const factors&, const factors&) = default;
};

// Row index, last factor fastest. requires: valid factors. ensures: 0 <= idx < total.
inline std::int64_t row_index(const factors& f) {
  const auto a = factors::from_array(f.as_array()).as_array();
  std::int64_t idx = 0;
  for (std::size_t k = 0; k < 9; ++k) idx = idx * factor_sizes[k] + a[k];
  return idx;
}

// requires: 0 <= row < total_melodies.
inline factors from_row(std::int64_t row) {
  if (row < 0 || row >= total_melodies)
    throw std::invalid_argument("dmelodies: row index " + std::to_string(row) + " outside 0.." +
                                std::to_string(total_melodies - 1));
  std::array<int, 9> a{};
  for (std::size_t k = 9; k-- > 0;) {
    a[k] = static_cast<int>(row % factor_sizes[k]);
    row /= factor_sizes[k];
  }
  return factors::from_array(a);
}

// The k-th 6-element subset of {0..7} in lexicographic order (k = 0: {0..5}, 27: {2..7}).
inline std::array<int, 6> rhythm(int k) {
  if (k < 0 || k >= 28)
    throw std::invalid_argument("dmelodies: rhythm " + std::to_string(k) + " outside 0..27");
  int n = 0;
  std::array<int, 6> out{};
  for (int c0 = 0; c0 < 8; ++c0)
    for (int c1 = c0 + 1; c1 < 8; ++c1)
      for (int c2 = c1 + 1; c2 < 8; ++c2)
        for (int c3 = c2 + 1; c3 < 8; ++c3)
          for (int c4 = c3 + 1; c4 < 8; ++c4)
            for (int c5 = c4 + 1; c5 < 8; ++c5)
              if (n++ == k) {
                out = {c0, c1, c2, c3, c4, c5};
                return out;
              }
  return out;
}

// The 12 arpeggio pitches: MIDI(root) + scale[degree], chords I-IV-V-I, "down" reversed.
inline std::array<int, 12> chord_pitches(const factors& f) {
  factors::from_array(f.as_array());
  const int root = 12 * (first_octave + f.octave + 1) + f.tonic;  // C4 = 60
  std::array<int, 12> p{};
  for (std::size_t c = 0; c < 4; ++c)
    for (std::size_t j = 0; j < 3; ++j) {
      const std::size_t deg = f.arp[c] ? 2 - j : j;
      p[c * 3 + j] = root + scales[static_cast<std::size_t>(f.scale)][static_cast<std::size_t>(chords[c][deg])];
    }
  return p;
}

// 16 eighth-note slots (bar 1 then bar 2): onset slots take the next pitch, others are -1.
inline std::array<int, slots> melody(const factors& f) {
  const auto p = chord_pitches(f);
  std::array<int, slots> m;
  m.fill(-1);
  std::size_t next = 0;
  const std::array<int, 2> bars{f.rhythm_bar1, f.rhythm_bar2};
  for (std::size_t bar = 0; bar < 2; ++bar)
    for (int s : rhythm(bars[bar])) m[bar * 8 + static_cast<std::size_t>(s)] = p[next++];
  return m;
}

// True when slot 0 and slot 15 both hold notes.
inline bool no_edge_rests(const factors& f) {
  const auto m = melody(f);
  return m[0] >= 0 && m[slots - 1] >= 0;
}

// Rows of tonic C, major, the given octaves (4, 5 or 6), all rhythms and arpeggiations;
// with drop_edge_rests only melodies that neither start nor end with a rest. Sorted.
// (1 octave: 12,544 rows, 7,056 after the filter; octaves 4+5: 14,112 after the filter.)
inline std::vector<std::int64_t> subset_rows(const std::vector<int>& octaves,
                                             bool drop_edge_rests = true) {
  if (octaves.empty()) throw std::invalid_argument("dmelodies: no octave selected");
  std::vector<std::int64_t> rows;
  for (int o : octaves) {
    if (o < first_octave || o > first_octave + 2)
      throw std::invalid_argument("dmelodies: octave " + std::to_string(o) +
                                  " not in {4, 5, 6}");
    for (int r1 = 0; r1 < 28; ++r1)
      for (int r2 = 0; r2 < 28; ++r2)
        for (int a = 0; a < 16; ++a) {
          factors f{0, o - first_octave, 0, r1, r2, {(a >> 3) & 1, (a >> 2) & 1, (a >> 1) & 1, a & 1}};
          if (!drop_edge_rests || no_edge_rests(f)) rows.push_back(row_index(f));
        }
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

struct selected_item {
  std::int64_t row = 0;
  std::size_t instrument = 0;  // index into the instrument list
  std::string split;           // "train" or "val"
};

// Seeded draw of `count` rows, balanced over octaves (equal share per octave present in
// rows) and, within each octave, over instruments (first half of the random draw gets
// instrument 0, ...); each (octave, instrument) cell is split round(0.8 n) train / rest
// val. Output: train items then val items, each shuffled. Depends only on the arguments.
// requires: 1 <= count <= rows.size(), n_instruments >= 1, each octave has enough rows.
inline std::vector<selected_item> select(const std::vector<std::int64_t>& rows, std::size_t count,
                                         std::uint64_t seed, std::size_t n_instruments,
                                         double train_fraction = 0.8) {
  if (count == 0) throw std::invalid_argument("dmelodies: empty selection (count = 0)");
  if (count > rows.size())
    throw std::invalid_argument("dmelodies: count " + std::to_string(count) +
                                " exceeds the subset's " + std::to_string(rows.size()) +
                                " melodies");
  if (n_instruments == 0) throw std::invalid_argument("dmelodies: no instrument");
  std::map<int, std::vector<std::int64_t>> by_octave;
  for (auto r : rows) by_octave[from_row(r).octave].push_back(r);
  detail::rng64 rng(seed);
  std::vector<selected_item> train, val;
  std::size_t g = 0;
  const std::size_t ng = by_octave.size();
  for (auto& [oct, group] : by_octave) {
    const std::size_t want = count / ng + (g < count % ng ? 1 : 0);
    ++g;
    if (want > group.size())
      throw std::invalid_argument("dmelodies: octave index " + std::to_string(oct) + " has " +
                                  std::to_string(group.size()) + " melodies, need " +
                                  std::to_string(want));
    detail::shuffle(group, rng);
    std::size_t pos = 0;
    for (std::size_t ins = 0; ins < n_instruments; ++ins) {
      const std::size_t n = want / n_instruments + (ins < want % n_instruments ? 1 : 0);
      const std::size_t n_train = static_cast<std::size_t>(std::llround(train_fraction * double(n)));
      for (std::size_t k = 0; k < n; ++k, ++pos)
        (k < n_train ? train : val).push_back({group[pos], ins, k < n_train ? "train" : "val"});
    }
  }
  detail::shuffle(train, rng);
  detail::shuffle(val, rng);
  train.insert(train.end(), val.begin(), val.end());
  return train;
}

struct instrument_spec {
  std::string name;
  audio::gm_preset preset;
};
inline std::vector<instrument_spec> default_instruments() {
  return {{"violin", audio::gm_violin}, {"trumpet", audio::gm_trumpet}};
}

// requires: count >= 1, octaves within {4,5,6}.
struct build_options {
  std::filesystem::path out;
  std::size_t count = 3000;
  std::vector<int> octaves{4};
  std::uint64_t seed = 0;
  bool reverb = true;
  bool wav = false;        // also write DIR/<split>/wav/*.wav (16-bit PCM)
  bool overwrite = false;
  std::string soundfont = audio::default_soundfont_path;
  int threads = 0;         // 0 = all OpenMP threads
  std::vector<instrument_spec> instruments = default_instruments();
  audio::mel_config mel{};
};

struct build_report {
  std::size_t train = 0, val = 0, subset = 0;
};

// Selects, renders, extracts log-mel and writes the dataset (format in data/dataset.hpp).
// Fails before any work if the soundfont is missing or the output already holds a dataset
// (unless overwrite). ensures: byte-identical output for identical options.
inline build_report build_dataset(const build_options& o) {
  audio::require_soundfont(o.soundfont);
  if (o.instruments.empty()) throw std::invalid_argument("dmelodies: no instrument");
  const auto rows = subset_rows(o.octaves, true);
  const auto items = select(rows, o.count, o.seed, o.instruments.size());
  if (std::none_of(items.begin(), items.end(), [](const selected_item& i) { return i.split == "val"; }))
    throw std::invalid_argument("dmelodies: count " + std::to_string(o.count) + " leaves the validation split "
                                "empty (each instrument's 20% share rounds to 0 melodies); use a larger count");
  data::dataset_output output(o.out, o.overwrite);  // locked; the old dataset stays until commit
  const std::filesystem::path& dir = output.build_dir();

  audio::render_config rc;
  rc.sample_rate = o.mel.sample_rate;
  rc.slot_frames = static_cast<int>(std::lround(0.25 * o.mel.sample_rate));
  rc.reverb = o.reverb;
  rc.soundfont = o.soundfont;
  rc.pinned.clear();
  for (const auto& ins : o.instruments) rc.pinned.push_back(ins.preset);
  const audio::log_mel mel(o.mel);
  const std::size_t len = static_cast<std::size_t>(slots * rc.slot_frames);
  const std::size_t T = mel.frames(len), F = mel.bins();

  std::map<std::string, std::size_t> n_split;
  std::vector<std::size_t> pos_in_split(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) pos_in_split[i] = n_split[items[i].split]++;
  std::map<std::string, xt::xtensor<float, 3>> features;
  for (const auto& [name, n] : n_split) features[name] = xt::zeros<float>({n, T, F});
  if (o.wav)
    for (const auto& [name, n] : n_split) std::filesystem::create_directories(dir / name / "wav");

  auto wav_name = [&](std::size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%05zu_%07lld_%s.wav", pos_in_split[i],
                  static_cast<long long>(items[i].row),
                  o.instruments[items[i].instrument].name.c_str());
    return items[i].split + "/wav/" + buf;
  };

  dsae::detail::exception_slot errors;  // a throw inside the region must not abort
  [[maybe_unused]] int nt = 1;
#ifdef _OPENMP
  // One FluidSynth synthesizer (~16 MB) per thread: never more threads than cores or clips.
  nt = dsae::detail::worker_threads(o.threads, items.size());
#endif
#pragma omp parallel num_threads(nt)
  {
    std::unique_ptr<audio::fluid_session> session;
    errors.run([&] { session = std::make_unique<audio::fluid_session>(rc); });
    std::vector<float> clip(len);
#pragma omp for schedule(dynamic, 8)
    for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(items.size()); ++ii) {
      if (!session) continue;
      const std::size_t i = static_cast<std::size_t>(ii);
      errors.run([&] {
        const auto m = melody(from_row(items[i].row));
        session->render_into(m, o.instruments[items[i].instrument].preset, clip);
        auto& f = features.at(items[i].split);
        mel.compute_into(clip, std::span<float>(f.data() + pos_in_split[i] * T * F, T * F));
        if (o.wav)
          audio::write_wav_mono((dir / wav_name(i)).string(), clip,
                                static_cast<int>(rc.sample_rate), SF_FORMAT_PCM_16);
      });
    }
  }
  errors.rethrow();

  nlohmann::json jitems = nlohmann::json::array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const factors f = from_row(items[i].row);
    const auto a = f.as_array();
    nlohmann::json fj = nlohmann::json::object();
    for (std::size_t k = 0; k < 9; ++k) fj[factor_names[k]] = a[k];
    const auto m = melody(f);
    nlohmann::json it = {{"split", items[i].split},
                         {"row", items[i].row},
                         {"factors", fj},
                         {"instrument", o.instruments[items[i].instrument].name},
                         {"octave", first_octave + f.octave},
                         {"pitches", std::vector<int>(m.begin(), m.end())}};
    if (o.wav) it["wav"] = wav_name(i);
    jitems.push_back(std::move(it));
  }
  std::vector<std::string> names;
  nlohmann::json presets = nlohmann::json::object();
  for (const auto& ins : o.instruments) {
    names.push_back(ins.name);
    presets[ins.name] = {{"bank", ins.preset.bank}, {"program", ins.preset.program}};
  }
  std::vector<std::string> fnames(factor_names.begin(), factor_names.end());
  nlohmann::json header = {
      {"dataset", "dmelodies"},
      {"instruments", names},
      {"factor_names", fnames},
      {"factor_sizes", std::vector<int>(factor_sizes.begin(), factor_sizes.end())},
      {"subset", {{"tonic", "C"}, {"scale", "major"}, {"octaves", o.octaves},
                  {"drop_edge_rests", true}, {"melodies", rows.size()}}},
      {"selection", {{"count", o.count}, {"seed", o.seed}, {"train_fraction", 0.8},
                     {"balanced", "instrument within octave"}}},
      {"render", {{"synth", "fluidsynth"}, {"fluidsynth_version", fluid_version_str()},
                  {"soundfont", std::filesystem::path(o.soundfont).filename().string()},
                  {"sample_rate", rc.sample_rate}, {"bpm", 120}, {"slot_frames", rc.slot_frames},
                  {"samples", len}, {"velocity", rc.velocity}, {"reverb", o.reverb},
                  {"polyphony", rc.polyphony},
                  {"chorus", false}, {"presets", presets}, {"normalisation", "peak 1, mono"}}},
      {"features", {{"type", "log-mel"}, {"sample_rate", o.mel.sample_rate},
                    {"n_fft", o.mel.n_fft}, {"win_length", o.mel.n_fft},
                    {"window", "hann periodic"}, {"hop", o.mel.hop}, {"center", "reflect"},
                    {"power", 2}, {"n_mels", o.mel.n_mels}, {"mel_scale", "htk"},
                    {"mel_norm", "none"}, {"f_min", o.mel.f_min}, {"f_max", o.mel.f_max},
                    {"log", "natural"}, {"log_offset", o.mel.log_offset},
                    {"frames", T}, {"bins", F}}},
      {"pitches_rest", -1}};
  data::write_dataset(dir, header, features, jitems);
  output.commit();
  build_report rep;
  rep.train = n_split["train"];
  rep.val = n_split["val"];
  rep.subset = rows.size();
  return rep;
}

}  // namespace dsae::datasets::dmelodies
