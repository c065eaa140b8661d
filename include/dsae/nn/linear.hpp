#pragma once
// linear<B>: y = x W^T + b over all rows (frames) at once.
//
// Parameters "<name>.weight" (out x in, PyTorch layout) and "<name>.bias"
// (1 x out), initialised ~ U(-1/sqrt(in), 1/sqrt(in)) as PyTorch does.
// Contract (all modules): forward(state, x) may cache in `state` and returns the
// output it owns; `x` must outlive backward. backward(state, dy, need_dx) adds
// the parameter gradients (if the group trains) and returns the input gradient
// (nullptr when need_dx is false).
#include <cmath>
#include <string>
#include "parameters.hpp"

namespace dsae::nn {

// Y = X W^T + b: the backend's fused op when it has one (bias as the products'
// starting value), else gemm + add_row.
template <class B>
void affine(typename B::tensor& Y, const typename B::tensor& X, typename B::cref W, typename B::cref b) {
  using T = typename B::scalar;
  if constexpr (requires { B::linear_forward(Y, X, W, b); }) {
    B::linear_forward(Y, X, W, b);
  } else {
    B::gemm(Y, X, false, W, true, T(1), T(0));
    B::add_row(Y, b);
  }
}

template <class B>
class linear {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    const tensor* x = nullptr;
    tensor y, dx;
  };

  linear() = default;
  // requires: in, out > 0.
  linear(parameters<B>& p, const std::string& name, index_t in, index_t out, group owner)
      : m_p(&p), m_name(name), m_in(in), m_out(out) {
    if (in <= 0 || out <= 0) detail::fail("linear '", name, "': sizes must be positive, got in=", in, " out=", out);
    const T bound = T(1) / std::sqrt(T(in));
    m_w = p.add(name + ".weight", out, in, owner, bound);
    m_b = p.add(name + ".bias", 1, out, owner, bound);
  }

  index_t in_size() const { return m_in; }
  index_t out_size() const { return m_out; }
  const std::string& name() const { return m_name; }

  const tensor& forward(state& s, const tensor& x) const {
    check(x);
    s.x = &x;
    B::resize(s.y, x.rows(), m_out);
    affine<B>(s.y, x, m_p->value(m_w), m_p->value(m_b));
    return s.y;
  }

  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    check_shape(m_name.c_str(), "output gradient", B::shape(dy), {s.x->rows(), m_out});
    if (m_p->trainable(m_w)) {
      B::gemm(m_p->grad(m_w), dy, true, *s.x, false, T(1), T(1));  // dW += dy^T x
      B::sum_rows(m_p->grad(m_b), dy, T(1));                         // db += sum dy
    }
    if (!need_dx) return nullptr;
    B::resize(s.dx, dy.rows(), m_in);
    B::gemm(s.dx, dy, false, m_p->value(m_w), false, T(1), T(0));  // dx = dy W
    return &s.dx;
  }

  param_id weight() const { return m_w; }
  param_id bias() const { return m_b; }
  bool trainable() const { return m_p->trainable(m_w); }
  // Raw access for fused backend kernels (nn/mlp.hpp).
  const T* weight_data() const { return m_p->value(m_w).data(); }
  const T* bias_data() const { return m_p->value(m_b).data(); }
  T* weight_grad_data() const { return m_p->grad(m_w).data(); }
  T* bias_grad_data() const { return m_p->grad(m_b).data(); }
  // Throws like forward() would on a wrong, empty or non-finite input.
  void check_input(const tensor& x) const { check(x); }

 private:
  void check(const tensor& x) const {
    if (x.rows() == 0) detail::fail(m_name, ": empty batch (input ", to_string(B::shape(x)), ")");
    if (x.cols() != m_in)
      detail::fail(m_name, ": input has shape ", to_string(B::shape(x)), ", expected [N x ", m_in, "]");
    if (detail::finite_checks() && !B::all_finite(x))
      detail::fail(m_name, ": input ", to_string(B::shape(x)), " contains NaN or Inf");
  }
  parameters<B>* m_p = nullptr;
  std::string m_name;
  index_t m_in = 0, m_out = 0;
  param_id m_w = -1, m_b = -1;
};

}  // namespace dsae::nn
