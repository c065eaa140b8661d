#pragma once
// Evaluation of a trained model on sequence sets of one's own (docs/evaluation.md,
// "Any labelled data"). Needs nlohmann_json (to_json) besides the core target.
//
//   encode_all(model, set, batch)       posterior means and log-variances of every sequence:
//                                       v (N x V), z (N x T x Z, zero past each length)
//   evaluate_labelled(model, train, val, options)
//                                       per label column: LDA macro F1 from v means and from
//                                       time-averaged z means, the swap protocol (pre / global /
//                                       local F1); masked reconstruction MSE; the objective's
//                                       KL_z / KL_v (also per dimension); a collapse verdict
//   to_json(result), format_table(result)
//
// Lengths are respected everywhere: a frame past a sequence's length never enters a number
// (sequence_set::batch_into zeroes the padding, decoded frames past the length are zeroed
// before they are re-encoded, and every sum runs over valid frames only), so padding may
// hold anything, NaN included. Results depend only on the model, the data, the batch size
// and the seed, not on the thread count (the backend's kernels and the counter-based noise
// are thread-count independent; everything else here runs serially).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "../model/batch.hpp"
#include "../train/sequence_set.hpp"
#include "f1.hpp"
#include "lda.hpp"
#include "swap.hpp"

namespace dsae::eval {

// A latent dimension whose KL is below this many nats is counted as unused (the trainer's
// collapse_nats default).
inline constexpr double default_collapse_nats = 0.01;

// Posterior means and log-variances of every sequence of a set (float32, as the model's
// default backend computes them).
struct latent_encoding {
  index_t count = 0, frames = 0, v_dim = 0, z_dim = 0;
  std::vector<index_t> lengths;         // N
  std::vector<float> v_mean, v_logvar;  // N x V, row-major
  std::vector<float> z_mean, z_logvar;  // N x T x Z, row-major, zero past each length

  // N x V posterior means of v as doubles (the LDA's input).
  Eigen::MatrixXd v_means() const {
    Eigen::MatrixXd m(count, v_dim);
    for (index_t i = 0; i < count; ++i)
      for (index_t k = 0; k < v_dim; ++k) m(i, k) = double(v_mean[size_t(i * v_dim + k)]);
    return m;
  }
  // N x Z: each sequence's z means averaged over its valid frames.
  Eigen::MatrixXd z_time_means() const {
    Eigen::MatrixXd m = Eigen::MatrixXd::Zero(count, z_dim);
    for (index_t i = 0; i < count; ++i) {
      const index_t n = lengths[size_t(i)];
      for (index_t t = 0; t < n; ++t)
        for (index_t k = 0; k < z_dim; ++k) m(i, k) += double(z_mean[size_t((i * frames + t) * z_dim + k)]);
      m.row(i) /= double(n);
    }
    return m;
  }
};

namespace detail {
// Rows of a host copy of a backend tensor.
template <class B>
std::vector<typename B::scalar> host(const typename B::tensor& t) {
  return B::to_host(t);
}
// A batch of time-major frames x ((T*n) x F, row t*n + j) with the given lengths; rows past
// each length are zeroed first, so nothing there can reach the model.
template <class B>
model::sequence_batch<B> batch_of(std::vector<typename B::scalar> x, const std::vector<index_t>& lengths,
                                  index_t frames, index_t features) {
  const index_t n = index_t(lengths.size());
  for (index_t j = 0; j < n; ++j)
    for (index_t t = lengths[size_t(j)]; t < frames; ++t)
      std::fill_n(x.begin() + (t * n + j) * features, features, typename B::scalar(0));
  model::sequence_batch<B> b;
  b.frames = frames;
  b.lengths = lengths;
  b.x = B::from_host(x, frames * n, features);
  b.finalize();
  return b;
}
inline std::vector<index_t> consecutive(index_t s0, index_t n) {
  std::vector<index_t> idx(static_cast<std::size_t>(n));
  for (index_t j = 0; j < n; ++j) idx[size_t(j)] = s0 + j;
  return idx;
}
// KL(N(m1, e^l1) || N(m2, e^l2)) of one coordinate (spec, "Objective").
inline double kl_1d(double m1, double l1, double m2, double l2) {
  return 0.5 * (l2 - l1 + (std::exp(l1) + (m1 - m2) * (m1 - m2)) / std::exp(l2) - 1.0);
}
inline void check_set(const train::sequence_set& s, index_t x_dim, const char* what) {
  try {
    s.validate(x_dim);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("dsae::eval (model_eval.hpp): ") + what + " set: " + e.what());
  }
}
}  // namespace detail

