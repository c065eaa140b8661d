#pragma once
// gaussian_head<B>: Gau-L = two Linear heads from one hidden layer, giving the
// mean (L) and log-variance (L) of a diagonal Gaussian. Names "<name>.mu" and
// "<name>.logvar". Both heads are evaluated by ONE GEMM: their weights (and
// biases) are registered back to back, so together they form a (2L x H)
// matrix in the flat buffer.
#include <string>
#include "../backend/fused.hpp"
#include "linear.hpp"

namespace dsae::nn {

template <class B>
class gaussian_head {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    const tensor* x = nullptr;
    tensor both, mu, logvar, dboth, dx;
  };

  gaussian_head() = default;
  gaussian_head(parameters<B>& p, const std::string& name, index_t in, index_t out, group owner)
      : m_p(&p), m_name(name), m_in(in), m_out(out) {
    if (in <= 0 || out <= 0) detail::fail("gaussian_head '", name, "': sizes must be positive");
    const T bound = T(1) / std::sqrt(T(in));
    m_wmu = p.add(name + ".mu.weight", out, in, owner, bound);
    m_wlv = p.add(name + ".logvar.weight", out, in, owner, bound);
    m_bmu = p.add(name + ".mu.bias", 1, out, owner, bound);
    m_blv = p.add(name + ".logvar.bias", 1, out, owner, bound);
  }
  index_t out_size() const { return m_out; }

  // ensures: s.mu, s.logvar are (N x L).
  void forward(state& s, const tensor& x) const {
    if (x.rows() == 0) detail::fail(m_name, ": empty batch");
    if (x.cols() != m_in) detail::fail(m_name, ": input has shape ", to_string(B::shape(x)), ", expected [N x ", m_in, "]");
    s.x = &x;
    B::resize(s.both, x.rows(), 2 * m_out);
    affine<B>(s.both, x, weights(), biases());
    B::resize(s.mu, x.rows(), m_out);
    B::resize(s.logvar, x.rows(), m_out);
    fused::split_cols<B>(s.mu, s.logvar, s.both);
  }

  // dmu, dlogvar: gradients w.r.t. the two outputs.
  const tensor* backward(state& s, const tensor& dmu, const tensor& dlogvar, bool need_dx) const {
    check_shape(m_name.c_str(), "mean gradient", B::shape(dmu), B::shape(s.mu));
    check_shape(m_name.c_str(), "log-variance gradient", B::shape(dlogvar), B::shape(s.logvar));
    B::resize(s.dboth, dmu.rows(), 2 * m_out);
    fused::concat_cols<B>(s.dboth, dmu, dlogvar);
    if (m_p->trainable(m_wmu)) {
      B::gemm(weight_grads(), s.dboth, true, *s.x, false, T(1), T(1));
      B::sum_rows(bias_grads(), s.dboth, T(1));
    }
    if (!need_dx) return nullptr;
    B::resize(s.dx, dmu.rows(), m_in);
    B::gemm(s.dx, s.dboth, false, weights(), false, T(1), T(0));
    return &s.dx;
  }

 private:
  typename B::ref weights() const { return B::flat_view(m_p->values(), m_p->info(m_wmu).offset, 2 * m_out, m_in); }
  typename B::ref biases() const { return B::flat_view(m_p->values(), m_p->info(m_bmu).offset, 1, 2 * m_out); }
  typename B::ref weight_grads() const { return B::flat_view(m_p->grads(), m_p->info(m_wmu).offset, 2 * m_out, m_in); }
  typename B::ref bias_grads() const { return B::flat_view(m_p->grads(), m_p->info(m_bmu).offset, 1, 2 * m_out); }

  parameters<B>* m_p = nullptr;
  std::string m_name;
  index_t m_in = 0, m_out = 0;
  param_id m_wmu = -1, m_wlv = -1, m_bmu = -1, m_blv = -1;
};

}  // namespace dsae::nn
