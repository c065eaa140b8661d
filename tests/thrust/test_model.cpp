// Full training-step parity of the composed models: DSAE and TS-DSAE with
// factorised and full q, float, on cpu<float> and thrust_backend<float> with
// the same initial parameters, batch and counter-based noise (and, in
// TS-DSAE's stage 2, the same permutations).
//   - one train_step at identical parameters: every loss term, the posterior
//     samples and every named parameter's gradient within 1e-5 relative;
//   - ten steps with Adam (crossing TS-DSAE's stage switch at step 4): the
//     losses along the way and the parameters after step 10 within 1e-4.
#include <boost/test/unit_test.hpp>
#include <dsae/model/variants.hpp>
#include <dsae/train/adam.hpp>
#include "common.hpp"
#include "common/node_op_terms.hpp"

using namespace dsae;
using namespace dsae::thrust_test;

namespace {

using CF = cpu<float>;
using GF = thrust_backend<float>;

// Small widths so a step is cheap; the structure is the paper's.
model::model_sizes small_sizes() {
  model::model_sizes s;
  s.x_dim = 12;
  s.v_dim = 4;
  s.z_dim = 3;
  s.hidden = 16;
  s.prior_hidden = 8;
  s.prior_layers = 2;
  s.rnn_hidden = 8;
  s.rnn_layers = 2;
  return s;
}

// T = 7 frames, B = 5 sequences of unequal length (padding included).
template <class B>
model::sequence_batch<B> make_batch(index_t x_dim) {
  model::sequence_batch<B> b;
  b.frames = 7;
  b.lengths = {7, 5, 7, 3, 6};
  b.x = B::from_host(random_host<float>(7 * 5 * x_dim, 4242, -1.5, 1.5), 7 * 5, x_dim);
  b.finalize();
  return b;
}

struct step_result {
  std::vector<double> losses;                 // loss, recon, kl_z, kl_v, swap 1..4
  std::vector<std::vector<float>> per_param;  // gradient of each named parameter
  std::vector<float> v_sample, z_sample;
};

std::vector<double> terms(const model::loss_terms& l) {
  return {l.loss, l.recon, l.kl_z, l.kl_v, l.swap[0], l.swap[1], l.swap[2], l.swap[3], l.extra};
}

template <template <class> class M, class B>
step_result one_step(int stage) {
  M<B> m(small_sizes(), 17);
  if (M<B>::policy::two_stage && stage == 2) m.set_stage(2);
  const auto b = make_batch<B>(m.sizes().x_dim);
  const auto l = m.train_step(b, 99, 0);
  step_result r;
  r.losses = terms(l);
  const auto g = B::to_host(m.params().grads());
  for (const auto& e : m.params().entries())
    r.per_param.emplace_back(g.begin() + e.offset, g.begin() + e.offset + e.rows * e.cols);
  r.v_sample = B::to_host(m.last_v_sample());
  r.z_sample = B::to_host(m.last_z_sample());
  return r;
}

template <template <class> class M>
void check_one_step(int stage, const std::string& what) {
  const step_result c = one_step<M, CF>(stage), g = one_step<M, GF>(stage);
  M<CF> names(small_sizes(), 17);
  // Each term relative to itself or to the total loss, whichever is larger: a
  // term that is 0 in exact arithmetic (KL to the snapshot just taken) is
  // rounding noise on both backends.
  BOOST_TEST(c.losses[0] > 0.0);
  for (size_t k = 0; k < c.losses.size(); ++k) {
    const double e = std::abs(g.losses[k] - c.losses[k]) / std::max(std::abs(c.losses[k]), std::abs(c.losses[0]));
    BOOST_TEST(e <= 1e-5, what << ": loss term " << k << ": " << g.losses[k] << " vs " << c.losses[k]);
  }
  expect_close<float>(g.v_sample, c.v_sample, what + ": v sample", 1e-5);
  expect_close<float>(g.z_sample, c.z_sample, what + ": z sample", 1e-5);
  size_t trained = 0;
  for (size_t k = 0; k < c.per_param.size(); ++k) {
    const auto& want = c.per_param[k];
    const bool zero = std::all_of(want.begin(), want.end(), [](float x) { return x == 0.0f; });
    if (zero) {  // frozen (or unused): must be exactly zero on both
      BOOST_TEST((g.per_param[k] == want), what << ": gradient of frozen " << names.params().entries()[k].name);
      continue;
    }
    ++trained;
    expect_close<float>(g.per_param[k], want, what + ": gradient of " + names.params().entries()[k].name, 1e-5);
  }
  BOOST_TEST(trained > 0);
}

template <template <class> class M, class B>
std::pair<std::vector<double>, std::vector<float>> ten_steps() {
  M<B> m(small_sizes(), 23);
  const auto b = make_batch<B>(m.sizes().x_dim);
  train::adam<B> opt(m.params(), {});
  std::vector<double> losses;
  for (std::uint32_t step = 0; step < 10; ++step) {
    if (M<B>::policy::two_stage && step == 4) m.set_stage(2);
    losses.push_back(m.train_step(b, 5, step).loss);
    opt.step();
  }
  return {losses, B::to_host(m.params().values())};
}

template <template <class> class M>
void check_ten_steps(const std::string& what) {
  const auto c = ten_steps<M, CF>(), g = ten_steps<M, GF>();
  for (size_t k = 0; k < c.first.size(); ++k)
    expect_scalar<double>(g.first[k], c.first[k], what + ": loss at step " + std::to_string(k), 1e-4);
  expect_close<float>(g.second, c.second, what + ": parameters after 10 Adam steps", 1e-4);
  // The parameters did move (the comparison is not of two initialisations).
  M<CF> fresh(small_sizes(), 23);
  const auto init = CF::to_host(fresh.params().values());
  BOOST_TEST(worst_error(c.second, init) > 1e-4);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(thrust_model)

BOOST_AUTO_TEST_CASE(dsae_factorised) {
  check_one_step<model::dsae>(2, "dsae");
  check_ten_steps<model::dsae>("dsae");
}
BOOST_AUTO_TEST_CASE(dsae_full_q) {
  check_one_step<model::dsae_full>(2, "dsae_full");
  check_ten_steps<model::dsae_full>("dsae_full");
}
BOOST_AUTO_TEST_CASE(ts_dsae_factorised) {
  check_one_step<model::ts_dsae>(1, "ts_dsae stage 1");
  check_one_step<model::ts_dsae>(2, "ts_dsae stage 2");
  check_ten_steps<model::ts_dsae>("ts_dsae");
}
BOOST_AUTO_TEST_CASE(ts_dsae_full_q) {
  check_one_step<model::ts_dsae_full>(1, "ts_dsae_full stage 1");
  check_one_step<model::ts_dsae_full>(2, "ts_dsae_full stage 2");
  check_ten_steps<model::ts_dsae_full>("ts_dsae_full");
}

// The model finds the optional parts of these components on this backend (compiled by
// g++ and by nvcc alike: a part not found would be silently skipped at run time).
static_assert(objective::declares_parameters<objective::mixture_normal_v, GF, model::model_sizes>);
static_assert(objective::declares_parameters<objective::learnable_normal_v, GF, model::model_sizes>);
static_assert(objective::declares_parameters<test::op_term<>, GF, model::model_sizes>);
static_assert(objective::samples_prior<objective::mixture_normal_v, GF>);
static_assert(objective::samples_prior<objective::learnable_normal_v, GF>);
static_assert(!objective::samples_prior<objective::standard_normal, GF>);
static_assert(objective::has_kl_estimator<objective::mixture_normal_v, test::mixture_prior_dsae<GF>::step>);
static_assert(!objective::has_kl_estimator<objective::learnable_normal_v, test::learnable_prior_dsae<GF>::step>);
static_assert(objective::has_on_stage<objective::snapshot_posterior, GF>);
static_assert(objective::has_settings<objective::kl_v<>> && objective::has_weight_schedule<objective::kl_v<>>);
static_assert(objective::has_shaping_settings<objective::mixture_normal_v>);

// Priors with parameters and a term made of every node operation (tests/common/
// node_op_terms.hpp): the same step and ten Adam steps on both backends.
BOOST_AUTO_TEST_CASE(learnable_and_mixture_priors_with_node_ops) {
  check_one_step<test::learnable_prior_dsae>(2, "learnable prior");
  check_one_step<test::mixture_prior_dsae>(2, "mixture prior + node ops");
  check_ten_steps<test::mixture_prior_dsae>("mixture prior + node ops");
}

BOOST_AUTO_TEST_SUITE_END()
