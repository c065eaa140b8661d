#pragma once
// Fused ops: the model-specific operations the modules call (LSTM cell steps, KL,
// squared error, reparameterisation, time sums, column concatenation, batch
// gathers, Adam), each with ONE generic default written over the backend core
// (backend/concept.hpp: storage, gemm, element-wise, reductions, noise), used by a
// backend that does not specialise the op. A backend specialises an op for speed by
// providing a static member of the same name and signature (cpu<T> and
// thrust_backend<T> specialise all of them); dsae::fused::X<B>(...) picks it.
//
// The generic defaults copy their operands to the host (B::to_host), compute there
// and write back (B::copy from B::from_host): correct on every backend, slow on a
// device. They are the reference a new backend starts from; tests/backend/
// test_core_only.cpp trains and gradient-checks the whole model through them.
//
// Contracts (same as cpu<T>'s; shapes in rows x cols, row weights w are R x 1):
//   tanh_backward(dy, y)                         dy *= 1 - y^2
//   lstm_forward_step(G, c_prev, m, c, tc, h)    G (B x 4H, gates i f g o, pre-activation in,
//                                                activated out); c = f c_prev + i g (c_prev
//                                                0 rows: none), tc = tanh c, h = o tc; rows
//                                                with m = 0 (m 0 rows: none) get c = h = 0
//   lstm_backward_step(dG, G, c_prev, m, tc, dh, dc)   VJP of the above; dc in: the state
//                                                gradient from later frames, out: to c_prev
//   time_weighted_sum(out, X, w)                 out[b] = sum_t w[t*B + b] X[t*B + b]
//   time_weighted_sum_backward(dX, dout, w)      dX[t*B + b] += w[t*B + b] dout[b]
//   concat_cols(dst, a, b)                       dst = [a, b]; b has a's rows or B rows
//                                                (row r takes b's row r % B)
//   split_cols(a, b, src)                        a, b = the left / right columns of src
//   split_cols_backward(da, db, d)               da += left of d; db += right of d summed
//                                                over the blocks of db's rows (null: skip)
//   gather_batch(dst, src, perm)                 dst[t*B + i] = src[t*B + perm[i]]
//   gather_batch_backward(dsrc, ddst, perm)      dsrc[t*B + perm[i]] += ddst[t*B + i]
//   reparam(s, mu, lv, eps)                      s = mu + eps exp(lv / 2)
//   reparam_backward(dmu, dlv, ds, lv, eps)      dmu += ds; dlv += ds eps exp(lv / 2) / 2
//   kl(mu1, lv1, mu2, lv2, w)                    sum_r w[r] sum_j KL(N1 || N2)[r, j]
//                                                (mu2 0 rows: N2 = N(0, I))
//   kl_backward(scale, mu1, lv1, mu2, lv2, w, dmu1, dlv1, dmu2, dlv2)   adds scale x its VJP
//   sq_error(a, b, w)                            sum_r w[r] sum_j (a - b)^2
//   sq_error_backward(da, scale, a, b, w)        da += 2 scale w (a - b)
//   log_sum_exp_rows(y, a), log_sum_exp_rows_backward(da, dy, a, y)
//   adam_update(p, g, m, v, vmax, offset, n, lr, b1, b2, eps, step, amsgrad)
//                                                Adam(W)/AMSGrad on entries offset..offset+n
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../config.hpp"

