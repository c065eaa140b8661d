#pragma once
// sequential_vae: the composed model.
//
//   sequential_vae<Backend, GlobalEncoder, LocalEncoder, Decoder,   slots (model/slots.hpp)
//                  PriorZ, PriorV,                                  priors (objective/priors.hpp)
//                  Schedule,                                        stage schedule (objective/schedule.hpp)
//                  Terms...>                                        loss terms (objective/*.hpp)
//
// The paper's variants are aliases in model/variants.hpp.
//
// Components are values: the model holds an instance of each prior, the
// schedule and each term, default-constructed or given to the constructor
// (`ts_dsae<cpu<float>> m(sizes, seed, objective::kl_v<>{.weight = 4})`), or set
// from text (`m(sizes, seed, {"kl_v.weight=4", "kl_v.schedule=linear:10"})`,
// dsae-train --set). variant_name() records every setting; a component that
// declares parameters (declare(params, sizes)) registers them under its own
// group before initialisation.
//
// One step (train_step) runs the sequential VAE's main pass (q(v | x), a sample
// v, q(z | x[, v]), a sample z, the decoder mean xhat) and then every term's
// forward code, in order. Every module call is a call site recorded on a tape
// (objective/tape.hpp); the reverse pass runs the call sites' VJPs in reverse
// order, so the objective is written once, as forward code, and a new term or
// prior is one type with a forward (and, for a new kind of call, its VJP) and no
// edit here. Call sites live in an arena sized on the first step of a shape:
// a step does not allocate once shapes repeat.
//
// requires: batches built with sequence_batch::finalize(); x of width x_dim.
// ensures:  gradients of the trainable parameters are written (not accumulated)
//           into params().grads(); frozen groups get exactly zero; gradients
//           pass through frozen modules to trainable inputs (requires_grad =
//           False semantics, docs/models.md).
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../backend/fused.hpp"
#include "../nn/parameters.hpp"
#include "../objective/calls.hpp"
#include "../objective/concepts.hpp"
#include "../objective/kl.hpp"
#include "../objective/node_ops.hpp"
#include "../objective/priors.hpp"
#include "../objective/reconstruction.hpp"
#include "../objective/schedule.hpp"
#include "../objective/settings.hpp"
#include "../objective/swap.hpp"
#include "../objective/tape.hpp"
#include "../objective/values.hpp"
#include "../prob/permutation.hpp"
#include "batch.hpp"
#include "sizes.hpp"
#include "slots.hpp"

namespace dsae::model {

using objective::given_noise;
using objective::loss_terms;
using objective::noise_stream;
using enum objective::noise_stream;

// The swap terms' permutations (prob/permutation.hpp; the name stays usable here).
using prob::random_permutation;

template <class Backend, template <class> class GlobalEncoder, template <class> class LocalEncoder,
          template <class> class Decoder, class PriorZ, class PriorV, class Schedule, class... Terms>
  requires backend<Backend> && global_encoder_slot<GlobalEncoder<Backend>, Backend> &&
           local_encoder_slot<LocalEncoder<Backend>, Backend> && decoder_slot<Decoder<Backend>, Backend> &&
           objective::prior_on_z<PriorZ> && objective::prior_on_v<PriorV> && objective::stage_schedule<Schedule> && (objective::loss_term<Terms> && ...)
class sequential_vae {
  static_assert(!PriorZ::sequential || transition_slot<typename PriorZ::template module_type<Backend>, Backend>,
                "sequential_vae: the transition of the sequential prior PriorZ does not satisfy transition_slot "
                "(model/slots.hpp)");
  static_assert(!PriorV::uses_snapshot || Schedule::stages == 2,
                "sequential_vae: a snapshot prior on v needs a two-stage schedule (the snapshot is taken at C)");

 public:
  using backend_type = Backend;
  using scalar = typename Backend::scalar;
  using tensor = typename Backend::tensor;
  using batch_type = sequence_batch<Backend>;
  using global_type = GlobalEncoder<Backend>;
  using local_type = LocalEncoder<Backend>;
  using decoder_type = Decoder<Backend>;
  using transition_type = typename PriorZ::template module_type<Backend>;
  using prior_z_type = PriorZ;
  using prior_v_type = PriorV;
  using schedule_type = Schedule;
  using node_type = objective::node<Backend>;
  using gaussian_type = objective::gaussian<Backend>;
  // What the trainer and checkpoints ask of a model's schedule.
  struct policy {
    static constexpr bool two_stage = Schedule::stages == 2;
  };
  static constexpr bool has_swaps = (requires { typename Terms::swap_kind; } || ...);
  // Whether C is one of this model's component types (a prior, the schedule or a term).
  template <class C>
  static constexpr bool is_component =
      std::is_same_v<C, PriorZ> || std::is_same_v<C, PriorV> || std::is_same_v<C, Schedule> ||
      (std::is_same_v<C, Terms> || ...);

