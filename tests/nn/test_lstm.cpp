// LSTM closed forms (all weights zero but one gate) and mask behaviour.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <dsae/dsae.hpp>
#include "common/gradcheck.hpp"

using namespace dsae;
using namespace dsae::test;

namespace {
double sigmoid(double a) { return 1.0 / (1.0 + std::exp(-a)); }
}  // namespace

BOOST_AUTO_TEST_SUITE(lstm_closed_form)

// Only the cell-candidate gate g reads the input: with zero recurrent weights
// and zero biases, i = f = o = 1/2 and g_t = tanh(w x_t), so
// c_t = c_{t-1}/2 + tanh(w x_t)/2 and h_t = tanh(c_t)/2.
BOOST_AUTO_TEST_CASE(only_cell_gate_on) {
  const index_t T = 6, Bn = 2, H = 1;
  parameters<B> p;
  nn::lstm_layer<B> cell(p, "rnn", "l0", 1, H, false, group::transition);
  p.finalize(1);
  B::zero(p.values());
  const double w = 0.7;
  p.value(p.find("rnn.weight_ih_l0"))(2 * H, 0) = w;  // rows: i, f, g, o
  const tensor x = random_tensor(T * Bn, 1, 2);
  nn::lstm_layer<B>::state s;
  const tensor& h = cell.forward(s, x, nullptr, Bn);
  for (index_t b = 0; b < Bn; ++b) {
    double c = 0;
    for (index_t t = 0; t < T; ++t) {
      c = 0.5 * c + 0.5 * std::tanh(w * x(t * Bn + b, 0));
      BOOST_TEST(std::abs(h(t * Bn + b, 0) - 0.5 * std::tanh(c)) < 1e-14);
    }
  }
}

// Only the forget gate is on, through its bias, with a constant candidate from
// the g bias: c_t = sigmoid(bf) c_{t-1} + tanh(bg)/2, a geometric series.
BOOST_AUTO_TEST_CASE(only_forget_gate_on) {
  const index_t T = 5, Bn = 1, H = 1;
  parameters<B> p;
  nn::lstm_layer<B> cell(p, "rnn", "l0", 1, H, false, group::transition);
  p.finalize(1);
  B::zero(p.values());
  const double bf = 1.3, bg = 0.4;
  p.value(p.find("rnn.bias_ih_l0"))(0, 1 * H) = bf;
  p.value(p.find("rnn.bias_hh_l0"))(0, 2 * H) = bg;  // the two biases add
  const tensor x = random_tensor(T * Bn, 1, 3);
  nn::lstm_layer<B>::state s;
  const tensor& h = cell.forward(s, x, nullptr, Bn);
  const double f = sigmoid(bf), a = 0.5 * std::tanh(bg);
  for (index_t t = 0; t < T; ++t) {
    const double c = a * (1 - std::pow(f, double(t + 1))) / (1 - f);
    BOOST_TEST(std::abs(h(t, 0) - 0.5 * std::tanh(c)) < 1e-14);
  }
}

// Only the output gate reads the input; the cell follows a constant input
// gate/candidate: h_t = sigmoid(w x_t) tanh(c_t).
BOOST_AUTO_TEST_CASE(only_output_gate_on) {
  const index_t T = 4, Bn = 3, H = 1;
  parameters<B> p;
  nn::lstm_layer<B> cell(p, "rnn", "l0", 1, H, false, group::transition);
  p.finalize(1);
  B::zero(p.values());
  const double w = -1.1, bg = 0.9;
  p.value(p.find("rnn.weight_ih_l0"))(3 * H, 0) = w;
  p.value(p.find("rnn.bias_ih_l0"))(0, 2 * H) = bg;
  const tensor x = random_tensor(T * Bn, 1, 4);
  nn::lstm_layer<B>::state s;
  const tensor& h = cell.forward(s, x, nullptr, Bn);
  for (index_t b = 0; b < Bn; ++b) {
    double c = 0;
    for (index_t t = 0; t < T; ++t) {
      c = 0.5 * c + 0.5 * std::tanh(bg);
      BOOST_TEST(std::abs(h(t * Bn + b, 0) - sigmoid(w * x(t * Bn + b, 0)) * std::tanh(c)) < 1e-14);
    }
  }
}

