#pragma once
// Priors of the objective: on z (sequential, through a transition slot, or
// N(0, I)) and on v (N(0, I) or the stage-1 snapshot posterior q_C(v | x)).
//
// A prior is a value (the model holds one on z and one on v) of a type P with
//   P::name                         const char*, names it in the composition
//   p.forward(step)                 returns the prior as a gaussian of nodes
//                                   (both null: N(0, I)), recording its calls
//                                   (a prior on v may give kl() instead)
// and, for the model to build what it needs,
//   P::sequential                   (priors on z) a transition module is built:
//   P::module_type<Backend>         its slot type, registered as "transition"
//   P::uses_snapshot                (priors on v) a frozen copy of the global
//                                   encoder is built, registered as "snapshot"
// optionally
//   p.declare(params, sizes)        registers parameters of its own under its own
//                                   group (params.group_of("prior_v")) before
//                                   initialisation; forward/kl read them with
//                                   step.parameter(id)
//   p.kl(step, q, v, row_w, scale, weight)
//                                   (priors on v) weight * scale * sum_b w[b]
//                                   KL(q_b || p) by its own estimator, recorded on
//                                   the tape; returns the unweighted value
//   p.sample(v, params, key)        (priors on v) fills v (n x V) with draws of p(v),
//                                   for generate()
//   p.settings(f), p.shapes_parameters(key)   runtime settings (objective/settings.hpp)
//   p.on_stage(params, from, to)    called by set_stage
// ensures: forward() returns nodes of the shape of the posterior it is
//          compared with (z: (T*B) x Z, v: B x V), or N(0, I).
#include <cmath>
#include <string_view>
#include <vector>
#include "../backend/fused.hpp"
#include "../nn/parameters.hpp"
#include "../prob/philox.hpp"
#include "settings.hpp"

namespace dsae::objective {

// A slot a prior does not need.
struct no_module {
  static constexpr const char* name = "none";
  no_module() = default;
  template <class... A>
  explicit no_module(A&&...) {}
};

// N(0, I): DSAE's p(v); p(z) of a plain (non-sequential) VAE baseline.
struct standard_normal {
  static constexpr const char* name = "standard_normal";
  static constexpr bool sequential = false, uses_snapshot = false;
  template <class Backend>
  using module_type = no_module;
  template <class Step>
  static typename Step::gaussian_type forward(Step&) {
    return {};
  }
};

// p(z_t | z_<t) from a transition slot run over the sampled posterior z
// (teacher forcing); p(z_1) = N(0, I) is the slot's business (spec, Modules).
template <template <class> class Transition>
struct transition_prior {
  static constexpr const char* name = "transition";
  static constexpr bool sequential = true, uses_snapshot = false;
  template <class Backend>
  using module_type = Transition<Backend>;
  template <class Step>
  static typename Step::gaussian_type forward(Step& s) {
    return s.transition(s.z(), s.batch().mask);
  }
};

// TS-DSAE stage 2: p(v | x) = q_C(v | x), the global encoder as it was at the
// switch to stage 2 (spec, "Two-stage training"). N(0, I) in stage 1.
struct snapshot_posterior {
  static constexpr const char* name = "snapshot_posterior";
  static constexpr bool sequential = false, uses_snapshot = true;
  template <class Step>
  static typename Step::gaussian_type forward(Step& s) {
    if (!s.final_stage()) return {};
    return s.snapshot(s.x(), s.batch().time_w);
  }
  // The snapshot is taken before the first stage-2 update.
  template <class Backend>
  static void on_stage(parameters<Backend>& p, int from, int to) {
    if (from == 1 && to == 2) p.copy_group(group::global_encoder, group::snapshot);
  }
};

// p(v) = N(mu, diag exp(logvar)) with mu and logvar (1 x V) learnt: parameters
// "prior_v.mu" and "prior_v.logvar" in group "prior_v", initialised to 0 (so
// training starts from N(0, I)). KL in closed form.
struct learnable_normal_v {
  static constexpr const char* name = "learnable_normal";
  static constexpr bool sequential = false, uses_snapshot = false;
  param_id mu = -1, logvar = -1;

  template <class Backend, class Sizes>
  void declare(parameters<Backend>& p, const Sizes& s) {
    const group g = p.group_of("prior_v");
    mu = p.add("prior_v.mu", 1, s.v_dim, g, 0);
    logvar = p.add("prior_v.logvar", 1, s.v_dim, g, 0);
  }
  template <class Step>
  typename Step::gaussian_type forward(Step& s) const {
    const index_t n = s.batch().batch;
    return {&s.repeat_rows(s.parameter(mu), n), &s.repeat_rows(s.parameter(logvar), n)};
  }
  template <class Backend>
  void sample(typename Backend::tensor& v, parameters<Backend>& p, prob::noise_key key) const {
    typename Backend::tensor eps, m, lv;
    for (auto* t : {&eps, &m, &lv}) Backend::resize(*t, v.rows(), v.cols());
    Backend::normal(eps, key);
    Backend::zero(m);
    Backend::zero(lv);
    Backend::add_row(m, p.value(mu));
    Backend::add_row(lv, p.value(logvar));
    fused::reparam<Backend>(v, m, lv, eps);
  }
};

// p(v) = sum_k pi_k N(m_k, diag exp(s_k)), K = `components` (setting, default 4):
// means (K x V, initialised U(-1, 1) so the components start apart), log-variances
// (K x V, 0) and mixture logits (1 x K, 0: equal weights), group "prior_v".
// KL(q || p) has no closed form; the estimator (documented in docs/models.md) is
//   KL(q_b || p) = -H[q_b] - E_q[log p(v)] ~= -1/2 sum_j (log 2 pi + 1 + logvar_bj) - log p(v_b)
// with the entropy exact and the cross-entropy from the main pass's reparameterised
// sample v_b (one sample, unbiased; gradients through the sample reach q). log p(v_b) is a
// log-sum-exp over k of log pi_k + log N(v_b | m_k, e^{s_k}), with the quadratic form as
// two products, (v*v) P^T - 2 v (M*P)^T, P = exp(-S): written with node operations only.
struct mixture_normal_v {
  static constexpr const char* name = "mixture_normal";
  static constexpr bool sequential = false, uses_snapshot = false;
  int components = 4;
  param_id means = -1, logvars = -1, logits = -1;

