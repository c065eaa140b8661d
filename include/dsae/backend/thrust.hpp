#pragma once
// thrust_backend<T>: the batched op set of cpu<T> (backend/cpu.hpp, which
// states each op's contract) on Thrust device memory.
//
// One source for every device system: THRUST_DEVICE_SYSTEM picks it (CUDA
// under nvcc by default; OMP with the dsae::thrust target under g++).
// Element-wise ops and reductions are Thrust algorithms over functors
// (detail/thrust_kernels.hpp); GEMM is cuBLAS on CUDA and Eigen over host
// memory on OMP/CPP (detail/thrust_gemm.hpp).
//
// Storage: `tensor` owns a thrust::device_vector<T> laid out row-major
// (rows x cols); `ref` / `cref` are non-owning strided views (pointer, rows,
// cols, row stride), implicitly made from a tensor, returned by rows(),
// crows() and flat_view(). Sequence batches are time-major (row t*B + b).
//
// Agreement with cpu<T>: same formulas in the same scalar type; Philox noise
// is the same double rounded once; reductions (sum, kl, sq_error)
// accumulate in double. Ops are issued from one host thread (workspaces are
// shared, as in cpu<T>).
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../prob/philox.hpp"
#include "concept.hpp"
#include "detail/thrust_gemm.hpp"
#include "detail/thrust_kernels.hpp"

namespace dsae {

template <class T>
struct thrust_backend {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "thrust_backend: T is float or double");
  using scalar = T;
  static constexpr const char* name = DSAE_THRUST_CUDA ? "thrust-cuda" : "thrust-omp";

  // Owning dense row-major matrix in device memory. Copyable (deep copy).
  class tensor {
   public:
    tensor() = default;
    // ensures: a (rows x cols) tensor of zeros.
    tensor(index_t rows, index_t cols) : m_data(size_t(check_dims(rows, cols))), m_rows(rows), m_cols(cols) {}
    index_t rows() const { return m_rows; }
    index_t cols() const { return m_cols; }
    index_t size() const { return m_rows * m_cols; }
    // Raw device pointers (host pointers on OMP/CPP).
    T* data() { return thrust::raw_pointer_cast(m_data.data()); }
    const T* data() const { return thrust::raw_pointer_cast(m_data.data()); }
    thrust::device_vector<T>& storage() { return m_data; }
    const thrust::device_vector<T>& storage() const { return m_data; }
    // Keeps the allocation when the element count is unchanged.
    void resize(index_t rows, index_t cols) {
      const index_t n = check_dims(rows, cols);
      if (n != index_t(m_data.size())) m_data.resize(size_t(n));
      m_rows = rows;
      m_cols = cols;
    }

   private:
    static index_t check_dims(index_t r, index_t c) {
      if (r < 0 || c < 0) detail::fail("thrust_backend::tensor (backend/thrust.hpp): negative shape [", r, " x ", c, "]");
      return r * c;
    }
    thrust::device_vector<T> m_data;
    index_t m_rows = 0, m_cols = 0;
  };

  // Mutable view: writes go to the viewed tensor.
  class ref {
   public:
    ref() = default;
    ref(tensor& t) : m_v{t.data(), t.rows(), t.cols(), t.cols()} {}  // NOLINT: implicit like Eigen::Ref
    ref(T* p, index_t rows, index_t cols, index_t ld) : m_v{p, rows, cols, ld} {}
    index_t rows() const { return m_v.r; }
    index_t cols() const { return m_v.c; }
    index_t size() const { return m_v.r * m_v.c; }
    index_t stride() const { return m_v.ld; }
    T* data() const { return m_v.p; }
    detail::thrust_k::view<T> v() const { return m_v; }

   private:
    detail::thrust_k::view<T> m_v;
  };
  // Read-only view, implicitly made from a tensor or a ref.
  class cref {
   public:
    cref() = default;
    cref(const tensor& t) : m_v{t.data(), t.rows(), t.cols(), t.cols()} {}  // NOLINT
    cref(const ref& r) : m_v{r.data(), r.rows(), r.cols(), r.stride()} {}   // NOLINT
    cref(const T* p, index_t rows, index_t cols, index_t ld) : m_v{p, rows, cols, ld} {}
    index_t rows() const { return m_v.r; }
    index_t cols() const { return m_v.c; }
    index_t size() const { return m_v.r * m_v.c; }
    index_t stride() const { return m_v.ld; }
    const T* data() const { return m_v.p; }
    detail::thrust_k::cview<T> v() const { return m_v; }

