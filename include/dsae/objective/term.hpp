#pragma once
// The loss-term contract.
//
// A loss term L is a type with
//   L::weight                 double, its factor in the minimised total
//   L::name()                 std::string, names it in the composition
//   L::forward(step, out)     computes its value from the step's nodes through
//                             the step's recorded calls (kl, squared_error,
//                             decode, encode, gather, or a custom call site),
//                             passing `weight` to every scalar call, writes its
//                             unweighted value(s) into `out` and adds
//                             weight * value to out.loss.
// requires: forward() uses only the step's API (model/sequential_vae.hpp,
//           sequential_vae::step); every tensor it hands to a call outlives the step.
// ensures:  the tape's reverse pass yields weight * d(value)/d(parameters).
#include <cstdio>
#include <string>
#include "values.hpp"

namespace dsae::objective {

// "name*weight" for the composition string (weights with %g: 1, 0.5, 4).
inline std::string weighted_name(const std::string& name, double weight) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "*%g", weight);
  return name + buf;
}

}  // namespace dsae::objective
