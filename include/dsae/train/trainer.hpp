#pragma once
// trainer<Model>: the paper's training loop (spec, "Optimisation and schedule").
//
//   * Adam (lr 1e-3) over all parameters; frozen groups start their moments at
//     their first update (train/adam.hpp).
//   * Two-stage schedule: epochs 0..C-1 in stage 1, then stage 2 (the model
//     takes the TS-DSAE snapshot before the first stage-2 update).
//   * Batch order: one fixed random permutation of the training set (the
//     reference's behaviour) or a fresh one per epoch (reshuffle).
//   * Validation every epoch with the same stochastic objective.
//   * Best checkpoint = lowest validation loss; early stopping after `patience`
//     epochs without improvement. For two-stage methods both count only in
//     stage 2 (a stage-1 model lacks the local latent and is never "best").
//   * Every epoch: checkpoint.safetensors (atomic), best.safetensors when
//     improved, one JSON line in metrics.jsonl, one progress line.
//   * Resuming from checkpoint.safetensors continues bit-identically: noise is
//     counter-based on (seed, step), batch order on (seed, epoch).
//   * Optional per-epoch evaluation (evaluate_every, evaluate: e.g. the swap protocol's F1,
//     logged as "eval" in the metrics line) and per-step observation (on_step: TensorBoard).
//   * Collapse warnings: when the validation KL of a latent is below collapse_nats per
//     dimension (KL_v where it is against N(0, I): at the end of stage 1 and, for methods
//     without the snapshot prior, at the end; KL_z at the end), the metrics line of that epoch
//     gets "warnings" and the progress log says so (fit_result::warnings).
//   * Graceful stop: when *options.stop becomes true (a signal handler sets it),
//     fit() writes the checkpoint at the next step boundary, mid-epoch if need
//     be (metadata partial_batches + partial_train), and returns with
//     fit_result::stopped; resume() then continues that epoch bit-identically.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>
#include "../model/sequential_vae.hpp"
#include "../io/jsonl_log.hpp"
#include "checkpoint.hpp"
#include "divergence.hpp"
#include "sequence_set.hpp"

namespace dsae::train {

struct trainer_options {
  index_t batch_size = 128;
  adam_options adam{};
  index_t max_epochs = 4000;
  index_t stage1_epochs = 300;  // C
  index_t patience = 300;
  std::uint64_t seed = 831;
  bool reshuffle = false;
  std::filesystem::path out_dir;  // empty: keep nothing on disk
  bool verbose = true;
  // Called after every epoch with (epoch, train terms, validation terms).
  std::function<void(index_t, const model::loss_terms&, const model::loss_terms&)> on_epoch;
  // Called after every optimiser step with (step index, stage, the step's terms).
  std::function<void(std::uint64_t, int, const model::loss_terms&)> on_step;
  // Every evaluate_every epochs (0 = never; counted from epoch 1) and at the last epoch,
  // evaluate(epoch) returns named numbers for the metrics line's "eval" (and on_epoch_eval).
  // It must not change the parameters (results stay bit-identical with and without it).
  index_t evaluate_every = 0;
  std::function<std::vector<std::pair<std::string, double>>(index_t)> evaluate;
  std::function<void(index_t, const std::vector<std::pair<std::string, double>>&)> on_epoch_eval;
  // Collapse threshold: a latent whose KL to its prior is below this many nats per dimension
  // (per frame for z; the objective's KL terms are means over dimensions) carries (almost)
  // no information.
  double collapse_nats = 0.01;
  // Checked before every optimiser step (may be set from a signal handler).
  const std::atomic<bool>* stop = nullptr;
};

struct fit_result {
  index_t epochs_run = 0, best_epoch = -1;
  double best_val = 0;
  bool early_stopped = false;
  bool stopped = false;  // *options.stop was seen: checkpoint written, run not finished
  std::vector<std::string> warnings;  // collapse warnings of this call (also in metrics.jsonl)
};

template <class Model>
class trainer {
 public:
  using B = typename Model::backend_type;

  trainer(Model& m, trainer_options o) : m_model(m), m_o(std::move(o)), m_opt(m.params(), m_o.adam) {
    check_options(m_o);
  }

