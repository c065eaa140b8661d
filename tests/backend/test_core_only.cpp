// A backend with the core only (backend/concept.hpp), forwarding to cpu<double>: every
// fused op then runs its generic default (backend/fused.hpp), as on a new backend that
// specialises nothing. The whole model on it equals cpu<double> (which specialises every
// fused op, and is gradient-checked in tests/model): one step's loss terms and every
// gradient, and the parameters after ten Adam steps, for DSAE, TS-DSAE with the BiLSTM
// posterior and with the richer decoder (LSTM cell steps, swaps, gathers), and DSAE with the
// mixture prior and every node operation.
#include <boost/test/unit_test.hpp>
#include <dsae/train/adam.hpp>
#include "common/node_op_terms.hpp"
#include "model/common.hpp"

namespace dsae::test {

template <class Base>
struct core_only {
  using scalar = typename Base::scalar;
  using tensor = typename Base::tensor;
  using ref = typename Base::ref;
  using cref = typename Base::cref;
  using index_vector = typename Base::index_vector;
  static constexpr const char* name = "core-only";
#define DSAE_FORWARD(op)                          \
  template <class... A>                           \
  static decltype(auto) op(A&&... a) {            \
    return Base::op(std::forward<A>(a)...);       \
  }
  DSAE_FORWARD(from_host)
  DSAE_FORWARD(to_host)
  DSAE_FORWARD(indices)
  DSAE_FORWARD(host_indices)
  DSAE_FORWARD(shape)
  DSAE_FORWARD(resize)
  DSAE_FORWARD(rows)
  DSAE_FORWARD(crows)
  DSAE_FORWARD(flat_view)
  DSAE_FORWARD(zero)
  DSAE_FORWARD(fill)
  DSAE_FORWARD(copy)
  DSAE_FORWARD(axpy)
  DSAE_FORWARD(scale)
  DSAE_FORWARD(mul)
  DSAE_FORWARD(add_product)
  DSAE_FORWARD(exp)
  DSAE_FORWARD(tanh_inplace)
  DSAE_FORWARD(all_finite)
  DSAE_FORWARD(sum)
  DSAE_FORWARD(sum_rows)
  DSAE_FORWARD(gemm)
  DSAE_FORWARD(add_row)
#undef DSAE_FORWARD
  static void normal(ref eps, prob::noise_key key) { Base::normal(eps, key); }  // called with {seed, stream, step}
};

}  // namespace dsae::test

using namespace dsae;
using namespace dsae::test;
using CD = cpu<double>;
using core = core_only<CD>;

static_assert(backend<core>);
static_assert(fused::has_kl<CD> && fused::has_lstm_forward_step<CD> && fused::has_adam_update<CD>);
static_assert(!fused::has_kl<core> && !fused::has_lstm_forward_step<core> && !fused::has_adam_update<core> &&
              !fused::has_concat_cols<core> && !fused::has_gather_batch<core> && !fused::has_reparam<core>);

namespace {

model::model_sizes sizes() {
  model::model_sizes s;
  s.x_dim = 5;
  s.v_dim = 3;
  s.z_dim = 2;
  s.hidden = 6;
  s.prior_hidden = 4;
  s.prior_layers = 2;
  s.rnn_hidden = 4;
  s.rnn_layers = 2;
  return s;
}

template <template <class> class M>
void check_equal(const std::string& what) {
  M<CD> a(sizes(), 7);
  M<core> b(sizes(), 7);
  BOOST_TEST((a.params().values() == b.params().values()));
  const auto ba = random_batch<CD>(5, {5, 3, 4, 2}, 5, 21);
  const auto bb = random_batch<core>(5, {5, 3, 4, 2}, 5, 21);
  train::adam<CD> oa(a.params());
  train::adam<core> ob(b.params());
  for (std::uint32_t step = 0; step < 10; ++step) {
    if (M<CD>::policy::two_stage && step == 3) {
      a.set_stage(2);
      b.set_stage(2);
    }
    const auto la = a.train_step(ba, 3, step), lb = b.train_step(bb, 3, step);
    for (const auto& [x, y] : {std::pair{la.loss, lb.loss}, {la.recon, lb.recon}, {la.kl_z, lb.kl_z}, {la.kl_v, lb.kl_v},
                               {la.swap[0], lb.swap[0]}, {la.swap[3], lb.swap[3]}, {la.extra, lb.extra}})
      BOOST_TEST(std::abs(x - y) <= 1e-10 * std::max(1.0, std::abs(x)), what << " step " << step << ": " << x << " vs " << y);
    const double g = (a.params().grads() - b.params().grads()).cwiseAbs().maxCoeff();
    BOOST_TEST(g <= 1e-10 * std::max(1.0, a.params().grads().cwiseAbs().maxCoeff()), what << " step " << step << ": gradients differ by " << g);
    oa.step();
    ob.step();
  }
  const double p = (a.params().values() - b.params().values()).cwiseAbs().maxCoeff();
  BOOST_TEST(p <= 1e-9, what << ": parameters after ten Adam steps differ by " << p);
  BOOST_TEST((a.generate(2, 3, 9) - b.generate(2, 3, 9)).cwiseAbs().maxCoeff() <= 1e-10);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(core_only_backend)

BOOST_AUTO_TEST_CASE(dsae_equals_cpu) { check_equal<model::dsae>("dsae"); }
BOOST_AUTO_TEST_CASE(ts_dsae_full_equals_cpu) { check_equal<model::ts_dsae_full>("ts_dsae_full"); }
BOOST_AUTO_TEST_CASE(ts_dsae_rich_equals_cpu) { check_equal<model::ts_dsae_rich>("ts_dsae_rich"); }
BOOST_AUTO_TEST_CASE(mixture_prior_and_node_ops_equal_cpu) { check_equal<mixture_prior_dsae>("mixture + node ops"); }

BOOST_AUTO_TEST_SUITE_END()
