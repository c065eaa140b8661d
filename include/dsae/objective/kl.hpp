#pragma once
// The KL terms of the ELBO against the model's priors.
//   kl_z: weight * mean over b and Z dims of [ sum over valid t of
//         KL(q(z_t | .) || p(z_t | z_<t)) / n_b ]          (prior: the PriorZ component)
//   kl_v: weight * mean over b and V dims of KL(q(v | x) || p(v)) (prior: the PriorV component;
//         closed form for a Gaussian prior, the prior's own estimator otherwise)
// A weight != 1 gives e.g. a beta-VAE (kl_v<>{.weight = 4}); a schedule anneals it
// (kl_v<>{.schedule = weight_schedule::linear(10)}).
#include "term.hpp"

namespace dsae::objective {

template <double Weight = 1.0>
struct kl_z {
  static constexpr const char* name = "kl_z";
  double weight = Weight;
  weight_schedule schedule{};
  DSAE_TERM_SETTINGS
  template <class Step>
  void forward(Step& s, loss_terms& out, double w) const {
    using scalar = typename Step::scalar;
    const auto& b = s.batch();
    const scalar scale = scalar(1) / scalar(b.batch * s.sizes().z_dim);
    // Stage 1 (spec, "Two-stage training"): KL_z is reported but gives no
    // gradient when neither q(z) nor the prior's module can move. A training
    // step then skips it, and the transition with it; validation computes it.
    if (!s.gradient_free_terms_wanted() && !s.posterior_z().needs_grad() && !s.prior_z_may_train()) {
      out.kl_z = 0;
      out.kl_z_computed = false;
      return;
    }
    out.kl_z = s.kl(s.posterior_z(), s.prior_z(), b.time_w, scale, w);
    out.loss += w * out.kl_z;
  }
};

template <double Weight = 1.0>
struct kl_v {
  static constexpr const char* name = "kl_v";
  double weight = Weight;
  weight_schedule schedule{};
  DSAE_TERM_SETTINGS
  template <class Step>
  void forward(Step& s, loss_terms& out, double w) const {
    using scalar = typename Step::scalar;
    const auto& b = s.batch();
    const scalar scale = scalar(1) / scalar(b.batch * s.sizes().v_dim);
    out.kl_v = s.kl_prior_v(b.ones, scale, w);
    out.loss += w * out.kl_v;
  }
};

}  // namespace dsae::objective