namespace dsae::fused {

namespace generic {

// A host copy of a backend view; store() writes it back.
template <class B>
struct host {
  using T = typename B::scalar;
  std::vector<T> v;
  index_t r = 0, c = 0;
  host() = default;
  explicit host(typename B::cref a) : v(B::to_host(a)), r(a.rows()), c(a.cols()) {}
  host(index_t rows, index_t cols) : v(size_t(rows * cols), T(0)), r(rows), c(cols) {}
  T& operator()(index_t i, index_t j) { return v[size_t(i * c + j)]; }
  T operator()(index_t i, index_t j) const { return v[size_t(i * c + j)]; }
  void store(typename B::ref dst) const { B::copy(dst, B::from_host(v, r, c)); }
};

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <class B>
void tanh_backward(typename B::ref dy, typename B::cref y) {
  host<B> d(dy);
  const host<B> yy(y);
  for (size_t k = 0; k < d.v.size(); ++k) d.v[k] *= 1 - yy.v[k] * yy.v[k];
  d.store(dy);
}

template <class B>
void lstm_forward_step(typename B::ref G, typename B::cref c_prev, typename B::cref m, typename B::ref c,
                       typename B::ref tc, typename B::ref h) {
  using T = typename B::scalar;
  host<B> g(G), cc(c), t(tc), hh(h);
  const bool has_prev = c_prev.rows() > 0, has_mask = m.rows() > 0;
  const host<B> cp = has_prev ? host<B>(c_prev) : host<B>(), mm = has_mask ? host<B>(m) : host<B>();
  const index_t Bn = g.r, H = g.c / 4;
  for (index_t r = 0; r < Bn; ++r)
    for (index_t j = 0; j < H; ++j) {
      T& i = g(r, j);
      T& f = g(r, H + j);
      T& gg = g(r, 2 * H + j);
      T& o = g(r, 3 * H + j);
      i = sigmoid(i);
      f = sigmoid(f);
      gg = std::tanh(gg);
      o = sigmoid(o);
      const bool off = has_mask && mm(r, 0) == T(0);
      const T cv = (has_prev ? f * cp(r, j) : T(0)) + i * gg;
      t(r, j) = std::tanh(cv);
      cc(r, j) = off ? T(0) : cv;
      hh(r, j) = off ? T(0) : o * t(r, j);
    }
  g.store(G);
  cc.store(c);
  t.store(tc);
  hh.store(h);
}

template <class B>
void lstm_backward_step(typename B::ref dG, typename B::cref G, typename B::cref c_prev, typename B::cref m,
                        typename B::cref tc, typename B::cref dh, typename B::ref dc) {
  using T = typename B::scalar;
  const host<B> g(G), t(tc), d(dh);
  host<B> dg(dG.rows(), dG.cols()), dcc(dc);
  const bool has_prev = c_prev.rows() > 0, has_mask = m.rows() > 0;
  const host<B> cp = has_prev ? host<B>(c_prev) : host<B>(), mm = has_mask ? host<B>(m) : host<B>();
  const index_t Bn = g.r, H = g.c / 4;
  for (index_t r = 0; r < Bn; ++r) {
    const bool off = has_mask && mm(r, 0) == T(0);  // a masked frame passes no gradient
    for (index_t j = 0; j < H; ++j) {
      const T i = g(r, j), f = g(r, H + j), gg = g(r, 2 * H + j), o = g(r, 3 * H + j), tv = t(r, j), dhv = d(r, j);
      const T dct = dcc(r, j) + dhv * o * (T(1) - tv * tv);
      dg(r, 3 * H + j) = off ? T(0) : dhv * tv * o * (T(1) - o);
      dg(r, j) = off ? T(0) : dct * gg * i * (T(1) - i);
      dg(r, 2 * H + j) = off ? T(0) : dct * i * (T(1) - gg * gg);
      dg(r, H + j) = off || !has_prev ? T(0) : dct * cp(r, j) * f * (T(1) - f);
      dcc(r, j) = off ? T(0) : dct * f;
    }
  }
  dg.store(dG);
  dcc.store(dc);
}

template <class B>
void time_weighted_sum(typename B::ref out, typename B::cref X, typename B::cref w) {
  const host<B> x(X), ww(w);
  host<B> o(out.rows(), out.cols());
  const index_t Bn = o.r;
  for (index_t r = 0; r < x.r; ++r)
    for (index_t j = 0; j < x.c; ++j) o(r % Bn, j) += ww(r, 0) * x(r, j);
  o.store(out);
}

template <class B>
void time_weighted_sum_backward(typename B::ref dX, typename B::cref dout, typename B::cref w) {
  host<B> dx(dX);
  const host<B> d(dout), ww(w);
  const index_t Bn = d.r;
  for (index_t r = 0; r < dx.r; ++r)
    for (index_t j = 0; j < dx.c; ++j) dx(r, j) += ww(r, 0) * d(r % Bn, j);
  dx.store(dX);
}

template <class B>
void concat_cols(typename B::ref dst, typename B::cref a, typename B::cref b) {
  const host<B> ha(a), hb(b);
  host<B> d(dst.rows(), dst.cols());
  for (index_t r = 0; r < ha.r; ++r) {
    for (index_t j = 0; j < ha.c; ++j) d(r, j) = ha(r, j);
    for (index_t j = 0; j < hb.c; ++j) d(r, ha.c + j) = hb(r % hb.r, j);
  }
  d.store(dst);
}

template <class B>
void split_cols(typename B::ref a, typename B::ref b, typename B::cref src) {
  const host<B> s(src);
  host<B> ha(a.rows(), a.cols()), hb(b.rows(), b.cols());
  for (index_t r = 0; r < s.r; ++r) {
    for (index_t j = 0; j < ha.c; ++j) ha(r, j) = s(r, j);
    for (index_t j = 0; j < hb.c; ++j) hb(r, j) = s(r, ha.c + j);
  }
  ha.store(a);
  hb.store(b);
}

template <class B>
void split_cols_backward(typename B::tensor* da, typename B::tensor* db, typename B::cref d) {
  const host<B> s(d);
  const index_t ca = da ? da->cols() : s.c - (db ? db->cols() : 0);
  if (da) {
    host<B> h(*da);
    for (index_t r = 0; r < s.r; ++r)
      for (index_t j = 0; j < ca; ++j) h(r, j) += s(r, j);
    h.store(*da);
  }
  if (db) {
    host<B> h(*db);
    for (index_t r = 0; r < s.r; ++r)
      for (index_t j = 0; j < h.c; ++j) h(r % h.r, j) += s(r, s.c - h.c + j);
    h.store(*db);
  }
}

template <class B>
void gather_batch(typename B::ref dst, typename B::cref src, const typename B::index_vector& perm) {
  const auto p = B::host_indices(perm);
  const index_t Bn = index_t(p.size());
  const host<B> s(src);
  host<B> d(dst.rows(), dst.cols());
  for (index_t r0 = 0; r0 < s.r; r0 += Bn)
    for (index_t i = 0; i < Bn; ++i)
      for (index_t j = 0; j < s.c; ++j) d(r0 + i, j) = s(r0 + p[size_t(i)], j);
  d.store(dst);
}

template <class B>
void gather_batch_backward(typename B::ref dsrc, typename B::cref ddst, const typename B::index_vector& perm) {
  const auto p = B::host_indices(perm);
  const index_t Bn = index_t(p.size());
  const host<B> d(ddst);
  host<B> s(dsrc);
  for (index_t r0 = 0; r0 < d.r; r0 += Bn)
    for (index_t i = 0; i < Bn; ++i)
      for (index_t j = 0; j < d.c; ++j) s(r0 + p[size_t(i)], j) += d(r0 + i, j);
  s.store(dsrc);
}

template <class B>
void reparam(typename B::ref s, typename B::cref mu, typename B::cref lv, typename B::cref eps) {
  const host<B> m(mu), l(lv), e(eps);
  host<B> out(m.r, m.c);
  for (size_t k = 0; k < out.v.size(); ++k) out.v[k] = m.v[k] + e.v[k] * std::exp(0.5 * l.v[k]);
  out.store(s);
}

template <class B>
void reparam_backward(typename B::tensor* dmu, typename B::tensor* dlv, typename B::cref ds, typename B::cref lv,
                      typename B::cref eps) {
  const host<B> d(ds), l(lv), e(eps);
  if (dmu) {
    host<B> h(*dmu);
    for (size_t k = 0; k < h.v.size(); ++k) h.v[k] += d.v[k];
    h.store(*dmu);
  }
  if (dlv) {
    host<B> h(*dlv);
    for (size_t k = 0; k < h.v.size(); ++k) h.v[k] += d.v[k] * e.v[k] * 0.5 * std::exp(0.5 * l.v[k]);
    h.store(*dlv);
  }
}

template <class B>
typename B::scalar kl(typename B::cref mu1, typename B::cref lv1, typename B::cref mu2, typename B::cref lv2,
                      typename B::cref w) {
  using T = typename B::scalar;
  const bool std_prior = mu2.rows() == 0;
  const host<B> m1(mu1), l1(lv1), ww(w);
  const host<B> m2 = std_prior ? host<B>() : host<B>(mu2), l2 = std_prior ? host<B>() : host<B>(lv2);
  T total = 0;
  for (index_t r = 0; r < m1.r; ++r) {
    if (ww(r, 0) == T(0)) continue;
    T s = 0;
    for (index_t j = 0; j < m1.c; ++j) {
      const T a = m1(r, j), la = l1(r, j);
      if (std_prior) s += T(0.5) * (-la + std::exp(la) + a * a - T(1));
      else {
        const T d = a - m2(r, j), lb = l2(r, j);
        s += T(0.5) * (lb - la + (std::exp(la) + d * d) * std::exp(-lb) - T(1));
      }
    }
    total += ww(r, 0) * s;
  }
  return total;
}

template <class B>
void kl_backward(typename B::scalar scale, typename B::cref mu1, typename B::cref lv1, typename B::cref mu2,
                 typename B::cref lv2, typename B::cref w, typename B::tensor* dmu1, typename B::tensor* dlv1,
                 typename B::tensor* dmu2, typename B::tensor* dlv2) {
  using T = typename B::scalar;
  const bool std_prior = mu2.rows() == 0;
  const host<B> m1(mu1), l1(lv1), ww(w);
  const host<B> m2 = std_prior ? host<B>() : host<B>(mu2), l2 = std_prior ? host<B>() : host<B>(lv2);
  auto load = [](typename B::tensor* t) { return t ? host<B>(*t) : host<B>(); };
  host<B> g1 = load(dmu1), h1 = load(dlv1), g2 = load(std_prior ? nullptr : dmu2), h2 = load(std_prior ? nullptr : dlv2);
  for (index_t r = 0; r < m1.r; ++r) {
    const T wr = scale * ww(r, 0);
    if (wr == T(0)) continue;
    for (index_t j = 0; j < m1.c; ++j) {
      const T a = m1(r, j), la = l1(r, j);
      if (std_prior) {
        if (dmu1) g1(r, j) += wr * a;
        if (dlv1) h1(r, j) += wr * T(0.5) * (std::exp(la) - T(1));
        continue;
      }
      const T d = a - m2(r, j), inv2 = std::exp(-l2(r, j));
      if (dmu1) g1(r, j) += wr * d * inv2;
      if (dmu2) g2(r, j) -= wr * d * inv2;
      if (dlv1) h1(r, j) += wr * T(0.5) * (std::exp(la) * inv2 - T(1));
      if (dlv2) h2(r, j) += wr * T(0.5) * (T(1) - (std::exp(la) + d * d) * inv2);
    }
  }
  if (dmu1) g1.store(*dmu1);
  if (dlv1) h1.store(*dlv1);
  if (dmu2 && !std_prior) g2.store(*dmu2);
  if (dlv2 && !std_prior) h2.store(*dlv2);
}

template <class B>
typename B::scalar sq_error(typename B::cref a, typename B::cref b, typename B::cref w) {
  using T = typename B::scalar;
  const host<B> ha(a), hb(b), ww(w);
  T total = 0;
  for (index_t r = 0; r < ha.r; ++r) {
    if (ww(r, 0) == T(0)) continue;
    T s = 0;
    for (index_t j = 0; j < ha.c; ++j) s += (ha(r, j) - hb(r, j)) * (ha(r, j) - hb(r, j));
    total += ww(r, 0) * s;
  }
  return total;
}

template <class B>
void sq_error_backward(typename B::ref da, typename B::scalar scale, typename B::cref a, typename B::cref b,
                       typename B::cref w) {
  using T = typename B::scalar;
  const host<B> ha(a), hb(b), ww(w);
  host<B> d(da);
  for (index_t r = 0; r < ha.r; ++r)
    for (index_t j = 0; j < ha.c; ++j) d(r, j) += T(2) * scale * ww(r, 0) * (ha(r, j) - hb(r, j));
  d.store(da);
}

template <class B>
void log_sum_exp_rows(typename B::ref y, typename B::cref a) {
  using T = typename B::scalar;
  const host<B> h(a);
  host<B> o(h.r, 1);
  for (index_t i = 0; i < h.r; ++i) {
    T m = h(i, 0);
    for (index_t j = 1; j < h.c; ++j) m = std::max(m, h(i, j));
    T s = 0;
    for (index_t j = 0; j < h.c; ++j) s += std::exp(h(i, j) - m);
    o(i, 0) = m + std::log(s);
  }
  o.store(y);
}

template <class B>
void log_sum_exp_rows_backward(typename B::ref da, typename B::cref dy, typename B::cref a, typename B::cref y) {
  const host<B> h(a), d(dy), yy(y);
  host<B> g(da);
  for (index_t i = 0; i < h.r; ++i)
    for (index_t j = 0; j < h.c; ++j) g(i, j) += d(i, 0) * std::exp(h(i, j) - yy(i, 0));
  g.store(da);
}

template <class B>
void adam_update(typename B::ref p, typename B::cref g, typename B::ref m, typename B::ref v, typename B::ref vmax,
                 index_t offset, index_t n, typename B::scalar lr, typename B::scalar b1, typename B::scalar b2,
                 typename B::scalar eps, std::int64_t step, bool amsgrad) {
  using T = typename B::scalar;
  host<B> hp(p), hm(m), hv(v), hx(vmax);
  const host<B> hg(g);
  const T bc1 = T(1) - std::pow(b1, T(step)), bc2 = T(1) - std::pow(b2, T(step));
  const T step_size = lr / bc1, sqrt_bc2 = std::sqrt(bc2);
  for (index_t k = offset; k < offset + n; ++k) {
    const size_t i = size_t(k);
    hm.v[i] = b1 * hm.v[i] + (T(1) - b1) * hg.v[i];
    hv.v[i] = b2 * hv.v[i] + (T(1) - b2) * hg.v[i] * hg.v[i];
    T vv = hv.v[i];
    if (amsgrad) {
      hx.v[i] = std::max(hx.v[i], hv.v[i]);
      vv = hx.v[i];
    }
    hp.v[i] -= step_size * hm.v[i] / (std::sqrt(vv) / sqrt_bc2 + eps);
  }
  hp.store(p);
  hm.store(m);
  hv.store(v);
  hx.store(vmax);
}

}  // namespace generic

// ---- dispatch: the backend's own op when it has one, the generic default otherwise ----
// has_X<B>: whether backend B specialises X (a named concept: evaluated alike by g++ and nvcc).
#define DSAE_FUSED_OP(ret, op, params, args)                   \
  template <class B>                                           \
  concept has_##op = requires params { B::op args; };          \
  template <class B>                                           \
  ret op params {                                              \
    if constexpr (has_##op<B>) return B::op args;              \
    else return generic::op<B> args;                           \
  }

#define DSAE_REF typename B::ref
#define DSAE_CREF typename B::cref
#define DSAE_TPTR typename B::tensor*
#define DSAE_S typename B::scalar

DSAE_FUSED_OP(void, tanh_backward, (DSAE_REF dy, DSAE_CREF y), (dy, y))
DSAE_FUSED_OP(void, lstm_forward_step, (DSAE_REF G, DSAE_CREF c_prev, DSAE_CREF m, DSAE_REF c, DSAE_REF tc, DSAE_REF h),
              (G, c_prev, m, c, tc, h))
DSAE_FUSED_OP(void, lstm_backward_step,
              (DSAE_REF dG, DSAE_CREF G, DSAE_CREF c_prev, DSAE_CREF m, DSAE_CREF tc, DSAE_CREF dh, DSAE_REF dc),
              (dG, G, c_prev, m, tc, dh, dc))
DSAE_FUSED_OP(void, time_weighted_sum, (DSAE_REF out, DSAE_CREF X, DSAE_CREF w), (out, X, w))
DSAE_FUSED_OP(void, time_weighted_sum_backward, (DSAE_REF dX, DSAE_CREF dout, DSAE_CREF w), (dX, dout, w))
DSAE_FUSED_OP(void, concat_cols, (DSAE_REF dst, DSAE_CREF a, DSAE_CREF b), (dst, a, b))
DSAE_FUSED_OP(void, split_cols, (DSAE_REF a, DSAE_REF b, DSAE_CREF src), (a, b, src))
DSAE_FUSED_OP(void, split_cols_backward, (DSAE_TPTR da, DSAE_TPTR db, DSAE_CREF d), (da, db, d))
DSAE_FUSED_OP(void, gather_batch, (DSAE_REF dst, DSAE_CREF src, const typename B::index_vector& perm), (dst, src, perm))
DSAE_FUSED_OP(void, gather_batch_backward, (DSAE_REF dsrc, DSAE_CREF ddst, const typename B::index_vector& perm),
              (dsrc, ddst, perm))
DSAE_FUSED_OP(void, reparam, (DSAE_REF s, DSAE_CREF mu, DSAE_CREF lv, DSAE_CREF eps), (s, mu, lv, eps))
DSAE_FUSED_OP(void, reparam_backward, (DSAE_TPTR dmu, DSAE_TPTR dlv, DSAE_CREF ds, DSAE_CREF lv, DSAE_CREF eps),
              (dmu, dlv, ds, lv, eps))
DSAE_FUSED_OP(DSAE_S, kl, (DSAE_CREF mu1, DSAE_CREF lv1, DSAE_CREF mu2, DSAE_CREF lv2, DSAE_CREF w),
              (mu1, lv1, mu2, lv2, w))
DSAE_FUSED_OP(void, kl_backward,
              (DSAE_S scale, DSAE_CREF mu1, DSAE_CREF lv1, DSAE_CREF mu2, DSAE_CREF lv2, DSAE_CREF w, DSAE_TPTR dmu1,
               DSAE_TPTR dlv1, DSAE_TPTR dmu2, DSAE_TPTR dlv2),
              (scale, mu1, lv1, mu2, lv2, w, dmu1, dlv1, dmu2, dlv2))
DSAE_FUSED_OP(DSAE_S, sq_error, (DSAE_CREF a, DSAE_CREF b, DSAE_CREF w), (a, b, w))
DSAE_FUSED_OP(void, sq_error_backward, (DSAE_REF da, DSAE_S scale, DSAE_CREF a, DSAE_CREF b, DSAE_CREF w),
              (da, scale, a, b, w))
DSAE_FUSED_OP(void, log_sum_exp_rows, (DSAE_REF y, DSAE_CREF a), (y, a))
DSAE_FUSED_OP(void, log_sum_exp_rows_backward, (DSAE_REF da, DSAE_CREF dy, DSAE_CREF a, DSAE_CREF y), (da, dy, a, y))
DSAE_FUSED_OP(void, adam_update,
              (DSAE_REF p, DSAE_CREF g, DSAE_REF m, DSAE_REF v, DSAE_REF vmax, index_t offset, index_t n, DSAE_S lr,
               DSAE_S b1, DSAE_S b2, DSAE_S eps, std::int64_t step, bool amsgrad),
              (p, g, m, v, vmax, offset, n, lr, b1, b2, eps, step, amsgrad))

#undef DSAE_FUSED_OP
#undef DSAE_REF
#undef DSAE_CREF
#undef DSAE_TPTR
#undef DSAE_S

}  // namespace dsae::fused
