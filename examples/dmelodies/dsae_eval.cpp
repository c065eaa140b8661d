// dsae-eval: evaluates one trained run (docs/evaluation.md, spec/evaluation.md).
//
//   dsae-eval --run RUN_DIR --data DIR [--wav-examples 3] [--rpa-items 40] [--seed 0]
//             [--pitch-tracker crepe-full|crepe-tiny|yin-dsae-v1] [--allow-other-data]
//   dsae-eval --run RUN_DIR [--data X.npy|DIR] [--lengths L.npy] [--labels Y.npy]
//             [--label-names a,b] [--val-data V.npy --val-lengths .. --val-labels ..]
//             [--seed 0] [--batch 128] [--allow-other-data] [--mode auto|generic|instrument]
//
// Two modes. "instrument" (below): a dMelodies/URMP-style dataset folder whose manifest
// items carry instrument labels; the paper's evaluation with the audio steps. "generic"
// (run_generic): any labelled sequences, .npy files or a dataset folder with
// <split>/labels.npy (eval/model_eval.hpp: per label LDA F1 from v and z means and the swap
// protocol, masked reconstruction MSE, KL_z / KL_v, a collapse verdict). --mode auto picks
// generic for .npy data, for --lengths/--labels/--val-* and for a folder with labels.npy or
// without manifest items. Without --data the run's own data (config.json "data",
// "data_files") are used, with its validation split (the seeded --val-fraction split of
// dsae-train for one .npy).
//
// Refuses data other than the run was trained on (config.json's data_fingerprint) unless
// --allow-other-data (recorded in eval.json: data_matches_run), and the audio steps (RPA,
// WAV examples, FAD) on data that are not 80-bin log-mel; checks every input path first.
//
// Reads RUN_DIR/config.json (method, q, decoder, z, v) to pick the variant, loads
// RUN_DIR/best.safetensors and writes RUN_DIR/eval.json with:
//   - the swap protocol (LDA on training-set posterior means of v, instrument labels;
//     macro F1 pre / post-global / post-local). Reconstructions decode the SAMPLED z_i
//     and v_i of one posterior draw (seeded); swaps decode the same sampled z with the
//     partner's posterior MEAN of v; every re-inference is a posterior mean of v.
//     With two or more octaves in the data, the same protocol with octave labels.
//   - reconstruction MSE on log-mel over the validation set, from the sampled latents
//     (recon_mse) and from posterior means (recon_mse_posterior_mean).
//   - Frechet distance between Gaussian fits of "logmel-frame-stats" embeddings (per clip,
//     mean and std over time of each log-mel bin: 2 x 80 = 160-d) of real vs reconstructed
//     validation clips, or, when VGGish weights are present (--vggish, or the cache path of
//     audio/vggish.hpp), FAD from VGGish embeddings of the Griffin-Lim audio of the RPA items
//     (frechet_embedding says which).
//   - raw pitch accuracy on the first --rpa-items validation items: log-mel -> audio by
//     exp + inverse mel + Griffin-Lim (audio/features.hpp), F0 by --pitch-tracker (default
//     "crepe-full" = the paper's: CREPE full, Viterbi, hop 160, 50-2006 Hz, unvoiced where
//     periodicity < 0.5; audio/pitch_tracker.hpp). References: the resynthesised input i for
//     pre-swap and global swap, the resynthesised partner j(i) for the local swap.
// and renders into RUN_DIR/examples/: for the first --wav-examples items, WAVs and log-mel
// .npy of input / reconstruction / global swap / local swap, a spectrogram PNG per item,
// and a Fig. 7-like grid (one source, three targets of other global factors) via plots.py.
#include <CLI/CLI.hpp>
#include <dsae/audio/features.hpp>
#include <dsae/audio/pitch.hpp>
#include <dsae/audio/pitch_tracker.hpp>
#include <dsae/audio/vggish.hpp>
#include <dsae/audio/wav.hpp>
#include <dsae/data/dataset.hpp>
#include <dsae/data/npy.hpp>
#include <dsae/dsae.hpp>
#include <dsae/eval/eval.hpp>
#include <dsae/eval/model_eval.hpp>
#include <dsae/io/atomic_file.hpp>
#include <dsae/io/run_config.hpp>
#include <dsae/io/run_dir.hpp>
#include <dsae/io/files.hpp>
#include <dsae/train/dataset_sets.hpp>
#include <nlohmann/json.hpp>

#include "../common/cli_checks.hpp"
#include "../common/data_options.hpp"
#include "../common/run_model.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#ifndef DSAE_PLOTS_PY
#define DSAE_PLOTS_PY ""
#endif

namespace fs = std::filesystem;
using namespace dsae;