  // Registers every parameter under its reference name and initialises them
  // (PyTorch defaults) from `seed`; components default-constructed.
  explicit sequential_vae(const model_sizes& s = {}, std::uint64_t seed = 831) : m_sizes(validated(s)) { build(seed); }
  // The same with some components given as values (each type at most once, any order).
  template <class... C>
    requires(sizeof...(C) > 0 && (is_component<std::remove_cvref_t<C>> && ...))
  sequential_vae(const model_sizes& s, std::uint64_t seed, C&&... components) : m_sizes(validated(s)) {
    (put(std::forward<C>(components)), ...);
    build(seed);
  }
  // The same with settings as text, "component.key=value" each (set()), applied in order
  // before the parameters are built (so settings that shape parameters are allowed).
  sequential_vae(const model_sizes& s, std::uint64_t seed, const std::vector<std::string>& settings)
      : m_sizes(validated(s)) {
    for (const auto& t : settings) apply_setting(objective::setting_assignment::parse(t), true);
    build(seed);
  }

  // Not copyable: modules point into this object's registry.
  sequential_vae(const sequential_vae&) = delete;
  sequential_vae& operator=(const sequential_vae&) = delete;

  const model_sizes& sizes() const { return m_sizes; }
  parameters<Backend>& params() { return m_params; }
  const parameters<Backend>& params() const { return m_params; }
  int stage() const { return m_stage; }

  // The full composition: every slot, prior, schedule, term, weight and setting that differs
  // from its default ("kl_v*4[schedule=linear:0:10]"). Checkpoints store it; loading into
  // another composition (or the same with other settings) fails.
  std::string variant_name() const {
    std::string s = std::string("q_v=") + global_type::name + ",q_z=" + local_type::name +
                    ",decoder=" + decoder_type::name + ",prior_z=" + PriorZ::name + changed_settings(m_prior_z);
    if constexpr (PriorZ::sequential) s += std::string("(") + transition_type::name + ")";
    s += std::string(",prior_v=") + PriorV::name + changed_settings(m_prior_v) + ",schedule=" + m_schedule.name() +
         changed_settings(m_schedule) + ",terms=";
    bool first = true;
    std::apply(
        [&](const auto&... t) {
          ((s += (first ? "" : "+") + objective::weighted_name(t.name, t.weight) + changed_settings(t, "weight"),
            first = false),
           ...);
        },
        m_terms);
    return s;
  }

  // The components, for reading or changing their settings in C++.
  template <class C>
    requires is_component<C>
  C& component() {
    if constexpr (std::is_same_v<C, PriorZ>) return m_prior_z;
    else if constexpr (std::is_same_v<C, PriorV>) return m_prior_v;
    else if constexpr (std::is_same_v<C, Schedule>) return m_schedule;
    else return std::get<C>(m_terms);
  }
  // "component.key=value": component is prior_z, prior_v, schedule or a term's name (kl_v,
  // recon, swap_global, ...). Settings that shape parameters (a mixture's component count)
  // are refused here: give them to the constructor.
  void set(std::string_view text) { apply_setting(objective::setting_assignment::parse(text), false); }

  // Training progress in epochs (fractional), which weight schedules read. The trainer sets
  // it before every step (epoch + batch / batches); 0 until then.
  void set_progress(double epochs) { m_progress = epochs; }
  double progress() const { return m_progress; }

  // Stage 1 / 2 as the schedule says (a one-stage schedule has stage 2 only).
  // The prior on v's on_stage runs on the switch (TS-DSAE takes its snapshot q_C there).
  void set_stage(int stage) {
    if (stage != 1 && stage != 2) detail::fail("sequential_vae: stage must be 1 or 2, got ", stage);
    if (stage == 1 && Schedule::stages == 1) detail::fail(variant_name(), ": has a single stage");
    const int from = m_stage;
    m_stage = stage;
    for (index_t g = 0; g < m_params.group_count(); ++g)
      m_params.freeze(group(g), m_schedule.frozen(m_params.group_name(group(g)), stage));
    m_params.freeze(group::snapshot);
    if constexpr (objective::has_on_stage<PriorV, Backend>) m_prior_v.on_stage(m_params, from, stage);
  }
  // Restores a stage without running the switch (checkpoint resume).
  void restore_stage(int stage) {
    m_stage = 0;
    set_stage(stage);
  }

