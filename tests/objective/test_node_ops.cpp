// Node operations (objective/node_ops.hpp): each op's VJP against central differences, at
// model level (the op's term added to DSAE, every trainable parameter checked), and the
// values of the ops against a direct computation.
#include <boost/test/unit_test.hpp>
#include "common/node_op_terms.hpp"
#include "model/common.hpp"

using namespace dsae;
using namespace dsae::test;

namespace {

template <node_op Op>
void check_op() {
  using M = dsae_with<B, objective::standard_normal, op_term<Op>>;
  M m(tiny_sizes(), 3);
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  const auto r = testing::check_model(m, b, 5, 9);
  BOOST_TEST_CONTEXT(node_op_name(Op)) {
    expect_report(r);
    const auto l = m.evaluate(b, 5, 9);
    BOOST_TEST(std::isfinite(l.term("op_term")));
    BOOST_TEST(l.term("op_term") != 0.0);
    BOOST_TEST(l.loss == l.recon + l.kl_z + l.kl_v + 0.7 * l.term("op_term"), boost::test_tools::tolerance(1e-12));
  }
}

template <int... K>
void check_all(std::integer_sequence<int, K...>) {
  (check_op<node_op(K)>(), ...);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(node_ops)

BOOST_AUTO_TEST_CASE(each_op_gradient_checked) { check_all(std::make_integer_sequence<int, int(node_op::count)>{}); }

// A broken VJP is caught: the same check on a term whose site drops one adjoint fails.
template <class Backend>
struct half_vjp_site {
  objective::node<Backend>* a = nullptr;
  typename Backend::tensor value;
  objective::node<Backend> out;
  void backward() {
    if (out.has_grad)
      if (auto* g = a->acc()) Backend::axpy(*g, 0.5, out.grad);  // wrong: should be 1
  }
};
struct broken_term {
  static constexpr const char* name = "broken";
  double weight = 1;
  template <class Step>
  void forward(Step& s, objective::loss_terms& out, double w) const {
    using backend = typename Step::backend_type;
    auto& c = s.template site<half_vjp_site<backend>>();
    c.a = s.posterior_v().mu;
    c.value = *c.a->value;
    c.out.reset(c.value, c.a->needs_grad);
    s.record(c);
    out.report(name, s.minimise(s.sum_of_squares(c.out), w), w);
  }
};
BOOST_AUTO_TEST_CASE(checker_catches_a_wrong_vjp) {
  dsae_with<B, objective::standard_normal, broken_term> m(tiny_sizes(), 3);
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  BOOST_TEST(!testing::check_model(m, b, 5, 9).ok());
}

// Values: log_sum_exp, mean_over_frames, total and squared_distance against Eigen.
struct value_probe {
  static constexpr const char* name = "probe";
  double weight = 0;
  mutable double lse = 0, mean = 0, tot = 0, dist = 0;
  template <class Step>
  void forward(Step& s, objective::loss_terms&, double) const {
    auto& mu = *s.posterior_v().mu;
    auto& zmu = *s.posterior_z().mu;
    lse = s.log_sum_exp(mu).value->sum();
    mean = s.mean_over_frames(zmu).value->sum();
    tot = (*s.total(zmu, s.batch().time_w, 2.0).value)(0, 0);
    dist = (*s.squared_distance(mu, s.scale(mu, 3.0), 0.5).value)(0, 0);
  }
};
BOOST_AUTO_TEST_CASE(values_match_direct_computation) {
  dsae_with<B, objective::standard_normal, value_probe> m(tiny_sizes(), 3);
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  m.evaluate(b, 5, 9);
  const auto& probe = m.component<value_probe>();
  const tensor mu = m.posterior_v_mean(b);
  double lse = 0;
  for (index_t i = 0; i < mu.rows(); ++i) lse += std::log(mu.row(i).array().exp().sum());
  BOOST_TEST(probe.lse == lse, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(probe.dist == 0.5 * (2.0 * mu).squaredNorm(), boost::test_tools::tolerance(1e-12));
  // The main pass's z mean uses the sampled v; mean_over_frames and total of it:
  // sum_b sum_t time_w * z = total(z, time_w) / 2.
  BOOST_TEST(probe.mean == probe.tot / 2.0, boost::test_tools::tolerance(1e-12));
}

struct bad_shapes {
  static constexpr const char* name = "bad";
  double weight = 1;
  template <class Step>
  void forward(Step& s, objective::loss_terms&, double) const {
    s.difference(*s.posterior_v().mu, *s.posterior_z().mu);  // B x V vs (T*B) x Z
  }
};
BOOST_AUTO_TEST_CASE(shape_errors_name_the_op) {
  using bad = bad_shapes;
  dsae_with<B, objective::standard_normal, bad> m(tiny_sizes(), 3);
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  BOOST_CHECK_EXCEPTION(m.evaluate(b, 5, 9), std::exception, [](const std::exception& e) {
    return std::string(e.what()).find("step::difference") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()