// Recurrent weights only: a single unit driven by its own previous output.
BOOST_AUTO_TEST_CASE(only_recurrent_input_gate) {
  const index_t T = 5, H = 1;
  parameters<B> p;
  nn::lstm_layer<B> cell(p, "rnn", "l0", 1, H, false, group::transition);
  p.finalize(1);
  B::zero(p.values());
  const double u = 2.0, bg = 0.8;
  p.value(p.find("rnn.weight_hh_l0"))(0, 0) = u;  // input gate reads h_{t-1}
  p.value(p.find("rnn.bias_ih_l0"))(0, 2 * H) = bg;
  const tensor x = tensor::Zero(T, 1);
  nn::lstm_layer<B>::state s;
  const tensor& h = cell.forward(s, x, nullptr, 1);
  double c = 0, hp = 0;
  for (index_t t = 0; t < T; ++t) {
    c = 0.5 * c + sigmoid(u * hp) * std::tanh(bg);
    hp = 0.5 * std::tanh(c);
    BOOST_TEST(std::abs(h(t, 0) - hp) < 1e-14);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(masks)

// Padding frames change neither the outputs of valid frames nor receive
// gradient, in both directions and through a 2-layer bidirectional stack.
BOOST_AUTO_TEST_CASE(padding_is_invisible_to_valid_frames) {
  const index_t T = 6, Bn = 3;
  const std::vector<index_t> len = {6, 4, 2};
  parameters<B> p;
  nn::bilstm<B> net(p, "enc.lstm", 3, 4, 2, group::local_encoder);
  p.finalize(11);
  const tensor m = mask_from_lengths(len, T);
  tensor x1 = random_tensor(T * Bn, 3, 40), x2 = x1;
  for (index_t r = 0; r < T * Bn; ++r)
    if (m(r, 0) == 0) x2.row(r) = random_tensor(1, 3, 100 + std::uint64_t(r), 10.0);  // different padding
  nn::bilstm<B>::state s1, s2;
  const tensor y1 = net.forward(s1, x1, &m, Bn);
  const tensor y2 = net.forward(s2, x2, &m, Bn);
  BOOST_TEST(((y1 - y2).array().colwise() * m.col(0).array()).matrix().norm() == 0.0);
  // Each sequence alone (batch of one, no padding) gives the same valid outputs.
  for (index_t b = 0; b < Bn; ++b) {
    const index_t n = len[size_t(b)];
    tensor xs(n, 3);
    for (index_t t = 0; t < n; ++t) xs.row(t) = x1.row(t * Bn + b);
    nn::bilstm<B>::state s3;
    const tensor y3 = net.forward(s3, xs, nullptr, 1);
    for (index_t t = 0; t < n; ++t) BOOST_TEST((y3.row(t) - y1.row(t * Bn + b)).norm() < 1e-13);
  }
  // Gradient: upstream gradient on padding frames is ignored; padding inputs get none.
  tensor R = random_tensor(T * Bn, 4, 41);
  p.zero_grad();
  net.forward(s1, x1, &m, Bn);
  const tensor dx = *net.backward(s1, R, true);
  const tensor g1 = p.grads();
  tensor Rm = R.array().colwise() * m.col(0).array();
  p.zero_grad();
  net.forward(s1, x1, &m, Bn);
  const tensor dxm = *net.backward(s1, Rm, true);
  BOOST_TEST((p.grads() - g1).norm() < 1e-13);
  BOOST_TEST((dx - dxm).norm() < 1e-13);
  for (index_t r = 0; r < T * Bn; ++r)
    if (m(r, 0) == 0) BOOST_TEST(dx.row(r).norm() == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
