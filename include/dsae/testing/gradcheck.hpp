#pragma once
// dsae::testing: the public gradient checker (central differences, double
// precision), the one the library's own tests use. Framework-neutral: it
// returns a report; wrap it in your test framework's assertion.
//
//   Module level:  run forward + backward once so that the registry's gradients
//                  and your input gradients are filled, then
//                    auto r = testing::check_gradients(params, loss, {{&x, &dx, "x"}});
//                  loss() runs the forward pass and returns the scalar.
//   Model level:   auto r = testing::check_model(model, batch, seed, step);
//                  (train_step once, evaluate() as loss(): the same noise).
//   Then:          if (!r.ok()) fail(r.summary());
//
// requires: a cpu<double> registry (values and gradients on the host);
//           loss() is deterministic and leaves the registry's gradients alone.
// ensures:  every trainable parameter and every listed input is perturbed entry
//           by entry; an item passes when
//             ||analytic - numeric|| <= atol + tol * max(||analytic||, ||numeric||)
//           (absolute plus relative: a true gradient of 0 computed as 1e-18 of
//           rounding passes, where a relative test alone scored it 1.0).
//           Items whose gradients are both within atol of zero pass but are not
//           informative; the report says how many, and ok() needs at least one
//           informative item. Parameters of frozen groups pass only with an
//           exactly zero gradient.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../backend/cpu.hpp"
#include "../nn/parameters.hpp"

namespace dsae::testing {

using host_tensor = cpu<double>::tensor;

struct gradcheck_options {
  double tol = 1e-6;   // relative part
  double atol = 1e-9;  // absolute part: the central difference's rounding is ~1e-13 x |loss| per entry
  double h = 1e-3;
};

struct gradcheck_item {
  std::string name;  // "parameter <name>" or "input <name>"
  bool frozen = false;
  double error = 0;      // relative: ||a - n|| / max(||a||, ||n||) (0 when both are 0)
  double abs_error = 0;  // ||a - n||
  double analytic_norm = 0, numeric_norm = 0;
  bool informative = true;  // false: both gradients within atol of zero (frozen items: false)
  bool ok = false;
};

struct gradcheck_report {
  std::vector<gradcheck_item> items;
  std::size_t informative_count() const {
    return std::size_t(std::count_if(items.begin(), items.end(), [](const auto& i) { return i.informative; }));
  }
  bool ok() const {
    return informative_count() > 0 && std::all_of(items.begin(), items.end(), [](const auto& i) { return i.ok; });
  }
  // One line per failed item (all items when verbose).
  std::string summary(bool verbose = false) const {
    std::string s;
    char buf[512];
    for (const auto& i : items) {
      if (i.ok && !verbose) continue;
      if (i.frozen)
        std::snprintf(buf, sizeof buf, "%s (frozen): gradient norm %.3g, expected exactly 0\n", i.name.c_str(),
                      i.analytic_norm);
      else
        std::snprintf(buf, sizeof buf, "%s: relative error %.3g, absolute %.3g (|analytic| %.6g, |numeric| %.6g)%s%s\n",
                      i.name.c_str(), i.error, i.abs_error, i.analytic_norm, i.numeric_norm,
                      i.informative ? "" : " zero gradient", i.ok ? "" : "  FAILED");
      s += buf;
    }
    if (items.empty()) s = "gradcheck: nothing was checked\n";
    else if (informative_count() == 0)
      s += "gradcheck: every item has a zero gradient (within atol): nothing informative was checked\n";
    return s;
  }
};

inline double relative_error(const host_tensor& a, const host_tensor& n) {
  if (a.norm() == 0 && n.norm() == 0) return 0.0;
  return (a - n).norm() / std::max({a.norm(), n.norm(), 1e-300});
}

// Fills the comparison fields of `it` and decides it (the rule in the header comment).
inline void judge(gradcheck_item& it, const host_tensor& a, const host_tensor& n, const gradcheck_options& o) {
  it.analytic_norm = a.norm();
  it.numeric_norm = n.norm();
  it.abs_error = (a - n).norm();
  it.error = relative_error(a, n);
  const double scale = std::max(it.analytic_norm, it.numeric_norm);
  it.informative = scale > o.atol;
  it.ok = std::isfinite(it.abs_error) && it.abs_error <= o.atol + o.tol * scale;
}

// Central-difference gradient of loss() w.r.t. x[0..n) (restored after): the
// fourth-order stencil (8 [f(x+h) - f(x-h)] - [f(x+2h) - f(x-2h)]) / 12h keeps
// truncation (O(h^4)) and rounding (O(eps/h)) errors both near 1e-13 with
// h = 1e-3, so small gradients (deep LSTM weights) are checked as tightly as
// large ones. Returned as rows x (n / rows).
inline host_tensor numeric_gradient(double* x, index_t n, index_t rows, const std::function<double()>& loss,
                                    double h = 1e-3) {
  host_tensor g(rows, n / rows);
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

// An input of the function under test and the gradient the code returned for it.
struct input_grad {
  host_tensor* x;         // perturbed in place
  const host_tensor* dx;  // analytic gradient
  std::string name;
};

inline gradcheck_report check_gradients(parameters<cpu<double>>& p, const std::function<double()>& loss,
                                        const std::vector<input_grad>& inputs = {}, gradcheck_options o = {}) {
  gradcheck_report r;
  const host_tensor analytic = p.grads();  // copy: loss() must not disturb it
  for (const auto& e : p.entries()) {
    gradcheck_item it;
    it.name = "parameter " + e.name;
    const host_tensor a = Eigen::Map<const host_tensor>(analytic.data() + e.offset, e.rows, e.cols);
    it.analytic_norm = a.norm();
    if (!p.trainable(e.owner)) {
      it.frozen = true;
      it.informative = false;
      it.ok = it.analytic_norm == 0.0;
    } else {
      judge(it, a, numeric_gradient(p.values().data() + e.offset, e.rows * e.cols, e.rows, loss, o.h), o);
    }
    r.items.push_back(std::move(it));
  }
  for (const auto& in : inputs) {
    gradcheck_item it;
    it.name = "input " + in.name;
    judge(it, *in.dx, numeric_gradient(in.x->data(), in.x->size(), in.x->rows(), loss, o.h), o);
    r.items.push_back(std::move(it));
  }
  return r;
}

// The whole objective of a model on one batch: train_step once (analytic),
// evaluate() with the same (seed, step) noise as loss(). Frozen groups (stage
// schedule, snapshot) must get exactly zero.
template <class Model>
  requires std::same_as<typename Model::backend_type, cpu<double>>
gradcheck_report check_model(Model& m, const typename Model::batch_type& b, std::uint64_t seed, std::uint32_t step,
                             gradcheck_options o = {}) {
  m.train_step(b, seed, step);
  return check_gradients(m.params(), [&] { return m.evaluate(b, seed, step).loss; }, {}, o);
}

}  // namespace dsae::testing