  // Throws std::invalid_argument for options the trainer refuses; callers run it before they
  // create anything on disk (validate first, create second).
  static void check_options(const trainer_options& m_o) {
    if (m_o.batch_size <= 0) detail::fail("trainer: batch size must be positive, got ", m_o.batch_size);
    if (m_o.max_epochs <= 0) detail::fail("trainer: max epochs must be positive, got ", m_o.max_epochs);
    if (m_o.patience <= 0) detail::fail("trainer: patience must be positive, got ", m_o.patience);
    if (Model::policy::two_stage && m_o.stage1_epochs < 0) detail::fail("trainer: stage-1 epochs must be >= 0");
    // Best checkpoint and early stopping count only in stage 2: without one stage-2 epoch
    // there would be no best model at all.
    if (Model::policy::two_stage && m_o.stage1_epochs >= m_o.max_epochs)
      detail::fail("trainer: stage-1 epochs (", m_o.stage1_epochs, ") must be fewer than the maximum epochs (",
                   m_o.max_epochs, "): stage 2 would never run and no best checkpoint would be kept");
  }

  adam<B>& optimizer() { return m_opt; }
  const training_state& state() const { return m_state; }
  std::filesystem::path checkpoint_path() const { return m_o.out_dir / "checkpoint.safetensors"; }

  // Continues from out_dir/checkpoint.safetensors. Throws std::runtime_error naming the file
  // when its training state does not fit these options (an epoch beyond --epochs, a stage
  // other than the schedule's).
  void resume() {
    std::map<std::string, std::string> meta;
    m_state = load_checkpoint(checkpoint_path(), m_model, m_opt, &meta);
    m_partial = partial_epoch::from(meta, checkpoint_path());
    const std::string where = "checkpoint '" + checkpoint_path().string() + "': ";
    if (m_state.next_epoch > m_o.max_epochs)
      throw std::runtime_error(where + "next_epoch " + std::to_string(m_state.next_epoch) + " is beyond the " +
                               std::to_string(m_o.max_epochs) + " epochs asked for");
    if (m_partial.batches > 0 && (m_state.finished || m_state.next_epoch >= m_o.max_epochs))
      throw std::runtime_error(where + "a partial epoch in a finished run");
    if (m_state.noise_stream != prob::noise_stream_version)
      std::printf("note: %s was written with noise stream version %d; this library draws version %d, so the "
                  "continuation is not bit-identical to an uninterrupted run of the old version (same "
                  "distribution; docs/models.md)\n",
                  checkpoint_path().string().c_str(), m_state.noise_stream, prob::noise_stream_version);
    m_state.noise_stream = prob::noise_stream_version;
  }

  int stage_of(index_t epoch) const {
    return Model::policy::two_stage && epoch < m_o.stage1_epochs ? 1 : 2;
  }

