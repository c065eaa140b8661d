// Swap protocol on linear toy models whose scores are known: a disentangled toy
// (the instrument lives in v) scores 1.0 everywhere; a collapsed toy (the decoder
// ignores v and z carries the instrument) scores 1.0 before and 0.0 after swaps.
#include <boost/test/unit_test.hpp>

#include "dsae/eval/swap.hpp"

#include <Eigen/Dense>
#include "peer.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace dsae_test;
namespace ev = dsae::eval;
using batch = std::span<const std::size_t>;

namespace {

// A linear "model": x = A z + B v (F-dim frames), v re-inferred as E x.
struct linear_toy {
  Eigen::Index dz = 4, dv = 3, dx = 10;
  Eigen::MatrixXd A, B, E;   // dx x dz, dx x dv, dv x dx
  Eigen::MatrixXd z, vmean;  // validation latents, one row per item
  Eigen::MatrixXd v_sample;  // sampled v used by the reconstruction
  Eigen::MatrixXd train_vmean;
  std::vector<int> train_y, val_y;

  Eigen::MatrixXd decode_reinfer(batch zi, batch vi, const Eigen::MatrixXd& vsrc) const {
    Eigen::MatrixXd out(static_cast<Eigen::Index>(zi.size()), dv);
    for (std::size_t r = 0; r < zi.size(); ++r) {
      const Eigen::VectorXd x = A * z.row(static_cast<Eigen::Index>(zi[r])).transpose() +
                                B * vsrc.row(static_cast<Eigen::Index>(vi[r])).transpose();
      out.row(static_cast<Eigen::Index>(r)) = (E * x).transpose();
    }
    return out;
  }
  ev::swap_callbacks callbacks() const {
    ev::swap_callbacks cb;
    cb.reconstruct = [this](batch i) { return decode_reinfer(i, i, v_sample); };
    cb.global_swap = [this](batch i, batch j) { return decode_reinfer(i, j, vmean); };
    cb.local_swap = [this](batch i, batch j) { return decode_reinfer(j, i, vmean); };
    return cb;
  }
};

Eigen::RowVectorXd prototype(int label, Eigen::Index dv) {
  Eigen::RowVectorXd p = Eigen::RowVectorXd::Zero(dv);
  p(label % dv) = 3.0;
  p((label + 1) % dv) = -1.0 * label;
  return p;
}

// Data shared by both toys: instruments 0/1 (unbalanced), v-means near a prototype.
linear_toy make_data(std::uint64_t seed, int n_val = 61) {
  linear_toy t;
  normal_rng g(seed);
  for (int i = 0; i < 200; ++i) t.train_y.push_back(i % 3 == 0 ? 1 : 0);
  t.train_vmean.resize(200, t.dv);
  for (int i = 0; i < 200; ++i) t.train_vmean.row(i) = prototype(t.train_y[static_cast<std::size_t>(i)], t.dv) + 0.3 * g.normal(1, t.dv);
  for (int i = 0; i < n_val; ++i) t.val_y.push_back(i % 5 < 2 ? 1 : 0);
  t.vmean.resize(n_val, t.dv);
  t.v_sample.resize(n_val, t.dv);
  for (int i = 0; i < n_val; ++i) {
    t.vmean.row(i) = prototype(t.val_y[static_cast<std::size_t>(i)], t.dv) + 0.3 * g.normal(1, t.dv);
    t.v_sample.row(i) = t.vmean.row(i) + 0.05 * g.normal(1, t.dv);
  }
  t.z = g.normal(n_val, t.dz);
  return t;
}

// Disentangled: A and B have orthogonal column spaces; E = B^+ recovers v exactly.
linear_toy disentangled(std::uint64_t seed) {
  linear_toy t = make_data(seed);
  normal_rng g(seed + 1);
  Eigen::MatrixXd q = g.normal(t.dx, t.dx).householderQr().householderQ();
  t.A = q.leftCols(t.dz) * 2.0;
  t.B = q.middleCols(t.dz, t.dv) * 0.5;
  t.E = t.B.completeOrthogonalDecomposition().pseudoInverse();
  return t;
}

// Collapsed: B = 0 (v ignored) and z carries the instrument: the last dv entries of z
// are the item's own v-mean, which E reads back.
linear_toy collapsed(std::uint64_t seed) {
  linear_toy t = make_data(seed);
  const Eigen::Index dc = t.dz;
  t.dz = dc + t.dv;
  Eigen::MatrixXd z(t.z.rows(), t.dz);
  z << t.z, t.vmean;
  t.z = z;
  t.A = Eigen::MatrixXd::Zero(t.dx, t.dz);
  t.A.topLeftCorner(dc, dc).setIdentity();
  t.A.block(dc, dc, t.dv, t.dv).setIdentity();
  t.B = Eigen::MatrixXd::Zero(t.dx, t.dv);
  t.E = Eigen::MatrixXd::Zero(t.dv, t.dx);
  t.E.block(0, dc, t.dv, t.dv).setIdentity();
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(swap_suite)

BOOST_AUTO_TEST_CASE(pairing_draws_the_other_class_reproducibly) {
  std::vector<int> y;
  for (int i = 0; i < 50; ++i) y.push_back(i % 3 == 0 ? 7 : 2);
  const auto p1 = ev::draw_swap_partners(y, 42);
  const auto p2 = ev::draw_swap_partners(y, 42);
  const auto p3 = ev::draw_swap_partners(y, 43);
  BOOST_TEST(p1 == p2);
  BOOST_TEST(p1 != p3);
  for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(y[p1[i]] != y[i]);

  // The documented draw: mt19937_64(seed), rejection below 2^64 mod n, r mod n.
  std::mt19937_64 rng(42);
  std::vector<std::size_t> pool_for_7;  // item 0 has label 7: pool = items labelled 2
  for (std::size_t k = 0; k < y.size(); ++k)
    if (y[k] != 7) pool_for_7.push_back(k);
  const std::uint64_t n = pool_for_7.size();
  const std::uint64_t t = (std::uint64_t{0} - n) % n;
  std::uint64_t r = rng();
  while (r < t) r = rng();
  BOOST_TEST(p1[0] == pool_for_7[r % n]);
}

BOOST_AUTO_TEST_CASE(pairing_is_uniform_over_the_pool) {
  // 3 items of class 0, 2997 of class 1: each class-1 item draws one of the 3.
  std::vector<int> y(3000, 1);
  y[5] = y[900] = y[2999] = 0;
  const auto p = ev::draw_swap_partners(y, 7);
  std::map<std::size_t, int> hits;
  for (std::size_t i = 0; i < y.size(); ++i)
    if (y[i] == 1) ++hits[p[i]];
  BOOST_TEST(hits.size() == 3u);
  // 999 expected each, sd = sqrt(2997 * 1/3 * 2/3) ~ 25.8; allow 5 sd.
  for (const auto& [k, c] : hits) BOOST_TEST(std::abs(c - 999) < 130, "item " << k << " drawn " << c);
  // Three classes: every other class is reachable.
  std::vector<int> y3;
  for (int i = 0; i < 300; ++i) y3.push_back(i % 3);
  const auto p3 = ev::draw_swap_partners(y3, 1);
  std::set<int> partner_classes_of_0;
  for (std::size_t i = 0; i < y3.size(); ++i) {
    BOOST_TEST(y3[p3[i]] != y3[i]);
    if (y3[i] == 0) partner_classes_of_0.insert(y3[p3[i]]);
  }
  BOOST_TEST((partner_classes_of_0 == std::set<int>{1, 2}));
  BOOST_CHECK_THROW(ev::draw_swap_partners(std::vector<int>{4, 4, 4}, 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(disentangled_toy_scores_one_everywhere) {
  const auto toy = disentangled(21);
  const auto res = ev::swap_protocol(toy.train_vmean, toy.train_y, toy.val_y, 5, toy.callbacks(), 8);
  BOOST_TEST(res.f1_pre == 1.0);
  BOOST_TEST(res.f1_global == 1.0);
  BOOST_TEST(res.f1_local == 1.0);
  BOOST_TEST(res.partner.size() == toy.val_y.size());
  BOOST_TEST(res.partner == ev::draw_swap_partners(toy.val_y, 5));
  for (std::size_t i = 0; i < toy.val_y.size(); ++i) {
    BOOST_TEST(res.true_global[i] == toy.val_y[res.partner[i]]);
    BOOST_TEST(res.pred_global[i] == toy.val_y[res.partner[i]]);  // follows v_j
    BOOST_TEST(res.pred_local[i] == toy.val_y[i]);                 // follows v_i
  }
}

BOOST_AUTO_TEST_CASE(collapsed_toy_fails_after_swaps) {
  const auto toy = collapsed(22);
  const auto res = ev::swap_protocol(toy.train_vmean, toy.train_y, toy.val_y, 5, toy.callbacks(), 16);
  BOOST_TEST(res.f1_pre == 1.0);  // reconstructions still carry the right instrument
  BOOST_TEST(res.f1_global < 0.5);
  BOOST_TEST(res.f1_local < 0.5);
  BOOST_TEST(res.f1_global == 0.0);  // every swap follows z: all predictions wrong
  BOOST_TEST(res.f1_local == 0.0);
}

BOOST_AUTO_TEST_CASE(callbacks_see_consecutive_batches_and_matching_partners) {
  const auto toy = disentangled(23);
  std::vector<std::size_t> sizes, seen_i;
  std::vector<std::size_t> seen_j;
  auto cb = toy.callbacks();
  auto inner = cb.global_swap;
  cb.global_swap = [&](batch i, batch j) {
    sizes.push_back(i.size());
    seen_i.insert(seen_i.end(), i.begin(), i.end());
    seen_j.insert(seen_j.end(), j.begin(), j.end());
    return inner(i, j);
  };
  ev::lda clf;
  clf.fit(toy.train_vmean, toy.train_y);
  const auto res = ev::swap_protocol(clf, toy.val_y, 9, cb, 7);
  const std::size_t n = toy.val_y.size();  // 61 = 8 * 7 + 5
  BOOST_TEST(sizes.size() == (n + 6) / 7);
  BOOST_TEST(sizes.back() == n % 7);
  for (std::size_t k = 0; k < n; ++k) BOOST_TEST(seen_i[k] == k);
  BOOST_TEST(seen_j == res.partner);

  // from_decoder builds the same two swaps from one decode(z_from, v_from).
  auto cb2 = ev::swap_callbacks::from_decoder(
      [&](batch i) { return toy.decode_reinfer(i, i, toy.v_sample); },
      [&](batch zi, batch vi) { return toy.decode_reinfer(zi, vi, toy.vmean); });
  const auto res2 = ev::swap_protocol(clf, toy.val_y, 9, cb2, 7);
  BOOST_TEST(res2.pred_global == res.pred_global);
  BOOST_TEST(res2.pred_local == res.pred_local);
}

BOOST_AUTO_TEST_CASE(bad_callbacks_are_reported) {
  const auto toy = disentangled(24);
  ev::lda clf;
  clf.fit(toy.train_vmean, toy.train_y);
  auto cb = toy.callbacks();
  cb.local_swap = [&](batch i, batch) { return Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(i.size()), 2).eval(); };
  try {
    ev::swap_protocol(clf, toy.val_y, 1, cb);
    BOOST_FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    const std::string w = e.what();
    BOOST_TEST(w.find("local_swap") != std::string::npos);
    BOOST_TEST(w.find("[61 x 2]") != std::string::npos);
  }
  auto cb2 = toy.callbacks();
  cb2.reconstruct = nullptr;
  BOOST_CHECK_THROW(ev::swap_protocol(clf, toy.val_y, 1, cb2), std::invalid_argument);
  BOOST_CHECK_THROW(ev::swap_protocol(clf, toy.val_y, 1, toy.callbacks(), 0), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