   private:
    detail::thrust_k::cview<T> m_v;
  };

  // A batch permutation on the device, with its inverse as CSR lists (for
  // each target q, the positions i with perm[i] == q, ascending), so the VJP
  // of a gather with repeated indices is a gather too.
  class index_vector {
   public:
    index_vector() = default;
    // requires: every entry in [0, v.size()).
    index_vector(const std::vector<index_t>& v) {  // NOLINT: implicit like cpu's std::vector
      const index_t n = index_t(v.size());
      std::vector<index_t> start(size_t(n) + 1, 0), pos(v.size());
      for (index_t i = 0; i < n; ++i) {
        if (v[size_t(i)] < 0 || v[size_t(i)] >= n)
          detail::fail("thrust_backend::index_vector (backend/thrust.hpp): entry ", i, " = ", v[size_t(i)],
                       " is outside [0, ", n, ")");
        ++start[size_t(v[size_t(i)]) + 1];
      }
      for (index_t q = 0; q < n; ++q) start[size_t(q) + 1] += start[size_t(q)];
      std::vector<index_t> fill(start.begin(), start.end() - 1);
      for (index_t i = 0; i < n; ++i) pos[size_t(fill[size_t(v[size_t(i)])]++)] = i;
      m_perm = thrust::device_vector<index_t>(v.begin(), v.end());
      m_start = thrust::device_vector<index_t>(start.begin(), start.end());
      m_pos = thrust::device_vector<index_t>(pos.begin(), pos.end());
    }
    index_t size() const { return index_t(m_perm.size()); }
    std::vector<index_t> host() const {
      std::vector<index_t> h(m_perm.size());
      thrust::copy(m_perm.begin(), m_perm.end(), h.begin());
      return h;
    }
    const index_t* perm() const { return thrust::raw_pointer_cast(m_perm.data()); }
    const index_t* inverse_start() const { return thrust::raw_pointer_cast(m_start.data()); }
    const index_t* inverse_pos() const { return thrust::raw_pointer_cast(m_pos.data()); }

   private:
    thrust::device_vector<index_t> m_perm, m_start, m_pos;
  };

  // ---- storage ------------------------------------------------------------
  static shape2 shape(cref a) { return {a.rows(), a.cols()}; }
  static void resize(tensor& a, index_t rows, index_t cols) { a.resize(rows, cols); }
  // A view of rows [r0, r0 + n): writes through it change `a`.
  static ref rows(tensor& a, index_t r0, index_t n) { return rows(ref(a), r0, n); }
  static ref rows(ref a, index_t r0, index_t n) {
    check_rows("rows", a.rows(), r0, n);
    return ref(a.data() + r0 * a.stride(), n, a.cols(), a.stride());
  }
  static cref crows(cref a, index_t r0, index_t n) {
    check_rows("crows", a.rows(), r0, n);
    return cref(a.data() + r0 * a.stride(), n, a.cols(), a.stride());
  }
  // requires: v.size() == rows * cols (row-major).
  static tensor from_host(const std::vector<T>& v, index_t rows, index_t cols) {
    if (rows < 0 || cols < 0 || index_t(v.size()) != rows * cols)
      detail::fail("thrust_backend::from_host (backend/thrust.hpp): ", v.size(), " values for shape [", rows, " x ",
                   cols, "]");
    tensor t;
    t.storage().assign(v.begin(), v.end());
    t.resize(rows, cols);
    return t;
  }
  static std::vector<T> to_host(cref a) {
    std::vector<T> out(size_t(a.size()));
    if (a.size() == 0) return out;
    const auto dp = thrust::device_pointer_cast(a.data());
    if (a.stride() == a.cols()) {
      thrust::copy(dp, dp + a.size(), out.begin());
    } else {  // strided: copy the covering span, then compact on the host
      std::vector<T> span(size_t((a.rows() - 1) * a.stride() + a.cols()));
      thrust::copy(dp, dp + index_t(span.size()), span.begin());
      for (index_t r = 0; r < a.rows(); ++r)
        for (index_t c = 0; c < a.cols(); ++c) out[size_t(r * a.cols() + c)] = span[size_t(r * a.stride() + c)];
    }
    return out;
  }
  static index_vector indices(const std::vector<index_t>& v) { return index_vector(v); }
  // A (rows x cols) view of flat[0, offset .. offset + rows * cols).
  static std::vector<index_t> host_indices(const index_vector& p) { return p.host(); }
  static ref flat_view(tensor& flat, index_t offset, index_t rows, index_t cols) {
    if (offset < 0 || rows < 0 || cols < 0 || offset + rows * cols > flat.size())
      detail::fail("thrust_backend::flat_view (backend/thrust.hpp): [", rows, " x ", cols, "] at offset ", offset,
                   " exceeds a buffer of ", flat.size());
    return ref(flat.data() + offset, rows, cols, cols);
  }