  template <class F>
  void settings(F&& f) {
    f("components", components);
  }
  bool shapes_parameters(std::string_view key) const { return key == "components"; }

  template <class Backend, class Sizes>
  void declare(parameters<Backend>& p, const Sizes& s) {
    if (components < 1 || components > 4096)
      detail::fail("mixture_normal_v: components must be 1..4096, got ", components);
    const group g = p.group_of("prior_v");
    means = p.add("prior_v.means", components, s.v_dim, g, 1);
    logvars = p.add("prior_v.logvars", components, s.v_dim, g, 0);
    logits = p.add("prior_v.logits", 1, components, g, 0);
  }

  template <class Backend>
  struct constants {
    typename Backend::tensor ones_v, ones_k;  // 1 x V, 1 x K
  };
  template <class Step>
  double kl(Step& s, typename Step::gaussian_type q, typename Step::node_type& v,
            const typename Step::tensor& row_w, typename Step::scalar scale, double weight) const {
    using backend = typename Step::backend_type;
    auto& c = s.template site<constants<backend>>();
    const index_t vd = s.sizes().v_dim;
    fill_ones<backend>(c.ones_v, vd);
    fill_ones<backend>(c.ones_k, components);
    auto& m = s.parameter(means);
    auto& sv = s.parameter(logvars);
    auto& lg = s.parameter(logits);
    auto& prec = s.exp(s.scale(sv, -1));                                   // P = exp(-S), K x V
    auto& mp = s.product(m, prec);                                         // M * P
    auto& quad = s.add(s.matmul(s.product(v, v), prec, true),             // (v*v) P^T - 2 v (M*P)^T
                       s.scale(s.matmul(v, mp, true), -2));                //   B x K
    auto& c_row = s.matmul(s.constant(c.ones_v), s.add(s.product(m, mp), sv), true);  // 1 x K
    auto& log_pi = s.difference(lg, s.matmul(s.log_sum_exp(lg), s.constant(c.ones_k)));
    auto& log_p = s.log_sum_exp(s.add_row(s.scale(s.add_row(quad, c_row), -0.5), log_pi));  // B x 1 (+ V/2 log 2 pi)
    // KL_b = -1/2 sum_j (1 + logvar_bj) - log_p_b (the log 2 pi terms cancel).
    const double n_w = double(backend::sum(row_w));
    const double value = s.minimise(s.total(*q.logvar, row_w, -0.5 * double(scale)), weight) +
                         s.minimise(s.total(log_p, row_w, -double(scale)), weight) -
                         0.5 * double(scale) * double(vd) * n_w;
    return value;
  }

  // generate(): a component k ~ pi per row (host), then m_k + eps * exp(s_k / 2).
  template <class Backend>
  void sample(typename Backend::tensor& v, parameters<Backend>& p, prob::noise_key key) const {
    using T = typename Backend::scalar;
    const auto m = Backend::to_host(p.value(means)), sv = Backend::to_host(p.value(logvars)),
               lg = Backend::to_host(p.value(logits));
    typename Backend::tensor eps;
    Backend::resize(eps, v.rows(), v.cols());
    Backend::normal(eps, key);
    const auto e = Backend::to_host(eps);
    double top = lg[0];
    for (const T x : lg) top = std::max(top, double(x));
    std::vector<double> cdf(lg.size());
    double acc = 0;
    for (size_t k = 0; k < lg.size(); ++k) cdf[k] = acc += std::exp(double(lg[k]) - top);
    std::vector<T> out(e.size());
    const index_t vd = v.cols();
    for (index_t i = 0; i < v.rows(); ++i) {
      const double u = prob::philox_uniform({key.seed, key.stream + 1, key.step}, std::uint64_t(i)) * acc;
      size_t k = 0;
      while (k + 1 < cdf.size() && cdf[k] <= u) ++k;
      for (index_t j = 0; j < vd; ++j) {
        const size_t at = size_t(k) * size_t(vd) + size_t(j), r = size_t(i * vd + j);
        out[r] = T(double(m[at]) + double(e[r]) * std::exp(0.5 * double(sv[at])));
      }
    }
    v = Backend::from_host(out, v.rows(), v.cols());
  }

 private:
  template <class Backend>
  static void fill_ones(typename Backend::tensor& t, index_t cols) {
    if (t.rows() != 1 || t.cols() != cols) {
      Backend::resize(t, 1, cols);
      Backend::fill(t, typename Backend::scalar(1));
    }
  }
};

}  // namespace dsae::objective
