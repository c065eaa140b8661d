#pragma once
// mse<B>: value = scale * sum_r w[r] sum_j (a - b)^2 [r, j]. With w = mask / n_b
// (sequence_batch::time_w) and scale = 1 / (B * F) this is the paper's
// reconstruction term: each sequence averaged over its own valid frames, then
// the mean over sequences and bins (no 0.5, no sum over bins).
#include "../backend/fused.hpp"
#include "parameters.hpp"

namespace dsae::nn {

template <class B>
class mse {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  struct state {
    const tensor *a = nullptr, *b = nullptr, *w = nullptr;
    T scale = 1;
  };
  T forward(state& st, const tensor& a, const tensor& b, const tensor& w, T scale) const {
    if (a.rows() == 0) detail::fail("mse: empty batch");
    check_shape("mse", "target", B::shape(b), B::shape(a));
    check_shape("mse", "row weights", B::shape(w), {a.rows(), 1});
    st = {&a, &b, &w, scale};
    return scale * fused::sq_error<B>(a, b, w);
  }
  // Accumulates the gradient w.r.t. `a` (the prediction) into da.
  void backward(const state& st, T dvalue, tensor& da) const {
    fused::sq_error_backward<B>(da, st.scale * dvalue, *st.a, *st.b, *st.w);
  }
};

}  // namespace dsae::nn
