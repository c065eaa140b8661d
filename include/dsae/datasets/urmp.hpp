#pragma once
// URMP (Li et al., IEEE TMM 2019) preprocessing as in spec/data.md (Hayes et al. 2021).
//
// Public API (namespace dsae::datasets::urmp):
//   instrument_names            URMP codes -> names ("vn" -> "violin", "tpt" -> "trumpet", ...)
//   track                       one AuSep_k_inst_NN_Title.wav file in a NN_Title_... folder
//   find_tracks(root, codes)    the selected tracks, sorted; throws if root is not URMP
//   options, build_dataset(o)   the full pipeline, writing the dsae dataset format
//
// Pipeline: left channel -> per-instrument corpus-wide peak normalisation -> resample to
// 16 kHz (libsamplerate, medium-quality sinc) -> non-overlapping 4 s segments -> keep a segment if
// its mean pitch confidence is > threshold (0.85) -> divide an instrument's kept segments by
// their max |sample| -> seeded 0.8/0.1/0.1 split per instrument -> log-mel.
// Confidence: options.pitch_tracker (audio/pitch_tracker.hpp), by default "crepe-full" = the
// paper's (Hayes et al.): mean CREPE-full periodicity, Viterbi, hop 128, 50-2000 Hz.
// "crepe-tiny" is ~37x cheaper; "yin-dsae-v1" needs no weights. The tracker is named in the
// manifest ("pitch_estimator"). CREPE full over the paper's vn/tpt subset is hours on 2 cores
// (docs/evaluation.md); options.threads spreads the tracks over cores.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../audio/features.hpp"
#include "../audio/pitch.hpp"
#include "../audio/pitch_tracker.hpp"
#include "../audio/wav.hpp"
#include "../data/dataset.hpp"
#include "detail/rng.hpp"

