#pragma once
// Slot concepts of sequential_vae: a type in the wrong slot fails to compile
// with one error naming the slot.
#include <concepts>
#include "../backend/concept.hpp"
#include "../nn/parameters.hpp"
#include "sizes.hpp"

namespace dsae::model {

template <class S, class B>
concept global_encoder_slot =
    requires(const S& s, typename S::state& st, const typename B::tensor& t, index_t n, parameters<B>& p,
             const model_sizes& z) {
      S(p, "name", z, group::global_encoder);
      s.forward(st, t, t, n);
      { s.backward(st, t, t, true) } -> std::same_as<const typename B::tensor*>;
      st.head.mu;
      st.head.logvar;
    };

template <class S, class B>
concept local_encoder_slot =
    requires(const S& s, typename S::state& st, const typename B::tensor& t, typename B::tensor* d, index_t n,
             parameters<B>& p, const model_sizes& z) {
      S(p, "name", z, group::local_encoder);
      { S::uses_v } -> std::convertible_to<bool>;
      s.forward(st, t, t, &t, n);
      { s.backward(st, t, t, true, d) } -> std::same_as<const typename B::tensor*>;
      st.head.mu;
      st.head.logvar;
    };

template <class S, class B>
concept transition_slot =
    requires(const S& s, typename S::state& st, const typename B::tensor& t, index_t n, parameters<B>& p,
             const model_sizes& z) {
      S(p, "name", z, group::transition);
      s.forward(st, t, &t, n);
      { s.backward(st, t, t, true) } -> std::same_as<const typename B::tensor*>;
      st.mu;
      st.logvar;
      st.head.mu;
    };

template <class S, class B>
concept decoder_slot =
    requires(const S& s, typename S::state& st, const typename B::tensor& t, typename B::tensor* d, index_t n,
             parameters<B>& p, const model_sizes& z) {
      S(p, "name", z, group::decoder);
      { s.forward(st, t, t, &t, n) } -> std::same_as<const typename B::tensor&>;
      s.backward(st, t, d, d);
    };

}  // namespace dsae::model