  bool swaps_active() const { return has_swaps && m_stage == 2; }
  bool snapshot_prior_active() const { return PriorV::uses_snapshot && m_stage == 2; }

  // Forward + backward of the objective on one batch. Gradients of the
  // trainable parameters are written (not accumulated) into params().grads().
  // Noise comes from (seed, step) or, for parity tests, from `given`.
  loss_terms train_step(const batch_type& b, std::uint64_t seed, std::uint32_t step_index,
                        const given_noise<Backend>* given = nullptr) {
    m_params.zero_grad();
    const loss_terms l = forward(b, seed, step_index, given, !m_compute_gradient_free_terms);
    unchecked_inputs off;
    m_tape.backward();
    return l;
  }
  // The same stochastic objective without gradients (validation).
  loss_terms evaluate(const batch_type& b, std::uint64_t seed, std::uint32_t step_index,
                      const given_noise<Backend>* given = nullptr) {
    return forward(b, seed, step_index, given, false);
  }
  // Whether train_step also computes terms that cannot move any parameter
  // (KL_z in stage 1) for the reported values. Off by default: they cost the
  // transition's forward and give exactly zero gradient.
  void compute_gradient_free_terms(bool on) { m_compute_gradient_free_terms = on; }

  // ---- inference helpers (evaluation) -------------------------------------
  // Posterior mean of v, B x V.
  const tensor& posterior_v_mean(const batch_type& b) { return *infer_v(b).mean; }
  // Posterior mean of z, (T*B) x Z; full q conditions on v (B x V) — pass the
  // posterior mean of v for a deterministic encoding.
  const tensor& posterior_z_mean(const batch_type& b, const tensor& v) { return *infer_z(b, v).mean; }
  // Decoder mean for any pairing of z ((T*B) x Z) and v (B x V).
  const tensor& decode(const tensor& z, const tensor& v, const tensor* mask, index_t batch) {
    check_shape("decode", "z", Backend::shape(z), {z.rows(), m_sizes.z_dim});
    check_shape("decode", "v", Backend::shape(v), {batch, m_sizes.v_dim});
    if (z.rows() % batch != 0) detail::fail("decode: z has ", z.rows(), " rows, not a multiple of the batch ", batch);
    return *m_decoder.forward(m_infer_d, {.z = &z, .v = &v, .mask = mask, .batch = batch}).mean;
  }
  // Mean and log-variance of a diagonal Gaussian, copied out of the workspace (so they stay
  // valid across later calls).
  struct gaussian_values {
    tensor mean, logvar;
  };
  // q(v | x): B x V each.
  gaussian_values posterior_v(const batch_type& b) {
    const auto o = infer_v(b);
    return {*o.mean, *o.logvar};
  }
  // q(z | x[, v]): (T*B) x Z each; requires v of shape B x V (full q conditions on it).
  gaussian_values posterior_z(const batch_type& b, const tensor& v) {
    check_shape("posterior_z", "v", Backend::shape(v), {b.batch, m_sizes.v_dim});
    const auto o = infer_z(b, v);
    return {*o.mean, *o.logvar};
  }
  // The prior the objective's KL_z compares q(z) with, for a given z ((T*B) x Z, e.g. a
  // posterior sample): p(z_t | z_<t) of the transition run over z (teacher forcing, as in
  // the objective), or N(0, I) (mean and log-variance 0) for a non-sequential prior.
  gaussian_values prior_z(const batch_type& b, const tensor& z) {
    check_batch(b);
    check_shape("prior_z", "z", Backend::shape(z), {b.frames * b.batch, m_sizes.z_dim});
    unchecked_inputs off;
    gaussian_values g;
    if constexpr (PriorZ::sequential) {
      typename transition_type::state st;
      const auto o = m_transition.forward(st, {.z = &z, .mask = &b.mask, .batch = b.batch});
      g.mean = *o.mean;
      g.logvar = *o.logvar;
    } else {
      Backend::resize(g.mean, z.rows(), z.cols());
      Backend::resize(g.logvar, z.rows(), z.cols());
      Backend::zero(g.mean);
      Backend::zero(g.logvar);
    }
    return g;
  }
  // Posterior samples and reconstruction of the last forward pass.
  const tensor& last_v_sample() const { return *m_main.v->value; }
  const tensor& last_z_sample() const { return *m_main.z->value; }
  const tensor& last_reconstruction() const { return *m_main.xhat->value; }

