#pragma once
// The paper's variants as compositions (spec, "Objective", "Two-stage
// training", "The four swap terms"). Backend: scalar type and backend, e.g. cpu<float>.
//
//   dsae<Backend>            DSAE                 factorised q, factorised decoder
//   dsae_f<Backend>          DSAE-f
//   ts_dsae_noreg<Backend>   TS-DSAE w/o regs
//   ts_dsae<Backend>         TS-DSAE
//   *_full<Backend>          the same with full q(z_t | x_1:T, v)
//   *_rich<Backend>          the same with the richer decoder (sec. 6.4)
//
// model::variant<Backend, Local, Decoder, method::X> picks the local encoder
// and decoder of method X.
#include "decoders.hpp"
#include "encoders.hpp"
#include "sequential_vae.hpp"
#include "transition.hpp"

namespace dsae::model {

namespace method {
using objective::kl_v, objective::kl_z, objective::reconstruction, objective::swap_regulariser;
using objective::global_swap, objective::local_swap, objective::one_stage, objective::two_stage;
using objective::snapshot_posterior, objective::standard_normal, objective::transition_prior;
using lstm_prior = transition_prior<lstm_transition>;

// DSAE: L = recon + KL_z + KL(q(v) || N(0, I)); one stage.
struct dsae {
  static constexpr const char* name = "dsae";
  static constexpr const char* label = "DSAE";
  static constexpr const char* description = "recon + KL_z + KL(q(v) || N(0, I)); one stage, everything trains";
  template <class Backend, template <class> class Local, template <class> class Decoder>
  using model = sequential_vae<Backend, global_encoder, Local, Decoder,
                               lstm_prior, standard_normal, one_stage,
                               reconstruction<>, kl_z<>, kl_v<>>;
};
// DSAE-f: the DSAE objective; stage 1 trains the global encoder and decoder,
// at C the local side unfreezes and the global encoder freezes.
struct dsae_f {
  static constexpr const char* name = "dsae-f";
  static constexpr const char* label = "DSAE-f";
  static constexpr const char* description =
      "the DSAE objective; stage 1 trains the global encoder and decoder, then the global encoder freezes";
  template <class Backend, template <class> class Local, template <class> class Decoder>
  using model = sequential_vae<Backend, global_encoder, Local, Decoder,
                               lstm_prior, standard_normal, two_stage<group::global_encoder>,
                               reconstruction<>, kl_z<>, kl_v<>>;
};
// TS-DSAE w/o regs: two stages; from C, p(v | x) = q_C(v | x).
struct ts_dsae_noreg {
  static constexpr const char* name = "ts-dsae-noreg";
  static constexpr const char* label = "TS-DSAE w/o regs";
  static constexpr const char* description = "two stages; from C the prior on v is the frozen stage-1 posterior q_C";
  template <class Backend, template <class> class Local, template <class> class Decoder>
  using model = sequential_vae<Backend, global_encoder, Local, Decoder,
                               lstm_prior, snapshot_posterior, two_stage<>,
                               reconstruction<>, kl_z<>, kl_v<>>;
};
// TS-DSAE: as w/o regs plus the global- and local-swap regularisers (terms 1-4).
struct ts_dsae {
  static constexpr const char* name = "ts-dsae";
  static constexpr const char* label = "TS-DSAE";
  static constexpr const char* description = "TS-DSAE w/o regs plus the global- and local-swap regularisers (terms 1-4)";
  template <class Backend, template <class> class Local, template <class> class Decoder>
  using model = sequential_vae<Backend, global_encoder, Local, Decoder,
                               lstm_prior, snapshot_posterior, two_stage<>,
                               reconstruction<>, kl_z<>, kl_v<>,
                               swap_regulariser<global_swap>, swap_regulariser<local_swap>>;
};
}  // namespace method
namespace policy = method;  // the earlier spelling

template <class Backend, template <class> class Local, template <class> class Decoder, class Method>
using variant = typename Method::template model<Backend, Local, Decoder>;

template <class Backend> using dsae = variant<Backend, factorised_local_encoder, factorised_decoder, method::dsae>;
template <class Backend> using dsae_f = variant<Backend, factorised_local_encoder, factorised_decoder, method::dsae_f>;
template <class Backend> using ts_dsae_noreg = variant<Backend, factorised_local_encoder, factorised_decoder, method::ts_dsae_noreg>;
template <class Backend> using ts_dsae = variant<Backend, factorised_local_encoder, factorised_decoder, method::ts_dsae>;

template <class Backend> using dsae_full = variant<Backend, full_local_encoder, factorised_decoder, method::dsae>;
template <class Backend> using dsae_f_full = variant<Backend, full_local_encoder, factorised_decoder, method::dsae_f>;
template <class Backend> using ts_dsae_noreg_full = variant<Backend, full_local_encoder, factorised_decoder, method::ts_dsae_noreg>;
template <class Backend> using ts_dsae_full = variant<Backend, full_local_encoder, factorised_decoder, method::ts_dsae>;

template <class Backend> using dsae_rich = variant<Backend, factorised_local_encoder, richer_decoder, method::dsae>;
template <class Backend> using dsae_f_rich = variant<Backend, factorised_local_encoder, richer_decoder, method::dsae_f>;
template <class Backend> using ts_dsae_noreg_rich = variant<Backend, factorised_local_encoder, richer_decoder, method::ts_dsae_noreg>;
template <class Backend> using ts_dsae_rich = variant<Backend, factorised_local_encoder, richer_decoder, method::ts_dsae>;

}  // namespace dsae::model
