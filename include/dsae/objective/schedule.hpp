#pragma once
// Stage schedules (spec, "Two-stage training").
//
// A schedule S is a value (the model holds one) of a type with
//   S::stages                      1 or 2
//   s.name()                       std::string
//   s.frozen(group_name, stage)    whether the parameter group of that name is frozen
//                                  in that stage (groups of components included:
//                                  "prior_v", ...; parameters::group_name)
// Stages are numbered 1..2; a one-stage schedule runs in stage 2 only (the
// final stage: swap terms and the snapshot prior are final-stage components).
// The snapshot group is frozen in every stage, whatever the schedule says.
#include <string>
#include <string_view>
#include "../nn/parameters.hpp"

namespace dsae::objective {

// DSAE: everything trains from the start.
struct one_stage {
  static constexpr int stages = 1;
  static std::string name() { return "one_stage"; }
  static constexpr bool frozen(std::string_view, int) { return false; }
};

// Stage 1 (epochs 0..C-1): the local encoder and the transition are frozen at
// their initial values. Stage 2 (from epoch C): the groups listed are frozen
// (DSAE-f: two_stage<group::global_encoder>), everything else trains. Groups
// of components (a learnable prior's) train in both stages.
template <group... FrozenAfterC>
struct two_stage {
  static constexpr int stages = 2;
  static std::string name() {
    std::string s = "two_stage(freeze at C:";
    if constexpr (sizeof...(FrozenAfterC) == 0) s += " none";
    ((s += std::string(" ") + group_name(FrozenAfterC)), ...);
    return s + ")";
  }
  static constexpr bool frozen(std::string_view g, int stage) {
    if (stage == 1) return g == group_name(group::local_encoder) || g == group_name(group::transition);
    return ((g == group_name(FrozenAfterC)) || ... || false);
  }
};

}  // namespace dsae::objective