  // n draws of the prior on v (n x V): its sample() where it has one (a learnable or mixture
  // prior), N(0, I) otherwise (standard_normal; the snapshot posterior needs an x).
  tensor sample_prior_v(index_t n, std::uint64_t seed) {
    if (n <= 0) detail::fail("sample_prior_v: n must be positive, got ", n);
    tensor v;
    Backend::resize(v, n, m_sizes.v_dim);
    if constexpr (objective::samples_prior<PriorV, Backend>)
      m_prior_v.sample(v, m_params, prob::noise_key{seed, 100, 0});
    else
      Backend::normal(v, {seed, 100, 0});
    return v;
  }

  // Unconditional generation (spec, "Generation"): v ~ p(v) (the prior on v's sample(),
  // N(0, I) for a prior without one: standard_normal, and the snapshot posterior, which
  // needs an x), z_1 ~ N(0, I), z_t ~ p(z_t | z_<t) by running the prior one frame at a
  // time (N(0, I) for a non-sequential prior), then decode. Returns (frames*n) x F.
  tensor generate(index_t n, index_t frames, std::uint64_t seed) {
    if (n <= 0 || frames <= 0) detail::fail("generate: n and frames must be positive, got ", n, ", ", frames);
    const index_t zd = m_sizes.z_dim;
    tensor v, z, eps, prefix;
    v = sample_prior_v(n, seed);
    Backend::resize(z, frames * n, zd);
    Backend::zero(z);
    Backend::resize(eps, n, zd);
    for (index_t t = 0; t < frames; ++t) {
      Backend::normal(eps, {seed, 101, std::uint32_t(t)});
      if (t == 0 || !PriorZ::sequential) {
        Backend::copy(Backend::rows(z, t * n, n), eps);
        continue;
      }
      if constexpr (PriorZ::sequential) {
        // The prior of frame t depends on z_<t only: run the transition over frames 0..t
        // (frame t still zero) and take its output for frame t.
        typename transition_type::state st;
        Backend::resize(prefix, (t + 1) * n, zd);
        Backend::copy(prefix, Backend::crows(z, 0, (t + 1) * n));
        const auto o = m_transition.forward(st, {.z = &prefix, .batch = n});
        tensor mu, lv, s;
        Backend::resize(mu, n, zd);
        Backend::resize(lv, n, zd);
        Backend::resize(s, n, zd);
        Backend::copy(mu, Backend::crows(*o.mean, t * n, n));
        Backend::copy(lv, Backend::crows(*o.logvar, t * n, n));
        fused::reparam<Backend>(s, mu, lv, eps);
        Backend::copy(Backend::rows(z, t * n, n), s);
      }
    }
    typename decoder_type::state ds;
    return *m_decoder.forward(ds, {.z = &z, .v = &v, .batch = n}).mean;
  }

  // ---- the step: what priors and loss terms see ----------------------------
  // Created by forward(); valid until the next step. Every call records a call
  // site on the tape; nodes returned by reference live until the next step.
  class step : public objective::node_ops<step, Backend> {
   public:
    using backend_type = Backend;
    using scalar = typename Backend::scalar;
    using tensor = typename Backend::tensor;
    using index_vector = typename Backend::index_vector;
    using node_type = objective::node<Backend>;
    using gaussian_type = objective::gaussian<Backend>;
    struct encoding {
      gaussian_type v_post;
      node_type* v = nullptr;  // the sample of q(v | x)
      gaussian_type z_post;
    };