namespace dsae::datasets::urmp {

inline const std::map<std::string, std::string>& instrument_names() {
  static const std::map<std::string, std::string> m{
      {"vn", "violin"},   {"va", "viola"},     {"vc", "cello"},     {"db", "double_bass"},
      {"fl", "flute"},    {"ob", "oboe"},      {"cl", "clarinet"},  {"sax", "saxophone"},
      {"bn", "bassoon"},  {"tpt", "trumpet"},  {"hn", "horn"},      {"tbn", "trombone"},
      {"tba", "tuba"}};
  return m;
}

struct track {
  std::filesystem::path path;
  std::string piece;        // folder name, e.g. "01_Jupiter_vn_vc"
  int track_number = 0;     // k in AuSep_k_...
  std::string code;         // "vn"
};

// Lists AuSep tracks of the given instrument codes under root, sorted by (piece, k).
// Throws std::runtime_error when root is missing, or holds no NN_Title_... folder with an
// AuSep_k_inst_NN_Title.wav file (not a URMP folder), or no track of the chosen codes.
inline std::vector<track> find_tracks(const std::filesystem::path& root,
                                      const std::vector<std::string>& codes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw std::runtime_error("URMP root '" + root.string() + "' is not a folder");
  const std::regex piece_re(R"((\d+)_([^/]+))");
  const std::regex file_re(R"(AuSep_(\d+)_([a-z]+)_(\d+)_(.+)\.wav)");
  std::vector<track> all;
  for (const auto& d : fs::directory_iterator(root, ec)) {
    if (!d.is_directory()) continue;
    const std::string piece = d.path().filename().string();
    if (!std::regex_match(piece, piece_re)) continue;
    for (const auto& f : fs::directory_iterator(d.path(), ec)) {
      std::smatch m;
      const std::string name = f.path().filename().string();
      if (f.is_regular_file() && std::regex_match(name, m, file_re))
        all.push_back({f.path(), piece, std::stoi(m[1].str()), m[2].str()});
    }
  }
  if (all.empty())
    throw std::runtime_error("'" + root.string() + "' is not a URMP folder: no "
                             "NN_Title_inst.../AuSep_k_inst_NN_Title.wav files found");
  std::vector<track> out;
  for (auto& t : all)
    if (std::find(codes.begin(), codes.end(), t.code) != codes.end()) out.push_back(t);
  if (out.empty()) {
    std::string list;
    for (const auto& c : codes) list += (list.empty() ? "" : ",") + c;
    throw std::runtime_error("empty selection: no AuSep track of instrument(s) " + list +
                             " under '" + root.string() + "'");
  }
  std::sort(out.begin(), out.end(), [](const track& a, const track& b) {
    return std::tie(a.piece, a.track_number, a.code) < std::tie(b.piece, b.track_number, b.code);
  });
  return out;
}

// requires: codes known, 0 < threshold < 1, segment_samples > n_fft/2.
struct options {
  std::filesystem::path root, out;
  std::vector<std::string> codes{"vn", "tpt"};
  std::uint64_t seed = 0;
  double threshold = 0.85;          // keep a segment iff mean confidence > threshold
  double sample_rate = 16000.0;
  std::size_t segment_samples = 64000;
  bool skip_bad = false;            // skip unreadable/corrupt WAVs (listed in the manifest)
  int converter = SRC_SINC_MEDIUM_QUALITY;  // libsamplerate converter (BEST is ~5x slower)
  bool wav = false;
  bool overwrite = false;
  int threads = 0;
  std::array<double, 3> fractions{0.8, 0.1, 0.1};
  audio::pitch_config pitch{};      // YIN: hop 128, 50-2000 Hz at 16 kHz
  std::string pitch_tracker = "crepe-full";  // crepe-full (paper), crepe-tiny, yin-dsae-v1
  audio::crepe_config crepe = audio::urmp_filter_crepe_config();  // Viterbi, hop 128, 50-2000 Hz
  audio::mel_config mel{};
  std::ostream* log = &std::cerr;   // warnings for skipped files (nullptr = silent)
};

struct report {
  std::size_t tracks = 0, skipped_files = 0, segments = 0, kept = 0;
  std::map<std::string, std::array<std::size_t, 3>> split_counts;  // per instrument name
};

namespace detail {
struct segment {
  std::size_t track = 0, index = 0;  // segment index within the track
  double confidence = 0;
  std::vector<float> audio;
};
}  // namespace detail

inline report build_dataset(const options& o) {
  for (std::size_t k = 0; k < o.codes.size(); ++k) {
    const auto& c = o.codes[k];
    if (!instrument_names().count(c))
      throw std::invalid_argument("urmp: unknown instrument code '" + c + "'");
    // A repeated code would list every segment of that instrument twice (some in train and val).
    if (std::find(o.codes.begin(), o.codes.begin() + std::ptrdiff_t(k), c) != o.codes.begin() + std::ptrdiff_t(k))
      throw std::invalid_argument("urmp: instrument code '" + c + "' is given twice in --instruments");
  }
  if (!(o.threshold > 0 && o.threshold < 1))
    throw std::invalid_argument("urmp: threshold must be in (0, 1), got " + std::to_string(o.threshold));
  if (o.pitch.sample_rate != o.sample_rate || o.mel.sample_rate != o.sample_rate)
    throw std::invalid_argument("urmp: pitch/mel sample rates must equal options.sample_rate");
  const auto tracks = find_tracks(o.root, o.codes);
  data::check_output_dir(o.out, o.overwrite);  // before the (long) pitch pass; rechecked when locked
  const audio::pitch_tracker tracker(o.pitch_tracker, o.crepe, o.pitch);  // loads CREPE weights now
  if (tracker.is_crepe() && o.sample_rate != audio::crepe_sample_rate)
    throw std::invalid_argument("urmp: CREPE needs sample_rate 16000, got " + std::to_string(o.sample_rate));

  report rep;
  rep.tracks = tracks.size();
  std::vector<char> bad(tracks.size(), 0);
  std::vector<std::string> bad_reason(tracks.size());
  std::vector<double> peak(tracks.size(), 0.0);
  [[maybe_unused]] int nt = 1;
#ifdef _OPENMP
  nt = dsae::detail::worker_threads(o.threads, tracks.size());
#endif
  // Pass 1: per-track peak of the left channel (tracks are read again in pass 2 so that
  // only one track per thread is in memory), and the checks that would otherwise fail only
  // after the pitch pass: readable, a sample rate the resampler takes.
  dsae::detail::exception_slot errors;
  std::mutex mu;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(tracks.size()); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    errors.run([&] {
      try {
        int sr = 0;
        const auto x = audio::read_wav_mono(tracks[i].path.string(), 0, &sr);
        audio::check_resample_rates(sr, o.sample_rate, tracks[i].path.string());
        double p = 0;
        for (float v : x) p = std::max(p, double(std::abs(v)));
        peak[i] = p;
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(mu);
          bad[i] = 1;
          bad_reason[i] = e.what();
        }
        if (!o.skip_bad) throw;
      }
    });
  }
  errors.rethrow();
  nlohmann::json skipped = nlohmann::json::array();
  for (std::size_t i = 0; i < tracks.size(); ++i)
    if (bad[i]) {
      ++rep.skipped_files;
      skipped.push_back({{"file", std::filesystem::relative(tracks[i].path, o.root).string()},
                         {"error", bad_reason[i]}});
      if (o.log) *o.log << "urmp: skipping " << bad_reason[i] << "\n";
    }
  std::map<std::string, double> inst_peak;
  for (std::size_t i = 0; i < tracks.size(); ++i)
    if (!bad[i]) inst_peak[tracks[i].code] = std::max(inst_peak[tracks[i].code], peak[i]);

  // Pass 2: normalise, resample, cut, score.
  std::vector<std::vector<detail::segment>> per_track(tracks.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(tracks.size()); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    if (bad[i]) continue;
    errors.run([&] {
      int sr = 0;
      auto x = audio::read_wav_mono(tracks[i].path.string(), 0, &sr);
      const double p = inst_peak[tracks[i].code];
      if (p > 0)
        for (float& v : x) v = static_cast<float>(v / p);
      const auto y = audio::resample(x, sr, o.sample_rate, o.converter);
      for (std::size_t s = 0; (s + 1) * o.segment_samples <= y.size(); ++s) {
        detail::segment seg;
        seg.track = i;
        seg.index = s;
        seg.audio.assign(y.begin() + static_cast<std::ptrdiff_t>(s * o.segment_samples),
                         y.begin() + static_cast<std::ptrdiff_t>((s + 1) * o.segment_samples));
        seg.confidence = tracker.mean_confidence(seg.audio);
        if (!(seg.confidence > o.threshold)) std::vector<float>().swap(seg.audio);  // dropped
        per_track[i].push_back(std::move(seg));
      }
    });
  }
  errors.rethrow();

  // Keep, renormalise per instrument, split.
  std::map<std::string, std::vector<detail::segment>> kept;
  for (auto& segs : per_track)
    for (auto& s : segs) {
      ++rep.segments;
      if (s.confidence > o.threshold) kept[tracks[s.track].code].push_back(std::move(s));
    }
  for (auto& [code, segs] : kept) rep.kept += segs.size();
  if (rep.kept == 0)
    throw std::runtime_error("empty selection: none of the " + std::to_string(rep.segments) +
                             " segments under '" + o.root.string() +
                             "' passed the pitch-confidence filter (" + tracker.name() + " > " +
                             std::to_string(o.threshold) + ")");
  static constexpr std::array<const char*, 3> split_names{"train", "val", "test"};
  struct placed {
    const detail::segment* seg;
    std::string code;
    std::size_t split;
  };
  std::vector<placed> order;
  datasets::detail::rng64 rng(o.seed);
  for (const std::string& code : o.codes) {  // instrument order of the options: stable ids
    auto it = kept.find(code);
    if (it == kept.end()) continue;
    auto& segs = it->second;
    double p = 0;
    for (const auto& s : segs)
      for (float v : s.audio) p = std::max(p, double(std::abs(v)));
    if (p > 0)
      for (auto& s : segs)
        for (float& v : s.audio) v = static_cast<float>(v / p);
    std::vector<std::size_t> idx(segs.size());
    for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    datasets::detail::shuffle(idx, rng);
    const std::size_t n = segs.size();
    const std::size_t n_train = static_cast<std::size_t>(std::llround(o.fractions[0] * double(n)));
    const std::size_t n_val = std::min(n - n_train, static_cast<std::size_t>(std::llround(o.fractions[1] * double(n))));
    auto& counts = rep.split_counts[instrument_names().at(code)];
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t sp = k < n_train ? 0 : (k < n_train + n_val ? 1 : 2);
      ++counts[sp];
      order.push_back({&segs[idx[k]], code, sp});
    }
  }
  std::array<std::size_t, 3> total{};
  for (const auto& p : order) ++total[p.split];
  if (total[0] == 0 || total[1] == 0)
    throw std::runtime_error("urmp: the " + std::to_string(rep.kept) + " kept segment(s) under '" + o.root.string() +
                             "' leave the " + (total[0] == 0 ? "training" : "validation") +
                             " split empty (0.8/0.1/0.1 per instrument rounds it to 0); add tracks or lower "
                             "--threshold");
  data::dataset_output output(o.out, o.overwrite);  // locked; the old dataset stays until commit
  const std::filesystem::path& dir = output.build_dir();
  // Group by split (stable: instrument order, then shuffled order).
  std::stable_sort(order.begin(), order.end(),
                   [](const placed& a, const placed& b) { return a.split < b.split; });

  const audio::log_mel mel(o.mel);
  const std::size_t T = mel.frames(o.segment_samples), F = mel.bins();
  std::array<std::size_t, 3> n_split{};
  std::vector<std::size_t> pos(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) pos[i] = n_split[order[i].split]++;
  std::map<std::string, xt::xtensor<float, 3>> features;
  for (std::size_t s = 0; s < 3; ++s) features[split_names[s]] = xt::zeros<float>({n_split[s], T, F});
  auto wav_name = [&](std::size_t i) {
    const auto& t = tracks[order[i].seg->track];
    char buf[32];
    std::snprintf(buf, sizeof buf, "%05zu_", pos[i]);
    return std::string(split_names[order[i].split]) + "/wav/" + buf +
           t.path.stem().string() + "_seg" + std::to_string(order[i].seg->index) + ".wav";
  };
  if (o.wav)
    for (const char* s : split_names) std::filesystem::create_directories(dir / s / "wav");
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
  for (std::ptrdiff_t ii = 0; ii < static_cast<std::ptrdiff_t>(order.size()); ++ii) {
    const std::size_t i = static_cast<std::size_t>(ii);
    errors.run([&] {
      auto& f = features.at(split_names[order[i].split]);
      mel.compute_into(order[i].seg->audio, std::span<float>(f.data() + pos[i] * T * F, T * F));
      if (o.wav)
        audio::write_wav_mono((dir / wav_name(i)).string(), order[i].seg->audio,
                              static_cast<int>(o.sample_rate), SF_FORMAT_PCM_16);
    });
  }
  errors.rethrow();

  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto& s = *order[i].seg;
    const auto& t = tracks[s.track];
    nlohmann::json it = {
        {"split", split_names[order[i].split]},
        {"instrument", instrument_names().at(order[i].code)},
        {"code", order[i].code},
        {"piece", t.piece},
        {"source", std::filesystem::relative(t.path, o.root).string()},
        {"segment", s.index},
        {"start_sample", s.index * o.segment_samples},
        {"confidence", std::round(s.confidence * 1e6) / 1e6}};
    if (o.wav) it["wav"] = wav_name(i);
    items.push_back(std::move(it));
  }
  std::vector<std::string> names;
  for (const auto& c : o.codes) names.push_back(instrument_names().at(c));
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [name, c] : rep.split_counts)
    counts[name] = {{"train", c[0]}, {"val", c[1]}, {"test", c[2]}};
  nlohmann::json header = {
      {"dataset", "urmp"},
      {"instruments", names},
      {"codes", o.codes},
      {"preprocessing",
       {{"channel", "left"},
        {"normalisation", "per-instrument corpus-wide peak, then per-instrument peak of kept segments"},
        {"resampler", std::string("libsamplerate ") + src_get_name(o.converter)},
        {"sample_rate", o.sample_rate},
        {"segment_samples", o.segment_samples},
        {"pitch_estimator", tracker.name()},
        {"pitch_weights", tracker.is_crepe() ? std::string(audio::crepe_weights_source) : std::string("none")},
        {"pitch_hop", tracker.hop()},
        {"pitch_f_min", tracker.is_crepe() ? o.crepe.f_min : o.pitch.f_min},
        {"pitch_f_max", tracker.is_crepe() ? o.crepe.f_max : o.pitch.f_max},
        {"confidence", tracker.is_crepe() ? "mean CREPE periodicity" : "mean YIN confidence 1 - d'"},
        {"confidence_threshold", o.threshold},
        {"paper_estimator", "crepe-full-viterbi, hop 128, 50-2000 Hz"},
        {"matches_paper_estimator", tracker.name() == "crepe-full-viterbi" && o.crepe.hop == 128 &&
                                        o.crepe.f_min == 50.0 && o.crepe.f_max == 2000.0}}},
      {"split", {{"seed", o.seed}, {"fractions", o.fractions}, {"per_instrument", true}}},
      {"counts", counts},
      {"segments_total", rep.segments},
      {"segments_kept", rep.kept},
      {"tracks", rep.tracks},
      {"skipped_files", skipped},
      {"features", {{"type", "log-mel"}, {"sample_rate", o.mel.sample_rate},
                    {"n_fft", o.mel.n_fft}, {"hop", o.mel.hop}, {"n_mels", o.mel.n_mels},
                    {"mel_scale", "htk"}, {"f_min", o.mel.f_min}, {"f_max", o.mel.f_max},
                    {"log", "natural"}, {"log_offset", o.mel.log_offset},
                    {"frames", T}, {"bins", F}}}};
  data::write_dataset(dir, header, features, items);
  output.commit();
  return rep;
}

}  // namespace dsae::datasets::urmp