  fit_result fit(const sequence_set& train, const sequence_set& val) {
    train.validate(m_model.sizes().x_dim);
    val.validate(m_model.sizes().x_dim);
    // partial_batches comes from a file: it must name a batch of this epoch.
    if (m_partial.batches > 0 && m_partial.batches * m_o.batch_size >= train.count)
      throw std::runtime_error("checkpoint '" + checkpoint_path().string() + "': partial_batches " +
                               std::to_string(m_partial.batches) + " is past the " +
                               std::to_string((train.count + m_o.batch_size - 1) / m_o.batch_size) +
                               " batches of an epoch");
    if (!m_o.out_dir.empty()) std::filesystem::create_directories(m_o.out_dir);
    io::jsonl_log metrics;  // lines of epochs the checkpoint covers; the rest is redone
    if (!m_o.out_dir.empty()) metrics.open(m_o.out_dir / "metrics.jsonl", m_state.next_epoch);
    const auto fixed_order = permutation(train.count, {m_o.seed, 10, 0});
    fit_result r;
    model::sequence_batch<B> batch;
    const auto t_start = std::chrono::steady_clock::now();
    const index_t first_epoch = m_state.next_epoch;
    for (index_t epoch = m_state.next_epoch; epoch < m_o.max_epochs && !m_state.finished; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      const int stage = stage_of(epoch);
      if (m_model.stage() != stage) m_model.set_stage(stage);
      m_state.stage = stage;
      const auto order = m_o.reshuffle ? permutation(train.count, {m_o.seed, 11, std::uint32_t(epoch)}) : fixed_order;
      model::loss_terms tr{}, va{};
      index_t first_b0 = 0;
      if (m_partial.batches > 0) {  // resuming a stopped epoch
        first_b0 = m_partial.batches * m_o.batch_size;
        tr = m_partial.train;
        m_partial = {};
      }
      for (index_t b0 = first_b0; b0 < train.count; b0 += m_o.batch_size) {
        if (m_o.stop && m_o.stop->load()) {
          if (!m_o.out_dir.empty())
            save_checkpoint(checkpoint_path(), m_model, m_opt, m_state, partial_epoch{b0 / m_o.batch_size, tr}.meta());
          if (m_o.verbose) {
            std::printf("stopped on request in epoch %lld before batch %lld (step %llu); checkpoint written\n",
                        (long long)epoch + 1, (long long)(b0 / m_o.batch_size), (unsigned long long)m_state.step);
            std::fflush(stdout);
          }
          r.stopped = true;
          r.best_epoch = m_state.best_epoch;
          r.best_val = m_state.best_val;
          return r;
        }
        const index_t n = std::min(m_o.batch_size, train.count - b0);
        train.batch_into(batch, order.data() + b0, n);
        // Weight schedules read the progress in epochs (a function of the step's position,
        // so a resumed run sees the same weights).
        m_model.set_progress(double(epoch) + double(b0) / double(train.count));
        const auto l = m_model.train_step(batch, m_o.seed, std::uint32_t(m_state.step));
        if (m_state.step == 0) check_first_step(l, train);
        check_step_finite(l, B::to_host(m_model.params().grads()), epoch, m_state.step,
                          divergence_advice(m_o.out_dir.empty() ? std::string() : checkpoint_path().string(),
                                            m_state.next_epoch));
        m_opt.step();
        ++m_state.step;
        accumulate(tr, l, double(n) / double(train.count));
        if (m_o.on_step) m_o.on_step(m_state.step - 1, stage, l);
      }
      m_model.set_progress(double(epoch + 1));  // validation: the weights at the end of the epoch
      std::vector<index_t> vidx(size_t(val.count));
      for (index_t i = 0; i < val.count; ++i) vidx[size_t(i)] = i;
      for (index_t b0 = 0; b0 < val.count; b0 += m_o.batch_size) {
        const index_t n = std::min(m_o.batch_size, val.count - b0);
        val.batch_into(batch, vidx.data() + b0, n);
        // Validation noise: its own seed, counter = (epoch, batch).
        const auto l = m_model.evaluate(batch, m_o.seed ^ 0x9E3779B97F4A7C15ull,
                                        std::uint32_t(epoch * 4096 + b0 / m_o.batch_size));
        accumulate(va, l, double(n) / double(val.count));
      }
      check_epoch_finite(tr, va, epoch, m_state.step,
                         divergence_advice(m_o.out_dir.empty() ? std::string() : checkpoint_path().string(),
                                           m_state.next_epoch));
      // Best / early stopping (stage 2 only for two-stage methods).
      bool improved = false;
      if (stage == 2) {
        if (va.loss < m_state.best_val) {
          m_state.best_val = va.loss;
          m_state.best_epoch = epoch;
          m_state.epochs_since_best = 0;
          improved = true;
        } else if (++m_state.epochs_since_best >= m_o.patience) {
          m_state.finished = true;
          r.early_stopped = true;
        }
      }
      m_state.next_epoch = epoch + 1;
      if (m_state.next_epoch >= m_o.max_epochs) m_state.finished = true;
      std::vector<std::pair<std::string, double>> evals;
      if (m_o.evaluate && m_o.evaluate_every > 0 &&
          ((epoch + 1) % m_o.evaluate_every == 0 || m_state.finished)) {
        evals = m_o.evaluate(epoch);
        if (m_o.on_epoch_eval) m_o.on_epoch_eval(epoch, evals);
      }
      const std::vector<std::string> warnings = collapse_warnings(epoch, stage, va);
      for (const auto& w : warnings) {
        std::printf("warning: %s\n", w.c_str());
        r.warnings.push_back(w);
      }
      const double secs = seconds_since(t0);
      if (!m_o.out_dir.empty()) {
        // Metrics line first: a kill before the checkpoint redoes this epoch, and the
        // resumed run's jsonl_log::open drops the line again.
        metrics.append(json_line(epoch, stage, tr, va, secs, improved, evals, warnings));
        if (improved) save_weights(m_o.out_dir / "best.safetensors", m_model);
        save_checkpoint(checkpoint_path(), m_model, m_opt, m_state);
      }
      if (m_o.verbose) {
        const double per = seconds_since(t_start) / double(epoch + 1 - first_epoch);
        const double eta = per * double(m_o.max_epochs - epoch - 1);
        // A stage-1 training step does not compute KL_z (no gradient): "-".
        char klz[32] = "      -";
        if (tr.kl_z_computed) std::snprintf(klz, sizeof klz, "%.5f", tr.kl_z);
        std::string named;  // custom terms by name
        for (const auto& t : tr.named) {
          char b[96];
          std::snprintf(b, sizeof b, " %s %.5f", t.name.c_str(), t.value);
          named += b;
        }
        std::printf("epoch %5lld/%lld stage %d | train %.5f (rec %.5f kl_z %s kl_v %.5f swap %.5f%s) | val %.5f%s | %.2fs | ETA %s\n",
                    (long long)epoch + 1, (long long)m_o.max_epochs, stage, tr.loss, tr.recon, klz, tr.kl_v,
                    tr.swap[0] + tr.swap[1] + tr.swap[2] + tr.swap[3], named.c_str(), va.loss, improved ? " *" : "",
                    secs, duration(eta).c_str());
        std::fflush(stdout);
      }
      if (m_o.verbose && !evals.empty()) {
        std::string line = "  eval:";
        char b[96];
        for (const auto& [k, v] : evals) {
          std::snprintf(b, sizeof b, " %s %.4g", k.c_str(), v);
          line += b;
        }
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      }
      if (m_o.on_epoch) m_o.on_epoch(epoch, tr, va);
      ++r.epochs_run;
    }
    r.best_epoch = m_state.best_epoch;
    r.best_val = m_state.best_val;
    return r;
  }