    const batch_type& batch() const { return *m_batch; }
    const model_sizes& sizes() const { return m_model->m_sizes; }
    // The parameter registry (components read their parameters with parameter(id)).
    parameters<Backend>& params() { return m_model->m_params; }
    // Training progress in epochs (sequential_vae::set_progress).
    double progress() const { return m_model->m_progress; }
    int stage() const { return m_model->m_stage; }
    bool final_stage() const { return m_model->m_stage == 2; }
    bool trainable(group g) const { return m_model->m_params.trainable(g); }
    // Whether the prior on z has a module that trains now.
    bool prior_z_may_train() const {
      if constexpr (PriorZ::sequential) return trainable(group::transition);
      else return false;
    }
    // False in a training step that may skip terms without a gradient.
    bool gradient_free_terms_wanted() const { return !m_skip_gradient_free; }
    const given_noise<Backend>* given() const { return m_given; }
    prob::noise_key key(std::uint32_t stream) const { return {m_seed, stream, m_step}; }

    // The main pass.
    node_type& x() { return m_model->m_x; }
    gaussian_type posterior_v() const { return m_model->m_main.v_post; }
    node_type& v() { return *m_model->m_main.v; }
    gaussian_type posterior_z() const { return m_model->m_main.z_post; }
    node_type& z() { return *m_model->m_main.z; }
    node_type& xhat() { return *m_model->m_main.xhat; }
    // The priors, evaluated once per step on first use.
    gaussian_type prior_z() {
      if (!m_prior_z_done) m_prior_z = m_model->m_prior_z.forward(*this), m_prior_z_done = true;
      return m_prior_z;
    }
    gaussian_type prior_v() {
      if (!m_prior_v_done) m_prior_v = m_model->m_prior_v.forward(*this), m_prior_v_done = true;
      return m_prior_v;
    }
    // weight * scale * sum_b w[b] KL(q(v | x_b) || p(v)) summed over dimensions: in closed
    // form for a Gaussian prior (prior_v()), or by the prior's own estimator (its kl(),
    // e.g. a mixture's, which may use the sample v of the main pass). Returns the value.
    double kl_prior_v(const tensor& row_w, scalar scale, double weight) {
      if constexpr (objective::has_kl_estimator<PriorV, step>)
        return m_model->m_prior_v.kl(*this, posterior_v(), v(), row_w, scale, weight);
      else
        return kl(posterior_v(), prior_v(), row_w, scale, weight);
    }

    // What a swap term computed this step, for later terms: x'_i (decoded from the swapped
    // pair), its re-encoding, the permutation and x'_i's frames. Null when that swap did not
    // run (not in the model, or not the final stage). Index: global_swap::index, local_swap::index.
    struct swap_output {
      node_type* x = nullptr;
      encoding encoded;
      const index_vector* perm = nullptr;
      const tensor *mask = nullptr, *time_w = nullptr;
    };
    const swap_output* swapped(int kind_index) const {
      const auto& o = m_swaps.at(size_t(kind_index));
      return o.x ? &o : nullptr;
    }
    void set_swapped(int kind_index, const swap_output& o) { m_swaps.at(size_t(kind_index)) = o; }

