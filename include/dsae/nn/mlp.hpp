#pragma once
// mlp<B>: FCN-[w1, w2, ...] = Linear -> tanh -> Linear -> tanh ..., applied to
// every row (frame). Layer k is named "<name>.<2k>" as in a PyTorch
// Sequential(Linear, Tanh, Linear, Tanh).
#include <string>
#include <vector>
#include "../backend/fused.hpp"
#include "linear.hpp"

namespace dsae::nn {

template <class B>
class mlp {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    std::vector<typename linear<B>::state> lin;
    std::vector<tensor> dpre;  // gradient w.r.t. each layer's pre-activation
  };

  mlp() = default;
  // requires: at least one width; every width > 0.
  mlp(parameters<B>& p, const std::string& name, index_t in, const std::vector<index_t>& widths, group owner) {
    if (widths.empty()) detail::fail("mlp '", name, "': needs at least one layer");
    index_t d = in;
    for (size_t k = 0; k < widths.size(); ++k) {
      m_layers.emplace_back(p, name + "." + std::to_string(2 * k), d, widths[k], owner);
      d = widths[k];
    }
  }
  index_t in_size() const { return m_layers.front().in_size(); }
  index_t out_size() const { return m_layers.back().out_size(); }

  const tensor& forward(state& s, const tensor& x) const {
    s.lin.resize(m_layers.size());
    s.dpre.resize(m_layers.size());
    if constexpr (has_fused) {
      // Backends with a fused kernel run all layers block by block.
      m_layers.front().check_input(x);  // later widths match by construction
      s.lin[0].x = &x;
      for (size_t k = 0; k < m_layers.size(); ++k) {
        B::resize(s.lin[k].y, x.rows(), m_layers[k].out_size());
        if (k > 0) s.lin[k].x = &s.lin[k - 1].y;
      }
      B::mlp_tanh_forward(x.data(), x.rows(), fused_layers(s));
      return s.lin.back().y;
    }
    const tensor* h = &x;
    for (size_t k = 0; k < m_layers.size(); ++k) {
      m_layers[k].forward(s.lin[k], *h);
      B::tanh_inplace(s.lin[k].y);  // the linear's output buffer becomes the activation
      h = &s.lin[k].y;
    }
    return *h;
  }

  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    if constexpr (has_fused) {
      check_shape("mlp", "output gradient", B::shape(dy), B::shape(s.lin.back().y));
      tensor& dx = s.dpre[0];
      if (need_dx) B::resize(dx, dy.rows(), in_size());
      B::mlp_tanh_backward(s.lin[0].x->data(), dy.rows(), fused_layers(s), dy.data(), need_dx ? dx.data() : nullptr);
      return need_dx ? &dx : nullptr;
    }
    const tensor* g = &dy;
    for (size_t k = m_layers.size(); k-- > 0;) {
      tensor& d = s.dpre[k];
      B::resize(d, g->rows(), g->cols());
      B::copy(d, *g);
      fused::tanh_backward<B>(d, s.lin[k].y);
      g = m_layers[k].backward(s.lin[k], d, k > 0 || need_dx);
    }
    return g;
  }

 private:
  static constexpr bool has_fused = requires(std::vector<typename B::mlp_layer> l, const T* p, T* q) {
    B::mlp_tanh_forward(p, index_t(0), l);
    B::mlp_tanh_backward(p, index_t(0), l, p, q);
  };
  // A member template, so that a backend without the fused op never names
  // BB::mlp_layer (the op-by-op path is used instead).
  template <class BB = B>
  std::vector<typename BB::mlp_layer> fused_layers(state& s) const
    requires has_fused
  {
    std::vector<typename BB::mlp_layer> L(m_layers.size());
    for (size_t k = 0; k < m_layers.size(); ++k) {
      const auto& l = m_layers[k];
      const bool tr = l.trainable();
      L[k] = {l.weight_data(), l.bias_data(), s.lin[k].y.data(), tr ? l.weight_grad_data() : nullptr,
              tr ? l.bias_grad_data() : nullptr, l.in_size(), l.out_size()};
    }
    return L;
  }
  std::vector<linear<B>> m_layers;
};

}  // namespace dsae::nn
