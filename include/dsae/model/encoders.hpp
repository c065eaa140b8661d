#pragma once
// Encoder slots.
//   global_encoder           q(v | x): FCN-[64,64] per frame, masked mean over time, Gau-V
//   factorised_local_encoder q(z_t | x_t): FCN-[64,64] per frame, Gau-Z (does not see v)
//   full_local_encoder       q(z_t | x_1:T, v): 2-layer BiLSTM(64) over [x_t, v],
//                            directions averaged per frame, Gau-Z
// Outputs are left in state.head.mu / state.head.logvar.
#include <string>
#include "../nn/gaussian_head.hpp"
#include "../nn/lstm.hpp"
#include "../nn/masked_mean.hpp"
#include "../nn/mlp.hpp"
#include "sizes.hpp"

namespace dsae::model {

template <class B>
class global_encoder {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  static constexpr const char* name = "fcn_mean";
  struct state {
    typename nn::mlp<B>::state net;
    typename nn::masked_mean<B>::state mean;
    typename nn::gaussian_head<B>::state head;
  };
  global_encoder() = default;
  global_encoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.x_dim, {s.hidden, s.hidden}, owner),
        m_head(p, prefix, s.hidden, s.v_dim, owner) {}

  // time_w: (T*B) x 1 weights m / n_b of the batch being encoded.
  void forward(state& st, const tensor& x, const tensor& time_w, index_t batch) const {
    m_head.forward(st.head, m_mean.forward(st.mean, m_net.forward(st.net, x), time_w, batch));
  }
  const tensor* backward(state& st, const tensor& dmu, const tensor& dlv, bool need_dx) const {
    const tensor* dh = m_head.backward(st.head, dmu, dlv, true);
    return m_net.backward(st.net, *m_mean.backward(st.mean, *dh, true), need_dx);
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
  struct state {
    typename nn::mlp<B>::state net;
    typename nn::gaussian_head<B>::state head;
  };
  factorised_local_encoder() = default;
  factorised_local_encoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.x_dim, {s.hidden, s.hidden}, owner), m_head(p, prefix, s.hidden, s.z_dim, owner) {}

  void forward(state& st, const tensor& x, const tensor& /*v*/, const tensor* /*mask*/, index_t /*batch*/) const {
    m_head.forward(st.head, m_net.forward(st.net, x));
  }
  // dv (accumulated) is untouched: this encoder does not read v.
  const tensor* backward(state& st, const tensor& dmu, const tensor& dlv, bool need_dx, tensor* /*dv*/) const {
    return m_net.backward(st.net, *m_head.backward(st.head, dmu, dlv, true), need_dx);
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
  struct state {
    tensor in, dx;  // [x_t, v] and the gradient w.r.t. x
    typename nn::bilstm<B>::state rnn;
    typename nn::gaussian_head<B>::state head;
  };
  full_local_encoder() = default;
  full_local_encoder(parameters<B>& p, const std::string& prefix, const model_sizes& s, group owner)
      : m_rnn(p, prefix + ".lstm", s.x_dim + s.v_dim, s.rnn_hidden, s.rnn_layers, owner),
        m_head(p, prefix, s.rnn_hidden, s.z_dim, owner),
        m_x(s.x_dim),
        m_v(s.v_dim) {}

  void forward(state& st, const tensor& x, const tensor& v, const tensor* mask, index_t batch) const {
    B::resize(st.in, x.rows(), m_x + m_v);
    B::concat_cols(st.in, x, v);
    m_head.forward(st.head, m_rnn.forward(st.rnn, st.in, mask, batch));
  }
  // Returns dx when need_dx; accumulates dv when dv is given.
  const tensor* backward(state& st, const tensor& dmu, const tensor& dlv, bool need_dx, tensor* dv) const {
    const tensor* dh = m_head.backward(st.head, dmu, dlv, true);
    const tensor* din = m_rnn.backward(st.rnn, *dh, need_dx || dv);
    if (!din) return nullptr;
    if (need_dx) {
      B::resize(st.dx, din->rows(), m_x);
      B::zero(st.dx);
    }
    B::split_cols_backward(need_dx ? &st.dx : nullptr, dv, *din);
    return need_dx ? &st.dx : nullptr;
  }

 private:
  nn::bilstm<B> m_rnn;
  nn::gaussian_head<B> m_head;
  index_t m_x = 0, m_v = 0;
};

}  // namespace dsae::model
