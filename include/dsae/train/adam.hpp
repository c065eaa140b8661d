#pragma once
// adam<B>: Adam (Kingma & Ba) in PyTorch's formulation, over the registry's
// flat buffers, with an optional AMSGrad variant.
//
// Each parameter keeps its OWN update count: a parameter's moments and bias
// correction start at its first update. Parameters of frozen groups are not
// touched, so the stage switch of the two-stage schedule (spec) falls out:
// groups frozen in stage 1 start fresh at epoch C, the others keep going.
#include <vector>
#include "../backend/fused.hpp"
#include "../nn/parameters.hpp"

namespace dsae::train {

struct adam_options {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool amsgrad = false;
};

template <class B>
class adam {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;

  // requires: p.finalized(); 0 <= beta < 1; lr > 0; eps > 0.
  adam(parameters<B>& p, adam_options o = {}) : m_p(&p), m_o(o) {
    if (!p.finalized()) detail::fail("adam: parameters must be finalized first");
    if (!(o.lr > 0) || !(o.eps > 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
      detail::fail("adam: invalid options lr=", o.lr, " betas=(", o.beta1, ", ", o.beta2, ") eps=", o.eps);
    const std::vector<T> zeros(size_t(p.size()), T(0));
    m_m = B::from_host(zeros, 1, p.size());
    m_v = m_m;
    m_vmax = m_m;
    m_steps.assign(p.entries().size(), 0);
  }

  // One update of every parameter whose group trains.
  void step() {
    const auto& es = m_p->entries();
    for (size_t k = 0; k < es.size(); ++k) {
      if (!m_p->trainable(es[k].owner)) continue;
      const std::int64_t n = ++m_steps[k];
      fused::adam_update<B>(m_p->values(), m_p->grads(), m_m, m_v, m_vmax, es[k].offset, es[k].rows * es[k].cols, T(m_o.lr),
                     T(m_o.beta1), T(m_o.beta2), T(m_o.eps), n, m_o.amsgrad);
    }
  }

  const adam_options& options() const { return m_o; }
  // State (for checkpoints): first/second moments, AMSGrad max, per-parameter counts.
  tensor& first_moment() { return m_m; }
  tensor& second_moment() { return m_v; }
  tensor& max_second_moment() { return m_vmax; }
  std::vector<std::int64_t>& steps() { return m_steps; }

 private:
  parameters<B>* m_p;
  adam_options m_o;
  tensor m_m, m_v, m_vmax;
  std::vector<std::int64_t> m_steps;
};

}  // namespace dsae::train
