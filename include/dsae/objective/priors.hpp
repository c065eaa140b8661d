#pragma once
// Priors of the objective: on z (sequential, through a transition slot, or
// N(0, I)) and on v (N(0, I) or the stage-1 snapshot posterior q_C(v | x)).
//
// A prior P is a type with
//   P::name                         const char*, names it in the composition
//   P::forward(step)                returns the prior as a gaussian of nodes
//                                   (both null: N(0, I)), recording its calls
// and, for the model to build what it needs,
//   P::sequential                   (priors on z) a transition module is built:
//   P::module_type<Backend>         its slot type, registered as "transition"
//   P::uses_snapshot                (priors on v) a frozen copy of the global
//                                   encoder is built, registered as "snapshot"
//   P::on_stage(params, from, to)   called by set_stage (optional)
// ensures: forward() returns nodes of the shape of the posterior it is
//          compared with (z: (T*B) x Z, v: B x V), or N(0, I).
#include "../nn/parameters.hpp"

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

}  // namespace dsae::objective