// requires: set.validate(model.sizes().x_dim) passes; batch_size >= 1.
// ensures: the posterior means and log-variances of every sequence: v from q(v | x); z from
//   q(z | x[, v]) with v = the posterior mean of v (the full q encoder conditions on it),
//   zero past each length. Deterministic (no noise); independent of the thread count.
template <class Model>
latent_encoding encode_all(Model& model, const train::sequence_set& set, index_t batch_size = 128) {
  using B = typename Model::backend_type;
  if (batch_size < 1) throw std::invalid_argument("dsae::eval::encode_all (model_eval.hpp): batch size must be >= 1");
  detail::check_set(set, model.sizes().x_dim, "the encoded");
  latent_encoding e;
  e.count = set.count;
  e.frames = set.frames;
  e.v_dim = model.sizes().v_dim;
  e.z_dim = model.sizes().z_dim;
  e.lengths.resize(size_t(set.count));
  for (index_t i = 0; i < set.count; ++i) e.lengths[size_t(i)] = set.length(i);
  const index_t T = e.frames, V = e.v_dim, Z = e.z_dim;
  e.v_mean.assign(size_t(e.count * V), 0.f);
  e.v_logvar.assign(size_t(e.count * V), 0.f);
  e.z_mean.assign(size_t(e.count * T * Z), 0.f);
  e.z_logvar.assign(size_t(e.count * T * Z), 0.f);
  model::sequence_batch<B> b;
  for (index_t s0 = 0; s0 < set.count; s0 += batch_size) {
    const index_t n = std::min(batch_size, set.count - s0);
    const auto idx = detail::consecutive(s0, n);
    set.batch_into(b, idx.data(), n);
    const auto qv = model.posterior_v(b);
    const auto qz = model.posterior_z(b, qv.mean);
    const auto vm = detail::host<B>(qv.mean), vl = detail::host<B>(qv.logvar);
    const auto zm = detail::host<B>(qz.mean), zl = detail::host<B>(qz.logvar);
    for (index_t j = 0; j < n; ++j) {
      const index_t i = s0 + j;
      for (index_t k = 0; k < V; ++k) {
        e.v_mean[size_t(i * V + k)] = float(vm[size_t(j * V + k)]);
        e.v_logvar[size_t(i * V + k)] = float(vl[size_t(j * V + k)]);
      }
      for (index_t t = 0; t < e.lengths[size_t(i)]; ++t)
        for (index_t k = 0; k < Z; ++k) {
          e.z_mean[size_t((i * T + t) * Z + k)] = float(zm[size_t((t * n + j) * Z + k)]);
          e.z_logvar[size_t((i * T + t) * Z + k)] = float(zl[size_t((t * n + j) * Z + k)]);
        }
    }
  }
  return e;
}

struct labelled_options {
  std::uint64_t seed = 0;   // the posterior draw (noise seed + 1000, as dsae-eval) and the pairing (seed + k)
  index_t batch = 128;      // sequences per model call
  double collapse_nats = default_collapse_nats;  // the collapse threshold, nats per dimension
};