  // ---- element-wise ---------------------------------------------------------
  static void zero(ref a) { fill(a, T(0)); }
  static void fill(ref a, T v) { launch(a.size(), detail::thrust_k::fill_f<T>{a.v(), v}); }
  static void copy(ref dst, cref src) {
    same("copy", dst, src);
    launch(dst.size(), detail::thrust_k::copy_f<T>{dst.v(), src.v()});
  }
  static void axpy(ref y, T alpha, cref x) {  // y += alpha * x
    same("axpy", y, x);
    launch(y.size(), detail::thrust_k::axpy_f<T>{y.v(), alpha, x.v()});
  }
  static void scale(ref y, T alpha) { launch(y.size(), detail::thrust_k::scale_f<T>{y.v(), alpha}); }
  static bool all_finite(cref a) { return detail::thrust_k::reduce<index_t>(a.size(), detail::thrust_k::nonfinite_f<T>{a.v()}) == 0; }
  static T sum(cref a) { return T(detail::thrust_k::reduce<double>(a.size(), detail::thrust_k::sum_f<T>{a.v()})); }

  // ---- dense linear algebra -------------------------------------------------
  // C = alpha * op(A) * op(B) + beta * C.
  static void gemm(ref C, cref A, bool ta, cref B, bool tb, T alpha, T beta) {
    const index_t M = ta ? A.cols() : A.rows(), K = ta ? A.rows() : A.cols();
    const index_t KB = tb ? B.cols() : B.rows(), N = tb ? B.rows() : B.cols();
    if (K != KB || C.rows() != M || C.cols() != N)
      detail::fail("thrust_backend::gemm (backend/thrust.hpp): op(A) is [", M, " x ", K, "], op(B) is [", KB, " x ",
                   N, "], C is ", to_string(shape(C)));
    detail::thrust_k::gemm<T>(C.v(), A.v(), ta, B.v(), tb, alpha, beta);
  }
  // Y[r, :] += b for every row (b is 1 x cols).
  static void add_row(ref Y, cref b) {
    check_shape("thrust_backend::add_row", "bias", shape(b), {1, Y.cols()});
    launch(Y.size(), detail::thrust_k::add_row_f<T>{Y.v(), b.v()});
  }
  // b = beta * b + sum over rows of Y (b is 1 x cols): one GEMM with a ones row.
  static void sum_rows(ref b, cref Y, T beta) {
    check_shape("thrust_backend::sum_rows", "output", shape(b), {1, Y.cols()});
    gemm(b, cref(ones(Y.rows()), 1, Y.rows(), Y.rows()), false, Y, false, T(1), beta);
  }