  static std::vector<index_t> permutation(index_t n, prob::noise_key key) { return prob::random_permutation(n, key); }

 private:
  // A stopped epoch: batches already done and their weighted train terms
  // (kept as checkpoint metadata, exact to the last bit via %a).
  struct partial_epoch {
    index_t batches = 0;
    model::loss_terms train{};
    std::map<std::string, std::string> meta() const {
      const double v[8] = {train.loss, train.recon, train.kl_z, train.kl_v,
                           train.swap[0], train.swap[1], train.swap[2], train.swap[3]};
      std::string s;
      char b[40];
      for (double x : v) {
        std::snprintf(b, sizeof b, "%s%a", s.empty() ? "" : " ", x);
        s += b;
      }
      std::string named;  // custom terms: "name %a" pairs (names are [A-Za-z0-9_.-]+)
      for (const auto& t : train.named) {
        std::snprintf(b, sizeof b, "%a", t.value);
        named += (named.empty() ? "" : " ") + t.name + " " + b;
      }
      std::map<std::string, std::string> m{{"partial_batches", std::to_string(batches)}, {"partial_train", s}};
      if (!named.empty()) m["partial_named"] = named;
      return m;
    }
    static partial_epoch from(const std::map<std::string, std::string>& meta, const std::filesystem::path& src) {
      partial_epoch p;
      const auto nb = meta.find("partial_batches"), tr = meta.find("partial_train");
      if (nb == meta.end()) return p;
      double v[8];
      index_t nbatches = 0;
      const std::string why = io::check_integer<index_t>(nb->second, 0, index_t(1) << 40, "a batch count", &nbatches);
      bool ok = why.empty() && tr != meta.end() &&
                std::sscanf(tr->second.c_str(), "%la %la %la %la %la %la %la %la", v, v + 1, v + 2, v + 3, v + 4,
                            v + 5, v + 6, v + 7) == 8;
      for (int k = 0; ok && k < 8; ++k) ok = std::isfinite(v[k]);
      if (!ok)
        throw std::runtime_error("checkpoint '" + src.string() + "': bad partial-epoch metadata" +
                                 (why.empty() ? std::string() : " (partial_batches " + why + ")"));
      if (const auto nm = meta.find("partial_named"); nm != meta.end()) {
        std::istringstream in(nm->second);
        std::string name, value;
        while (in >> name >> value) {
          double x = 0;
          char* end = nullptr;
          x = std::strtod(value.c_str(), &end);
          if (!model::loss_terms::valid_term_name(name) || end == value.c_str() || *end != '\0' || !std::isfinite(x))
            throw std::runtime_error("checkpoint '" + src.string() + "': bad partial-epoch term '" + name + " " +
                                     value + "'");
          p.train.add_named(name, x);
        }
      }
      p.batches = nbatches;
      p.train.loss = v[0], p.train.recon = v[1], p.train.kl_z = v[2], p.train.kl_v = v[3];
      for (int k = 0; k < 4; ++k) p.train.swap[size_t(k)] = v[4 + k];
      return p;
    }
  };

