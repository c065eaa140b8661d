#pragma once
// Functors of the Thrust backend: one per op, each applied to an element index
// (a counting iterator) by thrust::for_each_n or transform_reduce, so one
// source runs on the CUDA, OMP and CPP device systems. Every operator() is
// DSAE_HD (host + device under nvcc, plain under g++).
//
// Views hold a raw pointer into device memory plus (rows, cols, row stride);
// element (r, c) is p[r * ld + c]. Functors capture views by value.
#include <cstdint>
#include <math.h>
#include "../../config.hpp"
#include "../../prob/philox.hpp"

namespace dsae::detail::thrust_k {

// Device-safe maths, dispatched on the scalar type (the std:: float overloads
// are not device functions under every nvcc/libstdc++ pair).
DSAE_HD inline float dexp(float x) { return ::expf(x); }
DSAE_HD inline double dexp(double x) { return ::exp(x); }
DSAE_HD inline float dtanh(float x) { return ::tanhf(x); }
DSAE_HD inline double dtanh(double x) { return ::tanh(x); }
DSAE_HD inline float dsqrt(float x) { return ::sqrtf(x); }
DSAE_HD inline double dsqrt(double x) { return ::sqrt(x); }
template <class T>
DSAE_HD inline T sigmoid(T x) {
  return T(1) / (T(1) + dexp(-x));
}
// x - x is 0 for finite x and NaN for +-Inf and NaN (no <cmath> classification
// needed in device code).
template <class T>
DSAE_HD inline bool finite(T x) {
  return (x - x) == T(0);
}

// Mutable strided view. rows() == 0 marks an absent optional operand.
template <class T>
struct view {
  T* p = nullptr;
  index_t r = 0, c = 0, ld = 0;
  DSAE_HD T& operator()(index_t i, index_t j) const { return p[i * ld + j]; }
};
template <class T>
struct cview {
  const T* p = nullptr;
  index_t r = 0, c = 0, ld = 0;
  DSAE_HD const T& operator()(index_t i, index_t j) const { return p[i * ld + j]; }
};

// ---- element-wise (index k over rows * cols; i = k / cols, j = k % cols) ----
template <class T>
struct fill_f {
  view<T> y;
  T v;
  DSAE_HD void operator()(index_t k) const { y(k / y.c, k % y.c) = v; }
};
template <class T>
struct copy_f {
  view<T> y;
  cview<T> x;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / y.c, j = k % y.c;
    y(i, j) = x(i, j);
  }
};
template <class T>
struct axpy_f {  // y += a x
  view<T> y;
  T a;
  cview<T> x;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / y.c, j = k % y.c;
    y(i, j) += a * x(i, j);
  }
};
template <class T>
struct scale_f {
  view<T> y;
  T a;
  DSAE_HD void operator()(index_t k) const { y(k / y.c, k % y.c) *= a; }
};
template <class T>
struct add_row_f {  // Y[i, :] += b
  view<T> y;
  cview<T> b;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / y.c, j = k % y.c;
    y(i, j) += b(0, j);
  }
};
// Element-wise ops of the node operations (objective/node_ops.hpp).
DSAE_HD inline float dlog(float x) { return ::logf(x); }
DSAE_HD inline double dlog(double x) { return ::log(x); }
template <class T>
struct mul_f {  // y = a * b
  view<T> y;
  cview<T> a, b;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / y.c, j = k % y.c;
    y(i, j) = a(i, j) * b(i, j);
  }
};
template <class T>
struct add_product_f {  // y += a * b
  view<T> y;
  cview<T> a, b;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / y.c, j = k % y.c;
    y(i, j) += a(i, j) * b(i, j);
  }
};
template <class T>
struct exp_f {  // y = exp(a)
  view<T> y;
  cview<T> a;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / y.c, j = k % y.c;
    y(i, j) = dexp(a(i, j));
  }
};
template <class T>
struct lse_rows_f {  // y[i] = log sum_j exp(a[i, j]), one row per index
  view<T> y;
  cview<T> a;
  DSAE_HD void operator()(index_t i) const {
    T m = a(i, 0);
    for (index_t j = 1; j < a.c; ++j) m = a(i, j) > m ? a(i, j) : m;
    T s = 0;
    for (index_t j = 0; j < a.c; ++j) s += dexp(a(i, j) - m);
    y(i, 0) = m + dlog(s);
  }
};
template <class T>
struct lse_rows_back_f {  // da[i, j] += dy[i] * exp(a[i, j] - y[i])
  view<T> da;
  cview<T> dy, a, y;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / da.c, j = k % da.c;
    da(i, j) += dy(i, 0) * dexp(a(i, j) - y(i, 0));
  }
};
template <class T>
struct tanh_f {
  view<T> y;
  DSAE_HD void operator()(index_t k) const {
    T& v = y(k / y.c, k % y.c);
    v = dtanh(v);
  }
};
template <class T>
struct tanh_back_f {  // dy *= 1 - y^2
  view<T> dy;
  cview<T> y;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / dy.c, j = k % dy.c;
    const T v = y(i, j);
    dy(i, j) *= T(1) - v * v;
  }
};

