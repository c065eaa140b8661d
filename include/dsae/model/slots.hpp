#pragma once
// Slot concepts of sequential_vae: everything the model and the step use of a
// slot type. A type in the wrong slot fails to compile with an error naming the
// slot's concept (tests/model/compile_fail/).
//
// Every slot S (on backend B) provides:
//   S::name                          const char*, names it in the composition
//   S()                              default construction (filled in by the model)
//   S(params, prefix, sizes, group)  registers its parameters under prefix
//   typename S::state                everything one call caches for its VJP
// and a forward/backward pair (below). backward writes the parameter
// gradients of a trainable S (skipping frozen ones) and returns the input
// gradient when asked (dlib's module contract).
#include <concepts>
#include "../backend/concept.hpp"
#include "../nn/parameters.hpp"
#include "sizes.hpp"

namespace dsae::model {

template <class S, class B>
concept global_encoder_slot =
    std::default_initializable<S> && std::default_initializable<typename S::state> &&
    requires(const S& s, typename S::state& st, const typename B::tensor& t, index_t n, parameters<B>& p,
             const model_sizes& z) {
      { S::name } -> std::convertible_to<const char*>;
      S(p, "name", z, group::global_encoder);
      s.forward(st, t, t, n);
      { s.backward(st, t, t, true) } -> std::same_as<const typename B::tensor*>;
      st.head.mu;
      st.head.logvar;
    };

template <class S, class B>
concept local_encoder_slot =
    std::default_initializable<S> && std::default_initializable<typename S::state> &&
    requires(const S& s, typename S::state& st, const typename B::tensor& t, typename B::tensor* d, index_t n,
             parameters<B>& p, const model_sizes& z) {
      { S::name } -> std::convertible_to<const char*>;
      S(p, "name", z, group::local_encoder);
      { S::uses_v } -> std::convertible_to<bool>;
      s.forward(st, t, t, &t, n);
      { s.backward(st, t, t, true, d) } -> std::same_as<const typename B::tensor*>;
      st.head.mu;
      st.head.logvar;
    };

template <class S, class B>
concept transition_slot =
    std::default_initializable<S> && std::default_initializable<typename S::state> &&
    requires(const S& s, typename S::state& st, const typename B::tensor& t, index_t n, parameters<B>& p,
             const model_sizes& z) {
      { S::name } -> std::convertible_to<const char*>;
      S(p, "name", z, group::transition);
      s.forward(st, t, &t, n);
      { s.backward(st, t, t, true) } -> std::same_as<const typename B::tensor*>;
      st.mu;
      st.logvar;
      st.head.mu;      // generate() runs the prior one frame at a time
      st.head.logvar;
    };

template <class S, class B>
concept decoder_slot =
    std::default_initializable<S> && std::default_initializable<typename S::state> &&
    requires(const S& s, typename S::state& st, const typename B::tensor& t, typename B::tensor* d, index_t n,
             parameters<B>& p, const model_sizes& z) {
      { S::name } -> std::convertible_to<const char*>;
      S(p, "name", z, group::decoder);
      { s.forward(st, t, t, &t, n) } -> std::same_as<const typename B::tensor&>;
      s.backward(st, t, d, d);
    };

}  // namespace dsae::model