  // ---- fused frame-wise tanh MLP (the optional op of nn/mlp.hpp) -------------
  // Same contract as cpu<T>::mlp_layer / mlp_tanh_forward / mlp_tanh_backward:
  // raw device pointers; weight (out x in), bias (1 x out), activations H
  // (N x out), gradient buffers accumulated (null = frozen). Here "fused" is
  // the per-layer sequence GEMM -> bias -> tanh (on CUDA every step is a
  // device kernel, so there is no cache blocking to gain on the host side).
  struct mlp_layer {
    const T* w;
    const T* b;
    T* h;
    T* dw;
    T* db;
    index_t in, out;
  };
  // H_0 = tanh(x W_0^T + b_0), H_l = tanh(H_{l-1} W_l^T + b_l).
  static void mlp_tanh_forward(const T* x, index_t N, const std::vector<mlp_layer>& L) {
    const T* in = x;
    for (const auto& l : L) {
      ref H(l.h, N, l.out, l.out);
      gemm(H, cref(in, N, l.in, l.in), false, cref(l.w, l.out, l.in, l.in), true, T(1), T(0));
      add_row(H, cref(l.b, 1, l.out, l.out));
      tanh_inplace(H);
      in = l.h;
    }
  }
  // VJP of mlp_tanh_forward: dy is the gradient w.r.t. the last H (N x out_L);
  // dx (N x in_0) is overwritten when not null.
  static void mlp_tanh_backward(const T* x, index_t N, const std::vector<mlp_layer>& L, const T* dy, T* dx) {
    index_t wmax = 0;
    for (const auto& l : L) wmax = std::max({wmax, l.in, l.out});
    T* d = workspace(0, N * wmax);
    T* dprev = workspace(1, N * wmax);
    const auto& last = L.back();
    copy(ref(d, N, last.out, last.out), cref(dy, N, last.out, last.out));
    tanh_backward(ref(d, N, last.out, last.out), cref(last.h, N, last.out, last.out));
    for (size_t k = L.size(); k-- > 0;) {
      const auto& l = L[k];
      const ref D(d, N, l.out, l.out);
      const cref in(k == 0 ? x : L[k - 1].h, N, l.in, l.in);
      if (l.dw) {
        gemm(ref(l.dw, l.out, l.in, l.in), D, true, in, false, T(1), T(1));
        sum_rows(ref(l.db, 1, l.out, l.out), D, T(1));
      }
      if (k == 0 && !dx) break;
      const ref Dp(k == 0 ? dx : dprev, N, l.in, l.in);
      gemm(Dp, D, false, cref(l.w, l.out, l.in, l.in), false, T(1), T(0));
      if (k > 0) {
        tanh_backward(Dp, cref(L[k - 1].h, N, l.in, l.in));
        std::swap(d, dprev);
      }
    }
  }

  // ---- activations ----------------------------------------------------------
  // ---- element-wise ops of the node operations (same contracts as cpu<T>) ------
  static void mul(ref y, cref a, cref b) {
    same("mul", y, a);
    same("mul", y, b);
    launch(y.size(), detail::thrust_k::mul_f<T>{y.v(), a.v(), b.v()});
  }
  static void add_product(ref y, cref a, cref b) {
    same("add_product", y, a);
    same("add_product", y, b);
    launch(y.size(), detail::thrust_k::add_product_f<T>{y.v(), a.v(), b.v()});
  }
  static void exp(ref y, cref a) {
    same("exp", y, a);
    launch(y.size(), detail::thrust_k::exp_f<T>{y.v(), a.v()});
  }
  static void log_sum_exp_rows(ref y, cref a) {
    check_shape("thrust_backend::log_sum_exp_rows", "output", shape(y), {a.rows(), 1});
    if (a.cols() == 0) detail::fail("thrust_backend::log_sum_exp_rows: no columns");
    launch(a.rows(), detail::thrust_k::lse_rows_f<T>{y.v(), a.v()});
  }
  static void log_sum_exp_rows_backward(ref da, cref dy, cref a, cref y) {
    same("log_sum_exp_rows_backward", da, a);
    check_shape("thrust_backend::log_sum_exp_rows_backward", "dy", shape(dy), {a.rows(), 1});
    launch(da.size(), detail::thrust_k::lse_rows_back_f<T>{da.v(), dy.v(), a.v(), y.v()});
  }

  static void tanh_inplace(ref y) { launch(y.size(), detail::thrust_k::tanh_f<T>{y.v()}); }
  static void tanh_backward(ref dy, cref y) {  // dy *= 1 - y^2
    same("tanh_backward", dy, y);
    launch(dy.size(), detail::thrust_k::tanh_back_f<T>{dy.v(), y.v()});
  }