// ---- LSTM gates (index k over B * H; gate order i, f, g, o) -----------------
template <class T>
struct lstm_fwd_f {
  view<T> G;
  cview<T> cp, m;
  view<T> c, tc, h;
  index_t H;
  DSAE_HD void operator()(index_t k) const {
    const index_t r = k / H, j = k % H;
    const T i = sigmoid(G(r, j)), f = sigmoid(G(r, H + j)), g = dtanh(G(r, 2 * H + j)),
            o = sigmoid(G(r, 3 * H + j));
    G(r, j) = i;
    G(r, H + j) = f;
    G(r, 2 * H + j) = g;
    G(r, 3 * H + j) = o;
    const T ct = cp.r > 0 ? f * cp(r, j) + i * g : i * g;
    const T t = dtanh(ct);
    tc(r, j) = t;
    if (m.r > 0 && m(r, 0) == T(0)) {
      c(r, j) = T(0);
      h(r, j) = T(0);
    } else {
      c(r, j) = ct;
      h(r, j) = o * t;
    }
  }
};
template <class T>
struct lstm_bwd_f {
  view<T> dG;
  cview<T> G, cp, m, tc, dh;
  view<T> dc;
  index_t H;
  DSAE_HD void operator()(index_t k) const {
    const index_t r = k / H, j = k % H;
    if (m.r > 0 && m(r, 0) == T(0)) {
      dG(r, j) = dG(r, H + j) = dG(r, 2 * H + j) = dG(r, 3 * H + j) = T(0);
      dc(r, j) = T(0);
      return;
    }
    const T i = G(r, j), f = G(r, H + j), g = G(r, 2 * H + j), o = G(r, 3 * H + j);
    const T t = tc(r, j), d_h = dh(r, j);
    const T dcr = dc(r, j) + d_h * o * (T(1) - t * t);
    dG(r, 3 * H + j) = d_h * t * o * (T(1) - o);
    dG(r, j) = dcr * g * i * (T(1) - i);
    dG(r, 2 * H + j) = dcr * i * (T(1) - g * g);
    dG(r, H + j) = cp.r > 0 ? dcr * cp(r, j) * f * (T(1) - f) : T(0);
    dc(r, j) = dcr * f;
  }
};

// ---- time structure (rows t * B + b) -------------------------------------------
template <class T>
struct time_sum_f {  // out[b, j] = sum_t w[tB+b] X[tB+b, j], t ascending
  view<T> out;
  cview<T> X, w;
  DSAE_HD void operator()(index_t k) const {
    const index_t B = out.r, b = k / out.c, j = k % out.c, Tn = X.r / B;
    T acc = T(0);
    for (index_t t = 0; t < Tn; ++t) acc += X(t * B + b, j) * w(t * B + b, 0);
    out(b, j) = acc;
  }
};
template <class T>
struct time_sum_back_f {  // dX[tB+b, j] += w[tB+b] dout[b, j]
  view<T> dX;
  cview<T> dout, w;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / dX.c, j = k % dX.c;
    dX(i, j) += dout(i % dout.r, j) * w(i, 0);
  }
};
template <class T>
struct concat_f {
  view<T> dst;
  cview<T> a, b;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / dst.c, j = k % dst.c;
    dst(i, j) = j < a.c ? a(i, j) : b(i % b.r, j - a.c);
  }
};
template <class T>
struct split_f {
  view<T> a, b;
  cview<T> src;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / src.c, j = k % src.c;
    if (j < a.c) a(i, j) = src(i, j);
    else b(i, j - a.c) = src(i, j);
  }
};
template <class T>
struct split_back_a_f {  // da += d[:, :ca]
  view<T> da;
  cview<T> d;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / da.c, j = k % da.c;
    da(i, j) += d(i, j);
  }
};
template <class T>
struct split_back_b_f {  // db[b, j] += sum_t d[tB+b, ca + j], t ascending
  view<T> db;
  cview<T> d;
  index_t ca;
  DSAE_HD void operator()(index_t k) const {
    const index_t B = db.r, b = k / db.c, j = k % db.c;
    T acc = db(b, j);
    for (index_t r0 = 0; r0 < d.r; r0 += B) acc += d(r0 + b, ca + j);
    db(b, j) = acc;
  }
};
template <class T>
struct gather_f {  // dst[tB+i] = src[tB+perm[i]]
  view<T> dst;
  cview<T> src;
  const index_t* perm;
  index_t B;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / dst.c, j = k % dst.c, t0 = i - i % B;
    dst(i, j) = src(t0 + perm[i % B], j);
  }
};
// Scatter-add written as a gather over the inverse permutation (CSR: the
// positions i with perm[i] == q, ascending), so repeated indices need no
// atomics and the sum order is the CPU backend's.
template <class T>
struct gather_back_f {  // dsrc[tB+q] += sum_{i: perm[i]=q} ddst[tB+i]
  view<T> dsrc;
  cview<T> ddst;
  const index_t *start, *pos;
  index_t B;
  DSAE_HD void operator()(index_t k) const {
    const index_t r = k / dsrc.c, j = k % dsrc.c, q = r % B, t0 = r - q;
    T acc = dsrc(r, j);
    for (index_t s = start[q]; s < start[q + 1]; ++s) acc += ddst(t0 + pos[s], j);
    dsrc(r, j) = acc;
  }
};