  // Before the first update the weights are the seeded initial ones: a non-finite loss then
  // comes from the data (e.g. features scaled by 1e20), not from the learning rate.
  static void check_first_step(const model::loss_terms& l, const sequence_set& train) {
    const std::string bad = detail_div::non_finite_term(l);
    if (bad.empty()) return;
    float peak = 0;
    for (float v : train.data) peak = std::max(peak, std::abs(v));
    throw std::runtime_error("the first training batch of " + train.source + " gives a non-finite " + bad +
                             " before any update, so the data is the problem, not the learning rate: its largest "
                             "|value| is " + detail_div::num(double(peak)) +
                             " (log-mel features are normally within about -30..10); check how it was made");
  }

  static void accumulate(model::loss_terms& acc, const model::loss_terms& l, double w) {
    acc.loss += w * l.loss;
    acc.recon += w * l.recon;
    acc.kl_z += w * l.kl_z;
    acc.kl_z_computed = acc.kl_z_computed && l.kl_z_computed;
    acc.kl_v += w * l.kl_v;
    for (int k = 0; k < 4; ++k) acc.swap[size_t(k)] += w * l.swap[size_t(k)];
    acc.extra += w * l.extra;
    for (const auto& t : l.named) acc.add_named(t.name, w * t.value);
  }
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  static std::string duration(double s) {
    char b[32];
    const long long t = (long long)(s + 0.5);
    std::snprintf(b, sizeof b, "%lldh%02lldm%02llds", t / 3600, (t / 60) % 60, t % 60);
    return b;
  }
  // The collapse check at the end of a stage (see the header comment).
  std::vector<std::string> collapse_warnings(index_t epoch, int stage, const model::loss_terms& va) const {
    std::vector<std::string> out;
    const bool end_of_stage1 = Model::policy::two_stage && stage == 1 && epoch + 1 == m_o.stage1_epochs;
    const bool end = m_state.finished;
    if (!end_of_stage1 && !end) return out;
    const auto& sz = m_model.sizes();
    char b[400];
    // KL_v is against N(0, I) in stage 1 and in single-stage methods; TS-DSAE's stage-2 KL_v
    // is against the frozen snapshot, where a small value is the point, not a collapse.
    const bool kl_v_to_standard = end_of_stage1 || !Model::policy::two_stage || !Model::prior_v_type::uses_snapshot;
    // The objective's KL terms are means over dimensions (spec: every term a plain mean).
    if (kl_v_to_standard && va.kl_v < m_o.collapse_nats) {
      std::snprintf(b, sizeof b, "epoch %lld (end of %s): the global latent v looks unused (validation KL_v "
                    "%.4g nats per dimension, below %g; V = %lld): v carries almost nothing about the "
                    "sequence (posterior collapse)", (long long)epoch + 1, end_of_stage1 ? "stage 1" : "training",
                    va.kl_v, m_o.collapse_nats, (long long)sz.v_dim);
      out.push_back(b);
    }
    if (end && stage == 2 && va.kl_z < m_o.collapse_nats) {
      std::snprintf(b, sizeof b, "epoch %lld (end of training): the local latent z looks unused (validation KL_z %.4g nats "
                    "per frame and dimension, below %g; Z = %lld): the frames are not encoded (posterior collapse; "
                    "check the reconstruction, and that padding is declared with --lengths)", (long long)epoch + 1,
                    va.kl_z, m_o.collapse_nats, (long long)sz.z_dim);
      out.push_back(b);
    }
    return out;
  }