namespace {

struct cli_options {
  std::string run, data, python = "/usr/bin/python3", plots = DSAE_PLOTS_PY;
  index_t wav_examples = 3, rpa_items = 40, batch = 128;
  std::uint64_t seed = 0;
  bool no_png = false;
  bool allow_other_data = false;  // evaluate on data other than the run's (recorded in eval.json)
  std::string pitch_tracker = "crepe-full";
  std::string vggish;  // VGGish weights; "" = audio::vggish_weights_path() when that file exists
  std::shared_ptr<const audio::pitch_tracker> tracker;  // built from pitch_tracker in main
  // Generic mode: the data as dsae-train's options (empty = the run's own, config.json).
  std::string mode = "auto";
  train::data_source source;     // lengths, labels, label_names, val_data, val_lengths, val_labels
  std::vector<std::string> audio_options_given;  // named in a note: the generic mode has no audio steps
};

using io::run_config;
using io::parse_run_config;

run_config read_config(const fs::path& run) {
  const fs::path p = run / "config.json";
  std::string text;
  try {
    text = io::read_regular_file(p, io::max_json_bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + " (is --run a dsae-train run folder?)");
  }
  return parse_run_config(text, p.string());
}

// Rows of the N x T x F feature array as one item each.
struct item_set {
  const xt::xtensor<float, 3>* a = nullptr;
  index_t count() const { return index_t(a->shape()[0]); }
  index_t frames() const { return index_t(a->shape()[1]); }
  index_t features() const { return index_t(a->shape()[2]); }
  const float* item(index_t i) const { return a->data() + i * frames() * features(); }
};

// Per-clip "logmel-frame-stats": mean and (population) std over time of every bin.
Eigen::VectorXd frame_stats(const float* x, index_t T, index_t F) {
  Eigen::VectorXd e = Eigen::VectorXd::Zero(2 * F);
  for (index_t f = 0; f < F; ++f) {
    double s = 0, s2 = 0;
    for (index_t t = 0; t < T; ++t) s += x[t * F + f];
    const double m = s / double(T);
    for (index_t t = 0; t < T; ++t) s2 += (x[t * F + f] - m) * (x[t * F + f] - m);
    e(f) = m;
    e(F + f) = std::sqrt(s2 / double(T));
  }
  return e;
}

xt::xtensor<float, 2> as_xt(const std::vector<float>& v, index_t T, index_t F) {
  xt::xtensor<float, 2> out = xt::zeros<float>({std::size_t(T), std::size_t(F)});
  std::copy(v.begin(), v.end(), out.data());
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

template <class Model>
class evaluator {
 public:
  using B = typename Model::backend_type;
  using tensor = typename B::tensor;
  using batch_type = model::sequence_batch<B>;

  evaluator(Model& m, index_t batch) : m_model(m), m_batch(batch) {}

  // Time-major batch of the given items of `s`.
  batch_type make_batch(const item_set& s, std::span<const std::size_t> idx) const {
    const index_t n = index_t(idx.size()), T = s.frames(), F = s.features();
    batch_type b;
    b.frames = T;
    b.x.resize(T * n, F);
    b.lengths.assign(size_t(n), T);
    for (index_t j = 0; j < n; ++j) {
      const float* src = s.item(index_t(idx[size_t(j)]));
      for (index_t t = 0; t < T; ++t)
        for (index_t f = 0; f < F; ++f) b.x(t * n + j, f) = src[t * F + f];
    }
    b.finalize();
    return b;
  }
  // Batch from a time-major (T*n) x F tensor (decoder output).
  static batch_type batch_of(const tensor& x, index_t n) {
    batch_type b;
    b.frames = x.rows() / n;
    b.x = x;
    b.lengths.assign(size_t(n), b.frames);
    b.finalize();
    return b;
  }
  Eigen::MatrixXd vmean_of(const batch_type& b) {
    return m_model.posterior_v_mean(b).template cast<double>();
  }
  // Posterior v-means of all items of s, N x V.
  Eigen::MatrixXd all_vmeans(const item_set& s) {
    const index_t N = s.count();
    Eigen::MatrixXd out(N, m_model.sizes().v_dim);
    for (index_t s0 = 0; s0 < N; s0 += m_batch) {
      const index_t n = std::min(m_batch, N - s0);
      std::vector<std::size_t> idx(static_cast<std::size_t>(n));
      for (index_t j = 0; j < n; ++j) idx[size_t(j)] = std::size_t(s0 + j);
      out.middleRows(s0, n) = vmean_of(make_batch(s, idx));
    }
    return out;
  }

  Model& m_model;
  index_t m_batch;
};

// Checks every input before work starts (a bad --vggish used to surface only after the swap
// protocol, Griffin-Lim and pitch tracking), and refuses the audio steps (RPA, WAV examples,
// FAD) on data that is not dsae's log-mel audio features: Griffin-Lim needs its 80 mel bins.
void check_inputs(const cli_options& o) {
  if (o.run.empty() || o.data.empty()) throw std::runtime_error("--run and --data must not be empty");
  if (!fs::is_directory(o.run)) throw std::runtime_error("--run " + o.run + ": not a folder");
  io::require_regular_file(fs::path(o.data) / "manifest.json", "--data: ");
  if (!o.vggish.empty()) io::require_regular_file(o.vggish, "--vggish: ");
  if (!o.no_png && o.wav_examples > 0 && !o.plots.empty()) io::require_regular_file(o.plots, "--plots: ");
  const bool audio_steps = o.rpa_items > 0 || o.wav_examples > 0 || !o.vggish.empty();
  if (!audio_steps) return;
  const fs::path mpath = fs::path(o.data) / "manifest.json";
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(io::read_regular_file(mpath, io::max_json_bytes));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(mpath.string() + ": not valid JSON: " + e.what());
  }
  const audio::mel_config mel{};
  const nlohmann::json* f = m.is_object() && m.contains("features") && m["features"].is_object() ? &m["features"] : nullptr;
  const bool logmel = f && f->value("type", std::string()) == "log-mel" && f->contains("bins") &&
                      (*f)["bins"].is_number_integer() && (*f)["bins"].get<long long>() == mel.n_mels;
  if (!logmel)
    throw std::runtime_error(mpath.string() + ": the data are not log-mel audio features with " +
                             std::to_string(mel.n_mels) + " bins (features.type / features.bins), so raw pitch "
                             "accuracy, WAV examples and FAD cannot be computed; pass --rpa-items 0 --wav-examples 0 "
                             "(and no --vggish) to evaluate the rest");
}

template <class Model>
int run(const cli_options& o, const run_config& rc) {
  using B = typename Model::backend_type;
  using tensor = typename B::tensor;
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path run_dir(o.run), ex_dir = run_dir / "examples";
  const fs::path weights = run_dir / "best.safetensors";
  if (!fs::exists(weights)) throw std::runtime_error(weights.string() + " does not exist (has the run trained?)");
  const auto ds = data::load_dataset(o.data);
  // The run's config.json records what it was trained on: evaluating it on other data would
  // silently replace eval.json with numbers of another experiment.
  const nlohmann::json fp = train::data_fingerprint(ds.train().features, ds.val().features);
  const bool other_data = !rc.data_fingerprint.is_null() && rc.data_fingerprint != fp;
  if (other_data && !o.allow_other_data)
    throw std::runtime_error("--data " + o.data + " (" + fp.dump() + ") is not the data the run in " + o.run +
                             " was trained on (" + rc.data_fingerprint.dump() + "); pass --allow-other-data to "
                             "evaluate it anyway (eval.json then records it)");
  const item_set tr{&ds.train().features}, va{&ds.val().features};
  const index_t T = va.frames(), F = va.features(), Nv = va.count();
  if (Nv < 1 || tr.count() < 1)
    throw std::runtime_error("dataset '" + o.data + "': the train and val splits need at least one item each");
  model::model_sizes s;
  s.x_dim = F;
  s.z_dim = rc.z;
  s.v_dim = rc.v;
  Model m(s, 831, rc.settings);  // the run's --set settings (its variant name records them)
  train::load_weights(weights, m);
  const index_t Z = rc.z, V = rc.v;
  evaluator<Model> ev(m, o.batch);

  auto labels_of = [](const data::split_data& sp, int which) {
    std::vector<int> y(sp.size());
    for (std::size_t i = 0; i < sp.size(); ++i)
      y[i] = which < 0 ? sp.labels[i].instrument_id : sp.labels[i].factors[size_t(which)];
    return y;
  };
  const std::vector<int> ytr = labels_of(ds.train(), -1), yva = labels_of(ds.val(), -1);

  // 1. Training v-means (LDA input).
  const Eigen::MatrixXd vtr = ev.all_vmeans(tr);

  // 2. One posterior draw per validation item (sampled z, v), plus the posterior means.
  std::vector<Eigen::MatrixXf> zs(static_cast<std::size_t>(Nv));       // T x Z per item (sampled)
  Eigen::MatrixXf vs(Nv, V), vmean(Nv, V);            // sampled v, posterior mean of v
  std::vector<std::vector<float>> recon(static_cast<std::size_t>(Nv));  // T x F per item (sampled latents)
  double se_sample = 0, se_mean = 0;
  for (index_t s0 = 0, step = 0; s0 < Nv; s0 += o.batch, ++step) {
    const index_t n = std::min(o.batch, Nv - s0);
    std::vector<std::size_t> idx(static_cast<std::size_t>(n));
    for (index_t j = 0; j < n; ++j) idx[size_t(j)] = std::size_t(s0 + j);
    auto b = ev.make_batch(va, idx);
    m.evaluate(b, o.seed + 1000, std::uint32_t(step));
    const tensor zsamp = m.last_z_sample(), vsamp = m.last_v_sample();
    const tensor vm = m.posterior_v_mean(b);
    const tensor zm = m.posterior_z_mean(b, vm);
    const tensor xs = m.decode(zsamp, vsamp, &b.mask, n);
    for (index_t j = 0; j < n; ++j) {
      const index_t i = s0 + j;
      zs[size_t(i)].resize(T, Z);
      recon[size_t(i)].resize(size_t(T * F));
      for (index_t t = 0; t < T; ++t) {
        zs[size_t(i)].row(t) = zsamp.row(t * n + j);
        for (index_t f = 0; f < F; ++f) {
          const float y = xs(t * n + j, f);
          recon[size_t(i)][size_t(t * F + f)] = y;
          const double d = double(y) - double(b.x(t * n + j, f));
          se_sample += d * d;
        }
      }
      vs.row(i) = vsamp.row(j);
      vmean.row(i) = vm.row(j);
    }
    const tensor xm = m.decode(zm, vm, &b.mask, n);
    se_mean += double((xm - b.x).squaredNorm());
  }
  const double recon_mse = se_sample / double(Nv * T * F), recon_mse_mean = se_mean / double(Nv * T * F);

  // decode(z of item a[r], v-mean of item c[r]) for a batch, as a time-major tensor.
  auto decode_pairs = [&](std::span<const std::size_t> a, std::span<const std::size_t> c) -> tensor {
    const index_t n = index_t(a.size());
    tensor z(T * n, Z), v(n, V);
    for (index_t r = 0; r < n; ++r) {
      for (index_t t = 0; t < T; ++t) z.row(t * n + r) = zs[a[size_t(r)]].row(t);
      v.row(r) = vmean.row(index_t(c[size_t(r)]));
    }
    return m.decode(z, v, nullptr, n);
  };
  auto swap_cb = eval::swap_callbacks::from_decoder(
      [&](std::span<const std::size_t> i) {
        const index_t n = index_t(i.size());
        tensor x(T * n, F);
        for (index_t r = 0; r < n; ++r)
          for (index_t t = 0; t < T; ++t)
            for (index_t f = 0; f < F; ++f) x(t * n + r, f) = recon[i[size_t(r)]][size_t(t * F + f)];
        return ev.vmean_of(ev.batch_of(x, n));
      },
      [&](std::span<const std::size_t> zf, std::span<const std::size_t> vf) {
        const tensor x = decode_pairs(zf, vf);
        return ev.vmean_of(ev.batch_of(x, index_t(zf.size())));
      });

  // 3. Swap protocol with instrument labels (and octave labels when octaves vary).
  const auto sw = eval::swap_protocol(vtr, ytr, yva, o.seed, swap_cb, std::size_t(o.batch));
  nlohmann::json out;
  out["run"] = fs::absolute(run_dir).string();
  out["data"] = fs::absolute(o.data).string();
  out["variant"] = m.variant_name();
  out["method"] = rc.method;
  out["q"] = rc.q;
  out["decoder"] = rc.decoder;
  out["z"] = rc.z;
  out["v"] = rc.v;
  out["eval_seed"] = o.seed;
  out["data_fingerprint"] = fp;
  out["data_matches_run"] = !other_data;
  out["weights"] = weights.string();
  out["n_train"] = tr.count();
  out["n_val"] = Nv;
  out["f1_pre"] = sw.f1_pre;
  out["f1_global"] = sw.f1_global;
  out["f1_local"] = sw.f1_local;
  out["swap_latents"] = "reconstruction: sampled z_i, sampled v_i (one seeded draw); swaps: sampled z, posterior "
                        "mean of v; re-inference: posterior mean of v";
  {
    const auto oct = labels_of(ds.val(), 1);
    const auto oct_tr = labels_of(ds.train(), 1);
    if (std::set<int>(oct.begin(), oct.end()).size() >= 2 && oct.front() >= 0) {
      const auto so = eval::swap_protocol(vtr, oct_tr, oct, o.seed + 1, swap_cb, std::size_t(o.batch));
      out["octave"] = {{"f1_pre", so.f1_pre}, {"f1_global", so.f1_global}, {"f1_local", so.f1_local}};
    }
  }
  out["recon_mse"] = recon_mse;
  out["recon_mse_posterior_mean"] = recon_mse_mean;
  out["recon_mse_note"] = "mean squared error per log-mel bin over the validation set; recon_mse decodes the "
                          "sampled latents, recon_mse_posterior_mean the posterior means";

  // 4. Frechet distance between Gaussian fits of logmel-frame-stats embeddings.
  {
    Eigen::MatrixXd er(Nv, 2 * F), ex(Nv, 2 * F);
    for (index_t i = 0; i < Nv; ++i) {
      er.row(i) = frame_stats(va.item(i), T, F).transpose();
      ex.row(i) = frame_stats(recon[size_t(i)].data(), T, F).transpose();
    }
    out["frechet"] = eval::frechet_distance(er, ex);
    out["frechet_embedding"] = "logmel-frame-stats";
    out["frechet_note"] = "per clip mean and std over time of each of the 80 log-mel bins (160-d), real vs "
                          "reconstructed validation clips; NOT VGGish, so not comparable with the paper's FAD";
  }

  // 5. Raw pitch accuracy on the first rpa_items validation items (Griffin-Lim + YIN).
  const index_t K = std::min(o.rpa_items, Nv);
  const index_t E = std::min(o.wav_examples, Nv);
  const index_t KE = std::max(K, E);
  // Log-mels to resynthesise, per item k < KE: input i, recon, global, local, input j.
  std::vector<std::array<std::vector<float>, 5>> mels(static_cast<std::size_t>(KE));
  {
    std::vector<std::size_t> a(static_cast<std::size_t>(KE)), c(static_cast<std::size_t>(KE));
    for (index_t k = 0; k < KE; ++k) {
      a[size_t(k)] = std::size_t(k);
      c[size_t(k)] = sw.partner[size_t(k)];
    }
    for (index_t s0 = 0; s0 < KE; s0 += o.batch) {
      const index_t n = std::min(o.batch, KE - s0);
      std::span<const std::size_t> sa(a.data() + s0, size_t(n)), sc(c.data() + s0, size_t(n));
      const tensor xg = decode_pairs(sa, sc);
      const tensor xl = decode_pairs(sc, sa);
      for (index_t r = 0; r < n; ++r) {
        const index_t k = s0 + r, j = index_t(c[size_t(k)]);
        auto& mk = mels[size_t(k)];
        mk[0].assign(va.item(k), va.item(k) + T * F);
        mk[1] = recon[size_t(k)];
        mk[2].resize(size_t(T * F));
        mk[3].resize(size_t(T * F));
        for (index_t t = 0; t < T; ++t)
          for (index_t f = 0; f < F; ++f) {
            mk[2][size_t(t * F + f)] = xg(t * n + r, f);
            mk[3][size_t(t * F + f)] = xl(t * n + r, f);
          }
        mk[4].assign(va.item(j), va.item(j) + T * F);
      }
    }
  }
  std::vector<std::array<std::vector<float>, 5>> wave(static_cast<std::size_t>(KE));
  std::vector<std::array<std::vector<double>, 5>> f0(static_cast<std::size_t>(KE));
  const audio::pitch_tracker& tracker = *o.tracker;
  const auto t_gl = std::chrono::steady_clock::now();
  dsae::detail::exception_slot errors;  // a throw inside the region is an error, not SIGABRT
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t w = 0; w < KE * 5; ++w)
    errors.run([&] {
      const index_t k = w / 5, c = w % 5;
      audio::griffin_lim_config gl;
      gl.seed = std::uint64_t(o.seed);
      auto y = audio::log_mel_to_audio(as_xt(mels[size_t(k)][size_t(c)], T, F), {}, gl);
      f0[size_t(k)][size_t(c)] = tracker.f0(y);  // CREPE: 0 Hz where periodicity < 0.5
      wave[size_t(k)][size_t(c)] = std::move(y);
    });
  errors.rethrow();
  const double gl_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_gl).count();
  auto vec = [](const std::vector<double>& v) { return Eigen::Map<const Eigen::VectorXd>(v.data(), index_t(v.size())); };
  double rpa[3] = {0, 0, 0};
  nlohmann::json rpa_items = nlohmann::json::array();
  for (index_t k = 0; k < K; ++k) {
    const auto& c = f0[size_t(k)];
    const double p = eval::raw_pitch_accuracy(vec(c[0]), vec(c[1]));
    const double g = eval::raw_pitch_accuracy(vec(c[0]), vec(c[2]));
    const double l = eval::raw_pitch_accuracy(vec(c[4]), vec(c[3]));
    rpa[0] += p;
    rpa[1] += g;
    rpa[2] += l;
    rpa_items.push_back({{"item", k}, {"partner", sw.partner[size_t(k)]}, {"pre", p}, {"global", g}, {"local", l}});
  }
  if (K > 0) {
    out["rpa_pre"] = rpa[0] / double(K);
    out["rpa_global"] = rpa[1] / double(K);
    out["rpa_local"] = rpa[2] / double(K);
  }
  out["rpa_items"] = K;
  out["rpa_per_item"] = rpa_items;
  out["pitch_tracker"] = tracker.name();
  out["pitch_tracker_hop"] = tracker.hop();
  out["pitch_weights"] = tracker.is_crepe() ? std::string(audio::crepe_weights_source) : std::string("none");
  out["rpa_matches_paper_tracker"] = tracker.name() == "crepe-full-viterbi";
  out["rpa_note"] = "mean over items of mir_eval-style raw pitch accuracy (50 cents); audio resynthesised from "
                    "log-mel by exp + NNLS inverse mel + Griffin-Lim (32 it., momentum 0.99); reference: "
                    "resynthesised input i (pre, global) or partner j(i) (local); F0 by pitch_tracker (CREPE: "
                    "hop 160, 50-2006 Hz, unvoiced where periodicity < 0.5); the paper used crepe-full-viterbi";
  out["griffin_lim_seconds"] = gl_secs;

  // 5b. FAD when VGGish weights are present: Frechet distance of VGGish embeddings (0.96 s
  // examples, 4 per clip) of the resynthesised inputs vs the reconstructions of the K RPA items
  // (both through the same Griffin-Lim). Replaces "frechet"; the log-mel statistics stay.
  {
    const fs::path vw = o.vggish.empty() ? audio::vggish_weights_path() : fs::path(o.vggish);
    if (!o.vggish.empty() || fs::exists(vw)) {
      const auto vg = audio::vggish_model::load(vw);  // throws with what to do when missing
      std::vector<audio::vggish_matrix> er, ex;
      Eigen::Index n = 0;
      for (index_t k = 0; k < K; ++k) {
        er.push_back(audio::vggish_examples(wave[size_t(k)][0]));
        ex.push_back(audio::vggish_examples(wave[size_t(k)][1]));
        n += er.back().rows();
      }
      if (n >= 2) {
        Eigen::MatrixXd a(n, audio::vggish_dim), b(n, audio::vggish_dim);
        Eigen::Index r = 0;
        for (std::size_t k = 0; k < er.size(); ++k) {
          const auto ea = vg.embed(er[k]), eb = vg.embed(ex[k]);
          a.middleRows(r, ea.rows()) = ea.cast<double>();
          b.middleRows(r, eb.rows()) = eb.cast<double>();
          r += ea.rows();
        }
        out["frechet_logmel_stats"] = out["frechet"];
        out["frechet"] = eval::frechet_distance(a, b);
        out["frechet_embedding"] = audio::vggish_embedding_name;
        out["frechet_weights"] = vg.source();
        out["frechet_note"] = "FAD: Frechet distance of VGGish embeddings (128-d, before the last ReLU, no PCA) of "
                              "the Griffin-Lim audio of the input vs the reconstruction, " + std::to_string(K) +
                              " items x 0.96 s examples; frechet_logmel_stats keeps the log-mel fallback";
      }
    } else {
      out["frechet_note_vggish"] = "VGGish weights not found at " + vw.string() +
                                   " (scripts/convert-vggish-weights): frechet is the logmel-frame-stats fallback";
    }
  }

  // 6. Examples: WAVs, log-mel .npy and PNGs.
  nlohmann::json examples = nlohmann::json::array();
  std::vector<std::string> pngs;
  if (E > 0) {
    io::require_own_folder(run_dir, "examples");  // a link planted at RUN/examples is refused
    const char* names[5] = {"input", "recon", "global_swap", "local_swap", "partner"};
    for (index_t k = 0; k < E; ++k) {
      const std::string stem = "item" + std::to_string(k) + "_";
      nlohmann::json e = {{"item", k}, {"partner", sw.partner[size_t(k)]},
                          {"instrument", ds.val().labels[size_t(k)].instrument},
                          {"partner_instrument", ds.val().labels[sw.partner[size_t(k)]].instrument}};
      std::string npys;
      for (int c = 0; c < 5; ++c) {
        auto y = wave[size_t(k)][size_t(c)];
        float peak = 0;
        for (float a : y) peak = std::max(peak, std::abs(a));
        if (peak > 0)
          for (float& a : y) a *= 0.9f / peak;
        const fs::path wav = ex_dir / (stem + names[c] + ".wav"), npy = ex_dir / (stem + names[c] + ".npy");
        audio::write_wav_mono(wav.string(), y, 16000);
        data::save_npy<2>(npy.string(), as_xt(mels[size_t(k)][size_t(c)], T, F));
        e[std::string(names[c]) + "_wav"] = wav.string();
        if (c < 4) npys += " " + shell_quote(npy.string());
      }
      const fs::path png = ex_dir / (stem + "spectrograms.png");
      if (!o.no_png && !o.plots.empty()) {
        const std::string cmd = shell_quote(o.python) + " " + shell_quote(o.plots) + " spectrograms --npy" + npys +
                                " --titles input reconstruction 'global swap' 'local swap' --out " +
                                shell_quote(png.string()) + " >/dev/null 2>&1";
        if (std::system(cmd.c_str()) == 0) {
          e["png"] = png.string();
          pngs.push_back(png.string());
        } else {
          std::fprintf(stderr, "dsae-eval: warning: plots.py spectrograms failed for %s\n", png.c_str());
        }
      }
      examples.push_back(e);
    }
    // Fig. 7-like grid: source item 0 with three targets whose global factors differ.
    const auto& L = ds.val().labels;
    auto key = [&](index_t i) { return std::pair<int, int>(L[size_t(i)].instrument_id, L[size_t(i)].factors[1]); };
    std::vector<std::size_t> targets;
    std::set<std::pair<int, int>> seen{key(0)};
    for (index_t i = 1; i < Nv && targets.size() < 3; ++i)
      if (seen.insert(key(i)).second) targets.push_back(std::size_t(i));
    for (index_t i = 1; i < Nv && targets.size() < 3; ++i)  // fewer than 4 combinations
      if (key(i) != key(0) && std::find(targets.begin(), targets.end(), std::size_t(i)) == targets.end())
        targets.push_back(std::size_t(i));
    if (!targets.empty()) {
      std::vector<std::size_t> src(targets.size(), 0);
      const tensor xg = decode_pairs(src, targets);
      const index_t n = index_t(targets.size());
      std::string npys = " " + shell_quote((ex_dir / "item0_input.npy").string()), titles = " source";
      nlohmann::json grid = nlohmann::json::array();
      std::vector<std::vector<float>> gm(targets.size());
      for (index_t r = 0; r < n; ++r) {
        gm[size_t(r)].resize(size_t(T * F));
        for (index_t t = 0; t < T; ++t)
          for (index_t f = 0; f < F; ++f) gm[size_t(r)][size_t(t * F + f)] = xg(t * n + r, f);
      }
      std::vector<std::vector<float>> ga(targets.size());
      dsae::detail::exception_slot gl_errors;
#pragma omp parallel for schedule(dynamic, 1)
      for (index_t r = 0; r < n; ++r)
        gl_errors.run([&] {
          audio::griffin_lim_config gl;
          gl.seed = std::uint64_t(o.seed);
          ga[size_t(r)] = audio::log_mel_to_audio(as_xt(gm[size_t(r)], T, F), {}, gl);
        });
      gl_errors.rethrow();
      for (index_t r = 0; r < n; ++r) {
        const index_t ti = index_t(targets[size_t(r)]);
        auto y = ga[size_t(r)];
        float peak = 0;
        for (float a : y) peak = std::max(peak, std::abs(a));
        if (peak > 0)
          for (float& a : y) a *= 0.9f / peak;
        const std::string stem = "fig7_target" + std::to_string(r + 1);
        const fs::path wav = ex_dir / (stem + ".wav"), npy = ex_dir / (stem + ".npy");
        audio::write_wav_mono(wav.string(), y, 16000);
        data::save_npy<2>(npy.string(), as_xt(gm[size_t(r)], T, F));
        const std::string title = L[size_t(ti)].instrument + (L[size_t(ti)].factors[1] >= 0
                                                                 ? " oct" + std::to_string(4 + L[size_t(ti)].factors[1])
                                                                 : std::string());
        npys += " " + shell_quote(npy.string());
        titles += " " + shell_quote("v of " + title);
        grid.push_back({{"target_item", ti}, {"target", title}, {"wav", wav.string()}, {"npy", npy.string()}});
      }
      const fs::path png = ex_dir / "fig7_grid.png";
      nlohmann::json g = {{"source_item", 0}, {"source_wav", (ex_dir / "item0_input.wav").string()}, {"targets", grid}};
      if (!o.no_png && !o.plots.empty()) {
        const std::string cmd = shell_quote(o.python) + " " + shell_quote(o.plots) + " spectrograms --npy" + npys +
                                " --titles" + titles + " --out " + shell_quote(png.string()) + " >/dev/null 2>&1";
        if (std::system(cmd.c_str()) == 0) {
          g["png"] = png.string();
          pngs.push_back(png.string());
        } else {
          std::fprintf(stderr, "dsae-eval: warning: plots.py spectrograms failed for %s\n", png.c_str());
        }
      }
      out["fig7"] = g;
    }
  }
  out["examples"] = examples;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  io::write_file_atomic(run_dir / "eval.json", out.dump(2) + "\n");
  std::printf("%s z=%lld: F1 pre %.3f global %.3f local %.3f | recon MSE %.4f | Frechet(%s) %.3f | RPA(%s, %lld items) "
              "%.3f %.3f %.3f | %.1f s\n",
              rc.method.c_str(), (long long)rc.z, sw.f1_pre, sw.f1_global, sw.f1_local, recon_mse,
              out["frechet_embedding"].get<std::string>().c_str(), double(out["frechet"]), tracker.name().c_str(),
              (long long)K,
              K ? rpa[0] / K : 0.0, K ? rpa[1] / K : 0.0, K ? rpa[2] / K : 0.0, double(out["seconds"]));
  return 0;
}

