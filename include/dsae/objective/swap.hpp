#pragma once
// swap_regulariser<Kind, W>: TS-DSAE's swap terms (spec, "The four swap
// terms"), ONE component for both swaps. Per step a uniform random permutation
// p of the batch is drawn; x'_i is decoded from one factor of sequence i and
// the other of p(i), then re-encoded (sampling v as usual):
//   global_swap  x'_i = dec(z_i, v_p(i))  terms 1, 2:  KL(q(v|x') || q(v|x_p(i))), KL_z-mean(q(z|x') || q(z|x_i))
//   local_swap   x'_i = dec(z_p(i), v_i)  terms 3, 4:  KL(q(v|x') || q(v|x_i)),    KL_z-mean(q(z|x') || q(z|x_p(i)))
// x'_i has the frames (mask, lengths) of its z-source. Re-encoded first, original
// second; z terms reduce as KL_z (over the target's valid frames), v terms as KL_v.
// Active in the final stage only. Gradients flow everywhere (nothing detached).
// What it computed (x'_i, its encoding, p) is left on the step for later terms
// (step::swapped(Kind::index)): a term on the swap pairs needs no second decode.
#include "term.hpp"

namespace dsae::objective {

struct global_swap {
  static constexpr const char* name = "global";
  static constexpr const char* term_name = "swap_global";
  static constexpr bool permutes_v = true;  // v comes from the partner
  static constexpr int index = 0;           // terms 1, 2 -> loss_terms::swap[0], [1]
  static constexpr std::uint32_t eps_stream = eps_v_g, perm_stream = perm_g;
  template <class G> static const auto* eps(const G* g) { return g ? &g->eps_v_g : nullptr; }
  template <class G> static const auto* perm(const G* g) { return g ? &g->perm_g : nullptr; }
};

struct local_swap {
  static constexpr const char* name = "local";
  static constexpr const char* term_name = "swap_local";
  static constexpr bool permutes_v = false;  // z (and its frames) come from the partner
  static constexpr int index = 1;            // terms 3, 4 -> loss_terms::swap[2], [3]
  static constexpr std::uint32_t eps_stream = eps_v_l, perm_stream = perm_l;
  template <class G> static const auto* eps(const G* g) { return g ? &g->eps_v_l : nullptr; }
  template <class G> static const auto* perm(const G* g) { return g ? &g->perm_l : nullptr; }
};

template <class Kind, double Weight = 1.0>
struct swap_regulariser {
  using swap_kind = Kind;
  static constexpr const char* name = Kind::term_name;
  double weight = Weight;
  weight_schedule schedule{};
  DSAE_TERM_SETTINGS
  template <class Step>
  void forward(Step& s, loss_terms& out, double w) const {
    if (!s.final_stage()) return;
    using scalar = typename Step::scalar;
    constexpr bool pv = Kind::permutes_v;
    const auto& b = s.batch();
    const auto* g = s.given();
    const auto& p = s.permutation(Kind::perm_stream, Kind::perm(g));
    auto& v_src = pv ? s.gather(s.v(), p) : s.v();
    auto& z_src = pv ? s.z() : s.gather(s.z(), p);
    const auto& mask = pv ? b.mask : s.gather_rows(b.mask, p);
    const auto& time_w = pv ? b.time_w : s.gather_rows(b.time_w, p);
    auto& xs = s.decode(z_src, v_src, mask);
    const auto e = s.encode(xs, mask, time_w, Kind::eps_stream, Kind::eps(g));
    const auto v_target = pv ? s.gather(s.posterior_v(), p) : s.posterior_v();
    const auto z_target = pv ? s.posterior_z() : s.gather(s.posterior_z(), p);
    s.set_swapped(Kind::index, {&xs, e, &p, &mask, &time_w});
    const double tv = s.kl(e.v_post, v_target, b.ones, scalar(1) / scalar(b.batch * s.sizes().v_dim), w);
    const double tz = s.kl(e.z_post, z_target, time_w, scalar(1) / scalar(b.batch * s.sizes().z_dim), w);
    out.swap[size_t(2 * Kind::index)] = tv;
    out.swap[size_t(2 * Kind::index + 1)] = tz;
    out.loss += w * (tv + tz);
  }
};

}  // namespace dsae::objective
