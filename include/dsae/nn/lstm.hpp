#pragma once
// LSTM modules (gate order i, f, g, o; zero initial state), time-major input
// (T*B) x D with optional per-frame mask m ((T*B) x 1, valid frames first).
//
// Masked frames: the cell's new c and h are multiplied by the mask, so a
// padding frame outputs zero and leaves a zero state behind. Forward in time
// this never touches valid frames (padding is trailing); in reverse it makes
// each sequence start from a zero state at its own last valid frame.
//
// Speed: the input projection of all frames is one GEMM; each step does only
// the recurrent (B x H) x (H x 4H) product and one fused gate kernel. In the
// reverse pass the recurrent weight gradient is again one GEMM over all steps.
#include <cmath>
#include <string>
#include <vector>
#include "../backend/fused.hpp"
#include "linear.hpp"
#include "parameters.hpp"

namespace dsae::nn {

// One direction of one layer. Parameters "<prefix>.weight_ih_<suffix>" (4H x D),
// "weight_hh_<suffix>" (4H x H), "bias_ih_<suffix>", "bias_hh_<suffix>" (1 x 4H).
template <class B>
class lstm_layer {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    const tensor* x = nullptr;
    const tensor* m = nullptr;
    index_t batch = 0;
    tensor G, c, tc, h;       // activated gates, masked cell, tanh(cell), output
    tensor bias;              // b_ih + b_hh
    tensor dG, dx, dh, dc, dh_rec, db;
  };

  lstm_layer() = default;
  lstm_layer(parameters<B>& p, const std::string& prefix, const std::string& suffix, index_t in, index_t hidden,
             bool reverse, group owner)
      : m_p(&p), m_name(prefix + "[" + suffix + "]"), m_in(in), m_h(hidden), m_reverse(reverse) {
    if (in <= 0 || hidden <= 0) detail::fail("lstm '", prefix, "': sizes must be positive");
    const T bound = T(1) / std::sqrt(T(hidden));
    m_wih = p.add(prefix + ".weight_ih_" + suffix, 4 * hidden, in, owner, bound);
    m_whh = p.add(prefix + ".weight_hh_" + suffix, 4 * hidden, hidden, owner, bound);
    m_bih = p.add(prefix + ".bias_ih_" + suffix, 1, 4 * hidden, owner, bound);
    m_bhh = p.add(prefix + ".bias_hh_" + suffix, 1, 4 * hidden, owner, bound);
  }
  index_t hidden() const { return m_h; }
  index_t in_size() const { return m_in; }