// ---- generic mode ----------------------------------------------------------------------

bool npy_route_options(const cli_options& o) {
  const auto& s = o.source;
  return !s.lengths.empty() || !s.labels.empty() || !s.label_names.empty() || !s.val_data.empty() ||
         !s.val_lengths.empty() || !s.val_labels.empty();
}

// --mode auto: the instrument mode for a dataset folder whose manifest lists items (with their
// instruments) and that has no labels.npy of its own; the generic mode for everything else.
std::string pick_mode(const cli_options& o, const std::string& data) {
  if (o.mode != "auto") return o.mode;
  if (npy_route_options(o) || !fs::is_directory(data)) return "generic";
  for (const char* split : {"train", "val"})
    if (std::error_code ec; fs::exists(fs::symlink_status(fs::path(data) / split / "labels.npy", ec))) return "generic";
  const fs::path mpath = fs::path(data) / "manifest.json";
  try {
    const auto m = nlohmann::json::parse(io::read_regular_file(mpath, io::max_json_bytes), nullptr, false);
    if (m.is_object() && !m.contains("items")) return "generic";
  } catch (const std::exception&) {
    // unreadable: the instrument mode's checks name the problem
  }
  return "instrument";
}

// Equal fingerprints of the features (and lengths): labels are not what the model saw, so
// they are compared on their own (labels_match_run).
nlohmann::json without_labels(nlohmann::json fp) {
  if (fp.is_object()) fp.erase("labels_fnv1a64");
  return fp;
}

