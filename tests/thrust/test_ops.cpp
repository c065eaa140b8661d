// Op-by-op parity of thrust_backend<T> against cpu<T> on random inputs.
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>
#include <limits>
#include "common.hpp"

using namespace dsae;
using namespace dsae::thrust_test;
using scalars = boost::mpl::list<float, double>;

static_assert(dsae::backend<dsae::thrust_backend<float>>);
static_assert(dsae::backend<dsae::thrust_backend<double>>);

BOOST_AUTO_TEST_SUITE(thrust_ops)

BOOST_AUTO_TEST_CASE(reports_device_system) {
  BOOST_TEST_MESSAGE("thrust backend device system: " << thrust_backend<float>::name);
  BOOST_TEST(std::string(thrust_backend<float>::name).rfind("thrust-", 0) == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(storage_and_views, T, scalars) {
  using B = G<T>;
  const auto v = random_host<T>(6 * 5, 1);
  typename B::tensor a = B::from_host(v, 6, 5);
  BOOST_TEST(a.rows() == 6);
  BOOST_TEST(a.cols() == 5);
  BOOST_TEST((B::to_host(a) == v));
  // Deep copy: changing the copy leaves the original alone.
  typename B::tensor b = a;
  B::zero(b);
  BOOST_TEST((B::to_host(a) == v));
  // A row view writes through.
  B::fill(B::rows(a, 2, 3), T(7));
  const auto h = B::to_host(a);
  for (index_t r = 0; r < 6; ++r)
    for (index_t c = 0; c < 5; ++c)
      BOOST_TEST(h[size_t(r * 5 + c)] == ((r >= 2 && r < 5) ? T(7) : v[size_t(r * 5 + c)]));
  // crows of a view, flat_view of a buffer.
  const auto sub = B::to_host(B::crows(B::rows(a, 1, 4), 2, 1));
  BOOST_TEST((sub == std::vector<T>(5, T(7))));
  typename B::tensor flat = B::from_host(random_host<T>(20, 2), 1, 20);
  auto fv = B::flat_view(flat, 7, 3, 4);
  BOOST_TEST(fv.rows() == 3);
  B::scale(fv, T(2));
  const auto f0 = random_host<T>(20, 2), f1 = B::to_host(flat);
  for (index_t i = 0; i < 20; ++i) BOOST_TEST(f1[size_t(i)] == ((i >= 7 && i < 19) ? T(2) * f0[size_t(i)] : f0[size_t(i)]));
  // A strided view (columns 1..3 of a) comes back compacted.
  typename B::cref strided(a.data() + 1, 6, 3, 5);
  const auto s = B::to_host(strided);
  for (index_t r = 0; r < 6; ++r)
    for (index_t c = 0; c < 3; ++c) BOOST_TEST(s[size_t(r * 3 + c)] == h[size_t(r * 5 + c + 1)]);
  // resize keeps the shape contract; default tensor is empty.
  typename B::tensor e;
  BOOST_TEST(e.rows() == 0);
  B::resize(e, 4, 2);
  BOOST_TEST((B::shape(e) == shape2{4, 2}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bad_input_throws, T, scalars) {
  using B = G<T>;
  typename B::tensor a(4, 3), b(3, 3), c(4, 4);
  BOOST_CHECK_THROW(B::gemm(c, a, false, b, false, T(1), T(0)), std::invalid_argument);  // C is 4x4, want 4x3
  BOOST_CHECK_THROW(B::rows(a, 2, 3), std::invalid_argument);
  BOOST_CHECK_THROW(B::flat_view(a, 5, 2, 4), std::invalid_argument);
  BOOST_CHECK_THROW(B::indices({0, 3, 1}), std::invalid_argument);
  BOOST_CHECK_THROW(B::copy(a, b), std::invalid_argument);
  BOOST_CHECK_THROW(B::from_host(std::vector<T>(5), 2, 3), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(elementwise_and_reductions, T, scalars) {
  auto y = make<T>(37, 11, 3), x = make<T>(37, 11, 4);
  C<T>::axpy(y.c, T(-0.75), x.c);
  G<T>::axpy(y.g, T(-0.75), x.g);
  expect_close(y, "axpy");
  C<T>::scale(y.c, T(1.5));
  G<T>::scale(y.g, T(1.5));
  expect_close(y, "scale");
  C<T>::copy(C<T>::rows(y.c, 3, 10), C<T>::crows(x.c, 20, 10));
  G<T>::copy(G<T>::rows(y.g, 3, 10), G<T>::crows(x.g, 20, 10));
  expect_close(y, "copy of row blocks");
  expect_scalar(G<T>::sum(y.g), C<T>::sum(y.c), "sum");
  C<T>::tanh_inplace(y.c);
  G<T>::tanh_inplace(y.g);
  expect_close(y, "tanh");
  auto d = make<T>(37, 11, 5);
  C<T>::tanh_backward(d.c, y.c);
  G<T>::tanh_backward(d.g, y.g);
  expect_close(d, "tanh_backward");
  auto b = make<T>(1, 11, 6);
  C<T>::add_row(y.c, b.c);
  G<T>::add_row(y.g, b.g);
  expect_close(y, "add_row");
  for (T beta : {T(0), T(1), T(0.5)}) {
    auto s = make<T>(1, 11, 7);
    C<T>::sum_rows(s.c, y.c, beta);
    G<T>::sum_rows(s.g, y.g, beta);
    expect_close(s, "sum_rows beta=" + std::to_string(double(beta)));
  }
  // all_finite sees a NaN or an Inf anywhere.
  BOOST_TEST(G<T>::all_finite(y.g));
  for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                -std::numeric_limits<T>::infinity()}) {
    auto h = G<T>::to_host(y.g);
    h[200] = bad;
    BOOST_TEST(!G<T>::all_finite(G<T>::from_host(h, 37, 11)));
  }
}

// All four transpose forms, alpha/beta, the tall (row-split) shape and the
// split-k weight-gradient shape of the CPU backend, and a strided operand.
BOOST_AUTO_TEST_CASE_TEMPLATE(gemm_shapes, T, scalars) {
  struct shp {
    index_t M, N, K;
  };
  std::uint64_t seed = 10;
  for (shp s : {shp{5, 7, 3}, shp{300, 24, 40}, shp{24, 40, 4500}, shp{1, 33, 129}}) {
    for (int form = 0; form < 4; ++form) {
      const bool ta = form & 1, tb = form & 2;
      auto A = ta ? make<T>(s.K, s.M, ++seed) : make<T>(s.M, s.K, ++seed);
      auto B = tb ? make<T>(s.N, s.K, ++seed) : make<T>(s.K, s.N, ++seed);
      auto Cm = make<T>(s.M, s.N, ++seed);
      for (auto [alpha, beta] : {std::pair{T(1), T(0)}, std::pair{T(0.5), T(1)}, std::pair{T(-2), T(0.25)}}) {
        C<T>::gemm(Cm.c, A.c, ta, B.c, tb, alpha, beta);
        G<T>::gemm(Cm.g, A.g, ta, B.g, tb, alpha, beta);
        expect_close(Cm, "gemm M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " K=" +
                             std::to_string(s.K) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
      }
    }
  }
  // op(A) = columns [1, 4) of a (20 x 6) matrix, a strided operand.
  auto A = make<T>(20, 6, 90), B = make<T>(3, 8, 91), Cm = make<T>(20, 8, 92);
  C<T>::gemm(Cm.c, A.c.middleCols(1, 3), false, B.c, false, T(1), T(0));
  G<T>::gemm(Cm.g, typename G<T>::cref(A.g.data() + 1, 20, 3, 6), false, B.g, false, T(1), T(0));
  expect_close(Cm, "gemm with a strided operand");
  // Weight-gradient form into a flat_view of a parameter buffer (accumulating).
  auto flat = make<T>(1, 200, 93), dy = make<T>(64, 9, 94), x = make<T>(64, 11, 95);
  C<T>::gemm(C<T>::flat_view(flat.c, 50, 9, 11), dy.c, true, x.c, false, T(1), T(1));
  G<T>::gemm(G<T>::flat_view(flat.g, 50, 9, 11), dy.g, true, x.g, false, T(1), T(1));
  expect_close(flat, "gemm into a flat_view");
}

// LSTM steps: with/without the previous cell and the mask, chained over steps.
BOOST_AUTO_TEST_CASE_TEMPLATE(lstm_steps, T, scalars) {
  const index_t Bn = 7, H = 5;
  for (int variant = 0; variant < 4; ++variant) {
    const bool has_prev = variant & 1, has_mask = variant & 2;
    auto G0 = make<T>(Bn, 4 * H, 100 + variant, -2, 2);
    auto cp = make<T>(Bn, H, 110 + variant);
    auto m = mask<T>(Bn, {1, 4, 6});
    both<T> c(std::vector<T>(Bn * H), Bn, H), tc = c, h = c;
    const typename C<T>::tensor cnone;
    const typename G<T>::tensor gnone;
    C<T>::lstm_forward_step(G0.c, has_prev ? C<T>::crows(cp.c, 0, Bn) : C<T>::crows(cnone, 0, 0),
                            has_mask ? C<T>::crows(m.c, 0, Bn) : C<T>::crows(cnone, 0, 0), c.c, tc.c, h.c);
    G<T>::lstm_forward_step(G0.g, has_prev ? G<T>::crows(cp.g, 0, Bn) : G<T>::crows(gnone, 0, 0),
                            has_mask ? G<T>::crows(m.g, 0, Bn) : G<T>::crows(gnone, 0, 0), c.g, tc.g, h.g);
    const std::string tag = " prev=" + std::to_string(has_prev) + " mask=" + std::to_string(has_mask);
    expect_close(G0, "lstm forward gates" + tag);
    expect_close(c, "lstm forward c" + tag);
    expect_close(tc, "lstm forward tanh(c)" + tag);
    expect_close(h, "lstm forward h" + tag);
    if (has_mask) {  // masked rows leave zero state
      const auto hh = G<T>::to_host(h.g);
      for (index_t j = 0; j < H; ++j) BOOST_TEST(hh[size_t(4 * H + j)] == T(0));
    }
    auto dh = make<T>(Bn, H, 120 + variant), dc = make<T>(Bn, H, 130 + variant);
    both<T> dG(std::vector<T>(Bn * 4 * H), Bn, 4 * H);
    C<T>::lstm_backward_step(dG.c, G0.c, has_prev ? C<T>::crows(cp.c, 0, Bn) : C<T>::crows(cnone, 0, 0),
                             has_mask ? C<T>::crows(m.c, 0, Bn) : C<T>::crows(cnone, 0, 0), tc.c, dh.c, dc.c);
    G<T>::lstm_backward_step(dG.g, G0.g, has_prev ? G<T>::crows(cp.g, 0, Bn) : G<T>::crows(gnone, 0, 0),
                             has_mask ? G<T>::crows(m.g, 0, Bn) : G<T>::crows(gnone, 0, 0), tc.g, dh.g, dc.g);
    expect_close(dG, "lstm backward dG" + tag);
    expect_close(dc, "lstm backward dc" + tag);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(time_structure, T, scalars) {
  const index_t Tn = 9, Bn = 6, D = 4, E = 3;
  auto X = make<T>(Tn * Bn, D, 200), w = make<T>(Tn * Bn, 1, 201, 0, 1);
  both<T> out(std::vector<T>(Bn * D), Bn, D);
  C<T>::time_weighted_sum(out.c, X.c, w.c);
  G<T>::time_weighted_sum(out.g, X.g, w.g);
  expect_close(out, "time_weighted_sum");
  auto dout = make<T>(Bn, D, 202), dX = make<T>(Tn * Bn, D, 203);
  C<T>::time_weighted_sum_backward(dX.c, dout.c, w.c);
  G<T>::time_weighted_sum_backward(dX.g, dout.g, w.g);
  expect_close(dX, "time_weighted_sum_backward");
  // concat: same-rows and broadcast-over-time right operands.
  for (index_t rb : {Tn * Bn, Bn}) {
    auto bb = make<T>(rb, E, 204 + rb);
    both<T> cat(std::vector<T>(Tn * Bn * (D + E)), Tn * Bn, D + E);
    C<T>::concat_cols(cat.c, X.c, bb.c);
    G<T>::concat_cols(cat.g, X.g, bb.g);
    expect_close(cat, "concat_cols b rows=" + std::to_string(rb));
    both<T> a2(std::vector<T>(Tn * Bn * D), Tn * Bn, D), b2(std::vector<T>(Tn * Bn * E), Tn * Bn, E);
    C<T>::split_cols(a2.c, b2.c, cat.c);
    G<T>::split_cols(a2.g, b2.g, cat.g);
    expect_close(a2, "split_cols left");
    expect_close(b2, "split_cols right");
    auto da = make<T>(Tn * Bn, D, 210), db = make<T>(rb, E, 211);
    C<T>::split_cols_backward(&da.c, &db.c, cat.c);
    G<T>::split_cols_backward(&da.g, &db.g, cat.g);
    expect_close(da, "split_cols_backward left");
    expect_close(db, "split_cols_backward right, b rows=" + std::to_string(rb));
    C<T>::split_cols_backward(nullptr, &db.c, cat.c);
    G<T>::split_cols_backward(nullptr, &db.g, cat.g);
    expect_close(db, "split_cols_backward right only");
    C<T>::split_cols_backward(&da.c, nullptr, cat.c);
    G<T>::split_cols_backward(&da.g, nullptr, cat.g);
    expect_close(da, "split_cols_backward left only");
  }
}

// Repeated and missing indices: positions 0, 2, 4 take batch entry 2.
BOOST_AUTO_TEST_CASE_TEMPLATE(gather_with_repeats, T, scalars) {
  const index_t Tn = 4, Bn = 6, D = 3;
  const std::vector<index_t> perm{2, 0, 2, 1, 2, 5};
  const auto pc = C<T>::indices(perm);
  const auto pg = G<T>::indices(perm);
  BOOST_TEST(pg.size() == Bn);
  auto src = make<T>(Tn * Bn, D, 300), dst = make<T>(Tn * Bn, D, 301);
  C<T>::gather_batch(dst.c, src.c, pc);
  G<T>::gather_batch(dst.g, src.g, pg);
  expect_close(dst, "gather_batch");
  auto dsrc = make<T>(Tn * Bn, D, 302);
  C<T>::gather_batch_backward(dsrc.c, dst.c, pc);
  G<T>::gather_batch_backward(dsrc.g, dst.g, pg);
  expect_close(dsrc, "gather_batch_backward");
  // Entries never gathered (3, 4) keep their values; entry 2 got three rows.
  const auto before = random_host<T>(Tn * Bn * D, 302), after = G<T>::to_host(dsrc.g), s = G<T>::to_host(src.g);
  for (index_t j = 0; j < D; ++j) {
    BOOST_TEST(after[size_t(3 * D + j)] == before[size_t(3 * D + j)]);
    BOOST_TEST(after[size_t(4 * D + j)] == before[size_t(4 * D + j)]);
    const double want = double(before[size_t(2 * D + j)]) + 3.0 * double(s[size_t(2 * D + j)]);
    BOOST_TEST(std::abs(double(after[size_t(2 * D + j)]) - want) < 1e-5);
  }
}

// The same Philox doubles rounded once: equal to the CPU backend's. On CUDA
// the device log/sin/cos may differ from glibc's in the last double bit, so
// doubles are held to 4 ulp there (floats are still compared exactly).
BOOST_AUTO_TEST_CASE_TEMPLATE(noise_equality, T, scalars) {
  for (auto [r, cc] : {std::pair<index_t, index_t>{1, 1}, {17, 13}, {128, 16}}) {
    const prob::noise_key key{0x1234abcdull + std::uint64_t(r), std::uint32_t(cc), 77};
    both<T> e(std::vector<T>(r * cc), r, cc);
    C<T>::normal(e.c, key);
    G<T>::normal(e.g, key);
    const auto got = G<T>::to_host(e.g), want = C<T>::to_host(e.c);
    bool exact = true;
    for (size_t i = 0; i < want.size(); ++i) {
      if (DSAE_THRUST_CUDA && std::is_same_v<T, double>)
        exact = exact && std::abs(got[i] - want[i]) <= 4 * std::numeric_limits<T>::epsilon() * std::abs(want[i]);
      else
        exact = exact && got[i] == want[i];
    }
    BOOST_TEST(exact, "noise differs for shape " << r << "x" << cc);
  }
  // A row block draws by its own element index, as cpu<T> does.
  both<T> big(std::vector<T>(20 * 3), 20, 3);
  C<T>::normal(C<T>::rows(big.c, 5, 4), {9, 1, 2});
  G<T>::normal(G<T>::rows(big.g, 5, 4), {9, 1, 2});
  expect_close(big, "noise into a row block", 4 * std::numeric_limits<T>::epsilon());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(gaussian_ops, T, scalars) {
  const index_t R = 23, L = 6;
  auto mu = make<T>(R, L, 400), lv = make<T>(R, L, 401, -2, 1), eps = make<T>(R, L, 402, -2, 2);
  auto mu2 = make<T>(R, L, 403), lv2 = make<T>(R, L, 404, -1.5, 1.5);
  both<T> s(std::vector<T>(R * L), R, L);
  C<T>::reparam(s.c, mu.c, lv.c, eps.c);
  G<T>::reparam(s.g, mu.g, lv.g, eps.g);
  expect_close(s, "reparam");
  auto ds = make<T>(R, L, 405), dmu = make<T>(R, L, 406), dlv = make<T>(R, L, 407);
  C<T>::reparam_backward(&dmu.c, &dlv.c, ds.c, lv.c, eps.c);
  G<T>::reparam_backward(&dmu.g, &dlv.g, ds.g, lv.g, eps.g);
  expect_close(dmu, "reparam_backward dmu");
  expect_close(dlv, "reparam_backward dlv");
  C<T>::reparam_backward(nullptr, &dlv.c, ds.c, lv.c, eps.c);
  G<T>::reparam_backward(nullptr, &dlv.g, ds.g, lv.g, eps.g);
  expect_close(dlv, "reparam_backward dlv only");

  // Row weights with zeros; a zero-weight row holding Inf must not poison the sum.
  auto wv = random_host<T>(R, 408, 0, 1);
  wv[3] = wv[11] = T(0);
  both<T> w(wv, R, 1);
  auto mu_bad = C<T>::to_host(mu.c);
  mu_bad[size_t(3 * L)] = std::numeric_limits<T>::infinity();
  both<T> mub(mu_bad, R, L);
  const typename C<T>::tensor cn;
  const typename G<T>::tensor gn;
  expect_scalar(G<T>::kl(mub.g, lv.g, gn, gn, w.g), C<T>::kl(mub.c, lv.c, cn, cn, w.c), "kl to N(0, I)");
  expect_scalar(G<T>::kl(mub.g, lv.g, mu2.g, lv2.g, w.g), C<T>::kl(mub.c, lv.c, mu2.c, lv2.c, w.c), "kl general");
  BOOST_TEST(std::isfinite(double(G<T>::kl(mub.g, lv.g, mu2.g, lv2.g, w.g))));

  for (bool std_prior : {true, false}) {
    auto g1 = make<T>(R, L, 410), g2 = make<T>(R, L, 411), g3 = make<T>(R, L, 412), g4 = make<T>(R, L, 413);
    const std::string tag = std_prior ? " (standard prior)" : " (general)";
    C<T>::kl_backward(T(0.7), mu.c, lv.c, std_prior ? cn : mu2.c, std_prior ? cn : lv2.c, w.c, &g1.c, &g2.c, &g3.c,
                      &g4.c);
    G<T>::kl_backward(T(0.7), mu.g, lv.g, std_prior ? gn : mu2.g, std_prior ? gn : lv2.g, w.g, &g1.g, &g2.g, &g3.g,
                      &g4.g);
    expect_close(g1, "kl_backward dmu1" + tag);
    expect_close(g2, "kl_backward dlv1" + tag);
    expect_close(g3, "kl_backward dmu2" + tag);
    expect_close(g4, "kl_backward dlv2" + tag);
    C<T>::kl_backward(T(-1.3), mu.c, lv.c, mu2.c, lv2.c, w.c, nullptr, &g2.c, &g3.c, nullptr);
    G<T>::kl_backward(T(-1.3), mu.g, lv.g, mu2.g, lv2.g, w.g, nullptr, &g2.g, &g3.g, nullptr);
    expect_close(g2, "kl_backward partial dlv1" + tag);
    expect_close(g3, "kl_backward partial dmu2" + tag);
  }

  expect_scalar(G<T>::sq_error(mu.g, mu2.g, w.g), C<T>::sq_error(mu.c, mu2.c, w.c), "sq_error");
  auto da = make<T>(R, L, 420);
  C<T>::sq_error_backward(da.c, T(0.3), mu.c, mu2.c, w.c);
  G<T>::sq_error_backward(da.g, T(0.3), mu.g, mu2.g, w.g);
  expect_close(da, "sq_error_backward");
}

// Adam on a sub-range of flat buffers, several steps, plain and AMSGrad.
BOOST_AUTO_TEST_CASE_TEMPLATE(adam_update, T, scalars) {
  const index_t n = 300;
  for (bool ams : {false, true}) {
    auto p = make<T>(1, n, 500), m = make<T>(1, n, 501, 0, 0.1), v = make<T>(1, n, 502, 0, 0.1), vm = v;
    for (std::int64_t step = 1; step <= 5; ++step) {
      auto g = make<T>(1, n, 510 + std::uint64_t(step));
      C<T>::adam_update(p.c, g.c, m.c, v.c, vm.c, 40, 200, T(1e-2), T(0.9), T(0.999), T(1e-8), step, ams);
      G<T>::adam_update(p.g, g.g, m.g, v.g, vm.g, 40, 200, T(1e-2), T(0.9), T(0.999), T(1e-8), step, ams);
    }
    const std::string tag = ams ? " (amsgrad)" : "";
    expect_close(p, "adam parameters" + tag);
    expect_close(m, "adam first moment" + tag);
    expect_close(v, "adam second moment" + tag);
    expect_close(vm, "adam max second moment" + tag);
    // Outside [40, 240) nothing moved.
    const auto p0 = random_host<T>(n, 500), p1 = G<T>::to_host(p.g);
    BOOST_TEST(p1[39] == p0[39]);
    BOOST_TEST(p1[240] == p0[240]);
    BOOST_TEST(p1[40] != p0[40]);
  }
}

BOOST_AUTO_TEST_SUITE_END()
