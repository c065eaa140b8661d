#pragma once
// The loss-term contract.
//
// A loss term is a value (the model holds one per term) of a type L with
//   L::name                    const char*: names it in the composition, in
//                              settings ("kl_v.weight=4") and, for custom terms,
//                              in the logs (1-64 of [A-Za-z0-9_.-])
//   weight                     double member: its factor in the minimised total
//   l.forward(step, out, w)    const: computes its value from the step's nodes
//                              through the step's recorded calls (kl,
//                              squared_error, decode, encode, gather, the node
//                              operations of objective/node_ops.hpp, or a custom
//                              call site), passing w to every scalar call
//                              (minimise(node, w), kl(..., w)), writes its
//                              unweighted value(s) into `out` (out.report(name,
//                              value, w) for a term the library does not know)
//                              and adds w * value to out.loss
// and optionally
//   schedule                   weight_schedule member: w = weight * factor(progress)
//   settings(f)                f("key", member) for each runtime setting
//                              (objective/settings.hpp); weight and schedule are
//                              usual ones
//   declare(params, sizes)     registers parameters under its own group
//                              (params.group_of(name)), before initialisation
// requires: forward() uses only the step's API (model/sequential_vae.hpp,
//           sequential_vae::step); every tensor it hands to a call outlives the step.
// ensures:  the tape's reverse pass yields w * d(value)/d(parameters).
#include <cstdio>
#include <string>
#include "settings.hpp"
#include "values.hpp"

namespace dsae::objective {

// "name*weight" for the composition string (weights with %g: 1, 0.5, 4).
inline std::string weighted_name(const std::string& name, double weight) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "*%g", weight);
  return name + buf;
}

// The usual settings of a term: its weight and its weight schedule.
#define DSAE_TERM_SETTINGS                   \
  template <class F>                         \
  void settings(F&& f) {                     \
    f("weight", weight);                     \
    f("schedule", schedule);                 \
  }

}  // namespace dsae::objective
