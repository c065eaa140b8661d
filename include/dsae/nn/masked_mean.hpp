#pragma once
// masked_mean<B>: per-sequence mean over valid frames.
// out[b, :] = sum_t m[t, b] X[t*B + b, :] / n_b, with n_b = sum_t m[t, b].
// The weights w = m / n_b (a (T*B) x 1 column) come from a batch_mask.
#include "../backend/fused.hpp"
#include "parameters.hpp"

namespace dsae::nn {

template <class B>
class masked_mean {
 public:
  using tensor = typename B::tensor;
  struct state {
    const tensor* w = nullptr;
    index_t rows = 0;
    tensor y, dx;
  };
  // requires: X is (T*B) x D, w is (T*B) x 1, batch > 0.
  const tensor& forward(state& s, const tensor& X, const tensor& w, index_t batch) const {
    if (batch <= 0 || X.rows() == 0) detail::fail("masked_mean: empty batch");
    if (X.rows() % batch != 0 || w.rows() != X.rows() || w.cols() != 1)
      detail::fail("masked_mean: input ", to_string(B::shape(X)), " and weights ", to_string(B::shape(w)),
                   " do not form a time-major batch of ", batch, " sequences");
    s.w = &w;
    s.rows = X.rows();
    B::resize(s.y, batch, X.cols());
    fused::time_weighted_sum<B>(s.y, X, w);
    return s.y;
  }
  const tensor* backward(state& s, const tensor& dy, bool need_dx) const {
    if (!need_dx) return nullptr;
    check_shape("masked_mean", "output gradient", B::shape(dy), B::shape(s.y));
    B::resize(s.dx, s.rows, dy.cols());
    B::zero(s.dx);
    fused::time_weighted_sum_backward<B>(s.dx, dy, *s.w);
    return &s.dx;
  }
};

}  // namespace dsae::nn