  // ---- LSTM cell (gate order i, f, g, o): one fused transform over B*H -------
  static void lstm_forward_step(ref G, cref c_prev, cref m, ref c, ref tc, ref h) {
    const index_t Bn = G.rows(), H = G.cols() / 4;
    check_lstm("lstm_forward_step", G, c_prev, m, {c.rows(), c.cols()});
    check_shape("thrust_backend::lstm_forward_step", "tanh(c)", shape(tc), {Bn, H});
    check_shape("thrust_backend::lstm_forward_step", "h", shape(h), {Bn, H});
    launch(Bn * H, detail::thrust_k::lstm_fwd_f<T>{G.v(), c_prev.v(), m.v(), c.v(), tc.v(), h.v(), H});
  }
  static void lstm_backward_step(ref dG, cref G, cref c_prev, cref m, cref tc, cref dh, ref dc) {
    const index_t Bn = G.rows(), H = G.cols() / 4;
    check_lstm("lstm_backward_step", G, c_prev, m, {dc.rows(), dc.cols()});
    same("lstm_backward_step", dG, G);
    check_shape("thrust_backend::lstm_backward_step", "tanh(c)", shape(tc), {Bn, H});
    check_shape("thrust_backend::lstm_backward_step", "dh", shape(dh), {Bn, H});
    launch(Bn * H, detail::thrust_k::lstm_bwd_f<T>{dG.v(), G.v(), c_prev.v(), m.v(), tc.v(), dh.v(), dc.v(), H});
  }

  // ---- time structure (rows t * B + b) --------------------------------------
  // out[b, :] = sum_t w[t*B + b] * X[t*B + b, :]   (B = out.rows())
  static void time_weighted_sum(ref out, cref X, cref w) {
    check_time("time_weighted_sum", out.rows(), X.rows());
    check_shape("thrust_backend::time_weighted_sum", "weights", shape(w), {X.rows(), 1});
    check_shape("thrust_backend::time_weighted_sum", "output", shape(out), {out.rows(), X.cols()});
    launch(out.size(), detail::thrust_k::time_sum_f<T>{out.v(), X.v(), w.v()});
  }
  // dX[t*B + b, :] += w[t*B + b] * dout[b, :]
  static void time_weighted_sum_backward(ref dX, cref dout, cref w) {
    check_time("time_weighted_sum_backward", dout.rows(), dX.rows());
    check_shape("thrust_backend::time_weighted_sum_backward", "weights", shape(w), {dX.rows(), 1});
    launch(dX.size(), detail::thrust_k::time_sum_back_f<T>{dX.v(), dout.v(), w.v()});
  }
  // dst = [a, b] column-wise; b has a.rows() rows or B rows broadcast over time.
  static void concat_cols(ref dst, cref a, cref b) {
    check_time("concat_cols", b.rows(), a.rows());
    check_shape("thrust_backend::concat_cols", "destination", shape(dst), {a.rows(), a.cols() + b.cols()});
    launch(dst.size(), detail::thrust_k::concat_f<T>{dst.v(), a.v(), b.v()});
  }
  // a = src[:, :a.cols()], b = src[:, a.cols():].
  static void split_cols(ref a, ref b, cref src) {
    check_shape("thrust_backend::split_cols", "left part", shape(a), {src.rows(), a.cols()});
    check_shape("thrust_backend::split_cols", "right part", shape(b), {src.rows(), src.cols() - a.cols()});
    launch(src.size(), detail::thrust_k::split_f<T>{a.v(), b.v(), src.v()});
  }
  // Accumulating VJP of concat_cols (db summed over time when broadcast).
  static void split_cols_backward(tensor* da, tensor* db, cref d) {
    const index_t ca = da ? da->cols() : d.cols() - (db ? db->cols() : 0);
    if (da) {
      check_shape("thrust_backend::split_cols_backward", "left gradient", shape(*da), {d.rows(), ca});
      launch(da->size(), detail::thrust_k::split_back_a_f<T>{ref(*da).v(), d.v()});
    }
    if (db) {
      check_time("split_cols_backward", db->rows(), d.rows());
      if (ca + db->cols() != d.cols())
        detail::fail("thrust_backend::split_cols_backward (backend/thrust.hpp): gradient ", to_string(shape(d)),
                     " does not split into ", ca, " + ", db->cols(), " columns");
      launch(db->size(), detail::thrust_k::split_back_b_f<T>{ref(*db).v(), d.v(), ca});
    }
  }
  // dst[t*B + i] = src[t*B + perm[i]] for every t (B = perm.size()).
  static void gather_batch(ref dst, cref src, const index_vector& perm) {
    check_time("gather_batch", perm.size(), src.rows());
    same("gather_batch", dst, src);
    launch(dst.size(), detail::thrust_k::gather_f<T>{dst.v(), src.v(), perm.perm(), perm.size()});
  }
  // Accumulating VJP: dsrc[t*B + perm[i]] += ddst[t*B + i].
  static void gather_batch_backward(ref dsrc, cref ddst, const index_vector& perm) {
    check_time("gather_batch_backward", perm.size(), ddst.rows());
    same("gather_batch_backward", dsrc, ddst);
    launch(dsrc.size(),
           detail::thrust_k::gather_back_f<T>{dsrc.v(), ddst.v(), perm.inverse_start(), perm.inverse_pos(), perm.size()});
  }

