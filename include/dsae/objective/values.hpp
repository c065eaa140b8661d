#pragma once
// What one step of the objective reports, and the noise it draws.
#include <array>
#include <cstdint>
#include <vector>
#include "../config.hpp"

namespace dsae::objective {

// The value of each term of the objective for one batch (unweighted), and the
// weighted total that is minimised.
struct loss_terms {
  double loss = 0, recon = 0, kl_z = 0, kl_v = 0;
  std::array<double, 4> swap{};  // terms 1..4 (TS-DSAE stage 2)
  double extra = 0;              // terms the library does not know (weighted sum)
  // False when a training step skipped KL_z because it cannot move any
  // parameter (stage 1 of a two-stage schedule with factorised q): kl_z is 0 and
  // not part of loss; validation (evaluate) always computes it.
  bool kl_z_computed = true;
};

// Noise streams of one step (the counter-based generator's `stream` field).
// Components outside the library use streams from first_free_stream on.
enum noise_stream : std::uint32_t {
  eps_v = 0, eps_z, eps_v_g, eps_z_g, eps_v_l, eps_z_l, perm_g, perm_l, first_free_stream = 16
};

// Noise supplied from outside (parity with a reference implementation).
template <class Backend>
struct given_noise {
  typename Backend::tensor eps_v, eps_z, eps_v_g, eps_z_g, eps_v_l, eps_z_l;
  std::vector<index_t> perm_g, perm_l;
};

}  // namespace dsae::objective
