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

namespace dsae::model {

template <class B>
class lstm_transition {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr const char* name = "lstm";
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

  void forward(state& st, const tensor& z, const tensor* mask, index_t batch) const {
    st.batch = batch;
    m_head.forward(st.head, m_rnn.forward(st.rnn, z, mask, batch));
    shift(st.mu, st.head.mu, batch);
    shift(st.logvar, st.head.logvar, batch);
  }
  // dmu, dlv: gradients w.r.t. st.mu / st.logvar. Returns dz when need_dz.
  const tensor* backward(state& st, const tensor& dmu, const tensor& dlv, bool need_dz) const {
    unshift(st.dhmu, dmu, st.batch);
    unshift(st.dhlv, dlv, st.batch);
    const tensor* dh = m_head.backward(st.head, st.dhmu, st.dhlv, true);
    return m_rnn.backward(st.rnn, *dh, need_dz);
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
