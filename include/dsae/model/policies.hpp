#pragma once
// Training policies: prior on v, stage schedule and regularisers (spec,
// "Two-stage training" and "The four swap terms").
#include <concepts>

namespace dsae::model {

namespace policy {
// DSAE: one stage, N(0, I) prior on v, everything trains from the start.
struct dsae {
  static constexpr const char* name = "dsae";
  static constexpr bool two_stage = false, freeze_global_in_stage2 = false, snapshot_prior = false, swaps = false;
};
// DSAE-f: stage 1 trains global encoder + decoder; at epoch C the local side
// unfreezes and the global encoder freezes. Prior N(0, I), no swaps.
struct dsae_f {
  static constexpr const char* name = "dsae-f";
  static constexpr bool two_stage = true, freeze_global_in_stage2 = true, snapshot_prior = false, swaps = false;
};
// TS-DSAE w/o regs: two stages; stage 2 uses the snapshot q_C(v | x) as prior.
struct ts_dsae_noreg {
  static constexpr const char* name = "ts-dsae-noreg";
  static constexpr bool two_stage = true, freeze_global_in_stage2 = false, snapshot_prior = true, swaps = false;
};
// TS-DSAE: as w/o regs plus the four swap terms in stage 2.
struct ts_dsae {
  static constexpr const char* name = "ts-dsae";
  static constexpr bool two_stage = true, freeze_global_in_stage2 = false, snapshot_prior = true, swaps = true;
};
}  // namespace policy

template <class P>
concept training_policy = requires {
  { P::name } -> std::convertible_to<const char*>;
  { P::two_stage } -> std::convertible_to<bool>;
  { P::freeze_global_in_stage2 } -> std::convertible_to<bool>;
  { P::snapshot_prior } -> std::convertible_to<bool>;
  { P::swaps } -> std::convertible_to<bool>;
};

}  // namespace dsae::model
