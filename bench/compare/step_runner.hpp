#pragma once
// Times full float32 training steps (model.train_step + Adam step) of one
// model variant on a random, all-full-length batch. Shared by the per-method
// translation units of dsae_step_bench (split so they compile in parallel).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <dsae/dsae.hpp>

namespace dsae::bench {

using B32 = cpu<float>;

struct step_options {
  std::string method = "ts-dsae", q = "factorised", decoder = "factorised";
  int stage = 2;
  index_t z = 16, v = 16, batch = 128, T = 251, F = 80;
  int steps = 10, warmup = 2;
  std::uint64_t seed = 0;
};

struct step_result {
  std::vector<double> times_ms;
  double final_loss = 0;
  index_t trainable_params = 0;
  double gflop_per_step = 0;  // products' arithmetic of one step (DSAE_COUNT_FLOPS)
};

// requires: o.stage == 1 only for two-stage methods; positive sizes.
// ensures: o.steps timed steps after o.warmup untimed ones; each step is
// train_step (zero_grad + forward + backward) and one Adam update (lr 1e-3).
template <class Model>
step_result run_steps(const step_options& o) {
  model::model_sizes s;
  s.x_dim = o.F;
  s.v_dim = o.v;
  s.z_dim = o.z;
  Model m(s, 831 + o.seed);
  if (o.stage == 1 && !Model::policy::two_stage)
    throw std::invalid_argument("dsae_step_bench: method " + o.method + " has a single stage (use --stage 2)");
  if (o.stage == 2 && Model::policy::two_stage) m.set_stage(2);
  train::adam<B32> opt(m.params());

  model::sequence_batch<B32> b;
  b.frames = o.T;
  b.lengths.assign(size_t(o.batch), o.T);
  B32::resize(b.x, o.T * o.batch, o.F);
  B32::normal(b.x, {o.seed, 1000, 0});
  b.finalize();

  step_result r;
  r.trainable_params = m.params().trainable_size();
#if defined(DSAE_COUNT_FLOPS)
  detail::kernels::flop_counting(true);  // the library's counter is off unless asked
#endif
  for (int i = 0; i < o.warmup + o.steps; ++i) {
#if defined(DSAE_COUNT_FLOPS)
    const std::int64_t f0 = detail::kernels::flop_count();
#endif
    const auto t0 = std::chrono::steady_clock::now();
    const auto l = m.train_step(b, o.seed, std::uint32_t(i));
    opt.step();
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= o.warmup) r.times_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
#if defined(DSAE_COUNT_FLOPS)
    r.gflop_per_step = 1e-9 * double(detail::kernels::flop_count() - f0);
#endif
    r.final_loss = l.loss;
  }
  return r;
}

// Dispatch over q x decoder for one training policy (all four combinations).
template <class Policy>
step_result run_variant(const step_options& o) {
  using model::factorised_decoder, model::factorised_local_encoder, model::full_local_encoder, model::richer_decoder;
  const bool full = o.q == "full", rich = o.decoder == "richer";
  if ((!full && o.q != "factorised") || (!rich && o.decoder != "factorised"))
    throw std::invalid_argument("dsae_step_bench: unknown --q " + o.q + " or --decoder " + o.decoder);
  if (!full && !rich) return run_steps<model::variant<B32, factorised_local_encoder, factorised_decoder, Policy>>(o);
  if (full && !rich) return run_steps<model::variant<B32, full_local_encoder, factorised_decoder, Policy>>(o);
  if (!full && rich) return run_steps<model::variant<B32, factorised_local_encoder, richer_decoder, Policy>>(o);
  return run_steps<model::variant<B32, full_local_encoder, richer_decoder, Policy>>(o);
}

step_result run_dsae(const step_options& o);
step_result run_dsae_f(const step_options& o);
step_result run_ts_dsae_noreg(const step_options& o);
step_result run_ts_dsae(const step_options& o);

}  // namespace dsae::bench
