#pragma once
// lstm_transition<B>: the transition prior p(z_t | z_<t) (paper, eq. for the
// sequential prior). A 2-layer LSTM(32) runs over the SAMPLED posterior z
// (teacher forcing, nothing detached); Gau-Z heads on its output at frame t-1
// give the prior of frame t; the prior of frame 0 is N(0, I), written as
// mean 0 and log-variance 0.
#include <string>
#include "../nn/gaussian_head.hpp"
#include "../nn/lstm.hpp"
#include "sizes.hpp"
#include "slots.hpp"

namespace dsae::model {

template <class B>
class lstm_transition {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr const char* name = "lstm";
  static constexpr slot_role role = slot_role::transition;
  struct state {
    index_t batch = 0;
    typename nn::lstm<B>::state rnn;
    typename nn::gaussian_head<B>::state head;
    tensor mu, logvar;      // prior of every frame, (T*B) x Z
    tensor dhmu, dhlv;      // gradients w.r.t. the head outputs
  };
  lstm_transition() = default;
  lstm_transition(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_rnn(p, prefix + ".lstm", s.z_dim, s.prior_hidden, s.prior_layers, owner),
        m_head(p, prefix, s.prior_hidden, s.z_dim, owner) {}

  // Outputs: the prior of every frame (st.mu, st.logvar), frame 0's N(0, I).
  slot_outputs<B> forward(state& st, const slot_inputs<B>& in) const {
    st.batch = in.batch;
    m_head.forward(st.head, m_rnn.forward(st.rnn, *in.z, in.mask, in.batch));
    shift(st.mu, st.head.mu, in.batch);
    shift(st.logvar, st.head.logvar, in.batch);
    return {&st.mu, &st.logvar};
  }
  // dout: gradients w.r.t. st.mu / st.logvar; adds dz into din.z when given.
  void backward(state& st, const slot_output_grads<B>& dout, const slot_input_grads<B>& din) const {
    unshift(st.dhmu, *dout.mean, st.batch);
    unshift(st.dhlv, *dout.logvar, st.batch);
    const tensor* dh = m_head.backward(st.head, st.dhmu, st.dhlv, true);
    const tensor* dz = m_rnn.backward(st.rnn, *dh, din.z != nullptr);
    if (din.z) B::axpy(*din.z, T(1), *dz);
  }

 private:
  // out[0:B] = 0, out[B:] = in[:-B]
  static void shift(tensor& out, const tensor& in, index_t batch) {
    B::resize(out, in.rows(), in.cols());
    B::zero(B::rows(out, 0, batch));
    if (in.rows() > batch) B::copy(B::rows(out, batch, in.rows() - batch), B::crows(in, 0, in.rows() - batch));
  }
  // VJP of shift: din[:-B] = dout[B:], din[-B:] = 0
  static void unshift(tensor& din, const tensor& dout, index_t batch) {
    B::resize(din, dout.rows(), dout.cols());
    B::zero(B::rows(din, din.rows() - batch, batch));
    if (dout.rows() > batch) B::copy(B::rows(din, 0, dout.rows() - batch), B::crows(dout, batch, dout.rows() - batch));
  }
  nn::lstm<B> m_rnn;
  nn::gaussian_head<B> m_head;
};

}  // namespace dsae::model
