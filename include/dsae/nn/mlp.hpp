#pragma once
// mlp<B>: FCN-[w1, w2, ...] = Linear -> tanh -> Linear -> tanh ..., applied to
// every row (frame). Layer k is named "<name>.<2k>" as in a PyTorch
// Sequential(Linear, Tanh, Linear, Tanh).
#include <string>
#include <vector>
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
    const tensor* h = &x;
    for (size_t k = 0; k < m_layers.size(); ++k) {
      m_layers[k].forward(s.lin[k], *h);
      B::tanh_inplace(s.lin[k].y);  // the linear's output buffer becomes the activation
      h = &s.lin[k].y;
    }
    return *h;
  }

  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    const tensor* g = &dy;
    for (size_t k = m_layers.size(); k-- > 0;) {
      tensor& d = s.dpre[k];
      B::resize(d, g->rows(), g->cols());
      B::copy(d, *g);
      B::tanh_backward(d, s.lin[k].y);
      g = m_layers[k].backward(s.lin[k], d, k > 0 || need_dx);
    }
    return g;
  }

 private:
  std::vector<linear<B>> m_layers;
};

}  // namespace dsae::nn