  // ---- Gaussian -------------------------------------------------------------
  // eps[k] = philox_normal(key, k), k the row-major element index.
  static void normal(ref eps, prob::noise_key key) { launch(eps.size(), detail::thrust_k::normal_f<T>{eps.v(), key}); }
  // s = mu + eps * exp(0.5 * logvar)
  static void reparam(ref s, cref mu, cref lv, cref eps) {
    same("reparam", s, mu);
    same("reparam", s, lv);
    same("reparam", s, eps);
    launch(s.size(), detail::thrust_k::reparam_f<T>{s.v(), mu.v(), lv.v(), eps.v()});
  }
  // Accumulating VJP: dmu += ds; dlv += ds * eps * 0.5 * exp(0.5 * logvar).
  static void reparam_backward(tensor* dmu, tensor* dlv, cref ds, cref lv, cref eps) {
    if (dmu) same("reparam_backward", *dmu, ds);
    if (dlv) same("reparam_backward", *dlv, ds);
    launch(ds.size(), detail::thrust_k::reparam_back_f<T>{opt(dmu), opt(dlv), ds.v(), lv.v(), eps.v()});
  }
  // sum_r w[r] * sum_j KL(N(mu1, e^lv1) || N(mu2, e^lv2)) [r, j]; 0-row mu2 = N(0, I).
  static T kl(cref mu1, cref lv1, cref mu2, cref lv2, cref w) {
    check_kl("kl", mu1, lv1, mu2, lv2, w);
    return T(detail::thrust_k::reduce<double>(mu1.size(), detail::thrust_k::kl_f<T>{mu1.v(), lv1.v(), mu2.v(), lv2.v(), w.v()}));
  }
  // Accumulating VJP of scale * kl(...). Null outputs are skipped.
  static void kl_backward(T scale, cref mu1, cref lv1, cref mu2, cref lv2, cref w, tensor* dmu1, tensor* dlv1,
                          tensor* dmu2, tensor* dlv2) {
    check_kl("kl_backward", mu1, lv1, mu2, lv2, w);
    for (tensor* d : {dmu1, dlv1})
      if (d) same("kl_backward", *d, mu1);
    const bool std_prior = mu2.rows() == 0;
    for (tensor* d : {dmu2, dlv2})
      if (d && !std_prior) same("kl_backward", *d, mu1);
    launch(mu1.size(), detail::thrust_k::kl_back_f<T>{scale, mu1.v(), lv1.v(), mu2.v(), lv2.v(), w.v(), opt(dmu1), opt(dlv1),
                                       std_prior ? detail::thrust_k::view<T>{} : opt(dmu2), std_prior ? detail::thrust_k::view<T>{} : opt(dlv2)});
  }
  // sum_r w[r] * sum_j (a - b)^2 [r, j]
  static T sq_error(cref a, cref b, cref w) {
    same("sq_error", a, b);
    check_shape("thrust_backend::sq_error", "row weights", shape(w), {a.rows(), 1});
    return T(detail::thrust_k::reduce<double>(a.size(), detail::thrust_k::sq_error_f<T>{a.v(), b.v(), w.v()}));
  }
  // Accumulating VJP w.r.t. a: da += 2 scale w (a - b).
  static void sq_error_backward(ref da, T scale, cref a, cref b, cref w) {
    same("sq_error_backward", da, a);
    same("sq_error_backward", a, b);
    check_shape("thrust_backend::sq_error_backward", "row weights", shape(w), {a.rows(), 1});
    launch(da.size(), detail::thrust_k::sq_error_back_f<T>{da.v(), T(2) * scale, a.v(), b.v(), w.v()});
  }

