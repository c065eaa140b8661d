#pragma once
// The swap protocol of docs/evaluation.md ("Instrument classification with swaps",
// paper section 6.1): fit an LDA on training v-means, pair every validation item i
// with an item j(i) of another class, and score three sets of re-inferred v-means
// by macro F1:
//   pre-swap     v-mean of the reconstruction of x_i           true label y_i
//   global swap  v-mean of decode(z_i, vmean_j(i))             true label y_j(i)
//   local swap   v-mean of decode(z_j(i), vmean_i)             true label y_i
// The model enters only through callbacks, so this header knows nothing about it.
//
// Pairing (reproducible, independent of the standard library's distributions):
//   rng = std::mt19937_64(seed); for i = 0, 1, ..., N-1 in order:
//     pool = ascending indices k with labels[k] != labels[i]   (n = pool size)
//     t = 2^64 mod n; draw r = rng() until r >= t; j(i) = pool[r mod n]
// i.e. an exactly uniform draw from the other class(es) by rejection sampling.
#include "dsae/eval/detail/check.hpp"
#include "dsae/eval/f1.hpp"
#include "dsae/eval/lda.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

namespace dsae::eval {

// Each callback receives a batch of validation indices (and their partners) and returns
// the re-inferred v-means, one row per batch entry, with the LDA's feature count.
struct swap_callbacks {
  using batch = std::span<const std::size_t>;
  // v-mean re-inferred from the reconstruction of x_i (decoded from sampled z_i, v_i).
  std::function<Eigen::MatrixXd(batch i)> reconstruct;
  // v-mean re-inferred from decode(z_i, vmean_j), row r for (i[r], j[r]).
  std::function<Eigen::MatrixXd(batch i, batch j)> global_swap;
  // v-mean re-inferred from decode(z_j, vmean_i), row r for (i[r], j[r]).
  std::function<Eigen::MatrixXd(batch i, batch j)> local_swap;

  // requires: decode(z_from, v_from) returns the v-means re-inferred from
  //   decode(z_{z_from[r]}, vmean_{v_from[r]}).
  // ensures: global_swap(i, j) = decode(i, j) and local_swap(i, j) = decode(j, i).
  static swap_callbacks from_decoder(std::function<Eigen::MatrixXd(batch)> reconstruct,
                                     std::function<Eigen::MatrixXd(batch, batch)> decode) {
    swap_callbacks cb;
    cb.reconstruct = std::move(reconstruct);
    cb.global_swap = [decode](batch i, batch j) { return decode(i, j); };
    cb.local_swap = [decode](batch i, batch j) { return decode(j, i); };
    return cb;
  }
};

struct swap_result {
  double f1_pre = 0.0, f1_global = 0.0, f1_local = 0.0;  // macro F1 of the three scores
  std::vector<std::size_t> partner;                       // j(i) for every validation item
  std::vector<int> pred_pre, pred_global, pred_local;     // LDA predictions
  std::vector<int> true_global;                           // y_j(i) (truth of the global swap)
};

// requires: n >= 1. ensures: an exactly uniform value in [0, n) from rng (rejection
//   below 2^64 mod n), the draw documented at the top of this file.
inline std::size_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t t = (std::uint64_t{0} - n) % n;  // 2^64 mod n in 64-bit arithmetic
  std::uint64_t r = rng();
  while (r < t) r = rng();
  return static_cast<std::size_t>(r % n);
}

// requires: every label has at least one item with a different label.
// ensures: partner[i] != i with labels[partner[i]] != labels[i], drawn as documented above.
inline std::vector<std::size_t> draw_swap_partners(std::span<const int> labels, std::uint64_t seed) {
  const char* where = "dsae::eval::draw_swap_partners (swap.hpp)";
  const std::size_t n = labels.size();
  std::vector<int> classes(labels.begin(), labels.end());
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (classes.size() < 2)
    detail::fail(where, ": the ", n, " validation labels hold ", classes.size(),
                 " class(es); pairing needs items of at least 2 classes");
  // Pools are shared by all items of one class.
  std::vector<std::vector<std::size_t>> pools(classes.size());
  for (std::size_t c = 0; c < classes.size(); ++c)
    for (std::size_t k = 0; k < n; ++k)
      if (labels[k] != classes[c]) pools[c].push_back(k);
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> partner(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::size_t>(
        std::lower_bound(classes.begin(), classes.end(), labels[i]) - classes.begin());
    const auto& pool = pools[c];
    partner[i] = pool[uniform_index(rng, pool.size())];
  }
  return partner;
}

