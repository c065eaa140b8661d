// Adam against a hand-computed trajectory, and the stage-switch behaviour.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <dsae/dsae.hpp>

using namespace dsae;
using Bd = cpu<double>;

BOOST_AUTO_TEST_SUITE(adam_optimiser)

// One scalar parameter, gradients 1, -2, 0.5, lr 0.1. Hand computation:
// step 1: m = 0.1, v = 0.001; mhat = 1, vhat = 1 -> update 0.1/(1 + 1e-8)
// step 2: m = 0.09 - 0.2 = -0.11, v = 0.000999 + 0.004 = 0.004999;
//         mhat = -0.11/0.19, vhat = 0.004999/0.001999
// step 3: m = -0.099 + 0.05 = -0.049, v = 0.004994001 + 0.00025 = 0.005244001;
//         mhat = -0.049/0.271, vhat = 0.005244001/0.002997001
BOOST_AUTO_TEST_CASE(three_step_trajectory) {
  parameters<Bd> p;
  const auto id = p.add("w", 1, 1, group::decoder, 0.0);
  p.finalize(0);
  p.value(id)(0, 0) = 1.0;
  train::adam<Bd> opt(p, {.lr = 0.1});
  const double g[3] = {1.0, -2.0, 0.5};
  const double mhat[3] = {1.0, -0.11 / 0.19, -0.049 / 0.271};
  const double vhat[3] = {1.0, 0.004999 / 0.001999, 0.005244001 / 0.002997001};
  double w = 1.0;
  for (int k = 0; k < 3; ++k) {
    p.grad(id)(0, 0) = g[k];
    opt.step();
    w -= 0.1 * mhat[k] / (std::sqrt(vhat[k]) + 1e-8);
    BOOST_TEST(std::abs(p.value(id)(0, 0) - w) < 1e-12, "step " << k + 1);
  }
}

BOOST_AUTO_TEST_CASE(amsgrad_uses_the_running_max) {
  parameters<Bd> p;
  const auto id = p.add("w", 1, 1, group::decoder, 0.0);
  p.finalize(0);
  train::adam<Bd> opt(p, {.lr = 0.1, .amsgrad = true});
  // A big gradient then small ones: vmax keeps the big second moment.
  const double g[3] = {10.0, 0.1, 0.1};
  double m = 0, v = 0, vmax = 0, w = 0;
  for (int k = 1; k <= 3; ++k) {
    p.grad(id)(0, 0) = g[k - 1];
    opt.step();
    m = 0.9 * m + 0.1 * g[k - 1];
    v = 0.999 * v + 0.001 * g[k - 1] * g[k - 1];
    vmax = std::max(vmax, v);
    w -= 0.1 / (1 - std::pow(0.9, k)) * m / (std::sqrt(vmax) / std::sqrt(1 - std::pow(0.999, k)) + 1e-8);
    BOOST_TEST(std::abs(p.value(id)(0, 0) - w) < 1e-12);
  }
}

// A group frozen for the first steps starts its moments and bias correction at
// its own first update (spec: the stage switch), while the other keeps going.
BOOST_AUTO_TEST_CASE(moments_start_at_a_parameters_first_update) {
  parameters<Bd> p;
  const auto a = p.add("a", 1, 1, group::decoder, 0.0);
  const auto b = p.add("b", 1, 1, group::local_encoder, 0.0);
  p.finalize(0);
  train::adam<Bd> opt(p, {.lr = 0.1});
  p.freeze(group::local_encoder);
  for (int k = 0; k < 5; ++k) {
    p.grad(a)(0, 0) = 1.0;
    p.grad(b)(0, 0) = 1.0;  // ignored while frozen
    opt.step();
  }
  BOOST_TEST(p.value(b)(0, 0) == 0.0);
  BOOST_TEST(opt.steps()[size_t(b)] == 0);
  BOOST_TEST(opt.steps()[size_t(a)] == 5);
  p.freeze(group::local_encoder, false);
  p.grad(b)(0, 0) = 3.0;
  opt.step();
  // First update of b: bias-corrected mhat = g, vhat = g^2 -> exactly lr * g/(|g| + eps).
  BOOST_TEST(std::abs(p.value(b)(0, 0) + 0.1 * 3.0 / (3.0 + 1e-8)) < 1e-14);
  BOOST_TEST(opt.steps()[size_t(a)] == 6);
}

BOOST_AUTO_TEST_CASE(rejects_bad_options) {
  parameters<Bd> p;
  p.add("w", 1, 1, group::decoder, 0.0);
  BOOST_CHECK_THROW(train::adam<Bd>(p, {}), std::invalid_argument);  // not finalized
  p.finalize(0);
  BOOST_CHECK_THROW(train::adam<Bd>(p, {.lr = -1}), std::invalid_argument);
  BOOST_CHECK_THROW(train::adam<Bd>(p, {.beta1 = 1.0}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
