// Gradient checks of every nn module and of compositions (double precision).
#include <boost/test/unit_test.hpp>
#include <dsae/dsae.hpp>
#include "common/gradcheck.hpp"

using namespace dsae;
using namespace dsae::test;

namespace {
// loss = sum(R .* y): its gradient w.r.t. y is R.
double dot(const tensor& a, const tensor& b) { return (a.array() * b.array()).sum(); }
}  // namespace

BOOST_AUTO_TEST_SUITE(modules)

BOOST_AUTO_TEST_CASE(linear_gradients) {
  parameters<B> p;
  nn::linear<B> lin(p, "fc", 5, 3, group::decoder);
  p.finalize(1);
  tensor x = random_tensor(7, 5, 2);
  const tensor R = random_tensor(7, 3, 3);
  nn::linear<B>::state s;
  auto loss = [&] { return dot(lin.forward(s, x), R); };
  loss();
  const tensor dx = *lin.backward(s, R, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
}

BOOST_AUTO_TEST_CASE(linear_matches_formula_and_names) {
  parameters<B> p;
  nn::linear<B> lin(p, "net.0", 4, 2, group::decoder);
  p.finalize(7);
  BOOST_TEST(p.find("net.0.weight") == lin.weight());
  BOOST_TEST(p.find("net.0.bias") == lin.bias());
  const double bound = 1.0 / std::sqrt(4.0);
  BOOST_TEST(p.values().maxCoeff() <= bound);
  BOOST_TEST(p.values().minCoeff() >= -bound);
  const tensor x = random_tensor(3, 4, 1);
  nn::linear<B>::state s;
  const tensor y = lin.forward(s, x);
  const tensor W = p.value(lin.weight()), b = p.value(lin.bias());
  tensor want = x * W.transpose();
  want.rowwise() += b.row(0);
  BOOST_TEST((y - want).norm() < 1e-12);
}

BOOST_AUTO_TEST_CASE(tanh_gradients) {
  parameters<B> p;
  p.finalize(0);
  nn::tanh_layer<B> th;
  tensor x = random_tensor(6, 4, 5);
  const tensor R = random_tensor(6, 4, 6);
  nn::tanh_layer<B>::state s;
  auto loss = [&] { return dot(th.forward(s, x), R); };
  loss();
  const tensor dx = *th.backward(s, R, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
}

BOOST_AUTO_TEST_CASE(mlp_gradients) {
  parameters<B> p;
  nn::mlp<B> net(p, "net", 5, {4, 3}, group::global_encoder);
  p.finalize(3);
  BOOST_TEST(p.find("net.0.weight") >= 0);
  BOOST_TEST(p.find("net.2.weight") >= 0);
  tensor x = random_tensor(9, 5, 8);
  const tensor R = random_tensor(9, 3, 9);
  nn::mlp<B>::state s;
  auto loss = [&] { return dot(net.forward(s, x), R); };
  loss();
  const tensor dx = *net.backward(s, R, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
}

BOOST_AUTO_TEST_CASE(gaussian_head_gradients) {
  parameters<B> p;
  nn::gaussian_head<B> head(p, "enc", 4, 3, group::local_encoder);
  p.finalize(4);
  tensor x = random_tensor(5, 4, 10);
  const tensor Rm = random_tensor(5, 3, 11), Rl = random_tensor(5, 3, 12);
  nn::gaussian_head<B>::state s;
  auto loss = [&] {
    head.forward(s, x);
    return dot(s.mu, Rm) + dot(s.logvar, Rl);
  };
  loss();
  const tensor dx = *head.backward(s, Rm, Rl, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
  // The two heads are separate Linear layers under their reference names.
  loss();  // the check left the state of a perturbed call behind
  const tensor W = p.value(p.find("enc.logvar.weight"));
  tensor want = x * W.transpose();
  want.rowwise() += p.value(p.find("enc.logvar.bias")).row(0);
  BOOST_TEST((s.logvar - want).norm() < 1e-12);
}

BOOST_AUTO_TEST_CASE(masked_mean_gradients_and_values) {
  parameters<B> p;
  p.finalize(0);
  const index_t T = 4, Bn = 3;
  const tensor m = mask_from_lengths({4, 2, 1}, T);
  tensor w = m;
  const double n[] = {4, 2, 1};
  for (index_t r = 0; r < T * Bn; ++r) w(r, 0) /= n[r % Bn];
  nn::masked_mean<B> mm;
  tensor x = random_tensor(T * Bn, 2, 13);
  const tensor R = random_tensor(Bn, 2, 14);
  nn::masked_mean<B>::state s;
  auto loss = [&] { return dot(mm.forward(s, x, w, Bn), R); };
  loss();
  const tensor dx = *mm.backward(s, R, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
  // Sequence 1 has two valid frames: its mean ignores frames 2, 3.
  const tensor y = mm.forward(s, x, w, Bn);
  BOOST_TEST((y.row(1) - 0.5 * (x.row(1) + x.row(Bn + 1))).norm() < 1e-12);
  BOOST_TEST(dx.row(2 * Bn + 1).norm() == 0.0);  // padding receives no gradient
}

BOOST_AUTO_TEST_CASE(mse_and_kl_gradients) {
  parameters<B> p;
  p.finalize(0);
  tensor a = random_tensor(6, 3, 15), b = random_tensor(6, 3, 16);
  tensor mu1 = random_tensor(6, 3, 17), lv1 = random_tensor(6, 3, 18, 0.5);
  tensor mu2 = random_tensor(6, 3, 19), lv2 = random_tensor(6, 3, 20, 0.5);
  tensor w = random_tensor(6, 1, 21).cwiseAbs();
  nn::mse<B> mse;
  prob::gaussian_kl<B> kl;
  nn::mse<B>::state ms;
  prob::gaussian_kl<B>::state ks, ks0;
  auto loss = [&] {
    return mse.forward(ms, a, b, w, 0.3) + kl.forward(ks, mu1, lv1, &mu2, &lv2, w, 0.7) +
           kl.forward(ks0, mu1, lv1, nullptr, nullptr, w, 1.1);
  };
  loss();
  tensor da = tensor::Zero(6, 3), dmu1 = da, dlv1 = da, dmu2 = da, dlv2 = da;
  mse.backward(ms, 1.0, da);
  kl.backward(ks, 1.0, &dmu1, &dlv1, &dmu2, &dlv2);
  kl.backward(ks0, 1.0, &dmu1, &dlv1, nullptr, nullptr);
  check_gradients(p, loss,
                  {{&a, &da, "a"}, {&mu1, &dmu1, "mu1"}, {&lv1, &dlv1, "lv1"}, {&mu2, &dmu2, "mu2"}, {&lv2, &dlv2, "lv2"}});
  // KL against itself is zero; against N(0, I) it is the closed form.
  BOOST_TEST(std::abs(kl.forward(ks, mu1, lv1, &mu1, &lv1, w, 1.0)) < 1e-14);
  const double want = (w.col(0).asDiagonal() * (0.5 * (-lv1.array() + lv1.array().exp() + mu1.array().square() - 1.0)).matrix()).sum();
  BOOST_TEST(std::abs(kl.forward(ks0, mu1, lv1, nullptr, nullptr, w, 1.0) - want) < 1e-12);
}

BOOST_AUTO_TEST_CASE(reparameterise_gradients) {
  parameters<B> p;
  p.finalize(0);
  tensor mu = random_tensor(5, 3, 22), lv = random_tensor(5, 3, 23, 0.5);
  const tensor R = random_tensor(5, 3, 24);
  prob::reparameterise<B> rp;
  prob::reparameterise<B>::state s;
  const prob::noise_key key{42, 1, 7};
  auto loss = [&] { return dot(rp.forward(s, mu, lv, key), R); };
  loss();
  tensor dmu = tensor::Zero(5, 3), dlv = dmu;
  rp.backward(s, R, &dmu, &dlv);
  check_gradients(p, loss, {{&mu, &dmu, "mu"}, {&lv, &dlv, "logvar"}});
  loss();
  const tensor want = mu.array() + s.eps.array() * (0.5 * lv.array()).exp();
  BOOST_TEST((s.s - want).norm() < 1e-14);
}

BOOST_AUTO_TEST_CASE(lstm_gradients_with_mask) {
  const index_t T = 4, Bn = 3;
  for (bool reverse : {false, true}) {
    parameters<B> p;
    nn::lstm_layer<B> cell(p, "rnn", reverse ? "l0_reverse" : "l0", 3, 2, reverse, group::transition);
    p.finalize(5);
    tensor x = random_tensor(T * Bn, 3, 25);
    const tensor m = mask_from_lengths({4, 3, 1}, T);
    const tensor R = random_tensor(T * Bn, 2, 26).array().colwise() * m.col(0).array();
    nn::lstm_layer<B>::state s;
    auto loss = [&] { return dot(cell.forward(s, x, &m, Bn), R); };
    loss();
    const tensor dx = *cell.backward(s, R, true);
    check_gradients(p, loss, {{&x, &dx, "x"}});
  }
}

BOOST_AUTO_TEST_CASE(multilayer_lstm_gradients) {
  const index_t T = 5, Bn = 2;
  parameters<B> p;
  nn::lstm<B> net(p, "transition.lstm", 3, 4, 2, group::transition);
  p.finalize(6);
  BOOST_TEST(p.find("transition.lstm.weight_hh_l1") >= 0);
  tensor x = random_tensor(T * Bn, 3, 27);
  const tensor R = random_tensor(T * Bn, 4, 28);
  nn::lstm<B>::state s;
  auto loss = [&] { return dot(net.forward(s, x, nullptr, Bn), R); };
  loss();
  const tensor dx = *net.backward(s, R, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
}

BOOST_AUTO_TEST_CASE(bilstm_gradients_with_mask) {
  const index_t T = 4, Bn = 3;
  parameters<B> p;
  nn::bilstm<B> net(p, "enc.lstm", 3, 2, 2, group::local_encoder);
  p.finalize(8);
  BOOST_TEST(p.find("enc.lstm.weight_ih_l1_reverse") >= 0);
  BOOST_TEST(p.info(p.find("enc.lstm.weight_ih_l1")).cols == 4);  // layer 1 reads both directions
  tensor x = random_tensor(T * Bn, 3, 29);
  const tensor m = mask_from_lengths({4, 2, 3}, T);
  const tensor R = random_tensor(T * Bn, 2, 30).array().colwise() * m.col(0).array();
  nn::bilstm<B>::state s;
  auto loss = [&] { return dot(net.forward(s, x, &m, Bn), R); };
  loss();
  const tensor dx = *net.backward(s, R, true);
  check_gradients(p, loss, {{&x, &dx, "x"}});
}

BOOST_AUTO_TEST_CASE(composition_encoder_sample_kl_decoder) {
  // x -> MLP -> Gaussian head -> sample -> decoder MLP -> linear; loss = mse + KL.
  const index_t N = 6;
  parameters<B> p;
  nn::mlp<B> enc(p, "enc.net", 4, {5, 5}, group::local_encoder);
  nn::gaussian_head<B> head(p, "enc", 5, 2, group::local_encoder);
  nn::mlp<B> dec(p, "dec.net", 2, {5}, group::decoder);
  nn::linear<B> out(p, "dec.out", 5, 4, group::decoder);
  p.finalize(9);
  tensor x = random_tensor(N, 4, 31);
  const tensor w = tensor::Ones(N, 1);
  nn::mlp<B>::state es, ds;
  nn::gaussian_head<B>::state hs;
  prob::reparameterise<B> rp;
  prob::reparameterise<B>::state rs;
  nn::linear<B>::state os;
  nn::mse<B> mse;
  nn::mse<B>::state ms;
  prob::gaussian_kl<B> kl;
  prob::gaussian_kl<B>::state ks;
  auto loss = [&] {
    head.forward(hs, enc.forward(es, x));
    const tensor& z = rp.forward(rs, hs.mu, hs.logvar, {3, 0, 0});
    const tensor& xh = out.forward(os, dec.forward(ds, z));
    return mse.forward(ms, xh, x, w, 1.0 / double(N * 4)) + kl.forward(ks, hs.mu, hs.logvar, nullptr, nullptr, w, 0.5);
  };
  loss();
  tensor dxh = tensor::Zero(N, 4);
  mse.backward(ms, 1.0, dxh);
  const tensor* dz = dec.backward(ds, *out.backward(os, dxh, true), true);
  tensor dmu = tensor::Zero(N, 2), dlv = dmu;
  rp.backward(rs, *dz, &dmu, &dlv);
  kl.backward(ks, 1.0, &dmu, &dlv, nullptr, nullptr);
  const tensor* dh = head.backward(hs, dmu, dlv, true);
  const tensor dx_enc = *enc.backward(es, *dh, true);
  // x enters twice: as the encoder input and as the mse target.
  tensor dx = dx_enc;
  dx += -2.0 / double(N * 4) * (os.y - x);
  check_gradients(p, loss, {{&x, &dx, "x"}});
}

BOOST_AUTO_TEST_CASE(frozen_groups_get_no_gradient) {
  parameters<B> p;
  nn::mlp<B> a(p, "a", 3, {3}, group::local_encoder);
  nn::linear<B> b(p, "b", 3, 2, group::decoder);
  p.finalize(10);
  p.freeze(group::local_encoder);
  tensor x = random_tensor(4, 3, 32);
  const tensor R = random_tensor(4, 2, 33);
  nn::mlp<B>::state as;
  nn::linear<B>::state bs;
  auto loss = [&] { return dot(b.forward(bs, a.forward(as, x)), R); };
  loss();
  a.backward(as, *b.backward(bs, R, true), true);
  check_gradients(p, loss);  // asserts frozen gradients are exactly zero
  BOOST_TEST(p.trainable_size() == 3 * 2 + 2);
}

BOOST_AUTO_TEST_CASE(bad_input_messages_name_module_and_shapes) {
  parameters<B> p;
  nn::linear<B> lin(p, "decoder.out", 5, 3, group::decoder);
  p.finalize(1);
  nn::linear<B>::state s;
  const tensor wrong = tensor::Zero(4, 6), empty(0, 5);
  try {
    lin.forward(s, wrong);
    BOOST_FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("decoder.out") != std::string::npos, msg);
    BOOST_TEST(msg.find("[4 x 6]") != std::string::npos, msg);
  }
  BOOST_CHECK_THROW(lin.forward(s, empty), std::invalid_argument);
  tensor nan = tensor::Zero(4, 5);
  nan(2, 3) = std::numeric_limits<double>::quiet_NaN();
  try {
    lin.forward(s, nan);
    BOOST_FAIL("no exception for NaN");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("decoder.out") != std::string::npos, msg);
    BOOST_TEST(msg.find("NaN") != std::string::npos, msg);
  }
  {
    unchecked_inputs off;  // models validate once, then skip the scan
    BOOST_CHECK_NO_THROW(lin.forward(s, nan));
  }
  BOOST_CHECK_THROW(nn::linear<B>(p, "x", 0, 3, group::decoder), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