  // ---- optimiser ------------------------------------------------------------
  // One Adam update of n contiguous parameters at `offset` of the flat buffers
  // (PyTorch's formulation); `step` counts this parameter's updates from 1.
  static void adam_update(ref p, cref g, ref m, ref v, ref vmax, index_t offset, index_t n, T lr, T b1, T b2, T eps,
                          std::int64_t step, bool amsgrad) {
    for (index_t sz : {p.size(), g.size(), m.size(), v.size(), vmax.size()})
      if (offset < 0 || n < 0 || offset + n > sz)
        detail::fail("thrust_backend::adam_update (backend/thrust.hpp): range [", offset, ", ", offset + n,
                     ") exceeds a buffer of ", sz);
    const T bc1 = T(1) - std::pow(b1, T(step)), bc2 = T(1) - std::pow(b2, T(step));
    const T step_size = lr / bc1, sqrt_bc2 = std::sqrt(bc2);
    launch(n, detail::thrust_k::adam_f<T>{p.data() + offset, m.data() + offset, v.data() + offset, vmax.data() + offset,
                           g.data() + offset, b1, b2, eps, step_size, sqrt_bc2, amsgrad});
  }

  // Waits for queued device work (CUDA: kernels are launched without a sync;
  // OMP: no-op). For timing.
  static void synchronize() {
#if DSAE_THRUST_CUDA
    detail::thrust_k::cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
#endif
  }

 private:
  template <class F>
  static void launch(index_t n, const F& f) {
    detail::thrust_k::launch(n, f);
  }
  static detail::thrust_k::view<T> opt(tensor* t) { return t ? ref(*t).v() : detail::thrust_k::view<T>{}; }

  // A device row of at least n ones, one per host thread (two models trained on two
  // threads never share it; grown, never shrunk; leaked on purpose so no device free runs
  // after the CUDA runtime unloads).
  static const T* ones(index_t n) {
    thread_local auto* buf = new thrust::device_vector<T>();
    if (index_t(buf->size()) < n) buf->assign(size_t(n), T(1));
    return thrust::raw_pointer_cast(buf->data());
  }

  // Device scratch buffer `slot` of at least n elements, per host thread and used only
  // within one op call (grown, never shrunk or freed; see ones()).
  static T* workspace(int slot, index_t n) {
    thread_local auto* bufs = new std::array<thrust::device_vector<T>, 2>();
    auto& b = (*bufs)[size_t(slot)];
    if (index_t(b.size()) < n) b.resize(size_t(n));
    return thrust::raw_pointer_cast(b.data());
  }

  static void check_rows(const char* op, index_t have, index_t r0, index_t n) {
    if (r0 < 0 || n < 0 || r0 + n > have)
      detail::fail("thrust_backend::", op, " (backend/thrust.hpp): rows [", r0, ", ", r0 + n, ") of a ", have,
                   "-row tensor");
  }
  static void same(const char* op, cref a, cref b) {
    if (a.rows() != b.rows() || a.cols() != b.cols())
      detail::fail("thrust_backend::", op, " (backend/thrust.hpp): shapes ", to_string(shape(a)), " and ",
                   to_string(shape(b)), " differ");
  }
  static void check_time(const char* op, index_t batch, index_t rows) {
    if (batch <= 0 || rows % batch != 0)
      detail::fail("thrust_backend::", op, " (backend/thrust.hpp): ", rows,
                   " rows are not a time-major batch of ", batch, " sequences");
  }
  static void check_lstm(const char* op, cref G, cref c_prev, cref m, shape2 c) {
    const index_t Bn = G.rows(), H = G.cols() / 4;
    if (G.cols() % 4 != 0)
      detail::fail("thrust_backend::", op, " (backend/thrust.hpp): gates ", to_string(shape(G)),
                   " do not have 4H columns");
    if (c_prev.rows() > 0) check_shape(op, "previous cell", shape(c_prev), {Bn, H});
    if (m.rows() > 0) check_shape(op, "mask", shape(m), {Bn, 1});
    check_shape(op, "cell", c, {Bn, H});
  }
  static void check_kl(const char* op, cref mu1, cref lv1, cref mu2, cref lv2, cref w) {
    same(op, mu1, lv1);
    if (mu2.rows() > 0) {
      same(op, mu1, mu2);
      same(op, mu1, lv2);
    }
    check_shape(op, "row weights", shape(w), {mu1.rows(), 1});
  }
};

static_assert(backend<thrust_backend<float>>);
static_assert(backend<thrust_backend<double>>);

}  // namespace dsae