// ---- Gaussian ---------------------------------------------------------------------
template <class T>
struct normal_f {  // element index = row-major position in the logical tensor
  view<T> eps;
  prob::noise_key key;
  DSAE_HD void operator()(index_t k) const {
    eps(k / eps.c, k % eps.c) = T(prob::philox_normal(key, std::uint64_t(k)));
  }
};
template <class T>
struct reparam_f {
  view<T> s;
  cview<T> mu, lv, eps;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / s.c, j = k % s.c;
    s(i, j) = mu(i, j) + eps(i, j) * dexp(T(0.5) * lv(i, j));
  }
};
template <class T>
struct reparam_back_f {
  view<T> dmu, dlv;  // r == 0: skipped
  cview<T> ds, lv, eps;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / ds.c, j = k % ds.c;
    if (dmu.r > 0) dmu(i, j) += ds(i, j);
    if (dlv.r > 0) dlv(i, j) += ds(i, j) * eps(i, j) * T(0.5) * dexp(T(0.5) * lv(i, j));
  }
};
// w[r] * 0.5 * KL term of element (r, j), in double for the reduction. Rows of
// weight 0 contribute exactly 0 (even if their values are not finite).
template <class T>
struct kl_f {
  cview<T> mu1, lv1, mu2, lv2, w;
  DSAE_HD double operator()(index_t k) const {
    const index_t i = k / mu1.c, j = k % mu1.c;
    const T wr = w(i, 0);
    if (wr == T(0)) return 0.0;
    const T m1 = mu1(i, j), l1 = lv1(i, j);
    T s;
    if (mu2.r == 0) s = -l1 + dexp(l1) + m1 * m1 - T(1);
    else {
      const T m2 = mu2(i, j), l2 = lv2(i, j), d = m1 - m2;
      s = l2 - l1 + (dexp(l1) + d * d) * dexp(-l2) - T(1);
    }
    return double(wr) * double(T(0.5) * s);
  }
};
template <class T>
struct kl_back_f {
  T scale;
  cview<T> mu1, lv1, mu2, lv2, w;
  view<T> dmu1, dlv1, dmu2, dlv2;  // r == 0: skipped
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / mu1.c, j = k % mu1.c;
    const T wr = scale * w(i, 0);
    if (wr == T(0)) return;
    const T m1 = mu1(i, j), l1 = lv1(i, j);
    if (mu2.r == 0) {
      if (dmu1.r > 0) dmu1(i, j) += wr * m1;
      if (dlv1.r > 0) dlv1(i, j) += wr * T(0.5) * (dexp(l1) - T(1));
      return;
    }
    const T m2 = mu2(i, j), l2 = lv2(i, j), inv2 = dexp(-l2), d = m1 - m2;
    if (dmu1.r > 0) dmu1(i, j) += wr * d * inv2;
    if (dmu2.r > 0) dmu2(i, j) -= wr * d * inv2;
    if (dlv1.r > 0) dlv1(i, j) += wr * T(0.5) * (dexp(l1) * inv2 - T(1));
    if (dlv2.r > 0) dlv2(i, j) += wr * T(0.5) * (T(1) - (dexp(l1) + d * d) * inv2);
  }
};
template <class T>
struct sq_error_f {
  cview<T> a, b, w;
  DSAE_HD double operator()(index_t k) const {
    const index_t i = k / a.c, j = k % a.c;
    const T wr = w(i, 0);
    if (wr == T(0)) return 0.0;
    const T d = a(i, j) - b(i, j);
    return double(wr) * double(d * d);
  }
};
template <class T>
struct sq_error_back_f {  // da += (a - b) w * 2 scale
  view<T> da;
  T k2;
  cview<T> a, b, w;
  DSAE_HD void operator()(index_t k) const {
    const index_t i = k / da.c, j = k % da.c;
    da(i, j) += ((a(i, j) - b(i, j)) * w(i, 0)) * k2;
  }
};
template <class T>
struct sum_f {
  cview<T> x;
  DSAE_HD double operator()(index_t k) const { return double(x(k / x.c, k % x.c)); }
};
template <class T>
struct nonfinite_f {
  cview<T> x;
  DSAE_HD int operator()(index_t k) const { return finite(x(k / x.c, k % x.c)) ? 0 : 1; }
};

// ---- Adam (PyTorch's formulation), index over n contiguous parameters ----------
template <class T>
struct adam_f {
  T *p, *m, *v, *vmax;
  const T* g;
  T b1, b2, eps, step_size, sqrt_bc2;
  bool amsgrad;
  DSAE_HD void operator()(index_t i) const {
    const T gi = g[i];
    const T mi = b1 * m[i] + (T(1) - b1) * gi;
    const T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    T vv = vi;
    if (amsgrad) {
      vv = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vv;
    }
    p[i] -= step_size * mi / (dsqrt(vv) / sqrt_bc2 + eps);
  }
};

}  // namespace dsae::detail::thrust_k
