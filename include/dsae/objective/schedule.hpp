#pragma once
// Stage schedules (spec, "Two-stage training").
//
// A schedule S is a type with
//   S::stages                 1 or 2
//   S::name()                 std::string
//   S::frozen(group, stage)   whether a parameter group is frozen in that stage
// Stages are numbered 1..2; a one-stage schedule runs in stage 2 only (the
// final stage: swap terms and the snapshot prior are final-stage components).
// The snapshot group is frozen in every stage, whatever the schedule says.
#include <string>
#include "../nn/parameters.hpp"

namespace dsae::objective {

// DSAE: everything trains from the start.
struct one_stage {
  static constexpr int stages = 1;
  static std::string name() { return "one_stage"; }
  static constexpr bool frozen(group, int) { return false; }
};

// Stage 1 (epochs 0..C-1): the local encoder and the transition are frozen at
// their initial values. Stage 2 (from epoch C): the groups listed are frozen
// (DSAE-f: two_stage<group::global_encoder>), everything else trains.
template <group... FrozenAfterC>
struct two_stage {
  static constexpr int stages = 2;
  static std::string name() {
    std::string s = "two_stage(freeze at C:";
    if constexpr (sizeof...(FrozenAfterC) == 0) s += " none";
    ((s += std::string(" ") + group_name(FrozenAfterC)), ...);
    return s + ")";
  }
  static constexpr bool frozen(group g, int stage) {
    if (stage == 1) return g == group::local_encoder || g == group::transition;
    return ((g == FrozenAfterC) || ... || false);
  }
};

}  // namespace dsae::objective
