#pragma once
// reconstruction<W>: W * recon, recon = mean over sequences b and bins of
// [ sum over valid t of (xhat - x)^2 / n_b ] (spec, "Objective": each sequence
// is averaged over its own valid frames, like KL_z).
#include "term.hpp"

namespace dsae::objective {

template <double Weight = 1.0>
struct reconstruction {
  static constexpr double weight = Weight;
  static std::string name() { return weighted_name("recon", weight); }
  template <class Step>
  static void forward(Step& s, loss_terms& out) {
    using scalar = typename Step::scalar;
    const auto& b = s.batch();
    const scalar scale = scalar(1) / scalar(b.batch * s.sizes().x_dim);
    out.recon = s.squared_error(s.xhat(), b.x, b.time_w, scale, weight);
    out.loss += weight * out.recon;
  }
};

}  // namespace dsae::objective