  // requires: x is (T*B) x in; m is null or (T*B) x 1.
  const tensor& forward(state& s, const tensor& x, const tensor* m, index_t batch) const {
    check_input(x, m, batch);
    const index_t R = x.rows(), Tn = R / batch, H = m_h;
    s.x = &x;
    s.m = m;
    s.batch = batch;
    B::resize(s.G, R, 4 * H);
    B::resize(s.c, R, H);
    B::resize(s.tc, R, H);
    B::resize(s.h, R, H);
    B::resize(s.bias, 1, 4 * H);  // b_ih + b_hh: the products' starting value
    B::copy(s.bias, m_p->value(m_bih));
    B::axpy(s.bias, T(1), m_p->value(m_bhh));
    affine<B>(s.G, x, m_p->value(m_wih), s.bias);
    const tensor none;
    if constexpr (has_sequence_ops) {  // the backend runs the whole recurrence
      B::lstm_forward_sequence(s.G, s.c, s.tc, s.h, m_p->value(m_whh), m ? *m : none, batch, m_reverse);
      return s.h;
    }
    for (index_t k = 0; k < Tn; ++k) {
      const index_t t = m_reverse ? Tn - 1 - k : k, prev = m_reverse ? t + 1 : t - 1;
      auto Gt = B::rows(s.G, t * batch, batch);
      if (k > 0) B::gemm(Gt, B::rows(s.h, prev * batch, batch), false, m_p->value(m_whh), true, T(1), T(1));
      fused::lstm_forward_step<B>(Gt, k > 0 ? B::crows(s.c, prev * batch, batch) : B::crows(none, 0, 0),
                           m ? B::crows(*m, t * batch, batch) : B::crows(none, 0, 0), B::rows(s.c, t * batch, batch),
                           B::rows(s.tc, t * batch, batch), B::rows(s.h, t * batch, batch));
    }
    return s.h;
  }

  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    check_shape(m_name.c_str(), "output gradient", B::shape(dy), B::shape(s.h));
    const index_t R = dy.rows(), batch = s.batch, Tn = R / batch, H = m_h;
    B::resize(s.dG, R, 4 * H);
    B::resize(s.dh, batch, H);
    B::resize(s.dc, batch, H);
    B::resize(s.dh_rec, batch, H);
    B::zero(s.dc);
    B::zero(s.dh_rec);
    const tensor none;
    if constexpr (has_sequence_ops)
      B::lstm_backward_sequence(s.dG, s.G, s.c, s.tc, dy, m_p->value(m_whh), s.m ? *s.m : none, batch, m_reverse);
    else
      for (index_t k = Tn; k-- > 0;) {
        const index_t t = m_reverse ? Tn - 1 - k : k, prev = m_reverse ? t + 1 : t - 1;
        B::copy(s.dh, B::crows(dy, t * batch, batch));
        if (k + 1 < Tn) B::axpy(s.dh, T(1), s.dh_rec);
        auto dGt = B::rows(s.dG, t * batch, batch);
        fused::lstm_backward_step<B>(dGt, B::crows(s.G, t * batch, batch),
                              k > 0 ? B::crows(s.c, prev * batch, batch) : B::crows(none, 0, 0),
                              s.m ? B::crows(*s.m, t * batch, batch) : B::crows(none, 0, 0),
                              B::crows(s.tc, t * batch, batch), s.dh, s.dc);
        if (k > 0) B::gemm(s.dh_rec, dGt, false, m_p->value(m_whh), false, T(1), T(0));
      }
    if (m_p->trainable(m_wih)) {
      B::gemm(m_p->grad(m_wih), s.dG, true, *s.x, false, T(1), T(1));
      // Both biases get the same sum: one pass over dG.
      B::resize(s.db, 1, 4 * H);
      B::sum_rows(s.db, s.dG, T(0));
      B::axpy(m_p->grad(m_bih), T(1), s.db);
      B::axpy(m_p->grad(m_bhh), T(1), s.db);
      if (Tn > 1) {
        // dW_hh += sum_t dG_t^T h_prev(t): rows of dG and h shifted by one step.
        const index_t n = R - batch;
        const index_t g0 = m_reverse ? 0 : batch, h0 = m_reverse ? batch : 0;
        B::gemm(m_p->grad(m_whh), B::crows(s.dG, g0, n), true, B::crows(s.h, h0, n), false, T(1), T(1));
      }
    }
    if (!need_dx) return nullptr;
    B::resize(s.dx, R, m_in);
    B::gemm(s.dx, s.dG, false, m_p->value(m_wih), false, T(1), T(0));
    return &s.dx;
  }

 private:
  // Optional backend ops running the whole recurrence (cpu: batch slices per
  // thread); backends without them get the per-time-step loop above.
  static constexpr bool has_sequence_ops = requires(tensor& t, const tensor& ct) {
    B::lstm_forward_sequence(t, t, t, t, ct, ct, index_t(1), false);
    B::lstm_backward_sequence(t, ct, ct, ct, ct, ct, ct, index_t(1), false);
  };
  void check_input(const tensor& x, const tensor* m, index_t batch) const {
    if (batch <= 0 || x.rows() == 0) detail::fail(m_name, ": empty batch (input ", to_string(B::shape(x)), ")");
    if (x.cols() != m_in || x.rows() % batch != 0)
      detail::fail(m_name, ": input has shape ", to_string(B::shape(x)), ", expected [(T*", batch, ") x ", m_in, "]");
    if (m && (m->rows() != x.rows() || m->cols() != 1))
      detail::fail(m_name, ": mask has shape ", to_string(B::shape(*m)), ", expected [", x.rows(), " x 1]");
    if (detail::finite_checks() && !B::all_finite(x))
      detail::fail(m_name, ": input ", to_string(B::shape(x)), " contains NaN or Inf");
  }
  parameters<B>* m_p = nullptr;
  std::string m_name;
  index_t m_in = 0, m_h = 0;
  bool m_reverse = false;
  param_id m_wih = -1, m_whh = -1, m_bih = -1, m_bhh = -1;
};

// Multi-layer unidirectional LSTM ("<prefix>.weight_ih_l0", ..._l1, ...), as
// PyTorch's nn.LSTM(num_layers = L).
template <class B>
class lstm {
 public:
  using tensor = typename B::tensor;
  struct state {
    std::vector<typename lstm_layer<B>::state> layer;
  };
  lstm() = default;
  lstm(parameters<B>& p, const std::string& prefix, index_t in, index_t hidden, index_t layers, group owner) {
    if (layers <= 0) detail::fail("lstm '", prefix, "': needs at least one layer");
    for (index_t l = 0; l < layers; ++l)
      m_layers.emplace_back(p, prefix, "l" + std::to_string(l), l == 0 ? in : hidden, hidden, false, owner);
  }
  index_t hidden() const { return m_layers.back().hidden(); }