// Scores of one label column.
struct label_scores {
  std::string name;
  index_t classes_train = 0, classes_val = 0;
  // LDA fitted on the training set, macro F1 on the validation set; empty when the LDA
  // cannot be fitted (note says why, e.g. a constant latent).
  std::optional<double> f1_v, f1_z;             // from v means / time-averaged z means
  std::optional<double> f1_pre, f1_global, f1_local;  // the swap protocol (LDA on v means)
  std::vector<std::string> notes;
};

struct labelled_result {
  std::string variant;
  int stage = 0;
  std::uint64_t seed = 0;
  index_t batch = 0, n_train = 0, n_val = 0, frames = 0, features = 0, v_dim = 0, z_dim = 0;
  index_t val_valid_frames = 0;  // sum of the validation lengths
  std::vector<label_scores> labels;
  // Masked reconstruction MSE over the validation set: mean over valid frames x features of
  // (decoded - x)^2, decoding one seeded posterior sample (z, v) or the posterior means.
  double recon_mse_sample = 0, recon_mse_posterior_mean = 0;
  // The objective as model.evaluate reports it on the validation set (the seeded draw),
  // batch-weighted (n / N) as the trainer's validation: each term unweighted, KL_z per frame
  // and KL_v per sequence, both averaged over dimensions (spec, "Objective").
  double objective_loss = 0, objective_recon = 0, kl_z = 0, kl_v = 0;
  std::array<double, 4> objective_swap{};
  std::string prior_z, prior_v;  // what KL_z / KL_v are against
  // Per dimension: KL_z against the model's prior on the same draw (per frame: mean over
  // sequences of the mean over valid frames; their mean is kl_z); KL(q(v | x) || N(0, I))
  // from the posterior means and log-variances (mean over sequences). kl_v_standard is its
  // mean over dimensions (= kl_v when prior_v is standard_normal).
  std::vector<double> kl_z_per_dim, kl_v_standard_per_dim;
  double kl_v_standard = 0;
  // Collapse verdict: z unused when kl_z < collapse_nats, v unused when kl_v_standard <
  // collapse_nats (nats per dimension); active = dimensions at or above the threshold.
  double collapse_nats = default_collapse_nats;
  bool z_unused = false, v_unused = false;
  index_t z_active_dims = 0, v_active_dims = 0;
  std::string z_verdict, v_verdict;  // one line each, for the table
};

namespace detail {
inline std::size_t class_count(const std::vector<int>& y) { return std::set<int>(y.begin(), y.end()).size(); }
// LDA on train features/labels, macro F1 on val; empty with a note when it cannot be fitted.
inline std::optional<double> lda_f1(const Eigen::MatrixXd& xtr, const std::vector<int>& ytr, const Eigen::MatrixXd& xva,
                                    const std::vector<int>& yva, const std::string& what,
                                    std::vector<std::string>& notes) {
  try {
    lda clf;
    clf.fit(xtr, ytr);
    return f1_macro(yva, clf.predict(xva));
  } catch (const std::invalid_argument& e) {
    notes.push_back(what + ": no LDA (" + e.what() + ")");
    return std::nullopt;
  }
}
inline std::string verdict(const char* latent, bool unused, double kl, const char* per, index_t active, index_t dims,
                           double thr) {
  char b[320];
  std::snprintf(b, sizeof b, "%s: %s (KL %.4g nats per %s per dimension, %lld of %lld dimensions >= %g)", latent,
                unused ? "UNUSED (posterior collapse)" : "used", kl, per, (long long)active, (long long)dims, thr);
  return b;
}
}  // namespace detail

