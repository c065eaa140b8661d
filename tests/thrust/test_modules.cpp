// Module-level parity: every nn / prob module and Adam, run on cpu<T> and on
// thrust_backend<T> with identical parameters (same init seed), inputs and
// noise; outputs, input gradients and parameter gradients must agree.
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>
#include <dsae/nn/gaussian_head.hpp>
#include <dsae/nn/linear.hpp>
#include <dsae/nn/lstm.hpp>
#include <dsae/nn/masked_mean.hpp>
#include <dsae/nn/mlp.hpp>
#include <dsae/nn/mse.hpp>
#include <dsae/nn/tanh.hpp>
#include <dsae/prob/gaussian.hpp>
#include <dsae/train/adam.hpp>
#include "common.hpp"

using namespace dsae;
using namespace dsae::thrust_test;
using scalars = boost::mpl::list<float, double>;

namespace {

// Named host copies of a run's tensors, in the order recorded.
template <class T>
struct record {
  std::vector<std::pair<std::string, std::vector<T>>> items;
  template <class B>
  void add(const std::string& name, typename B::cref x) {
    items.emplace_back(name, B::to_host(x));
  }
};
template <class T>
void compare(const record<T>& got, const record<T>& want, const std::string& what, double tolerance = tol<T>()) {
  BOOST_TEST_REQUIRE(got.items.size() == want.items.size());
  for (size_t i = 0; i < want.items.size(); ++i)
    expect_close<T>(got.items[i].second, want.items[i].second, what + ": " + want.items[i].first, tolerance);
}

template <class B>
typename B::tensor input(index_t r, index_t c, std::uint64_t seed, double lo = -1, double hi = 1) {
  return B::from_host(random_host<typename B::scalar>(r * c, seed, lo, hi), r, c);
}
// Time-major 0/1 mask of sequences with the given lengths (valid frames first).
template <class B>
typename B::tensor length_mask(index_t Tn, const std::vector<index_t>& len) {
  const index_t Bn = index_t(len.size());
  std::vector<typename B::scalar> m(size_t(Tn * Bn));
  for (index_t t = 0; t < Tn; ++t)
    for (index_t b = 0; b < Bn; ++b) m[size_t(t * Bn + b)] = t < len[size_t(b)] ? 1 : 0;
  return B::from_host(m, Tn * Bn, 1);
}

template <class B>
record<typename B::scalar> run_linear_mlp_tanh() {
  using T = typename B::scalar;
  record<T> r;
  parameters<B> p;
  nn::linear<B> lin(p, "lin", 7, 5, group::decoder);
  nn::mlp<B> net(p, "net", 5, {9, 4}, group::decoder);
  nn::tanh_layer<B> th;
  p.finalize(42);
  r.template add<B>("initial values", p.values());
  const auto x = input<B>(30, 7, 1);
  typename nn::linear<B>::state ls;
  typename nn::mlp<B>::state ms;
  typename nn::tanh_layer<B>::state ts;
  const auto& y1 = lin.forward(ls, x);
  const auto& y2 = net.forward(ms, y1);
  const auto& y3 = th.forward(ts, y2);
  r.template add<B>("linear output", y1);
  r.template add<B>("mlp output", y2);
  r.template add<B>("tanh output", y3);
  const auto dy = input<B>(30, 4, 2);
  const auto* d3 = th.backward(ts, dy, true);
  const auto* d2 = net.backward(ms, *d3, true);
  const auto* d1 = lin.backward(ls, *d2, true);
  r.template add<B>("tanh dx", *d3);
  r.template add<B>("mlp dx", *d2);
  r.template add<B>("linear dx", *d1);
  r.template add<B>("parameter gradients", p.grads());
  return r;
}

template <class B>
record<typename B::scalar> run_gaussian_head() {
  using T = typename B::scalar;
  record<T> r;
  parameters<B> p;
  nn::gaussian_head<B> head(p, "head", 9, 4, group::local_encoder);
  p.finalize(7);
  const auto x = input<B>(26, 9, 3);
  typename nn::gaussian_head<B>::state s;
  head.forward(s, x);
  r.template add<B>("mu", s.mu);
  r.template add<B>("logvar", s.logvar);
  const auto dmu = input<B>(26, 4, 4), dlv = input<B>(26, 4, 5);
  const auto* dx = head.backward(s, dmu, dlv, true);
  r.template add<B>("dx", *dx);
  r.template add<B>("parameter gradients", p.grads());
  return r;
}

// Two-layer uni- and bidirectional LSTMs over a masked batch (lengths 6, 4, 6, 2, 5).
template <class B>
record<typename B::scalar> run_lstms() {
  using T = typename B::scalar;
  record<T> r;
  const index_t Tn = 6, Bn = 5, D = 3, H = 4;
  parameters<B> p;
  nn::lstm<B> uni(p, "uni", D, H, 2, group::transition);
  nn::bilstm<B> bi(p, "bi", D, H, 2, group::local_encoder);
  p.finalize(11);
  const auto x = input<B>(Tn * Bn, D, 6);
  const auto m = length_mask<B>(Tn, {6, 4, 6, 2, 5});
  for (bool masked : {false, true}) {
    const std::string tag = masked ? " (masked)" : " (unmasked)";
    p.zero_grad();
    typename nn::lstm<B>::state us;
    typename nn::bilstm<B>::state bs;
    const auto& hu = uni.forward(us, x, masked ? &m : nullptr, Bn);
    const auto& hb = bi.forward(bs, x, masked ? &m : nullptr, Bn);
    r.template add<B>("lstm output" + tag, hu);
    r.template add<B>("bilstm output" + tag, hb);
    const auto dy = input<B>(Tn * Bn, H, 7);
    const auto* dxu = uni.backward(us, dy, true);
    const auto* dxb = bi.backward(bs, dy, true);
    r.template add<B>("lstm dx" + tag, *dxu);
    r.template add<B>("bilstm dx" + tag, *dxb);
    r.template add<B>("parameter gradients" + tag, p.grads());
  }
  return r;
}

// reparameterise (generated noise), KL to N(0, I) and to a second Gaussian,
// masked mean and MSE, forward + backward.
template <class B>
record<typename B::scalar> run_prob() {
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  record<T> r;
  const index_t Tn = 5, Bn = 4, L = 3;
  const auto mu = input<B>(Tn * Bn, L, 20), lv = input<B>(Tn * Bn, L, 21, -2, 1);
  const auto mu2 = input<B>(Tn * Bn, L, 22), lv2 = input<B>(Tn * Bn, L, 23, -1, 1);
  const auto w = input<B>(Tn * Bn, 1, 24, 0, 1);
  prob::reparameterise<B> rep;
  typename prob::reparameterise<B>::state rs;
  const tensor& s = rep.forward(rs, mu, lv, {2024, 3, 17});
  r.template add<B>("noise", rs.eps);
  r.template add<B>("sample", s);
  tensor dmu = B::from_host(std::vector<T>(size_t(Tn * Bn * L)), Tn * Bn, L), dlv = dmu, dmu2 = dmu, dlv2 = dmu;
  const auto ds = input<B>(Tn * Bn, L, 25);
  rep.backward(rs, ds, &dmu, &dlv);
  prob::gaussian_kl<B> kl;
  typename prob::gaussian_kl<B>::state k1, k2;
  const T v1 = kl.forward(k1, mu, lv, nullptr, nullptr, w, T(0.25));
  const T v2 = kl.forward(k2, mu, lv, &mu2, &lv2, w, T(0.5));
  kl.backward(k1, T(1.5), &dmu, &dlv, nullptr, nullptr);
  kl.backward(k2, T(-0.5), &dmu, &dlv, &dmu2, &dlv2);
  nn::masked_mean<B> mm;
  typename nn::masked_mean<B>::state ms;
  const tensor& avg = mm.forward(ms, s, w, Bn);
  r.template add<B>("masked mean", avg);
  const auto davg = input<B>(Bn, L, 26);
  const tensor* dsx = mm.backward(ms, davg, true);
  r.template add<B>("masked mean dx", *dsx);
  nn::mse<B> loss;
  typename nn::mse<B>::state es;
  const T v3 = loss.forward(es, s, mu2, w, T(1) / T(Tn * Bn * L));
  tensor dsum = *dsx;
  loss.backward(es, T(2), dsum);
  r.template add<B>("mse gradient (accumulated)", dsum);
  r.template add<B>("dmu", dmu);
  r.template add<B>("dlogvar", dlv);
  r.template add<B>("dmu2", dmu2);
  r.template add<B>("dlogvar2", dlv2);
  r.items.emplace_back("kl / mse values", std::vector<T>{v1, v2, v3});
  return r;
}

// Ten Adam steps of a small frame-wise autoencoder (MLP -> Gaussian head ->
// sample -> Linear, MSE + KL); returns the parameters after every step.
template <class B>
record<typename B::scalar> run_adam(int steps) {
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  record<T> r;
  parameters<B> p;
  nn::mlp<B> enc(p, "enc", 6, {16, 16}, group::local_encoder);
  nn::gaussian_head<B> head(p, "head", 16, 3, group::local_encoder);
  nn::linear<B> dec(p, "dec", 3, 6, group::decoder);
  p.finalize(5);
  train::adam<B> opt(p, {});
  const auto x = input<B>(40, 6, 30);
  const auto w = B::from_host(std::vector<T>(40, T(1)), 40, 1);
  for (int step = 0; step < steps; ++step) {
    p.zero_grad();
    typename nn::mlp<B>::state es;
    typename nn::gaussian_head<B>::state hs;
    typename nn::linear<B>::state ds;
    typename prob::reparameterise<B>::state rs;
    typename prob::gaussian_kl<B>::state ks;
    typename nn::mse<B>::state ms;
    prob::reparameterise<B> rep;
    prob::gaussian_kl<B> kl;
    nn::mse<B> mse;
    const tensor& h = enc.forward(es, x);
    head.forward(hs, h);
    const tensor& z = rep.forward(rs, hs.mu, hs.logvar, {99, 0, std::uint32_t(step)});
    const tensor& y = dec.forward(ds, z);
    const T loss = mse.forward(ms, y, x, w, T(1) / T(240)) + kl.forward(ks, hs.mu, hs.logvar, nullptr, nullptr, w, T(1) / T(40));
    tensor dy = B::from_host(std::vector<T>(240), 40, 6);
    mse.backward(ms, T(1), dy);
    const tensor* dz = dec.backward(ds, dy, true);
    tensor dmu = B::from_host(std::vector<T>(120), 40, 3), dlv = dmu;
    rep.backward(rs, *dz, &dmu, &dlv);
    kl.backward(ks, T(1), &dmu, &dlv, nullptr, nullptr);
    const tensor* dh = head.backward(hs, dmu, dlv, true);
    enc.backward(es, *dh, false);
    opt.step();
    r.items.emplace_back("loss at step " + std::to_string(step), std::vector<T>{loss});
    r.template add<B>("parameters after step " + std::to_string(step), p.values());
  }
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(thrust_modules)

BOOST_AUTO_TEST_CASE_TEMPLATE(linear_mlp_tanh, T, scalars) {
  compare(run_linear_mlp_tanh<G<T>>(), run_linear_mlp_tanh<C<T>>(), "linear/mlp/tanh");
}
BOOST_AUTO_TEST_CASE_TEMPLATE(gaussian_head, T, scalars) {
  compare(run_gaussian_head<G<T>>(), run_gaussian_head<C<T>>(), "gaussian_head");
}
BOOST_AUTO_TEST_CASE_TEMPLATE(lstm_and_bilstm, T, scalars) {
  compare(run_lstms<G<T>>(), run_lstms<C<T>>(), "lstm/bilstm");
}
BOOST_AUTO_TEST_CASE_TEMPLATE(reparameterise_kl_mse, T, scalars) {
  compare(run_prob<G<T>>(), run_prob<C<T>>(), "prob");
}
BOOST_AUTO_TEST_CASE(adam_ten_steps_float) {
  compare(run_adam<G<float>>(10), run_adam<C<float>>(10), "adam (float)", 1e-4);
}
BOOST_AUTO_TEST_CASE(adam_ten_steps_double) {
  compare(run_adam<G<double>>(10), run_adam<C<double>>(10), "adam (double)", 1e-10);
}

BOOST_AUTO_TEST_SUITE_END()