  static std::string json_line(index_t epoch, int stage, const model::loss_terms& tr, const model::loss_terms& va,
                               double secs, bool improved,
                               const std::vector<std::pair<std::string, double>>& evals = {},
                               const std::vector<std::string>& warnings = {}) {
    // {"loss": .., "recon": .., "kl_z": .., "kl_v": .., "swap": [..] [, "terms": {name: value}]}
    auto terms = [](const model::loss_terms& l, bool train) {
      char b[512], klz[32] = "null";  // train kl_z: null when the steps skipped it (stage 1)
      if (!train || l.kl_z_computed) std::snprintf(klz, sizeof klz, "%.9g", l.kl_z);
      std::snprintf(b, sizeof b, "{\"loss\": %.9g, \"recon\": %.9g, \"kl_z\": %s, \"kl_v\": %.9g, "
                    "\"swap\": [%.9g, %.9g, %.9g, %.9g]", l.loss, l.recon, klz, l.kl_v, l.swap[0], l.swap[1], l.swap[2],
                    l.swap[3]);
      std::string s = b;
      if (!l.named.empty()) {
        s += ", \"terms\": {";
        for (std::size_t k = 0; k < l.named.size(); ++k) {
          char v[40] = "null";
          if (std::isfinite(l.named[k].value)) std::snprintf(v, sizeof v, "%.9g", l.named[k].value);
          s += (k ? ", \"" : "\"") + l.named[k].name + "\": " + v;  // names: [A-Za-z0-9_.-]+
        }
        s += "}";
      }
      return s + "}";
    };
    char b[256];
    std::snprintf(b, sizeof b, "{\"epoch\": %lld, \"stage\": %d, \"train\": ", (long long)epoch, stage);
    std::string head = std::string(b) + terms(tr, true) + ", \"val\": " + terms(va, false);
    std::snprintf(b, sizeof b, ", \"seconds\": %.4f, \"best\": %s}", secs, improved ? "true" : "false");
    head += b;
    std::string line = head;
    if (evals.empty() && warnings.empty()) return line;
    line.pop_back();  // the closing brace
    // The core library has no JSON dependency: names and warnings are escaped here.
    auto quoted = [](const std::string& t) {
      std::string q = "\"";
      for (const char c : t) {
        if (c == '"' || c == '\\') q += '\\', q += c;
        else if (static_cast<unsigned char>(c) < 0x20) {
          char u[8];
          std::snprintf(u, sizeof u, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
          q += u;
        } else q += c;
      }
      return q + "\"";
    };
    if (!evals.empty()) {
      line += ", \"eval\": {";
      for (std::size_t k = 0; k < evals.size(); ++k) {
        char v[40] = "null";  // JSON has no NaN
        if (std::isfinite(evals[k].second)) std::snprintf(v, sizeof v, "%.9g", evals[k].second);
        line += (k ? ", " : "") + quoted(evals[k].first) + ": " + v;
      }
      line += "}";
    }
    if (!warnings.empty()) {
      line += ", \"warnings\": [";
      for (std::size_t k = 0; k < warnings.size(); ++k) line += (k ? ", " : "") + quoted(warnings[k]);
      line += "]";
    }
    return line + "}";
  }

  Model& m_model;
  trainer_options m_o;
  adam<B> m_opt;
  training_state m_state;
  partial_epoch m_partial;
};

}  // namespace dsae::train
