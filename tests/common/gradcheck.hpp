#pragma once
// Boost.Test wrapper over the public checker (include/dsae/testing/gradcheck.hpp):
// check_gradients(params, loss, {{&x, &dx, "x"}}) asserts every item of the
// report. See that header for the contract (tolerance, frozen groups).
#include <boost/test/unit_test.hpp>
#include <dsae/backend/cpu.hpp>
#include <dsae/nn/parameters.hpp>
#include <dsae/testing/gradcheck.hpp>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dsae::test {

using B = cpu<double>;
using tensor = B::tensor;
using testing::input_grad;
using testing::numeric_gradient;

inline tensor random_tensor(index_t r, index_t c, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> n(0.0, scale);
  tensor t(r, c);
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = n(g);
  return t;
}

inline double rel_error(const tensor& a, const tensor& n) { return testing::relative_error(a, n); }

// Asserts every item of a report, one BOOST_TEST per item.
inline void expect_report(const testing::gradcheck_report& r) {
  BOOST_TEST(!r.items.empty(), "gradcheck: nothing was checked");
  BOOST_TEST(r.informative_count() > 0, "gradcheck: every item has a zero gradient: nothing informative was checked");
  for (const auto& i : r.items) {
    if (i.frozen) BOOST_TEST(i.ok, "frozen " << i.name << " received a gradient (norm " << i.analytic_norm << ")");
    else
      BOOST_TEST(i.ok, i.name << ": relative error " << i.error << ", absolute " << i.abs_error << " (|analytic| "
                              << i.analytic_norm << ", |numeric| " << i.numeric_norm << ")");
  }
}

inline void check_gradients(parameters<B>& p, const std::function<double()>& loss,
                            const std::vector<input_grad>& inputs = {}, double tol = 1e-6) {
  expect_report(testing::check_gradients(p, loss, inputs, {tol}));
}

// Frame mask (T*B) x 1 from per-sequence lengths (valid frames first).
inline tensor mask_from_lengths(const std::vector<index_t>& len, index_t T) {
  const index_t Bn = index_t(len.size());
  tensor m(T * Bn, 1);
  for (index_t t = 0; t < T; ++t)
    for (index_t b = 0; b < Bn; ++b) m(t * Bn + b, 0) = t < len[size_t(b)] ? 1.0 : 0.0;
  return m;
}

}  // namespace dsae::test
