#pragma once
// Shared gradient-check helper (central differences, double precision).
//
// Usage: build the module(s) on cpu<double>, write `loss()` that runs the
// forward pass and returns a scalar, run forward + backward once so that the
// registry's gradients and the input gradients are filled, then call
// check_gradients(params, loss, {{&x, &dx, "x"}}). Every trainable parameter
// and every listed input is perturbed entry by entry; the relative error
// ||analytic - numeric|| / max(||analytic||, ||numeric||) must be < tol.
// Parameters of frozen groups must have exactly zero gradient.
#include <boost/test/unit_test.hpp>
#include <dsae/backend/cpu.hpp>
#include <dsae/nn/parameters.hpp>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dsae::test {

using B = cpu<double>;
using tensor = B::tensor;

inline tensor random_tensor(index_t r, index_t c, std::uint64_t seed, double scale = 1.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> n(0.0, scale);
  tensor t(r, c);
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = n(g);
  return t;
}

inline double rel_error(const tensor& a, const tensor& n) {
  const double d = (a - n).norm(), s = std::max({a.norm(), n.norm(), 1e-300});
  return (a.norm() == 0 && n.norm() == 0) ? 0.0 : d / s;
}

// Central-difference gradient of loss() w.r.t. every entry of x (restored
// after): the fourth-order stencil (8 [f(x+h) - f(x-h)] - [f(x+2h) - f(x-2h)]) / 12h
// keeps truncation (O(h^4)) and rounding (O(eps/h)) errors both near 1e-13 with
// h = 1e-3, so small gradients (deep LSTM weights) are checked as tightly as
// large ones.
inline tensor numeric_gradient(double* x, index_t n, index_t rows, const std::function<double()>& loss,
                               double h = 1e-3) {
  tensor g(rows, n / rows);
  for (index_t i = 0; i < n; ++i) {
    const double keep = x[i];
    auto at = [&](double d) {
      x[i] = keep + d;
      return loss();
    };
    const double d1 = at(h) - at(-h), d2 = at(2 * h) - at(-2 * h);
    x[i] = keep;
    g.data()[i] = (8 * d1 - d2) / (12 * h);
  }
  return g;
}

struct input_grad {
  tensor* x;             // the input, perturbed in place
  const tensor* dx;      // the analytic gradient the module returned
  std::string name;
};

inline void check_gradients(parameters<B>& p, const std::function<double()>& loss,
                            const std::vector<input_grad>& inputs = {}, double tol = 1e-6) {
  const tensor analytic = p.grads();  // copy: loss() must not disturb it
  for (const auto& e : p.entries()) {
    const tensor a = Eigen::Map<const tensor>(analytic.data() + e.offset, e.rows, e.cols);
    if (!p.trainable(e.owner)) {
      BOOST_TEST(a.norm() == 0.0, "frozen parameter " << e.name << " received a gradient");
      continue;
    }
    const tensor n = numeric_gradient(p.values().data() + e.offset, e.rows * e.cols, e.rows, loss);
    const double err = rel_error(a, n);
    BOOST_TEST(err < tol, "parameter " << e.name << ": relative error " << err << " (|analytic| " << a.norm()
                                       << ", |numeric| " << n.norm() << ")");
  }
  for (const auto& in : inputs) {
    const tensor n = numeric_gradient(in.x->data(), in.x->size(), in.x->rows(), loss);
    const double err = rel_error(*in.dx, n);
    BOOST_TEST(err < tol, "input " << in.name << ": relative error " << err << " (|analytic| " << in.dx->norm()
                                   << ", |numeric| " << n.norm() << ")");
  }
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
