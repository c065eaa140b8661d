#pragma once
// The slot contract of sequential_vae: one for all four slots.
//
// A slot S (on backend B) provides
//   S::name                          const char*, names it in the composition
//   S::role                          slot_role: which slot it fills (a decoder is not
//                                    a global encoder, though both have the shape below)
//   S()                              default construction (filled in by the model)
//   S(params, prefix, sizes, group)  registers its parameters under prefix
//   typename S::state                everything one call caches for its VJP
//   s.forward(state, in) -> slot_outputs<B>
//                                    reads what its role needs from `in` (below);
//                                    the outputs point into `state`
//   s.backward(state, dout, din)     dout: the gradients of its outputs (both given
//                                    for a Gaussian); writes the parameter gradients
//                                    of a trainable S (skipping frozen ones) and ADDS
//                                    the input gradients into din's tensors; an absent
//                                    (null) one is not needed and not computed
// (dlib's module contract, one signature for every slot). local encoders also have
// S::uses_v (whether they read v).
//
//   role            reads from in                       outputs
//   global_encoder  x, time_w, batch                    mean, logvar of q(v | x): B x V
//   local_encoder   x, v (uses_v), mask, batch          mean, logvar of q(z | x[, v]): (T*B) x Z
//   transition      z, mask (may be null), batch        mean, logvar of p(z_t | z_<t): (T*B) x Z
//                                                       (row t*B + i depends on z_<t only)
//   decoder         z, v, mask, batch                   mean = xhat: (T*B) x F (logvar null)
// A type in the wrong slot fails to compile with an error naming the slot's concept
// (tests/model/compile_fail/).
#include <concepts>
#include "../backend/concept.hpp"
#include "../nn/parameters.hpp"
#include "sizes.hpp"

namespace dsae::model {

enum class slot_role { global_encoder, local_encoder, transition, decoder };

// What a slot reads (null: not given).
template <class B>
struct slot_inputs {
  const typename B::tensor *x = nullptr, *z = nullptr, *v = nullptr;
  const typename B::tensor *mask = nullptr, *time_w = nullptr;  // (T*B) x 1: m, m / n_b
  index_t batch = 0;
};
// What it produces: views into its state.
template <class B>
struct slot_outputs {
  const typename B::tensor* mean = nullptr;    // a Gaussian's mean, or the decoder's xhat
  const typename B::tensor* logvar = nullptr;  // null for a decoder
};
// The gradients of its outputs.
template <class B>
struct slot_output_grads {
  const typename B::tensor* mean = nullptr;
  const typename B::tensor* logvar = nullptr;
};
// Where its input gradients are added (null: not needed).
template <class B>
struct slot_input_grads {
  typename B::tensor *x = nullptr, *z = nullptr, *v = nullptr;
};

template <class S, class B>
concept slot = std::default_initializable<S> && std::default_initializable<typename S::state> &&
               requires(const S& s, typename S::state& st, const slot_inputs<B>& in,
                        const slot_output_grads<B>& dout, const slot_input_grads<B>& din, parameters<B>& p,
                        const model_sizes& z) {
                 { S::name } -> std::convertible_to<const char*>;
                 { S::role } -> std::convertible_to<slot_role>;
                 S(p, "name", z, group::decoder);
                 { s.forward(st, in) } -> std::same_as<slot_outputs<B>>;
                 s.backward(st, dout, din);
               };

template <class S, class B>
concept global_encoder_slot = slot<S, B> && S::role == slot_role::global_encoder;

template <class S, class B>
concept local_encoder_slot = slot<S, B> && S::role == slot_role::local_encoder && requires {
  { S::uses_v } -> std::convertible_to<bool>;
};

template <class S, class B>
concept transition_slot = slot<S, B> && S::role == slot_role::transition;

template <class S, class B>
concept decoder_slot = slot<S, B> && S::role == slot_role::decoder;

}  // namespace dsae::model