// requires: train_set and val_set pass validate(model.sizes().x_dim) with the same frames,
//   features and label names; every label column holds >= 2 classes in each set and more
//   training sequences than classes; options.batch >= 1. Sets without labels (K = 0) get
//   everything but the per-label scores.
// ensures: the scores documented in labelled_result, computed on val (LDAs fitted on train);
//   deterministic for (model, data, options); padding never enters a number. Throws
//   std::invalid_argument naming the label and the set's source on a refused label.
template <class Model>
labelled_result evaluate_labelled(Model& model, const train::sequence_set& train_set,
                                  const train::sequence_set& val_set, const labelled_options& o = {}) {
  using B = typename Model::backend_type;
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  const char* where = "dsae::eval::evaluate_labelled (model_eval.hpp)";
  if (o.batch < 1) throw std::invalid_argument(std::string(where) + ": batch size must be >= 1");
  if (!(o.collapse_nats >= 0)) throw std::invalid_argument(std::string(where) + ": collapse threshold must be >= 0");
  const index_t F = model.sizes().x_dim, V = model.sizes().v_dim, Z = model.sizes().z_dim;
  detail::check_set(train_set, F, "training");
  detail::check_set(val_set, F, "validation");
  if (train_set.frames != val_set.frames)
    throw std::invalid_argument(std::string(where) + ": " + val_set.source + " has " + std::to_string(val_set.frames) +
                                " frames, the training set " + train_set.source + " " +
                                std::to_string(train_set.frames));
  if (train_set.label_names != val_set.label_names)
    throw std::invalid_argument(std::string(where) + ": the training set " + train_set.source +
                                " and the validation set " + val_set.source + " have different label columns");
  const index_t K = train_set.label_count(), N = val_set.count, Tn = val_set.frames;
  std::vector<std::vector<int>> ytr(static_cast<std::size_t>(K)), yva(static_cast<std::size_t>(K));
  for (index_t k = 0; k < K; ++k) {
    ytr[size_t(k)] = train_set.label_column(k);
    yva[size_t(k)] = val_set.label_column(k);
    const std::string& name = train_set.label_names[size_t(k)];
    for (const auto& [y, s] : {std::pair{&ytr[size_t(k)], &train_set}, {&yva[size_t(k)], &val_set}})
      if (detail::class_count(*y) < 2)
        throw std::invalid_argument(s->source + ": label '" + name + "' has " +
                                    std::to_string(detail::class_count(*y)) + " class(es) in its " +
                                    std::to_string(s->count) + " sequences; classification and the swap protocol "
                                    "need at least 2");
    if (train_set.count <= index_t(detail::class_count(ytr[size_t(k)])))
      throw std::invalid_argument(train_set.source + ": label '" + name + "' has " +
                                  std::to_string(detail::class_count(ytr[size_t(k)])) + " classes in " +
                                  std::to_string(train_set.count) + " training sequences; the LDA needs more "
                                  "sequences than classes");
  }

  labelled_result r;
  r.variant = model.variant_name();
  r.stage = model.stage();
  r.seed = o.seed;
  r.batch = o.batch;
  r.n_train = train_set.count;
  r.n_val = N;
  r.frames = Tn;
  r.features = F;
  r.v_dim = V;
  r.z_dim = Z;
  r.collapse_nats = o.collapse_nats;
  r.prior_z = Model::prior_z_type::name;
  r.prior_v = model.snapshot_prior_active()         ? "snapshot_posterior"
              : Model::prior_v_type::uses_snapshot ? "standard_normal"  // stage 1 of TS-DSAE
                                                   : Model::prior_v_type::name;

  const latent_encoding etr = encode_all(model, train_set, o.batch), eva = encode_all(model, val_set, o.batch);
  const Eigen::MatrixXd vtr = etr.v_means(), vva = eva.v_means();
  const Eigen::MatrixXd ztr = etr.z_time_means(), zva = eva.z_time_means();
  for (index_t i = 0; i < N; ++i) r.val_valid_frames += eva.lengths[size_t(i)];

  // One pass over the validation set: the objective on a seeded draw, its samples (kept for
  // the swaps), the re-encoded reconstructions (pre-swap), KL_z per dimension, both MSEs.
  std::vector<float> zs(size_t(N * Tn * Z), 0.f);  // sampled z per item, T x Z, zero past the length
  Eigen::MatrixXd v_pre(N, V);                     // v means re-inferred from the reconstructions
  r.kl_z_per_dim.assign(size_t(Z), 0.0);
  double se_sample = 0, se_mean = 0;
  model::sequence_batch<B> b;
  for (index_t s0 = 0, step = 0; s0 < N; s0 += o.batch, ++step) {
    const index_t n = std::min(o.batch, N - s0);
    const auto idx = detail::consecutive(s0, n);
    val_set.batch_into(b, idx.data(), n);
    const double w = double(n) / double(N);
    const auto l = model.evaluate(b, o.seed + 1000, std::uint32_t(step));
    r.objective_loss += w * l.loss;
    r.objective_recon += w * l.recon;
    r.kl_z += w * l.kl_z;
    r.kl_v += w * l.kl_v;
    for (int k = 0; k < 4; ++k) r.objective_swap[size_t(k)] += w * l.swap[size_t(k)];
    const tensor z_sample = model.last_z_sample(), v_sample = model.last_v_sample();
    const auto xr = detail::host<B>(model.last_reconstruction());
    const auto x = detail::host<B>(b.x);
    const auto zh = detail::host<B>(z_sample);
    for (index_t j = 0; j < n; ++j) {
      const index_t i = s0 + j, len = b.lengths[size_t(j)];
      for (index_t t = 0; t < len; ++t) {
        for (index_t f = 0; f < F; ++f) {
          const double d = double(xr[size_t((t * n + j) * F + f)]) - double(x[size_t((t * n + j) * F + f)]);
          se_sample += d * d;
        }
        for (index_t k = 0; k < Z; ++k) zs[size_t((i * Tn + t) * Z + k)] = float(zh[size_t((t * n + j) * Z + k)]);
      }
    }
    // KL_z per dimension on the same draw: q(z | x[, v sample]) against the prior run over
    // the z sample, exactly the objective's pairing.
    {
      const auto qz = model.posterior_z(b, v_sample);
      const auto pz = model.prior_z(b, z_sample);
      const auto qm = detail::host<B>(qz.mean), ql = detail::host<B>(qz.logvar);
      const auto pm = detail::host<B>(pz.mean), pl = detail::host<B>(pz.logvar);
      for (index_t j = 0; j < n; ++j) {
        const index_t len = b.lengths[size_t(j)];
        for (index_t k = 0; k < Z; ++k) {
          double s = 0;
          for (index_t t = 0; t < len; ++t) {
            const auto a = size_t((t * n + j) * Z + k);
            s += detail::kl_1d(double(qm[a]), double(ql[a]), double(pm[a]), double(pl[a]));
          }
          r.kl_z_per_dim[size_t(k)] += s / double(len) / double(N);
        }
      }
    }
    // Pre-swap: the reconstruction re-encoded with the item's own length.
    {
      std::vector<T> xre(xr.begin(), xr.end());
      const auto rb = detail::batch_of<B>(std::move(xre), b.lengths, Tn, F);
      const auto vm = detail::host<B>(model.posterior_v_mean(rb));
      for (index_t j = 0; j < n; ++j)
        for (index_t k = 0; k < V; ++k) v_pre(s0 + j, k) = double(vm[size_t(j * V + k)]);
    }
    // Posterior-mean reconstruction (the means of encode_all).
    {
      std::vector<T> zm(size_t(Tn * n * Z), T(0)), vm(size_t(n * V));
      for (index_t j = 0; j < n; ++j) {
        const index_t i = s0 + j;
        for (index_t t = 0; t < b.lengths[size_t(j)]; ++t)
          for (index_t k = 0; k < Z; ++k) zm[size_t((t * n + j) * Z + k)] = T(eva.z_mean[size_t((i * Tn + t) * Z + k)]);
        for (index_t k = 0; k < V; ++k) vm[size_t(j * V + k)] = T(eva.v_mean[size_t(i * V + k)]);
      }
      const tensor zt = B::from_host(zm, Tn * n, Z), vt = B::from_host(vm, n, V);
      const auto xm = detail::host<B>(model.decode(zt, vt, &b.mask, n));
      for (index_t j = 0; j < n; ++j)
        for (index_t t = 0; t < b.lengths[size_t(j)]; ++t)
          for (index_t f = 0; f < F; ++f) {
            const double d = double(xm[size_t((t * n + j) * F + f)]) - double(x[size_t((t * n + j) * F + f)]);
            se_mean += d * d;
          }
    }
  }
  r.recon_mse_sample = se_sample / double(r.val_valid_frames * F);
  r.recon_mse_posterior_mean = se_mean / double(r.val_valid_frames * F);

  // KL(q(v | x) || N(0, I)) per dimension from the posterior means and log-variances.
  r.kl_v_standard_per_dim.assign(size_t(V), 0.0);
  for (index_t i = 0; i < N; ++i)
    for (index_t k = 0; k < V; ++k)
      r.kl_v_standard_per_dim[size_t(k)] +=
          detail::kl_1d(double(eva.v_mean[size_t(i * V + k)]), double(eva.v_logvar[size_t(i * V + k)]), 0, 0) /
          double(N);
  for (double d : r.kl_v_standard_per_dim) r.kl_v_standard += d / double(V);
  for (double d : r.kl_z_per_dim) r.z_active_dims += d >= o.collapse_nats;
  for (double d : r.kl_v_standard_per_dim) r.v_active_dims += d >= o.collapse_nats;
  r.z_unused = r.kl_z < o.collapse_nats;
  r.v_unused = r.kl_v_standard < o.collapse_nats;
  r.z_verdict = detail::verdict("local latent z", r.z_unused, r.kl_z, "frame", r.z_active_dims, Z, o.collapse_nats);
  r.v_verdict = detail::verdict("global latent v", r.v_unused, r.kl_v_standard, "sequence", r.v_active_dims, V,
                                o.collapse_nats);

  // The swap protocol: decode(z sample of a[r], v mean of c[r]) with a[r]'s length and mask,
  // zero the frames past it, re-encode with that length.
  auto decode_reencode = [&](std::span<const std::size_t> a, std::span<const std::size_t> c) -> Eigen::MatrixXd {
    const index_t n = index_t(a.size());
    std::vector<T> zb(size_t(Tn * n * Z), T(0)), vb(size_t(n * V));
    std::vector<index_t> lens(static_cast<std::size_t>(n));
    for (index_t r2 = 0; r2 < n; ++r2) {
      const index_t ia = index_t(a[size_t(r2)]), ic = index_t(c[size_t(r2)]);
      lens[size_t(r2)] = eva.lengths[size_t(ia)];
      for (index_t t = 0; t < lens[size_t(r2)]; ++t)
        for (index_t k = 0; k < Z; ++k) zb[size_t((t * n + r2) * Z + k)] = T(zs[size_t((ia * Tn + t) * Z + k)]);
      for (index_t k = 0; k < V; ++k) vb[size_t(r2 * V + k)] = T(eva.v_mean[size_t(ic * V + k)]);
    }
    // The mask of the decoding batch (its x is never read).
    const auto mb = detail::batch_of<B>(std::vector<T>(size_t(Tn * n * F), T(0)), lens, Tn, F);
    const tensor zt = B::from_host(zb, Tn * n, Z), vt = B::from_host(vb, n, V);
    auto xd = detail::host<B>(model.decode(zt, vt, &mb.mask, n));
    const auto rb = detail::batch_of<B>(std::move(xd), lens, Tn, F);
    const auto vm = detail::host<B>(model.posterior_v_mean(rb));
    Eigen::MatrixXd out(n, V);
    for (index_t r2 = 0; r2 < n; ++r2)
      for (index_t k = 0; k < V; ++k) out(r2, k) = double(vm[size_t(r2 * V + k)]);
    return out;
  };
  const auto callbacks = swap_callbacks::from_decoder(
      [&](std::span<const std::size_t> i) {
        Eigen::MatrixXd out(index_t(i.size()), V);
        for (std::size_t r2 = 0; r2 < i.size(); ++r2) out.row(index_t(r2)) = v_pre.row(index_t(i[r2]));
        return out;
      },
      decode_reencode);

  for (index_t k = 0; k < K; ++k) {
    label_scores ls;
    ls.name = train_set.label_names[size_t(k)];
    const auto& yt = ytr[size_t(k)];
    const auto& yv = yva[size_t(k)];
    ls.classes_train = index_t(detail::class_count(yt));
    ls.classes_val = index_t(detail::class_count(yv));
    ls.f1_v = detail::lda_f1(vtr, yt, vva, yv, "v means", ls.notes);
    ls.f1_z = detail::lda_f1(ztr, yt, zva, yv, "time-averaged z means", ls.notes);
    if (ls.f1_v) {  // the swap protocol classifies v means: it needs that LDA
      lda clf;
      clf.fit(vtr, yt);
      const auto sw = swap_protocol(clf, yv, o.seed + std::uint64_t(k), callbacks, std::size_t(o.batch));
      ls.f1_pre = sw.f1_pre;
      ls.f1_global = sw.f1_global;
      ls.f1_local = sw.f1_local;
    } else {
      ls.notes.push_back("swap protocol skipped: it classifies v means with that LDA");
    }
    r.labels.push_back(std::move(ls));
  }
  return r;
}

