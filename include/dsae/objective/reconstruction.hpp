#pragma once
// reconstruction: weight * recon, recon = mean over sequences b and bins of
// [ sum over valid t of (xhat - x)^2 / n_b ] (spec, "Objective": each sequence
// is averaged over its own valid frames, like KL_z).
#include "term.hpp"

namespace dsae::objective {

template <double Weight = 1.0>
struct reconstruction {
  static constexpr const char* name = "recon";
  double weight = Weight;
  weight_schedule schedule{};
  DSAE_TERM_SETTINGS
  template <class Step>
  void forward(Step& s, loss_terms& out, double w) const {
    using scalar = typename Step::scalar;
    const auto& b = s.batch();
    const scalar scale = scalar(1) / scalar(b.batch * s.sizes().x_dim);
    out.recon = s.squared_error(s.xhat(), b.x, b.time_w, scale, w);
    out.loss += w * out.recon;
  }
};

}  // namespace dsae::objective
