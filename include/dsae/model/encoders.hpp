#pragma once
// Encoder slots.
//   global_encoder           q(v | x): FCN-[64,64] per frame, masked mean over time, Gau-V
//   factorised_local_encoder q(z_t | x_t): FCN-[64,64] per frame, Gau-Z (does not see v)
//   full_local_encoder       q(z_t | x_1:T, v): 2-layer BiLSTM(64) over [x_t, v],
//                            directions averaged per frame, Gau-Z
// The slot contract (forward(state, in) -> outputs, backward(state, dout, din)) is in
// slots.hpp; outputs point into state.head.
#include <string>
#include "../backend/fused.hpp"
#include "../nn/gaussian_head.hpp"
#include "../nn/lstm.hpp"
#include "../nn/masked_mean.hpp"
#include "../nn/mlp.hpp"
#include "sizes.hpp"
#include "slots.hpp"

namespace dsae::model {

template <class B>
class global_encoder {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr const char* name = "fcn_mean";
  static constexpr slot_role role = slot_role::global_encoder;
  struct state {
    typename nn::mlp<B>::state net;
    typename nn::masked_mean<B>::state mean;
    typename nn::gaussian_head<B>::state head;
  };
  global_encoder() = default;
  global_encoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.x_dim, {s.hidden, s.hidden}, owner),
        m_head(p, prefix, s.hidden, s.v_dim, owner) {}

  // in.time_w: (T*B) x 1 weights m / n_b of the batch being encoded.
  slot_outputs<B> forward(state& st, const slot_inputs<B>& in) const {
    m_head.forward(st.head, m_mean.forward(st.mean, m_net.forward(st.net, *in.x), *in.time_w, in.batch));
    return {&st.head.mu, &st.head.logvar};
  }
  void backward(state& st, const slot_output_grads<B>& dout, const slot_input_grads<B>& din) const {
    const tensor* dh = m_head.backward(st.head, *dout.mean, *dout.logvar, true);
    const tensor* dx = m_net.backward(st.net, *m_mean.backward(st.mean, *dh, true), din.x != nullptr);
    if (din.x) B::axpy(*din.x, T(1), *dx);
  }

 private:
  nn::mlp<B> m_net;
  nn::masked_mean<B> m_mean;
  nn::gaussian_head<B> m_head;
};

template <class B>
class factorised_local_encoder {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr bool uses_v = false;
  static constexpr const char* name = "factorised";
  static constexpr slot_role role = slot_role::local_encoder;
  struct state {
    typename nn::mlp<B>::state net;
    typename nn::gaussian_head<B>::state head;
  };
  factorised_local_encoder() = default;
  factorised_local_encoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.x_dim, {s.hidden, s.hidden}, owner), m_head(p, prefix, s.hidden, s.z_dim, owner) {}

  slot_outputs<B> forward(state& st, const slot_inputs<B>& in) const {
    m_head.forward(st.head, m_net.forward(st.net, *in.x));
    return {&st.head.mu, &st.head.logvar};
  }
  // din.v is untouched: this encoder does not read v.
  void backward(state& st, const slot_output_grads<B>& dout, const slot_input_grads<B>& din) const {
    const tensor* dx = m_net.backward(st.net, *m_head.backward(st.head, *dout.mean, *dout.logvar, true), din.x != nullptr);
    if (din.x) B::axpy(*din.x, T(1), *dx);
  }

 private:
  nn::mlp<B> m_net;
  nn::gaussian_head<B> m_head;
};

template <class B>
class full_local_encoder {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr bool uses_v = true;
  static constexpr const char* name = "full";
  static constexpr slot_role role = slot_role::local_encoder;
  struct state {
    tensor in;  // [x_t, v]
    typename nn::bilstm<B>::state rnn;
    typename nn::gaussian_head<B>::state head;
  };
  full_local_encoder() = default;
  full_local_encoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_rnn(p, prefix + ".lstm", s.x_dim + s.v_dim, s.rnn_hidden, s.rnn_layers, owner),
        m_head(p, prefix, s.rnn_hidden, s.z_dim, owner),
        m_x(s.x_dim),
        m_v(s.v_dim) {}

  slot_outputs<B> forward(state& st, const slot_inputs<B>& in) const {
    B::resize(st.in, in.x->rows(), m_x + m_v);
    fused::concat_cols<B>(st.in, *in.x, *in.v);
    m_head.forward(st.head, m_rnn.forward(st.rnn, st.in, in.mask, in.batch));
    return {&st.head.mu, &st.head.logvar};
  }
  // Adds into din.x and din.v (the [x_t, v] split of the BiLSTM's input gradient).
  void backward(state& st, const slot_output_grads<B>& dout, const slot_input_grads<B>& din) const {
    const tensor* dh = m_head.backward(st.head, *dout.mean, *dout.logvar, true);
    const tensor* dxv = m_rnn.backward(st.rnn, *dh, din.x || din.v);
    if (dxv) fused::split_cols_backward<B>(din.x, din.v, *dxv);
  }

 private:
  nn::bilstm<B> m_rnn;
  nn::gaussian_head<B> m_head;
  index_t m_x = 0, m_v = 0;
};

}  // namespace dsae::model
