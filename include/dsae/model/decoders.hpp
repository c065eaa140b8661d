#pragma once
// Decoder slots: the mean of p(x_t | z, v) (unit variance, no output activation).
//   factorised_decoder  FCN-[64,64] on [z_t, v] (z first, v broadcast), Linear 64 -> F
//   richer_decoder      (paper sec. 6.4) 2-layer BiLSTM(64) over z_1:T, directions
//                       averaged per frame, then [h_t, v] -> FCN-[64,64] -> Linear 64 -> F
#include <string>
#include "../backend/fused.hpp"
#include "../nn/linear.hpp"
#include "../nn/lstm.hpp"
#include "../nn/mlp.hpp"
#include "sizes.hpp"
#include "slots.hpp"

namespace dsae::model {

template <class B>
class factorised_decoder {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr const char* name = "factorised";
  static constexpr slot_role role = slot_role::decoder;
  struct state {
    tensor in;
    typename nn::mlp<B>::state net;
    typename nn::linear<B>::state out;
  };
  factorised_decoder() = default;
  factorised_decoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.z_dim + s.v_dim, {s.hidden, s.hidden}, owner),
        m_out(p, prefix + ".out", s.hidden, s.x_dim, owner),
        m_z(s.z_dim),
        m_v(s.v_dim) {}

  slot_outputs<B> forward(state& st, const slot_inputs<B>& in) const {
    B::resize(st.in, in.z->rows(), m_z + m_v);
    fused::concat_cols<B>(st.in, *in.z, *in.v);
    return {&m_out.forward(st.out, m_net.forward(st.net, st.in)), nullptr};
  }
  // Adds into din.z / din.v when given.
  void backward(state& st, const slot_output_grads<B>& dout, const slot_input_grads<B>& din) const {
    const tensor* dzv = m_net.backward(st.net, *m_out.backward(st.out, *dout.mean, true), din.z || din.v);
    if (dzv) fused::split_cols_backward<B>(din.z, din.v, *dzv);
  }

 private:
  nn::mlp<B> m_net;
  nn::linear<B> m_out;
  index_t m_z = 0, m_v = 0;
};

template <class B>
class richer_decoder {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr const char* name = "richer";
  static constexpr slot_role role = slot_role::decoder;
  struct state {
    tensor in, dh;
    typename nn::bilstm<B>::state rnn;
    typename nn::mlp<B>::state net;
    typename nn::linear<B>::state out;
  };
  richer_decoder() = default;
  richer_decoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_rnn(p, prefix + ".lstm", s.z_dim, s.rnn_hidden, s.rnn_layers, owner),
        m_net(p, prefix + ".net", s.rnn_hidden + s.v_dim, {s.hidden, s.hidden}, owner),
        m_out(p, prefix + ".out", s.hidden, s.x_dim, owner),
        m_h(s.rnn_hidden),
        m_v(s.v_dim) {}

  slot_outputs<B> forward(state& st, const slot_inputs<B>& in) const {
    const tensor& h = m_rnn.forward(st.rnn, *in.z, in.mask, in.batch);
    B::resize(st.in, in.z->rows(), m_h + m_v);
    fused::concat_cols<B>(st.in, h, *in.v);
    return {&m_out.forward(st.out, m_net.forward(st.net, st.in)), nullptr};
  }
  void backward(state& st, const slot_output_grads<B>& dout, const slot_input_grads<B>& din) const {
    // The BiLSTM has parameters, so its input gradient path always runs.
    const tensor* dhv = m_net.backward(st.net, *m_out.backward(st.out, *dout.mean, true), true);
    B::resize(st.dh, dhv->rows(), m_h);
    B::zero(st.dh);
    fused::split_cols_backward<B>(&st.dh, din.v, *dhv);
    const tensor* g = m_rnn.backward(st.rnn, st.dh, din.z != nullptr);
    if (din.z) B::axpy(*din.z, T(1), *g);
  }

 private:
  nn::bilstm<B> m_rnn;
  nn::mlp<B> m_net;
  nn::linear<B> m_out;
  index_t m_h = 0, m_v = 0;
};

}  // namespace dsae::model