    // Module calls.
    gaussian_type encode_v(node_type& x, const tensor& time_w) {
      auto& c = site<objective::slot_call<Backend, global_type>>();
      c.module = &m_model->m_global;
      c.x = &x;
      const auto o = c.module->forward(c.st, {.x = x.value, .time_w = &time_w, .batch = batch().batch});
      const bool needs = trainable(group::global_encoder) || x.needs_grad;
      c.mu.reset(*o.mean, needs);
      c.logvar.reset(*o.logvar, needs);
      record(c);
      return c.out();
    }
    gaussian_type encode_z(node_type& x, node_type& v, const tensor& mask) {
      auto& c = site<objective::slot_call<Backend, local_type>>();
      c.module = &m_model->m_local;
      c.x = &x;
      c.v = local_type::uses_v ? &v : nullptr;  // no gradient into v from an encoder that ignores it
      const auto o = c.module->forward(c.st, {.x = x.value, .v = v.value, .mask = &mask, .batch = batch().batch});
      const bool needs = trainable(group::local_encoder) || x.needs_grad || (local_type::uses_v && v.needs_grad);
      c.mu.reset(*o.mean, needs);
      c.logvar.reset(*o.logvar, needs);
      record(c);
      return c.out();
    }
    // q(v | x), a sample v, q(z | x[, v]) (no z sample: the swap terms compare posteriors).
    encoding encode(node_type& x, const tensor& mask, const tensor& time_w, std::uint32_t stream,
                    const tensor* given_eps) {
      encoding e;
      e.v_post = encode_v(x, time_w);
      e.v = &sample(e.v_post, stream, given_eps);
      e.z_post = encode_z(x, *e.v, mask);
      return e;
    }
    node_type& decode(node_type& z, node_type& v, const tensor& mask) {
      auto& c = site<objective::slot_call<Backend, decoder_type>>();
      c.module = &m_model->m_decoder;
      c.is_gaussian = false;
      c.z = &z;
      c.v = &v;
      const auto o = c.module->forward(c.st, {.z = z.value, .v = v.value, .mask = &mask, .batch = batch().batch});
      c.mu.reset(*o.mean, trainable(group::decoder) || z.needs_grad || v.needs_grad);
      record(c);
      return c.mu;
    }
    gaussian_type transition(node_type& z, const tensor& mask)
      requires PriorZ::sequential
    {
      auto& c = site<objective::slot_call<Backend, transition_type>>();
      c.module = &m_model->m_transition;
      c.z = &z;
      const auto o = c.module->forward(c.st, {.z = z.value, .mask = &mask, .batch = batch().batch});
      const bool needs = trainable(group::transition) || z.needs_grad;
      c.mu.reset(*o.mean, needs);
      c.logvar.reset(*o.logvar, needs);
      record(c);
      return c.out();
    }
    // q_C(v | x): the frozen snapshot of the global encoder.
    gaussian_type snapshot(node_type& x, const tensor& time_w)
      requires PriorV::uses_snapshot
    {
      auto& c = site<objective::slot_call<Backend, global_type>>();
      c.module = &m_model->m_snapshot;
      c.x = &x;
      const auto o = c.module->forward(c.st, {.x = x.value, .time_w = &time_w, .batch = batch().batch});
      c.mu.reset(*o.mean, x.needs_grad);
      c.logvar.reset(*o.logvar, x.needs_grad);
      record(c);
      return c.out();
    }
    // s = mu + eps exp(0.5 logvar), eps from `stream` of this step or given.
    node_type& sample(gaussian_type q, std::uint32_t stream, const tensor* given_eps) {
      auto& c = site<objective::sample_call<Backend>>();
      c.q = q;
      if (given_eps) c.op.forward_given(c.st, *q.mu->value, *q.logvar->value, *given_eps);
      else c.op.forward(c.st, *q.mu->value, *q.logvar->value, key(stream));
      c.out.reset(c.st.s, q.needs_grad());
      record(c);
      return c.out;
    }
    // out[t*B + i] = in[t*B + perm[i]] (sequences taken by a permutation).
    node_type& gather(node_type& in, const index_vector& perm) {
      auto& c = site<objective::gather_call<Backend>>();
      c.in = &in;
      c.perm = &perm;
      Backend::resize(c.value, in.value->rows(), in.value->cols());
      fused::gather_batch<Backend>(c.value, *in.value, perm);
      c.out.reset(c.value, in.needs_grad);
      record(c);
      return c.out;
    }
    gaussian_type gather(gaussian_type q, const index_vector& perm) { return {&gather(*q.mu, perm), &gather(*q.logvar, perm)}; }
    // The same for a constant (a mask, row weights): no gradient.
    const tensor& gather_rows(const tensor& in, const index_vector& perm) {
      auto& t = site<constant_site>().value;
      Backend::resize(t, in.rows(), in.cols());
      fused::gather_batch<Backend>(t, in, perm);
      return t;
    }
    // A uniform random permutation of the batch from `stream`, or the given one (checked).
    const index_vector& permutation(std::uint32_t stream, const std::vector<index_t>* given_perm) {
      auto& c = site<permutation_site>();
      const index_t n = batch().batch;
      if (given_perm) {
        if (index_t(given_perm->size()) != n)
          detail::fail("train_step: given permutation has ", given_perm->size(), " entries, expected ", n);
        for (index_t i : *given_perm)
          if (i < 0 || i >= n) detail::fail("train_step: given permutation has entry ", i, " outside 0..", n - 1);
        c.host = *given_perm;
      } else {
        c.host = random_permutation(n, key(stream));
      }
      c.perm = Backend::indices(c.host);
      return c.perm;
    }
    // weight * scale * sum_r w[r] sum_j KL(q || p)[r, j] (p standard: N(0, I)); returns the unweighted value.
    double kl(gaussian_type q, gaussian_type p, const tensor& row_w, scalar scale, double weight) {
      auto& c = site<objective::kl_call<Backend>>();
      c.q = q;
      c.p = p;
      c.weight = scalar(weight);
      const double v = c.op.forward(c.st, *q.mu->value, *q.logvar->value, p.mu ? p.mu->value : nullptr,
                                    p.mu ? p.logvar->value : nullptr, row_w, scale);
      record(c);
      return v;
    }
    // weight * scale * sum_r w[r] sum_j (pred - target)^2; returns the unweighted value.
    double squared_error(node_type& pred, const tensor& target, const tensor& row_w, scalar scale, double weight) {
      auto& c = site<objective::squared_error_call<Backend>>();
      c.pred = &pred;
      c.weight = scalar(weight);
      const double v = c.op.forward(c.st, *pred.value, target, row_w, scale);
      record(c);
      return v;
    }

