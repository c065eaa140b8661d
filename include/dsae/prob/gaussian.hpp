#pragma once
// Diagonal-Gaussian building blocks: reparameterised sampling and KL.
// prob/ depends on config.hpp and philox.hpp only (no folder cycle with nn/).
#include "../backend/fused.hpp"
#include "../config.hpp"
#include "philox.hpp"

namespace dsae::prob {

// reparameterise<B>: s = mu + eps * exp(0.5 * logvar) (paper, sec. 3).
// The noise either comes from the counter-based generator (forward) or is
// given (forward_given: parity tests, reproducing a reference run).
template <class B>
class reparameterise {
 public:
  using tensor = typename B::tensor;
  struct state {
    const tensor* lv = nullptr;
    tensor eps, s;
  };
  const tensor& forward(state& st, const tensor& mu, const tensor& lv, noise_key key) const {
    check(mu, lv);
    B::resize(st.eps, mu.rows(), mu.cols());
    B::normal(st.eps, key);
    return finish(st, mu, lv);
  }
  const tensor& forward_given(state& st, const tensor& mu, const tensor& lv, const tensor& eps) const {
    check(mu, lv);
    check_shape("reparameterise", "noise", B::shape(eps), B::shape(mu));
    B::resize(st.eps, mu.rows(), mu.cols());
    B::copy(st.eps, eps);
    return finish(st, mu, lv);
  }
  // Accumulates into dmu, dlv (either may be null).
  void backward(const state& st, const tensor& ds, tensor* dmu, tensor* dlv) const {
    check_shape("reparameterise", "sample gradient", B::shape(ds), B::shape(st.s));
    fused::reparam_backward<B>(dmu, dlv, ds, *st.lv, st.eps);
  }

 private:
  static void check(const tensor& mu, const tensor& lv) {
    if (mu.rows() == 0) detail::fail("reparameterise: empty batch");
    check_shape("reparameterise", "log-variance", B::shape(lv), B::shape(mu));
  }
  const tensor& finish(state& st, const tensor& mu, const tensor& lv) const {
    st.lv = &lv;
    B::resize(st.s, mu.rows(), mu.cols());
    fused::reparam<B>(st.s, mu, lv, st.eps);
    return st.s;
  }
};

// gaussian_kl<B>: value = scale * sum_r w[r] sum_j KL(N1 || N2)[r, j] with
// KL(N1 || N2) = 0.5 (lv2 - lv1 + (e^lv1 + (mu1 - mu2)^2) / e^lv2 - 1).
// N2 = N(0, I) when mu2 is null. The row weights w carry the reductions
// (masks, 1 / n_b, 1 / (B * dims)).
template <class B>
class gaussian_kl {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    const tensor *mu1 = nullptr, *lv1 = nullptr, *mu2 = nullptr, *lv2 = nullptr, *w = nullptr;
    T scale = 1, value = 0;
  };
  T forward(state& st, const tensor& mu1, const tensor& lv1, const tensor* mu2, const tensor* lv2, const tensor& w,
            T scale) const {
    check_shape("gaussian_kl", "log-variance 1", B::shape(lv1), B::shape(mu1));
    if (mu2) {
      check_shape("gaussian_kl", "mean 2", B::shape(*mu2), B::shape(mu1));
      check_shape("gaussian_kl", "log-variance 2", B::shape(*lv2), B::shape(mu1));
    }
    check_shape("gaussian_kl", "row weights", B::shape(w), {mu1.rows(), 1});
    st = {&mu1, &lv1, mu2, lv2, &w, scale, T(0)};
    static const tensor none;
    st.value = scale * fused::kl<B>(mu1, lv1, mu2 ? *mu2 : none, lv2 ? *lv2 : none, w);
    return st.value;
  }
  // Accumulates d(value)/d(inputs) * dvalue; null outputs are skipped.
  void backward(const state& st, T dvalue, tensor* dmu1, tensor* dlv1, tensor* dmu2, tensor* dlv2) const {
    static const tensor none;
    fused::kl_backward<B>(st.scale * dvalue, *st.mu1, *st.lv1, st.mu2 ? *st.mu2 : none, st.lv2 ? *st.lv2 : none, *st.w, dmu1,
                   dlv1, st.mu2 ? dmu2 : nullptr, st.mu2 ? dlv2 : nullptr);
  }
};

}  // namespace dsae::prob
