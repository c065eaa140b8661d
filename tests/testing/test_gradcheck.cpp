// The public gradient checker's own contract (include/dsae/testing/gradcheck.hpp):
// absolute plus relative tolerance, zero gradients, wrong gradients, frozen groups.
#include <boost/test/unit_test.hpp>

#include <dsae/testing/gradcheck.hpp>

namespace dt = dsae::testing;
using host = dt::host_tensor;

namespace {
// loss = sum(w .* w .* c) over a 2 x 3 parameter "w" (gradient 2 w c), plus an input x
// entering as sum(x^3) (gradient 3 x^2).
struct fixture {
  dsae::parameters<dsae::cpu<double>> p;
  host c = host::Constant(2, 3, 1.5), x = host::Constant(1, 2, 0.5), dx;
  fixture(double w0) {
    p.add("w", 2, 3, dsae::group::decoder, 1.0);
    p.finalize(1);
    p.values().setConstant(w0);
    p.grads() = (2.0 * p.values().array() * c.reshaped(1, 6).array()).matrix();
    dx = (3.0 * x.array().square()).matrix();
  }
  double loss() const {
    const host& w = p.values();  // 1 x 6, the registry's flat buffer
    return (w.array().square() * c.reshaped(1, 6).array()).sum() + x.array().cube().sum();
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(gradcheck)

BOOST_AUTO_TEST_CASE(correct_gradients_pass) {
  fixture f(0.7);
  const auto r = dt::check_gradients(f.p, [&] { return f.loss(); }, {{&f.x, &f.dx, "x"}});
  BOOST_TEST(r.ok(), r.summary(true));
  BOOST_TEST(r.informative_count() == 2u);
}

// A true gradient of exactly 0 whose analytic value is 1e-18 of rounding: a relative test
// scores it 1.0 and fails correct code; the absolute part passes it (not informative).
BOOST_AUTO_TEST_CASE(zero_gradient_with_rounding_passes) {
  fixture f(0.0);  // w = 0: d loss / d w = 0 exactly
  f.p.grads().setConstant(1e-18);
  const auto r = dt::check_gradients(f.p, [&] { return f.loss(); }, {{&f.x, &f.dx, "x"}});
  BOOST_TEST(r.ok(), r.summary(true));
  BOOST_REQUIRE(r.items.size() == 2u);
  BOOST_TEST(r.items[0].error == 1.0);  // the relative error alone would have failed it
  BOOST_TEST(!r.items[0].informative);
  BOOST_TEST(r.items[1].informative);
  BOOST_TEST(r.informative_count() == 1u);
}

// Only zero gradients: every item passes, but nothing was checked, so the report fails.
BOOST_AUTO_TEST_CASE(nothing_informative_fails) {
  fixture f(0.0);
  f.p.grads().setZero();
  const auto r = dt::check_gradients(f.p, [&] { return f.loss(); });
  BOOST_TEST(r.items.size() == 1u);
  BOOST_TEST(r.items[0].ok);
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.summary().find("nothing informative") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_gradients_fail) {
  fixture f(0.7);
  f.p.grads()(0, 5) *= 1.0 + 1e-4;  // one entry off by 1e-4 relative
  auto r = dt::check_gradients(f.p, [&] { return f.loss(); });
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.summary().find("FAILED") != std::string::npos);
  // A gradient that should be 0 but is 1e-6: above atol, fails.
  fixture g(0.0);
  g.p.grads().setConstant(1e-6);
  r = dt::check_gradients(g.p, [&] { return g.loss(); }, {{&g.x, &g.dx, "x"}});
  BOOST_TEST(!r.items[0].ok);
  BOOST_TEST(!r.ok());
  // A wrong input gradient fails too.
  fixture h(0.7);
  h.dx(0, 1) = 0.0;
  r = dt::check_gradients(h.p, [&] { return h.loss(); }, {{&h.x, &h.dx, "x"}});
  BOOST_TEST(r.items[0].ok);
  BOOST_TEST(!r.items[1].ok);
}

BOOST_AUTO_TEST_CASE(frozen_groups_need_exact_zero) {
  fixture f(0.7);
  f.p.freeze(dsae::group::decoder);
  f.p.grads().setZero();
  auto r = dt::check_gradients(f.p, [&] { return f.loss(); }, {{&f.x, &f.dx, "x"}});
  BOOST_TEST(r.ok(), r.summary(true));
  BOOST_TEST(r.items[0].frozen);
  f.p.grads()(0, 0) = 1e-30;
  r = dt::check_gradients(f.p, [&] { return f.loss(); }, {{&f.x, &f.dx, "x"}});
  BOOST_TEST(!r.ok());
}

BOOST_AUTO_TEST_SUITE_END()
