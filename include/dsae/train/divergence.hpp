#pragma once
// Divergence guard of the trainer (after Lightning's EarlyStopping(check_finite=True)):
// a non-finite training loss or gradient at any step, or a non-finite epoch mean (train or
// validation), stops training with divergence_error. The trainer checks a step before the
// optimiser applies it, and an epoch before it writes its metrics line, best weights or
// checkpoint, so the files on disk are those of the last good epoch and metrics.jsonl
// never holds inf/nan.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include "../model/sequential_vae.hpp"

namespace dsae::train {

struct divergence_error : std::runtime_error {
  index_t epoch;
  std::uint64_t step;
  divergence_error(const std::string& what, index_t e, std::uint64_t s) : std::runtime_error(what), epoch(e), step(s) {}
};

namespace detail_div {
inline std::string num(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}
// The first non-finite term of l, or empty.
inline std::string non_finite_term(const model::loss_terms& l) {
  if (!std::isfinite(l.loss)) return "loss " + num(l.loss);
  if (!std::isfinite(l.recon)) return "reconstruction " + num(l.recon);
  if (!std::isfinite(l.kl_z)) return "KL_z " + num(l.kl_z);
  if (!std::isfinite(l.kl_v)) return "KL_v " + num(l.kl_v);
  for (int k = 0; k < 4; ++k)
    if (!std::isfinite(l.swap[std::size_t(k)])) return "swap term " + std::to_string(k) + " " + num(l.swap[std::size_t(k)]);
  for (const auto& t : l.named)  // custom terms, by name
    if (!std::isfinite(t.value)) return "term '" + t.name + "' " + num(t.value);
  return {};
}
}  // namespace detail_div

// Message tail shared by every divergence error: what is kept on disk and what to try.
inline std::string divergence_advice(const std::string& checkpoint, index_t last_good_epochs) {
  std::string s = "; training stopped";
  if (!checkpoint.empty() && last_good_epochs > 0)
    s += ", the last good checkpoint (" + std::to_string(last_good_epochs) + " epoch(s)) is kept in " + checkpoint;
  else if (!checkpoint.empty())
    s += " before the first checkpoint";
  return s + " (try a lower learning rate, e.g. --lr)";
}

// requires: l = one step's terms, grads = the gradient it produced (host copy).
template <class Vec>
void check_step_finite(const model::loss_terms& l, const Vec& grads, index_t epoch, std::uint64_t step,
                       const std::string& advice) {
  std::string bad = detail_div::non_finite_term(l);
  if (bad.empty())
    for (std::size_t i = 0; i < grads.size(); ++i)
      if (!std::isfinite(double(grads[i]))) {
        bad = "gradient entry " + std::to_string(i) + " " + detail_div::num(double(grads[i]));
        break;
      }
  if (!bad.empty())
    throw divergence_error("training diverged in epoch " + std::to_string(epoch + 1) + " at step " +
                               std::to_string(step) + ": non-finite training " + bad + advice,
                           epoch, step);
}

inline void check_epoch_finite(const model::loss_terms& tr, const model::loss_terms& va, index_t epoch,
                               std::uint64_t step, const std::string& advice) {
  for (auto [name, l] : {std::pair{"training", &tr}, std::pair{"validation", &va}}) {
    const std::string bad = detail_div::non_finite_term(*l);
    if (!bad.empty())
      throw divergence_error("training diverged in epoch " + std::to_string(epoch + 1) + ": non-finite " + name +
                                 " " + bad + advice,
                             epoch, step);
  }
}

}  // namespace dsae::train
