#pragma once
// Concepts of the objective's components (contracts in term.hpp, priors.hpp,
// schedule.hpp). The model checks them where it is named, so a type in the
// wrong place fails with an error naming the concept.
#include <concepts>
#include <string>
#include <string_view>
#include "../nn/parameters.hpp"
#include "../prob/philox.hpp"

namespace dsae::objective {

// A prior on z: N(0, I) or sequential through a transition slot (module_type).
template <class P>
concept prior_on_z = std::default_initializable<P> && std::copyable<P> && requires {
  { P::name } -> std::convertible_to<const char*>;
  { P::sequential } -> std::convertible_to<bool>;
};

// A prior on v: N(0, I), the snapshot of the global encoder (uses_snapshot), or one with
// parameters of its own (declare()); its KL in closed form (forward() returns a Gaussian)
// or by its own estimator (kl()).
template <class P>
concept prior_on_v = std::default_initializable<P> && std::copyable<P> && requires {
  { P::name } -> std::convertible_to<const char*>;
  { P::uses_snapshot } -> std::convertible_to<bool>;
};

// A stage schedule: 1 or 2 stages and which groups (by name) each stage freezes.
template <class S>
concept stage_schedule = std::default_initializable<S> && std::copyable<S> &&
                         requires(const S& s, std::string_view g, int stage) {
                           { S::stages } -> std::convertible_to<int>;
                           { s.name() } -> std::convertible_to<std::string>;
                           { s.frozen(g, stage) } -> std::convertible_to<bool>;
                         } && (S::stages == 1 || S::stages == 2);

// A loss term: a value with a name, a weight, and a forward(step, loss_terms&, weight)
// template (checked when the model instantiates it).
template <class L>
concept loss_term = std::default_initializable<L> && std::copyable<L> && requires(const L& l) {
  { L::name } -> std::convertible_to<const char*>;
  { l.weight } -> std::convertible_to<double>;
};


// ---- optional parts of a component, detected by the model -------------------------------
// (Named concepts with explicit operand types rather than requires-expressions inside the
// model: nvcc's front end does not evaluate the latter alike.)

// declare(params, sizes): registers parameters of its own before initialisation.
template <class C, class Backend, class Sizes>
concept declares_parameters = requires(C& c, parameters<Backend>& p, const Sizes& s) { c.declare(p, s); };

// kl(step, q, v, row_w, scale, weight) (priors on v): its own KL estimator.
template <class P, class Step>
concept has_kl_estimator = requires(const P& p, Step& s, typename Step::gaussian_type q,
                                    typename Step::node_type& v, const typename Step::tensor& w,
                                    typename Step::scalar scale, double weight) {
  { p.kl(s, q, v, w, scale, weight) } -> std::convertible_to<double>;
};

// sample(v, params, key) (priors on v): draws for generate().
template <class P, class Backend>
concept samples_prior = requires(const P& p, typename Backend::tensor& v, parameters<Backend>& pr, prob::noise_key k) {
  p.sample(v, pr, k);
};

// on_stage(params, from, to): runs on a stage switch.
template <class P, class Backend>
concept has_on_stage = requires(P& p, parameters<Backend>& pr, int stage) { p.on_stage(pr, stage, stage); };

// A weight schedule member (loss terms).
template <class L>
concept has_weight_schedule = requires(const L& l) {
  { l.schedule.factor(0.0) } -> std::convertible_to<double>;
};

// shapes_parameters(key): settings refused after construction.
template <class C>
concept has_shaping_settings = requires(const C& c, std::string_view key) {
  { c.shapes_parameters(key) } -> std::convertible_to<bool>;
};

}  // namespace dsae::objective
