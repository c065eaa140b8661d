#pragma once
// sequential_vae: the composed model, a class template with named slots
//
//   sequential_vae<Backend, GlobalEncoder, LocalEncoder, Transition, Decoder, Policy>
//
// and a training policy (prior on v, stage schedule, swap regularisers). The
// paper's variants are aliases in model/variants.hpp.
//
// train_step() runs the objective forward over module calls and then the
// module VJPs in reverse order (a tape at module granularity, written out):
// gradients land in params().grads(). Every tensor of the step lives in this
// object's workspace, sized once per batch shape, so a step does not allocate
// once shapes repeat.
//
// requires: batches built with sequence_batch::finalize(); x of width x_dim.
// ensures:  the loss terms follow the spec's reductions exactly (spec, "Objective").
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "../nn/mse.hpp"
#include "../nn/parameters.hpp"
#include "../prob/gaussian.hpp"
#include "batch.hpp"
#include "policies.hpp"
#include "sizes.hpp"
#include "slots.hpp"

namespace dsae::model {

// The value of each term of the objective for one batch.
struct loss_terms {
  double loss = 0, recon = 0, kl_z = 0, kl_v = 0;
  std::array<double, 4> swap{};  // terms 1..4 (TS-DSAE stage 2)
};

// Noise streams of one step (the counter-based generator's `stream` field).
enum noise_stream : std::uint32_t { eps_v = 0, eps_z, eps_v_g, eps_z_g, eps_v_l, eps_z_l, perm_g, perm_l };

// Noise supplied from outside (parity with a reference implementation).
template <class B>
struct given_noise {
  typename B::tensor eps_v, eps_z, eps_v_g, eps_z_g, eps_v_l, eps_z_l;
  std::vector<index_t> perm_g, perm_l;
};

// A uniform random permutation of 0..n-1 (Fisher-Yates on counter-based uniforms).
inline std::vector<index_t> random_permutation(index_t n, prob::noise_key key) {
  std::vector<index_t> p(static_cast<size_t>(n));
  for (index_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (index_t i = n - 1; i > 0; --i) {
    const auto j = index_t(prob::philox_uniform(key, std::uint64_t(i)) * double(i + 1));
    std::swap(p[size_t(i)], p[size_t(std::min(j, i))]);
  }
  return p;
}

template <class B, template <class> class Global, template <class> class Local, template <class> class Transition,
          template <class> class Decoder, class Policy>
  requires backend<B> && global_encoder_slot<Global<B>, B> && local_encoder_slot<Local<B>, B> &&
           transition_slot<Transition<B>, B> && decoder_slot<Decoder<B>, B> && training_policy<Policy>
class sequential_vae {
 public:
  using backend_type = B;
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  using policy = Policy;
  using batch_type = sequence_batch<B>;
  using local_type = Local<B>;
  using decoder_type = Decoder<B>;

  // Registers every parameter under its reference name and initialises them
  // (PyTorch defaults) from `seed`.
  explicit sequential_vae(const model_sizes& s = {}, std::uint64_t seed = 831) : m_sizes(validated(s)) {
    m_global = Global<B>(m_params, "global_encoder", s, group::global_encoder);
    m_local = Local<B>(m_params, "local_encoder", s, group::local_encoder);
    m_transition = Transition<B>(m_params, "transition", s, group::transition);
    m_decoder = Decoder<B>(m_params, "decoder", s, group::decoder);
    if constexpr (Policy::snapshot_prior) m_snapshot = Global<B>(m_params, "snapshot", s, group::snapshot);
    m_params.finalize(seed);
    m_params.freeze(group::snapshot);
    set_stage(Policy::two_stage ? 1 : 2);
  }

  // Not copyable: modules point into this object's registry.
  sequential_vae(const sequential_vae&) = delete;
  sequential_vae& operator=(const sequential_vae&) = delete;

  const model_sizes& sizes() const { return m_sizes; }
  parameters<B>& params() { return m_params; }
  const parameters<B>& params() const { return m_params; }
  int stage() const { return m_stage; }
  static std::string variant_name() {
    return std::string(Policy::name) + "/" + Local<B>::name + "/" + Decoder<B>::name;
  }

  // Stage 1 (two-stage methods): local encoder and transition frozen.
  // Stage 2: everything trains, except DSAE-f's global encoder; TS-DSAE takes
  // the snapshot q_C here, before the first stage-2 update.
  void set_stage(int stage) {
    if (stage != 1 && stage != 2) detail::fail("sequential_vae: stage must be 1 or 2, got ", stage);
    if (stage == 1 && !Policy::two_stage) detail::fail(variant_name(), ": has a single stage");
    const bool switching = stage == 2 && m_stage == 1;
    m_stage = stage;
    m_params.freeze(group::local_encoder, stage == 1);
    m_params.freeze(group::transition, stage == 1);
    m_params.freeze(group::global_encoder, stage == 2 && Policy::freeze_global_in_stage2);
    if constexpr (Policy::snapshot_prior)
      if (switching) m_params.copy_group(group::global_encoder, group::snapshot);
  }
  // Restores a stage without re-taking the snapshot (checkpoint resume).
  void restore_stage(int stage) {
    m_stage = 0;
    set_stage(stage);
  }

  bool swaps_active() const { return Policy::swaps && m_stage == 2; }
  bool snapshot_prior_active() const { return Policy::snapshot_prior && m_stage == 2; }

  // Forward + backward of the objective on one batch. Gradients of the
  // trainable parameters are written (not accumulated) into params().grads().
  // Noise comes from (seed, step) or, for parity tests, from `given`.
  loss_terms train_step(const batch_type& b, std::uint64_t seed, std::uint32_t step,
                        const given_noise<B>* given = nullptr) {
    m_params.zero_grad();
    const loss_terms l = forward(b, seed, step, given);
    backward(b);
    return l;
  }
  // The same stochastic objective without gradients (validation).
  loss_terms evaluate(const batch_type& b, std::uint64_t seed, std::uint32_t step, const given_noise<B>* given = nullptr) {
    return forward(b, seed, step, given);
  }

  // ---- inference helpers (evaluation) -------------------------------------
  // Posterior mean of v, B x V.
  const tensor& posterior_v_mean(const batch_type& b) {
    check_batch(b);
    unchecked_inputs off;
    m_global.forward(m_sG, b.x, b.time_w, b.batch);
    return m_sG.head.mu;
  }
  // Posterior mean of z, (T*B) x Z; full q conditions on v (B x V) — pass the
  // posterior mean of v for a deterministic encoding.
  const tensor& posterior_z_mean(const batch_type& b, const tensor& v) {
    check_batch(b);
    unchecked_inputs off;
    m_local.forward(m_sL, b.x, v, &b.mask, b.batch);
    return m_sL.head.mu;
  }
  // Decoder mean for any pairing of z ((T*B) x Z) and v (B x V).
  const tensor& decode(const tensor& z, const tensor& v, const tensor* mask, index_t batch) {
    check_shape("decode", "z", B::shape(z), {z.rows(), m_sizes.z_dim});
    check_shape("decode", "v", B::shape(v), {batch, m_sizes.v_dim});
    if (z.rows() % batch != 0) detail::fail("decode: z has ", z.rows(), " rows, not a multiple of the batch ", batch);
    return m_decoder.forward(m_sD, z, v, mask, batch);
  }
  // Posterior samples of the last forward pass.
  const tensor& last_v_sample() const { return m_rv.s; }
  const tensor& last_z_sample() const { return m_rz.s; }
  const tensor& last_reconstruction() const { return m_sD.out.y; }

  // Unconditional generation (spec, "Generation"): v ~ N(0, I), z_1 ~ N(0, I),
  // z_t ~ p(z_t | z_<t) by running the prior one frame at a time, then decode.
  // Returns (frames*n) x F.
  tensor generate(index_t n, index_t frames, std::uint64_t seed) {
    if (n <= 0 || frames <= 0) detail::fail("generate: n and frames must be positive, got ", n, ", ", frames);
    const index_t Z = m_sizes.z_dim, V = m_sizes.v_dim;
    tensor v, z, eps, prefix;
    B::resize(v, n, V);
    B::normal(v, {seed, 100, 0});
    B::resize(z, frames * n, Z);
    B::zero(z);
    B::resize(eps, n, Z);
    typename Transition<B>::state st;
    for (index_t t = 0; t < frames; ++t) {
      B::normal(eps, {seed, 101, std::uint32_t(t)});
      if (t == 0) {
        B::copy(B::rows(z, 0, n), eps);
        continue;
      }
      // The prior of frame t depends on z_<t only: run the LSTM over the prefix.
      B::resize(prefix, t * n, Z);
      B::copy(prefix, B::crows(z, 0, t * n));
      m_transition.forward(st, prefix, nullptr, n);
      tensor mu, lv, s;
      B::resize(mu, n, Z);
      B::resize(lv, n, Z);
      B::resize(s, n, Z);
      B::copy(mu, B::crows(st.head.mu, (t - 1) * n, n));
      B::copy(lv, B::crows(st.head.logvar, (t - 1) * n, n));
      B::reparam(s, mu, lv, eps);
      B::copy(B::rows(z, t * n, n), s);
    }
    typename Decoder<B>::state ds;
    return m_decoder.forward(ds, z, v, nullptr, n);
  }

 private:
  static const model_sizes& validated(const model_sizes& s) {
    s.validate();
    return s;
  }
  void check_batch(const batch_type& b) const {
    if (b.batch <= 0 || b.x.rows() == 0) detail::fail(variant_name(), ": empty batch");
    if (b.x.cols() != m_sizes.x_dim || b.x.rows() != b.frames * b.batch || b.mask.rows() != b.x.rows())
      detail::fail(variant_name(), ": batch x has shape ", to_string(B::shape(b.x)), ", expected [(", b.frames, "*",
                   b.batch, ") x ", m_sizes.x_dim, "] (did you call sequence_batch::finalize()?)");
    if (!B::all_finite(b.x)) detail::fail(variant_name(), ": batch x contains NaN or Inf");
  }

  void sample(prob::reparameterise<B>& r, typename prob::reparameterise<B>::state& st, const tensor& mu,
              const tensor& lv, std::uint64_t seed, std::uint32_t stream, std::uint32_t step, const tensor* given) {
    if (given) r.forward_given(st, mu, lv, *given);
    else r.forward(st, mu, lv, {seed, stream, step});
  }

  loss_terms forward(const batch_type& b, std::uint64_t seed, std::uint32_t step, const given_noise<B>* g) {
    check_batch(b);
    unchecked_inputs off;  // the batch was validated once above
    const index_t Bn = b.batch, V = m_sizes.v_dim, Z = m_sizes.z_dim, F = m_sizes.x_dim;
    const T inv_v = T(1) / T(Bn * V), inv_z = T(1) / T(Bn * Z);
    loss_terms l;

    // Main pass: q(v | x), q(z | x[, v]), p(z_t | z_<t), p(x | z, v).
    m_global.forward(m_sG, b.x, b.time_w, Bn);
    sample(m_rvp, m_rv, m_sG.head.mu, m_sG.head.logvar, seed, eps_v, step, g ? &g->eps_v : nullptr);
    m_local.forward(m_sL, b.x, m_rv.s, &b.mask, Bn);
    sample(m_rzp, m_rz, m_sL.head.mu, m_sL.head.logvar, seed, eps_z, step, g ? &g->eps_z : nullptr);
    m_transition.forward(m_sP, m_rz.s, &b.mask, Bn);
    const tensor& xhat = m_decoder.forward(m_sD, m_rz.s, m_rv.s, &b.mask, Bn);

    // Per-sequence mean over its own valid frames, then over sequences and bins (spec, "Objective").
    l.recon = m_mse.forward(m_mse_st, xhat, b.x, b.time_w, T(1) / T(Bn * F));
    l.kl_z = m_kl.forward(m_kz, m_sL.head.mu, m_sL.head.logvar, &m_sP.mu, &m_sP.logvar, b.time_w, inv_z);
    if (snapshot_prior_active()) {
      m_snapshot.forward(m_sS, b.x, b.time_w, Bn);
      l.kl_v = m_kl.forward(m_kv, m_sG.head.mu, m_sG.head.logvar, &m_sS.head.mu, &m_sS.head.logvar, b.ones, inv_v);
    } else {
      l.kl_v = m_kl.forward(m_kv, m_sG.head.mu, m_sG.head.logvar, nullptr, nullptr, b.ones, inv_v);
    }
    l.loss = l.recon + l.kl_z + l.kl_v;

    if (swaps_active()) {
      if (g) {
        m_pi = g->perm_g;
        m_rho = g->perm_l;
        check_perm(m_pi, Bn, "perm_g");
        check_perm(m_rho, Bn, "perm_l");
      } else {
        m_pi = random_permutation(Bn, {seed, perm_g, step});
        m_rho = random_permutation(Bn, {seed, perm_l, step});
      }
      m_pi_b = B::indices(m_pi);
      m_rho_b = B::indices(m_rho);
      // Global swap: xg_i = decode(z_i, v_pi(i)); re-encode.
      gather(m_vp, m_rv.s, m_pi_b);
      const tensor& xg = m_decoder.forward(m_sDg, m_rz.s, m_vp, &b.mask, Bn);
      m_global.forward(m_sGg, xg, b.time_w, Bn);
      sample(m_rvp, m_rvg, m_sGg.head.mu, m_sGg.head.logvar, seed, eps_v_g, step, g ? &g->eps_v_g : nullptr);
      m_local.forward(m_sLg, xg, m_rvg.s, &b.mask, Bn);
      gather(m_muv_p, m_sG.head.mu, m_pi_b);
      gather(m_lvv_p, m_sG.head.logvar, m_pi_b);
      l.swap[0] = m_kl.forward(m_k1, m_sGg.head.mu, m_sGg.head.logvar, &m_muv_p, &m_lvv_p, b.ones, inv_v);
      l.swap[1] = m_kl.forward(m_k2, m_sLg.head.mu, m_sLg.head.logvar, &m_sL.head.mu, &m_sL.head.logvar, b.time_w, inv_z);
      // Local swap: xl_i = decode(z_rho(i), v_i), whose frames follow rho(i).
      gather(m_mask_r, b.mask, m_rho_b);
      gather(m_timew_r, b.time_w, m_rho_b);
      gather(m_zr, m_rz.s, m_rho_b);
      const tensor& xl = m_decoder.forward(m_sDl, m_zr, m_rv.s, &m_mask_r, Bn);
      m_global.forward(m_sGl, xl, m_timew_r, Bn);
      sample(m_rvp, m_rvl, m_sGl.head.mu, m_sGl.head.logvar, seed, eps_v_l, step, g ? &g->eps_v_l : nullptr);
      m_local.forward(m_sLl, xl, m_rvl.s, &m_mask_r, Bn);
      gather(m_muz_r, m_sL.head.mu, m_rho_b);
      gather(m_lvz_r, m_sL.head.logvar, m_rho_b);
      l.swap[2] = m_kl.forward(m_k3, m_sGl.head.mu, m_sGl.head.logvar, &m_sG.head.mu, &m_sG.head.logvar, b.ones, inv_v);
      l.swap[3] = m_kl.forward(m_k4, m_sLl.head.mu, m_sLl.head.logvar, &m_muz_r, &m_lvz_r, m_timew_r, inv_z);
      l.loss += l.swap[0] + l.swap[1] + l.swap[2] + l.swap[3];
    }
    return l;
  }

  void backward(const batch_type& b) {
    unchecked_inputs off;
    // Which gradients are needed: through frozen modules only where a
    // trainable module lies upstream. Frozen means requires_grad = False, as
    // in the authors' code: with factorised q nothing trainable feeds the
    // local encoder, so stage-1 KL_z gives no gradient (spec); with full q
    // (which reads v) gradients pass through the frozen encoder into v.
    // docs/models.md discusses the choice.
    const bool need_v = m_params.trainable(group::global_encoder);
    const bool need_zstats = m_params.trainable(group::local_encoder) || (Local<B>::uses_v && need_v);
    const bool train_prior = m_params.trainable(group::transition);

    zeros_like(m_dmuv, m_sG.head.mu);
    zeros_like(m_dlvv, m_sG.head.mu);
    zeros_like(m_dv, m_sG.head.mu);
    zeros_like(m_dmuz, m_sL.head.mu);
    zeros_like(m_dlvz, m_sL.head.mu);
    zeros_like(m_dz, m_sL.head.mu);
    tensor* dv = need_v ? &m_dv : nullptr;
    tensor* dz = need_zstats ? &m_dz : nullptr;

    if (swaps_active()) {
      // Local-swap branch: terms 3 and 4 -> re-encoders -> decoder(z_rho, v).
      zeros_like(m_d_a_mu, m_sGl.head.mu);
      zeros_like(m_d_a_lv, m_sGl.head.mu);
      zeros_like(m_d_b_mu, m_sLl.head.mu);
      zeros_like(m_d_b_lv, m_sLl.head.mu);
      zeros_like(m_dmuz_r, m_sL.head.mu);
      zeros_like(m_dlvz_r, m_sL.head.mu);
      m_kl.backward(m_k3, 1, &m_d_a_mu, &m_d_a_lv, dv ? &m_dmuv : nullptr, dv ? &m_dlvv : nullptr);
      m_kl.backward(m_k4, 1, &m_d_b_mu, &m_d_b_lv, &m_dmuz_r, &m_dlvz_r);
      reencode_backward(m_sLl, m_sGl, m_rvl, m_d_a_mu, m_d_a_lv, m_d_b_mu, m_d_b_lv, m_dx_swap);
      zeros_like(m_dzr, m_zr);
      m_decoder.backward(m_sDl, m_dx_swap, dz ? &m_dzr : nullptr, dv);
      if (dz) {
        B::gather_batch_backward(m_dz, m_dzr, m_rho_b);
        B::gather_batch_backward(m_dmuz, m_dmuz_r, m_rho_b);
        B::gather_batch_backward(m_dlvz, m_dlvz_r, m_rho_b);
      }
      // Global-swap branch: terms 1 and 2 -> re-encoders -> decoder(z, v_pi).
      zeros_like(m_d_a_mu, m_sGg.head.mu);
      zeros_like(m_d_a_lv, m_sGg.head.mu);
      zeros_like(m_d_b_mu, m_sLg.head.mu);
      zeros_like(m_d_b_lv, m_sLg.head.mu);
      zeros_like(m_dmuv_p, m_sG.head.mu);
      zeros_like(m_dlvv_p, m_sG.head.mu);
      m_kl.backward(m_k1, 1, &m_d_a_mu, &m_d_a_lv, &m_dmuv_p, &m_dlvv_p);
      m_kl.backward(m_k2, 1, &m_d_b_mu, &m_d_b_lv, dz ? &m_dmuz : nullptr, dz ? &m_dlvz : nullptr);
      reencode_backward(m_sLg, m_sGg, m_rvg, m_d_a_mu, m_d_a_lv, m_d_b_mu, m_d_b_lv, m_dx_swap);
      zeros_like(m_dvp, m_vp);
      m_decoder.backward(m_sDg, m_dx_swap, dz, dv ? &m_dvp : nullptr);
      if (dv) {
        B::gather_batch_backward(m_dv, m_dvp, m_pi_b);
        B::gather_batch_backward(m_dmuv, m_dmuv_p, m_pi_b);
        B::gather_batch_backward(m_dlvv, m_dlvv_p, m_pi_b);
      }
    }

    // Reconstruction -> decoder(z, v).
    zeros_like(m_dxhat, b.x);
    m_mse.backward(m_mse_st, 1, m_dxhat);
    m_decoder.backward(m_sD, m_dxhat, dz, dv);

    // KL_z: posterior side and, through the transition prior, z itself.
    if (need_zstats || train_prior) {
      zeros_like(m_dpmu, m_sP.mu);
      zeros_like(m_dplv, m_sP.mu);
      m_kl.backward(m_kz, 1, need_zstats ? &m_dmuz : nullptr, need_zstats ? &m_dlvz : nullptr, &m_dpmu, &m_dplv);
      const tensor* dzp = m_transition.backward(m_sP, m_dpmu, m_dplv, need_zstats);
      if (need_zstats) B::axpy(m_dz, T(1), *dzp);
    }
    if (need_zstats) {
      m_rzp.backward(m_rz, m_dz, &m_dmuz, &m_dlvz);
      m_local.backward(m_sL, m_dmuz, m_dlvz, false, dv);
    }
    // KL_v (the snapshot side never trains) and the global encoder.
    if (need_v) {
      m_kl.backward(m_kv, 1, &m_dmuv, &m_dlvv, nullptr, nullptr);
      m_rvp.backward(m_rv, m_dv, &m_dmuv, &m_dlvv);
      m_global.backward(m_sG, m_dmuv, m_dlvv, false);
    }
  }

  // Backward through one re-encoding (q(v | x'), then q(z | x'[, v'])): returns
  // the gradient w.r.t. the decoded x' in dx.
  void reencode_backward(typename Local<B>::state& sl, typename Global<B>::state& sg,
                         typename prob::reparameterise<B>::state& rv, tensor& dvmu, tensor& dvlv, const tensor& dzmu,
                         const tensor& dzlv, tensor& dx) {
    zeros_like(m_dv_re, rv.s);
    const tensor* dxl = m_local.backward(sl, dzmu, dzlv, true, Local<B>::uses_v ? &m_dv_re : nullptr);
    B::resize(dx, dxl->rows(), dxl->cols());
    B::copy(dx, *dxl);
    if constexpr (Local<B>::uses_v) m_rvp.backward(rv, m_dv_re, &dvmu, &dvlv);
    B::axpy(dx, T(1), *m_global.backward(sg, dvmu, dvlv, true));
  }

  static void zeros_like(tensor& t, const tensor& like) {
    B::resize(t, like.rows(), like.cols());
    B::zero(t);
  }
  static void gather(tensor& dst, const tensor& src, const typename B::index_vector& perm) {
    B::resize(dst, src.rows(), src.cols());
    B::gather_batch(dst, src, perm);
  }
  static void check_perm(const std::vector<index_t>& p, index_t n, const char* what) {
    if (index_t(p.size()) != n) detail::fail("train_step: ", what, " has ", p.size(), " entries, expected ", n);
    for (index_t i : p)
      if (i < 0 || i >= n) detail::fail("train_step: ", what, " has entry ", i, " outside 0..", n - 1);
  }

  model_sizes m_sizes;
  parameters<B> m_params;
  Global<B> m_global, m_snapshot;
  Local<B> m_local;
  Transition<B> m_transition;
  Decoder<B> m_decoder;
  int m_stage = 0;

  // Workspace: module states of every call site of the step.
  typename Global<B>::state m_sG, m_sS, m_sGg, m_sGl;
  typename Local<B>::state m_sL, m_sLg, m_sLl;
  typename Transition<B>::state m_sP;
  typename Decoder<B>::state m_sD, m_sDg, m_sDl;
  prob::reparameterise<B> m_rvp, m_rzp;
  typename prob::reparameterise<B>::state m_rv, m_rz, m_rvg, m_rvl;
  prob::gaussian_kl<B> m_kl;
  typename prob::gaussian_kl<B>::state m_kz, m_kv, m_k1, m_k2, m_k3, m_k4;
  nn::mse<B> m_mse;
  typename nn::mse<B>::state m_mse_st;
  std::vector<index_t> m_pi, m_rho;
  typename B::index_vector m_pi_b, m_rho_b;
  tensor m_vp, m_muv_p, m_lvv_p, m_mask_r, m_timew_r, m_zr, m_muz_r, m_lvz_r;
  tensor m_dmuv, m_dlvv, m_dv, m_dmuz, m_dlvz, m_dz, m_dxhat, m_dpmu, m_dplv;
  tensor m_d_a_mu, m_d_a_lv, m_d_b_mu, m_d_b_lv, m_dmuz_r, m_dlvz_r, m_dzr, m_dvp, m_dmuv_p, m_dlvv_p, m_dx_swap,
      m_dv_re;
};

}  // namespace dsae::model