// The result as JSON (absent scores are null). Field names as in labelled_result.
inline nlohmann::json to_json(const labelled_result& r) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json labels = nlohmann::json::array();
  for (const auto& l : r.labels)
    labels.push_back({{"name", l.name},
                      {"classes_train", l.classes_train},
                      {"classes_val", l.classes_val},
                      {"f1_v", opt(l.f1_v)},
                      {"f1_z", opt(l.f1_z)},
                      {"f1_pre", opt(l.f1_pre)},
                      {"f1_global", opt(l.f1_global)},
                      {"f1_local", opt(l.f1_local)},
                      {"notes", l.notes}});
  return {
      {"variant", r.variant},
      {"stage", r.stage},
      {"eval_seed", r.seed},
      {"batch", r.batch},
      {"n_train", r.n_train},
      {"n_val", r.n_val},
      {"frames", r.frames},
      {"features", r.features},
      {"z", r.z_dim},
      {"v", r.v_dim},
      {"val_valid_frames", r.val_valid_frames},
      {"labels", labels},
      {"recon_mse", r.recon_mse_sample},
      {"recon_mse_posterior_mean", r.recon_mse_posterior_mean},
      {"objective",
       {{"loss", r.objective_loss},
        {"recon", r.objective_recon},
        {"kl_z", r.kl_z},
        {"kl_v", r.kl_v},
        {"swap", r.objective_swap}}},
      {"kl_z",
       {{"per_frame", r.kl_z * double(r.z_dim)},
        {"per_frame_per_dim", r.kl_z},
        {"per_dim", r.kl_z_per_dim},
        {"prior", r.prior_z}}},
      {"kl_v",
       {{"per_sequence", r.kl_v * double(r.v_dim)},
        {"per_sequence_per_dim", r.kl_v},
        {"prior", r.prior_v},
        {"standard_per_dim", r.kl_v_standard_per_dim},
        {"standard_per_dim_mean", r.kl_v_standard}}},
      {"collapse",
       {{"threshold_nats", r.collapse_nats},
        {"z_unused", r.z_unused},
        {"v_unused", r.v_unused},
        {"z_active_dims", r.z_active_dims},
        {"v_active_dims", r.v_active_dims},
        {"z_verdict", r.z_verdict},
        {"v_verdict", r.v_verdict}}},
      {"notes",
       {{"recon_mse", "mean over valid frames x features of (decoded - x)^2 on the validation set; recon_mse decodes "
                      "one seeded posterior sample (z, v), recon_mse_posterior_mean the posterior means"},
        {"f1", "macro F1 on the validation set of an LDA fitted on the training set: f1_v on v means, f1_z on z means "
               "averaged over each sequence's valid frames; f1_pre / f1_global / f1_local: the swap protocol "
               "(docs/evaluation.md) with each sequence's length kept"},
        {"objective", "model.evaluate on the validation set with the seeded draw, batch-weighted; KL_z per frame and "
                      "KL_v per sequence, averaged over dimensions as the objective reduces them"},
        {"collapse", "z unused when kl_z.per_frame_per_dim < threshold_nats; v unused when "
                     "kl_v.standard_per_dim_mean (KL(q(v|x) || N(0, I))) < threshold_nats"}}},
  };
}