    // For components with their own ops: the next persistent site of type X
    // (default-constructed on the first step), and recording it so that
    // X::backward() runs in the reverse pass.
    template <class X>
    X& site() {
      return m_model->m_arena.template next<X>();
    }
    template <class X>
    void record(X& s) {
      m_model->m_tape.record(s);
    }

   private:
    friend class sequential_vae;
    struct constant_site {
      tensor value;
    };
    struct permutation_site {
      std::vector<index_t> host;
      index_vector perm;
    };
    sequential_vae* m_model = nullptr;
    const batch_type* m_batch = nullptr;
    std::uint64_t m_seed = 0;
    std::uint32_t m_step = 0;
    const given_noise<Backend>* m_given = nullptr;
    bool m_skip_gradient_free = false;
    gaussian_type m_prior_z, m_prior_v;
    bool m_prior_z_done = false, m_prior_v_done = false;
    std::array<swap_output, 2> m_swaps{};
  };

 private:
  static const model_sizes& validated(const model_sizes& s) {
    s.validate();
    return s;
  }
  void check_batch(const batch_type& b) const {
    if (b.batch <= 0 || b.x.rows() == 0) detail::fail(variant_name(), ": empty batch");
    if (b.x.cols() != m_sizes.x_dim || b.x.rows() != b.frames * b.batch || b.mask.rows() != b.x.rows())
      detail::fail(variant_name(), ": batch x has shape ", to_string(Backend::shape(b.x)), ", expected [(", b.frames,
                   "*", b.batch, ") x ", m_sizes.x_dim, "] (did you call sequence_batch::finalize()?)");
    if (!Backend::all_finite(b.x)) detail::fail(variant_name(), ": batch x contains NaN or Inf");
  }

  loss_terms forward(const batch_type& b, std::uint64_t seed, std::uint32_t step_no, const given_noise<Backend>* g,
                     bool skip_gradient_free) {
    check_batch(b);
    unchecked_inputs off;  // the batch was validated once above
    m_arena.rewind();
    m_tape.clear();
    step s;
    s.m_model = this;
    s.m_batch = &b;
    s.m_seed = seed;
    s.m_step = step_no;
    s.m_given = g;
    s.m_skip_gradient_free = skip_gradient_free;
    // Main pass: q(v | x), v, q(z | x[, v]), z, p(x | z, v).
    m_x.reset(b.x, false);
    m_main.v_post = s.encode_v(m_x, b.time_w);
    m_main.v = &s.sample(m_main.v_post, eps_v, g ? &g->eps_v : nullptr);
    m_main.z_post = s.encode_z(m_x, *m_main.v, b.mask);
    m_main.z = &s.sample(m_main.z_post, eps_z, g ? &g->eps_z : nullptr);
    m_main.xhat = &s.decode(*m_main.z, *m_main.v, b.mask);
    // The objective: every term's forward code, in order, with its weight at this point of
    // training (weight * schedule factor).
    loss_terms l;
    std::apply([&](const auto&... t) { (t.forward(s, l, weight_now(t)), ...); }, m_terms);
    return l;
  }
  template <class L>
  double weight_now(const L& t) const {
    if constexpr (objective::has_weight_schedule<L>) return double(t.weight) * t.schedule.factor(m_progress);
    else return double(t.weight);
  }