  const tensor& forward(state& s, const tensor& x, const tensor* m, index_t batch) const {
    s.layer.resize(m_layers.size());
    const tensor* h = &x;
    for (size_t l = 0; l < m_layers.size(); ++l) h = &m_layers[l].forward(s.layer[l], *h, m, batch);
    return *h;
  }
  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    const tensor* g = &dy;
    for (size_t l = m_layers.size(); l-- > 0;) g = m_layers[l].backward(s.layer[l], *g, l > 0 || need_dx);
    return g;
  }

 private:
  std::vector<lstm_layer<B>> m_layers;
};

// Multi-layer bidirectional LSTM. Layer l > 0 reads [forward, backward]
// outputs of layer l-1 (as PyTorch); the module's output at each frame is the
// element-wise AVERAGE of the last layer's two directions (the paper's full-q
// encoder and richer decoder).
template <class B>
class bilstm {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    std::vector<typename lstm_layer<B>::state> fwd, bwd;
    std::vector<tensor> cat, dcat;  // inputs of layers 1.. and their gradients
    std::vector<tensor> df, db;     // dcat split into the two directions
    tensor y, dh, dx;
  };
  bilstm() = default;
  bilstm(parameters<B>& p, const std::string& prefix, index_t in, index_t hidden, index_t layers, group owner) {
    if (layers <= 0) detail::fail("bilstm '", prefix, "': needs at least one layer");
    for (index_t l = 0; l < layers; ++l) {
      const index_t d = l == 0 ? in : 2 * hidden;
      m_fwd.emplace_back(p, prefix, "l" + std::to_string(l), d, hidden, false, owner);
      m_bwd.emplace_back(p, prefix, "l" + std::to_string(l) + "_reverse", d, hidden, true, owner);
    }
  }
  index_t hidden() const { return m_fwd.back().hidden(); }

  const tensor& forward(state& s, const tensor& x, const tensor* m, index_t batch) const {
    const size_t L = m_fwd.size();
    s.fwd.resize(L);
    s.bwd.resize(L);
    s.cat.resize(L);
    s.dcat.resize(L);
    const tensor* in = &x;
    for (size_t l = 0; l < L; ++l) {
      const tensor& hf = m_fwd[l].forward(s.fwd[l], *in, m, batch);
      const tensor& hb = m_bwd[l].forward(s.bwd[l], *in, m, batch);
      if (l + 1 < L) {
        B::resize(s.cat[l + 1], hf.rows(), 2 * hidden());
        fused::concat_cols<B>(s.cat[l + 1], hf, hb);
        in = &s.cat[l + 1];
      } else {
        B::resize(s.y, hf.rows(), hidden());
        B::copy(s.y, hf);
        B::axpy(s.y, T(1), hb);
        B::scale(s.y, T(0.5));
      }
    }
    return s.y;
  }

  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    const size_t L = m_fwd.size();
    s.df.resize(L);
    s.db.resize(L);
    B::resize(s.dh, dy.rows(), dy.cols());
    B::copy(s.dh, dy);
    B::scale(s.dh, T(0.5));  // d(average)/d(direction) = 1/2
    const tensor* dhf = &s.dh;
    const tensor* dhb = &s.dh;
    for (size_t l = L; l-- > 0;) {
      const bool need = l > 0 || need_dx;
      const tensor* gf = m_fwd[l].backward(s.fwd[l], *dhf, need);
      const tensor* gb = m_bwd[l].backward(s.bwd[l], *dhb, need);
      if (!need) return nullptr;
      tensor& d = l > 0 ? s.dcat[l] : s.dx;
      B::resize(d, gf->rows(), gf->cols());
      B::copy(d, *gf);
      B::axpy(d, T(1), *gb);
      if (l > 0) {  // split [forward, backward] input gradient of layer l
        B::resize(s.df[l], d.rows(), hidden());
        B::resize(s.db[l], d.rows(), hidden());
        fused::split_cols<B>(s.df[l], s.db[l], d);
        dhf = &s.df[l];
        dhb = &s.db[l];
      }
    }
    return &s.dx;
  }

 private:
  std::vector<lstm_layer<B>> m_fwd, m_bwd;
};

}  // namespace dsae::nn