// A printable table of the result (labels, reconstruction, KL, collapse verdict).
inline std::string format_table(const labelled_result& r) {
  std::string s;
  char b[512];
  std::snprintf(b, sizeof b, "%s (stage %d)\nvalidation: %lld sequences, %lld valid frames of %lld x %lld; training: %lld; "
                "seed %llu\n", r.variant.c_str(), r.stage, (long long)r.n_val, (long long)r.val_valid_frames,
                (long long)r.frames, (long long)r.features, (long long)r.n_train, (unsigned long long)r.seed);
  s += b;
  auto f = [](const std::optional<double>& v) {
    char t[16];
    if (v) std::snprintf(t, sizeof t, "%.3f", *v);
    else std::snprintf(t, sizeof t, "-");
    return std::string(t);
  };
  if (!r.labels.empty()) {
    std::size_t w = 5;
    for (const auto& l : r.labels) w = std::max(w, l.name.size());
    std::snprintf(b, sizeof b, "%-*s  %7s  %6s  %6s  %6s  %6s  %6s\n", int(w), "label", "classes", "F1(v)", "F1(z)",
                  "pre", "global", "local");
    s += b;
    for (const auto& l : r.labels) {
      const std::string c = std::to_string(l.classes_train) + "/" + std::to_string(l.classes_val);
      std::snprintf(b, sizeof b, "%-*s  %7s  %6s  %6s  %6s  %6s  %6s\n", int(w), l.name.c_str(), c.c_str(),
                    f(l.f1_v).c_str(), f(l.f1_z).c_str(), f(l.f1_pre).c_str(), f(l.f1_global).c_str(),
                    f(l.f1_local).c_str());
      s += b;
      for (const auto& n : l.notes) s += "  note: " + n + "\n";
    }
  } else {
    s += "no labels: F1 and the swap protocol need labels\n";
  }
  std::snprintf(b, sizeof b, "recon MSE (per valid frame x feature): sample %.5g, posterior mean %.5g\n",
                r.recon_mse_sample, r.recon_mse_posterior_mean);
  s += b;
  auto dims = [](const std::vector<double>& v) {
    std::string t;
    char c[32];
    for (std::size_t k = 0; k < v.size() && k < 32; ++k) {
      std::snprintf(c, sizeof c, "%s%.3g", k ? " " : "", v[k]);
      t += c;
    }
    if (v.size() > 32) t += " ...";
    return t;
  };
  std::snprintf(b, sizeof b, "KL_z %.5g nats per frame (%.5g per dimension; prior %s)\n", r.kl_z * double(r.z_dim),
                r.kl_z, r.prior_z.c_str());
  s += b + ("  per dimension: " + dims(r.kl_z_per_dim) + "\n");
  std::snprintf(b, sizeof b, "KL_v %.5g nats per sequence (%.5g per dimension; prior %s); against N(0, I): %.5g per "
                "dimension\n", r.kl_v * double(r.v_dim), r.kl_v, r.prior_v.c_str(), r.kl_v_standard);
  s += b + ("  per dimension (N(0, I)): " + dims(r.kl_v_standard_per_dim) + "\n");
  s += r.z_verdict + "\n" + r.v_verdict + "\n";
  return s;
}

}  // namespace dsae::eval