  // Registers the slots' parameters, then the components' (declare()), initialises all.
  void build(std::uint64_t seed) {
    const auto& s = m_sizes;
    m_global = global_type(m_params, "global_encoder", s, group::global_encoder);
    m_local = local_type(m_params, "local_encoder", s, group::local_encoder);
    if constexpr (PriorZ::sequential) m_transition = transition_type(m_params, "transition", s, group::transition);
    m_decoder = decoder_type(m_params, "decoder", s, group::decoder);
    if constexpr (PriorV::uses_snapshot) m_snapshot = global_type(m_params, "snapshot", s, group::snapshot);
    auto declare = [&]<class C>(C& c) {
      if constexpr (objective::declares_parameters<C, Backend, model_sizes>) c.declare(m_params, s);
    };
    declare(m_prior_z);
    declare(m_prior_v);
    declare(m_schedule);
    std::apply([&](auto&... t) { (declare(t), ...); }, m_terms);
    m_params.finalize(seed);
    set_stage(Schedule::stages == 2 ? 1 : 2);
  }
  template <class C>
  void put(C&& c) {
    component<std::remove_cvref_t<C>>() = std::forward<C>(c);
  }
  // Component names are settings' keys: unique, checked at compile time.
  static consteval bool unique_component_names() {
    const std::array<std::string_view, 3 + sizeof...(Terms)> n{"prior_z", "prior_v", "schedule",
                                                               std::string_view(Terms::name)...};
    for (size_t i = 0; i < n.size(); ++i)
      for (size_t j = i + 1; j < n.size(); ++j)
        if (n[i] == n[j]) return false;
    return true;
  }
  static_assert(unique_component_names(),
                "sequential_vae: two loss terms have the same name (or a term is named prior_z, prior_v or "
                "schedule); names are the keys of settings");
  // Settings that differ from a default-constructed component's, as "[k=v,...]" ("" if none).
  template <class C>
  static std::string changed_settings(const C& c, std::string_view skip = {}) {
    C copy = c, fresh{};
    return objective::setting_text::changed(objective::describe_settings(copy), objective::describe_settings(fresh),
                                            skip);
  }
  void apply_setting(const objective::setting_assignment& a, bool constructing) {
    bool matched = false, found = false;
    auto try_one = [&]<class C>(C& c, std::string_view cname) {
      if (matched || a.component != cname) return;
      matched = true;
      if constexpr (objective::has_shaping_settings<C>)
        if (!constructing && c.shapes_parameters(a.key))
          detail::fail(variant_name(), ": setting '", a.text(),
                       "' shapes parameters; give it when the model is constructed");
      found = objective::set_setting(c, a.key, a.value);
      if (!found)
        detail::fail("setting '", a.text(), "': ", std::string(cname), " has no setting '", a.key,
                     "' (its settings: ", objective::setting_names(c), ")");
    };
    try_one(m_prior_z, "prior_z");
    try_one(m_prior_v, "prior_v");
    try_one(m_schedule, "schedule");
    std::apply([&](auto&... t) { (try_one(t, t.name), ...); }, m_terms);
    if (!matched) {
      std::string names = "prior_z, prior_v, schedule";
      std::apply([&](const auto&... t) { ((names += std::string(", ") + t.name), ...); }, m_terms);
      detail::fail("setting '", a.text(), "': no component '", a.component, "' in this model (components: ", names,
                   ")");
    }
  }

  model_sizes m_sizes;
  PriorZ m_prior_z{};
  PriorV m_prior_v{};
  Schedule m_schedule{};
  std::tuple<Terms...> m_terms{};
  double m_progress = 0;
  parameters<Backend> m_params;
  global_type m_global, m_snapshot;
  local_type m_local;
  transition_type m_transition;
  decoder_type m_decoder;
  int m_stage = 0;
  bool m_compute_gradient_free_terms = false;

  // Workspace of the step: call sites, tape, the main pass's nodes.
  objective::arena m_arena;
  objective::tape m_tape;
  node_type m_x;
  struct {
    gaussian_type v_post, z_post;
    node_type *v = nullptr, *z = nullptr, *xhat = nullptr;
  } m_main;
  // Inference (no tape): q(v | x) and q(z | x[, v]) of a batch.
  slot_outputs<Backend> infer_v(const batch_type& b) {
    check_batch(b);
    unchecked_inputs off;
    return m_global.forward(m_infer_g, {.x = &b.x, .time_w = &b.time_w, .batch = b.batch});
  }
  slot_outputs<Backend> infer_z(const batch_type& b, const tensor& v) {
    check_batch(b);
    unchecked_inputs off;
    return m_local.forward(m_infer_l, {.x = &b.x, .v = &v, .mask = &b.mask, .batch = b.batch});
  }
  typename global_type::state m_infer_g;
  typename local_type::state m_infer_l;
  typename decoder_type::state m_infer_d;
};

}  // namespace dsae::model