namespace detail {
// Runs `f` over [0, n) in batches and stacks its (batch x D) answers.
template <class F>
Eigen::MatrixXd batched(const char* what, std::size_t n, std::size_t batch_size, Eigen::Index d,
                        const std::vector<std::size_t>& idx_i,
                        const std::vector<std::size_t>& idx_j, F&& f) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(n), d);
  for (std::size_t s = 0; s < n; s += batch_size) {
    const std::size_t m = std::min(batch_size, n - s);
    std::span<const std::size_t> bi(idx_i.data() + s, m), bj(idx_j.data() + s, m);
    const Eigen::MatrixXd v = f(bi, bj);
    if (v.rows() != static_cast<Eigen::Index>(m) || v.cols() != d)
      fail("dsae::eval::swap_protocol (swap.hpp): callback '", what, "' returned shape ",
           shape_str(v.rows(), v.cols()), " for a batch of ", m, " items starting at ", s,
           ", expected ", shape_str(static_cast<Eigen::Index>(m), d));
    check_finite("dsae::eval::swap_protocol (swap.hpp)", what, v);
    out.middleRows(static_cast<Eigen::Index>(s), static_cast<Eigen::Index>(m)) = v;
  }
  return out;
}
}  // namespace detail

// requires: classifier fitted on v-means of width D; val_labels has N >= 2 items of at least
//   two classes; all three callbacks set and returning (batch x D) finite matrices;
//   batch_size >= 1.
// ensures: the three macro-F1 scores of the protocol, the pairing and the predictions; the
//   callbacks are called in order reconstruct, global_swap, local_swap over consecutive
//   batches of the validation indices 0..N-1.
inline swap_result swap_protocol(const lda& classifier, std::span<const int> val_labels,
                                 std::uint64_t seed, const swap_callbacks& cb,
                                 std::size_t batch_size = 256) {
  const char* where = "dsae::eval::swap_protocol (swap.hpp)";
  if (!classifier.fitted()) detail::fail(where, ": the LDA is not fitted");
  if (!cb.reconstruct || !cb.global_swap || !cb.local_swap)
    detail::fail(where, ": all three callbacks (reconstruct, global_swap, local_swap) must be set");
  if (batch_size == 0) detail::fail(where, ": batch_size must be >= 1");
  const std::size_t n = val_labels.size();
  const Eigen::Index d = classifier.n_features();

  swap_result r;
  r.partner = draw_swap_partners(val_labels, seed);
  std::vector<std::size_t> self(n);
  for (std::size_t i = 0; i < n; ++i) self[i] = i;

  const Eigen::MatrixXd v_pre = detail::batched(
      "reconstruct", n, batch_size, d, self, self,
      [&](std::span<const std::size_t> i, std::span<const std::size_t>) { return cb.reconstruct(i); });
  const Eigen::MatrixXd v_glob = detail::batched("global_swap", n, batch_size, d, self, r.partner,
                                                 cb.global_swap);
  const Eigen::MatrixXd v_loc = detail::batched("local_swap", n, batch_size, d, self, r.partner,
                                                cb.local_swap);

  r.pred_pre = classifier.predict(v_pre);
  r.pred_global = classifier.predict(v_glob);
  r.pred_local = classifier.predict(v_loc);
  r.true_global.resize(n);
  for (std::size_t i = 0; i < n; ++i) r.true_global[i] = val_labels[r.partner[i]];

  r.f1_pre = f1_macro(val_labels, r.pred_pre);
  r.f1_global = f1_macro(r.true_global, r.pred_global);
  r.f1_local = f1_macro(val_labels, r.pred_local);
  return r;
}

// requires: train_vmeans (N_train x D) and train_labels as lda::fit; the rest as above.
// ensures: fits lda() with sklearn defaults on the training v-means, then runs the protocol.
inline swap_result swap_protocol(const Eigen::Ref<const Eigen::MatrixXd>& train_vmeans,
                                 std::span<const int> train_labels,
                                 std::span<const int> val_labels, std::uint64_t seed,
                                 const swap_callbacks& cb, std::size_t batch_size = 256) {
  lda clf;
  clf.fit(train_vmeans, train_labels);
  return swap_protocol(clf, val_labels, seed, cb, batch_size);
}

}  // namespace dsae::eval
