#pragma once
// The paper's variants as aliases (scalar type and backend in B, e.g. cpu<float>):
//
//   dsae<B>            DSAE                       factorised q, factorised decoder
//   dsae_f<B>          DSAE-f
//   ts_dsae_noreg<B>   TS-DSAE w/o regs
//   ts_dsae<B>         TS-DSAE
//   *_full<B>          the same with full q(z_t | x_1:T, v)
//   *_rich<B>          the same with the richer decoder (sec. 6.4)
#include "decoders.hpp"
#include "encoders.hpp"
#include "sequential_vae.hpp"
#include "transition.hpp"

namespace dsae::model {

template <class B, template <class> class Local, template <class> class Decoder, class Policy>
using variant = sequential_vae<B, global_encoder, Local, lstm_transition, Decoder, Policy>;

template <class B> using dsae = variant<B, factorised_local_encoder, factorised_decoder, policy::dsae>;
template <class B> using dsae_f = variant<B, factorised_local_encoder, factorised_decoder, policy::dsae_f>;
template <class B> using ts_dsae_noreg = variant<B, factorised_local_encoder, factorised_decoder, policy::ts_dsae_noreg>;
template <class B> using ts_dsae = variant<B, factorised_local_encoder, factorised_decoder, policy::ts_dsae>;

template <class B> using dsae_full = variant<B, full_local_encoder, factorised_decoder, policy::dsae>;
template <class B> using dsae_f_full = variant<B, full_local_encoder, factorised_decoder, policy::dsae_f>;
template <class B> using ts_dsae_noreg_full = variant<B, full_local_encoder, factorised_decoder, policy::ts_dsae_noreg>;
template <class B> using ts_dsae_full = variant<B, full_local_encoder, factorised_decoder, policy::ts_dsae>;

template <class B> using dsae_rich = variant<B, factorised_local_encoder, richer_decoder, policy::dsae>;
template <class B> using dsae_f_rich = variant<B, factorised_local_encoder, richer_decoder, policy::dsae_f>;
template <class B> using ts_dsae_noreg_rich = variant<B, factorised_local_encoder, richer_decoder, policy::ts_dsae_noreg>;
template <class B> using ts_dsae_rich = variant<B, factorised_local_encoder, richer_decoder, policy::ts_dsae>;

}  // namespace dsae::model