int run_generic(cli_options o) {
  const auto t_start = std::chrono::steady_clock::now();
  if (o.run.empty()) throw std::runtime_error("--run must not be empty");
  if (!fs::is_directory(o.run)) throw std::runtime_error("--run " + o.run + ": not a folder");
  const auto rf = dsae_cli::read_run_config(o.run);
  const fs::path run_dir(o.run), weights = run_dir / "best.safetensors";
  if (!fs::exists(weights)) throw std::runtime_error(weights.string() + " does not exist (has the run trained?)");
  // The run's data and split unless --data says otherwise; files given on the command line
  // replace the run's.
  const train::data_source run_src = dsae_cli::run_data_source(rf);
  train::data_source src = run_src;
  if (!o.data.empty()) {  // other data: the run's split seed and fraction, none of its files
    src = {};
    src.data = o.data;
    src.seed = run_src.seed;
    src.val_fraction = run_src.val_fraction;
  }
  if (src.data.empty())
    throw std::runtime_error(rf.path.string() + " does not record the run's data (\"data\"): give --data");
  for (auto [field, given] : {std::pair{&src.lengths, &o.source.lengths}, {&src.labels, &o.source.labels},
                              {&src.val_data, &o.source.val_data}, {&src.val_lengths, &o.source.val_lengths},
                              {&src.val_labels, &o.source.val_labels}})
    if (!given->empty()) *field = *given;
  // The run's label names name the run's label files only.
  if (!o.source.label_names.empty()) src.label_names = o.source.label_names;
  else if (src.labels != run_src.labels || src.val_labels != run_src.val_labels) src.label_names.clear();
  for (const auto& a : o.audio_options_given)
    std::fprintf(stderr, "dsae-eval: note: %s is ignored in the generic mode (no audio steps)\n", a.c_str());
  auto loaded = train::load_train_val(src);
  for (const auto& n : loaded.notes) std::printf("note: %s\n", n.c_str());
  const nlohmann::json fp = train::data_fingerprint(loaded.train, loaded.val);
  const nlohmann::json& recorded = rf.config.data_fingerprint;
  const bool other_data = !recorded.is_null() && without_labels(recorded) != without_labels(fp);
  if (other_data && !o.allow_other_data)
    throw std::runtime_error("--data " + src.data + " (" + without_labels(fp).dump() + ") is not the data the run in " +
                             o.run + " was trained on (" + without_labels(recorded).dump() + "); pass "
                             "--allow-other-data to evaluate it anyway (eval.json then records it)" +
                             (o.data.empty() ? "" : ", or leave out --data to use the run's own data"));
  nlohmann::json labels_match = nullptr;
  if (recorded.is_object() && recorded.contains("labels_fnv1a64") && fp.contains("labels_fnv1a64"))
    labels_match = recorded["labels_fnv1a64"] == fp["labels_fnv1a64"];
  // Labels the LDA and the swap protocol cannot use, named with their file (before any work).
  for (index_t k = 0; k < loaded.train.label_count(); ++k)
    for (const auto* set : {&loaded.train, &loaded.val}) {
      const auto y = set->label_column(k);
      const std::size_t classes = std::set<int>(y.begin(), y.end()).size();
      if (classes >= 2) continue;
      const bool val = set == &loaded.val;
      const std::string file = fs::is_directory(src.data)
                                   ? (fs::path(src.data) / (val ? "val" : "train") / "labels.npy").string()
                                   : (val && !src.val_data.empty() ? src.val_labels : src.labels);
      throw std::runtime_error(file + ": label '" + set->label_names[size_t(k)] + "' has " + std::to_string(classes) +
                               " class in the " + std::to_string(set->count) + (val ? " validation" : " training") +
                               " sequences (" + loaded.split + "); its F1 and the swap protocol need at least 2");
    }
  io::run_lock lock(o.run, "evaluate");  // no dsae-train or second dsae-eval writes the run meanwhile
  return dsae_cli::with_run_model(rf.config, [&]<class Model>() {
    model::model_sizes s;
    s.x_dim = loaded.train.features;
    s.z_dim = rf.config.z;
    s.v_dim = rf.config.v;
    Model m(s, 831, rf.config.settings);
    dsae_cli::load_run_weights(weights, m);
    const auto r = eval::evaluate_labelled(m, loaded.train, loaded.val, {.seed = o.seed, .batch = o.batch});
    nlohmann::json out = eval::to_json(r);
    out["mode"] = "generic";
    out["run"] = fs::absolute(run_dir).string();
    out["weights"] = fs::absolute(weights).string();
    out["method"] = rf.config.method;
    out["q"] = rf.config.q;
    out["decoder"] = rf.config.decoder;
    out["data"] = fs::absolute(src.data).string();
    nlohmann::json files = nlohmann::json::object();
    for (const auto& [k, v] : {std::pair{"lengths", src.lengths}, {"labels", src.labels}, {"val_data", src.val_data},
                               {"val_lengths", src.val_lengths}, {"val_labels", src.val_labels}})
      if (!v.empty()) files[k] = fs::absolute(v).string();
    out["data_files"] = files;
    out["label_names"] = loaded.train.label_names;
    out["validation"] = loaded.split;
    out["data_from_run"] = o.data.empty();
    out["data_fingerprint"] = fp;
    out["data_matches_run"] = recorded.is_null() ? nlohmann::json(nullptr) : nlohmann::json(!other_data);
    out["labels_match_run"] = labels_match;
    out["data_notes"] = loaded.notes;
    out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    io::write_file_atomic(run_dir / "eval.json", out.dump(2) + "\n");
    std::printf("%s", eval::format_table(r).c_str());
    std::printf("validation: %s\nwrote %s (%.1f s)\n", loaded.split.c_str(), (run_dir / "eval.json").c_str(),
                double(out["seconds"]));
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dsae-eval: swap-protocol F1, reconstruction, Frechet and RPA of one trained run"};
  cli_options o;
  app.add_option("--run", o.run, "run folder written by dsae-train")->required();
  app.add_option("--data", o.data, "dataset folder or N x T x F .npy (default: the run's own data)");
  app.add_option("--mode", o.mode, "instrument: the paper's evaluation of a dMelodies/URMP folder; generic: any "
                 "labelled sequences; auto picks")->check(CLI::IsMember({"auto", "generic", "instrument"}))
      ->capture_default_str();
  dsae_cli::add_sequence_options(app, o.source, "generic: ");  // default: the run's own files and split
  app.add_option("--wav-examples", o.wav_examples, "validation items rendered to WAV/PNG")->transform(dsae_cli::non_negative_int());
  app.add_option("--rpa-items", o.rpa_items, "validation items for raw pitch accuracy (Griffin-Lim is slow)")
      ->transform(dsae_cli::non_negative_int());
  app.add_option("--batch", o.batch)->transform(dsae_cli::integer_in<long long>(1, 1 << 20, "a batch size"));
  app.add_option("--seed", o.seed, "seed of the posterior draw and the swap pairing")->transform(dsae_cli::seed());
  app.add_flag("--allow-other-data", o.allow_other_data,
               "evaluate on data other than the run was trained on (recorded in eval.json)");
  app.add_option("--python", o.python, "python with numpy + matplotlib (for plots.py)");
  app.add_option("--plots", o.plots, "path of plots.py");
  app.add_flag("--no-png", o.no_png, "skip the spectrogram PNGs");
  app.add_option("--vggish", o.vggish, "VGGish weights (safetensors) for FAD; default: the cache path if present");
  app.add_option("--pitch-tracker", o.pitch_tracker,
                 "RPA tracker: crepe-full (the paper's), crepe-tiny (~37x cheaper) or yin-dsae-v1")
      ->capture_default_str();
  if (const int rc = dsae_cli::parse(app, argc, argv); rc >= 0) return rc;
  for (const char* a : {"--wav-examples", "--rpa-items", "--vggish", "--pitch-tracker", "--plots", "--no-png"})
    if (app.count(a)) o.audio_options_given.push_back(a);
  try {
    // Without --data: the run's own data (config.json), for either mode.
    std::string data = o.data;
    if (data.empty() && !o.run.empty() && fs::is_directory(o.run)) {
      const auto rf = dsae_cli::read_run_config(o.run);
      data = dsae_cli::run_data_source(rf).data;
      if (data.empty())
        throw std::runtime_error(rf.path.string() + " does not record the run's data (\"data\"): give --data");
    }
    if (pick_mode(o, data) == "generic") return run_generic(o);
    if (npy_route_options(o))
      throw std::runtime_error("--lengths, --labels, --label-names and --val-* belong to the generic mode "
                               "(--mode generic)");
    o.data = data;
    check_inputs(o);  // every input path and the data's kind before minutes of work
    // Before any work: missing CREPE weights fail here, with how to get them.
    o.tracker = std::make_shared<const audio::pitch_tracker>(o.pitch_tracker, audio::rpa_crepe_config());
    const run_config c = read_config(o.run);
    io::run_lock lock(o.run, "evaluate");  // no dsae-train or second dsae-eval writes the run meanwhile
    return dsae_cli::with_run_model(c, [&]<class Model>() { return run<Model>(o, c); });  // the method registry
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dsae-eval: error: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsae-eval: error: %s\n", e.what());
    return 2;
  }
}
