#pragma once
// tanh_layer<B>: element-wise tanh. Caches its output (the VJP needs only y).
#include "../backend/fused.hpp"
#include "parameters.hpp"

namespace dsae::nn {

template <class B>
class tanh_layer {
 public:
  using tensor = typename B::tensor;
  struct state {
    tensor y, dx;
  };
  const tensor& forward(state& s, const tensor& x) const {
    B::resize(s.y, x.rows(), x.cols());
    B::copy(s.y, x);
    B::tanh_inplace(s.y);
    return s.y;
  }
  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    if (!need_dx) return nullptr;
    check_shape("tanh", "output gradient", B::shape(dy), B::shape(s.y));
    B::resize(s.dx, dy.rows(), dy.cols());
    B::copy(s.dx, dy);
    fused::tanh_backward<B>(s.dx, s.y);
    return &s.dx;
  }
};

}  // namespace dsae::nn
