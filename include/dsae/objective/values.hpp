#pragma once
// What one step of the objective reports, and the noise it draws.
#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
#include "../config.hpp"

namespace dsae::objective {

// A term the library does not know, reported by its own name (unweighted value).
struct named_term {
  std::string name;
  double value = 0;
};

// The value of each term of the objective for one batch (unweighted), and the
// weighted total that is minimised.
struct loss_terms {
  double loss = 0, recon = 0, kl_z = 0, kl_v = 0;
  std::array<double, 4> swap{};  // terms 1..4 (TS-DSAE stage 2)
  // Terms the library does not know: each by name (unweighted, in the order reported),
  // and extra = their weighted sum (the part of loss they make up).
  std::vector<named_term> named;
  double extra = 0;
  // False when a training step skipped KL_z because it cannot move any
  // parameter (stage 1 of a two-stage schedule with factorised q): kl_z is 0 and
  // not part of loss; validation (evaluate) always computes it.
  bool kl_z_computed = true;

  // What a custom term's forward() calls: its unweighted value under `name` (which becomes a
  // metrics.jsonl key, a TensorBoard tag and checkpoint metadata, so it must be 1-64 of
  // [A-Za-z0-9_.-]), and weight * value added to extra and loss. A name reported twice in
  // one step adds up.
  void report(std::string_view name, double value, double weight) {
    if (!valid_term_name(name))
      throw std::invalid_argument("loss_terms::report: term name '" + std::string(name) +
                                  "' must be 1-64 characters of [A-Za-z0-9_.-]");
    add_named(name, value);
    extra += weight * value;
    loss += weight * value;
  }
  // The unweighted value reported under `name` (NaN when none was).
  double term(std::string_view name) const {
    for (const auto& t : named)
      if (t.name == name) return t.value;
    return std::numeric_limits<double>::quiet_NaN();
  }
  void add_named(std::string_view name, double value) {
    for (auto& t : named)
      if (t.name == name) {
        t.value += value;
        return;
      }
    named.push_back({std::string(name), value});
  }
  static bool valid_term_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (const char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
            c == '-'))
        return false;
    return true;
  }
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
