#pragma once
// Concepts of the objective's components (contracts in term.hpp, priors.hpp,
// schedule.hpp). The model checks them where it is named, so a type in the
// wrong place fails with an error naming the concept.
#include <concepts>
#include <string>
#include "../nn/parameters.hpp"

namespace dsae::objective {

// A prior on z: N(0, I) or sequential through a transition slot (module_type).
template <class P>
concept prior_on_z = requires {
  { P::name } -> std::convertible_to<const char*>;
  { P::sequential } -> std::convertible_to<bool>;
};

// A prior on v: N(0, I), or the snapshot of the global encoder (uses_snapshot).
template <class P>
concept prior_on_v = requires {
  { P::name } -> std::convertible_to<const char*>;
  { P::uses_snapshot } -> std::convertible_to<bool>;
};

// A stage schedule: 1 or 2 stages and which groups each stage freezes.
template <class S>
concept stage_schedule = requires(group g, int stage) {
  { S::stages } -> std::convertible_to<int>;
  { S::name() } -> std::convertible_to<std::string>;
  { S::frozen(g, stage) } -> std::convertible_to<bool>;
} && (S::stages == 1 || S::stages == 2);

// A loss term: a weight, a name, and a forward(step, loss_terms&) template
// (checked when the model instantiates it).
template <class L>
concept loss_term = requires {
  { L::weight } -> std::convertible_to<double>;
  { L::name() } -> std::convertible_to<std::string>;
};

}  // namespace dsae::objective
