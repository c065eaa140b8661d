#pragma once
// cpu<T>: the reference backend, on Eigen.
//
// Storage is a dense row-major (rows x cols) matrix. Sequence batches are
// time-major: row t * B + b holds frame t of sequence b, so every frame-wise
// layer is one GEMM over all T * B frames and each LSTM step reads one
// contiguous B-row block.
//
// The op set below is the whole contract a backend implements (see
// backend/concept.hpp); modules never touch storage directly. Ops that
// "accumulate" add into their output; all others overwrite it. Large ops split
// rows across OpenMP threads; results never depend on the thread count.
#include <Eigen/Dense>
#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../detail/parallel.hpp"
#include "../prob/philox.hpp"
#include "detail/cpu_kernels.hpp"
#include "detail/cpu_lstm.hpp"
#include "detail/cpu_noise.hpp"

namespace dsae {

template <class T>
struct cpu {
  using scalar = T;
  using tensor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ref = Eigen::Ref<tensor>;
  using cref = const Eigen::Ref<const tensor>&;
  using index_vector = std::vector<index_t>;
  static constexpr const char* name = "cpu";

  // ---- storage ------------------------------------------------------------
  static shape2 shape(cref a) { return {a.rows(), a.cols()}; }
  // Resizes without reallocating when the element count is unchanged.
  static void resize(tensor& a, index_t rows, index_t cols) {
    if (a.rows() != rows || a.cols() != cols) a.resize(rows, cols);
  }
  // A view of rows [r0, r0 + n): writes through it change `a`.
  static ref rows(tensor& a, index_t r0, index_t n) { return a.middleRows(r0, n); }
  static ref rows(ref a, index_t r0, index_t n) { return a.middleRows(r0, n); }
  static Eigen::Ref<const tensor> crows(cref a, index_t r0, index_t n) {
    return a.middleRows(r0, n);
  }
  static tensor from_host(const std::vector<T>& v, index_t rows, index_t cols) {
    return Eigen::Map<const tensor>(v.data(), rows, cols);
  }
  static std::vector<T> to_host(cref a) {
    std::vector<T> v(size_t(a.size()));
    Eigen::Map<tensor>(v.data(), a.rows(), a.cols()) = a;
    return v;
  }
  static index_vector indices(const std::vector<index_t>& v) { return v; }
  static std::vector<index_t> host_indices(const index_vector& p) { return p; }
  // A (rows x cols) view of flat[0, offset .. offset + rows * cols).
  static ref flat_view(tensor& flat, index_t offset, index_t rows, index_t cols) {
    return Eigen::Map<tensor>(flat.data() + offset, rows, cols);
  }

  // ---- element-wise ---------------------------------------------------------
  static void zero(ref a) { a.setZero(); }
  static void fill(ref a, T v) { a.setConstant(v); }
  static void copy(ref dst, cref src) { dst = src; }
  static void axpy(ref y, T alpha, cref x) {  // y += alpha * x
    each_rows(y.rows(), y.cols(), [&](index_t b, index_t n) {
      y.middleRows(b, n) += alpha * x.middleRows(b, n);
    });
  }
  static void scale(ref y, T alpha) { y *= alpha; }
  static bool all_finite(cref a) {
    if constexpr (std::is_same_v<T, float>) {
      if (a.outerStride() == a.cols()) return detail::kernels::all_finite(a.data(), a.size());
    }
    return a.allFinite();
  }
  static T sum(cref a) { return a.sum(); }
  static void check_same(const char* op, cref y, cref a, cref b) {
    if (y.rows() != a.rows() || y.cols() != a.cols() || y.rows() != b.rows() || y.cols() != b.cols())
      detail::fail("cpu::", op, ": shapes ", to_string(shape(y)), ", ", to_string(shape(a)), ", ", to_string(shape(b)),
                   " differ");
  }

  // ---- dense linear algebra -------------------------------------------------
  // C = alpha * op(A) * op(B) + beta * C.
  // Tall products (many frames) are split by rows of C across threads; the
  // weight-gradient form A^T B with a long reduction is split along the
  // reduction into a fixed number of chunks (not the thread count), so the sum
  // is the same for any thread count.
  static void gemm(ref C, cref A, bool ta, cref B, bool tb, T alpha, T beta) {
    const index_t M = C.rows(), N = C.cols(), K = ta ? A.rows() : A.cols();
    const double flops = 2.0 * double(M) * double(N) * double(K);
    if constexpr (std::is_same_v<T, float>) {
      if (gemm_tiled(C, A, ta, B, tb, alpha, beta, flops)) return;
    }
    DSAE_ADD_FLOPS(flops);
    if (ta && K >= 4096 && flops > 4e6) {
      gemm_split_k(C, A, B, tb, alpha, beta);
      return;
    }
    auto body = [&](index_t r0, index_t n) {
      auto Cb = C.middleRows(r0, n);
      if (beta == T(0)) Cb.setZero();
      else if (beta != T(1)) Cb *= beta;
      if (!ta && !tb) Cb.noalias() += alpha * A.middleRows(r0, n) * B;
      else if (!ta && tb) Cb.noalias() += alpha * A.middleRows(r0, n) * B.transpose();
      else if (ta && !tb) Cb.noalias() += alpha * A.middleCols(r0, n).transpose() * B;
      else Cb.noalias() += alpha * A.middleCols(r0, n).transpose() * B.transpose();
    };
    if (M >= 256 && flops > 2e6) {
      detail::parallel_rows(M, flops / double(M), body);
    } else {
      detail::eigen_serial_scope serial;
      body(0, M);
    }
  }

  // Y = X W^T + b (W: out x in, b: 1 x out), the bias as the products' starting
  // value: one pass over Y instead of two (optional op; nn/linear.hpp and the
  // modules built on it fall back to gemm + add_row without it).
  static void linear_forward(ref Y, cref X, cref W, cref b) {
    if constexpr (std::is_same_v<T, float>) {
      const double flops = 2.0 * double(Y.rows()) * double(Y.cols()) * double(X.cols());
      if (gemm_tiled(Y, X, false, W, true, T(1), T(0), flops, b.data())) return;  // one row: contiguous
    }
    gemm(Y, X, false, W, true, T(1), T(0));
    add_row(Y, b);
  }

  // Y[r, :] += b for every row (b is 1 x cols).
  static void add_row(ref Y, cref b) {
    const index_t c = Y.cols();
    const T* bp = b.data();
    each_rows(Y.rows(), c, [&](index_t r0, index_t n) {
      for (index_t r = r0; r < r0 + n; ++r) {
        T* y = Y.row(r).data();
        for (index_t j = 0; j < c; ++j) y[j] += bp[j];  // contiguous: vectorised
      }
    });
  }
  // b = beta * b + sum over rows of Y (b is 1 x cols).
  static void sum_rows(ref b, cref Y, T beta) {
    if (beta == T(0)) b.setZero();
    else if (beta != T(1)) b *= beta;
    if constexpr (std::is_same_v<T, float>) {
      // Eigen's colwise().sum() of a row-major matrix runs column by column with
      // scalar strided loads; rows in order, vectors across the columns instead.
      if (detail::kernels::tiled_cols(Y.cols())) {
        detail::kernels::sum_rows(Y.rows(), Y.cols(), Y.data(), Y.outerStride(), b.data());
        return;
      }
    }
    b.row(0) += Y.colwise().sum();
  }

  // ---- element-wise ops of the node operations (objective/node_ops.hpp) --------
  // y = a * b, y += a * b, y = exp(a) (same shapes; y may alias a or b).
  static void mul(ref y, cref a, cref b) {
    check_same("mul", y, a, b);
    y.array() = a.array() * b.array();
  }
  static void add_product(ref y, cref a, cref b) {
    check_same("add_product", y, a, b);
    y.array() += a.array() * b.array();
  }
  static void exp(ref y, cref a) {
    check_same("exp", y, a, a);
    y.array() = a.array().exp();
  }
  // y[i] = log sum_j exp(a[i, j]) (y: rows x 1), stable (max subtracted).
  static void log_sum_exp_rows(ref y, cref a) {
    check_shape("cpu::log_sum_exp_rows", "output", shape(y), {a.rows(), 1});
    if (a.cols() == 0) detail::fail("cpu::log_sum_exp_rows: no columns");
    for (index_t i = 0; i < a.rows(); ++i) {
      const T m = a.row(i).maxCoeff();
      y(i, 0) = m + std::log((a.row(i).array() - m).exp().sum());
    }
  }
  // da[i, j] += dy[i] * exp(a[i, j] - y[i]) (the softmax of row i).
  static void log_sum_exp_rows_backward(ref da, cref dy, cref a, cref y) {
    check_same("log_sum_exp_rows_backward", da, a, a);
    check_shape("cpu::log_sum_exp_rows_backward", "dy", shape(dy), {a.rows(), 1});
    for (index_t i = 0; i < a.rows(); ++i) da.row(i).array() += dy(i, 0) * (a.row(i).array() - y(i, 0)).exp();
  }

  // ---- activations ----------------------------------------------------------
  static void tanh_inplace(ref y) {
    each_rows(y.rows(), y.cols(), [&](index_t r0, index_t n) {
      auto b = y.middleRows(r0, n);
      b = b.array().tanh();
    });
  }
  // dy *= 1 - y^2 (y is the tanh output).
  static void tanh_backward(ref dy, cref y) {
    each_rows(dy.rows(), dy.cols(), [&](index_t r0, index_t n) {
      dy.middleRows(r0, n).array() *= T(1) - y.middleRows(r0, n).array().square();
    });
  }

  // ---- fused frame-wise tanh MLP (optional op; see nn/mlp.hpp) ---------------
  // One layer of a tanh MLP as the fused kernels see it: weight (out x in),
  // bias (1 x out), activation buffer H (N x out), and for the backward the
  // gradient buffers of weight and bias (accumulated; null = frozen).
  struct mlp_layer {
    const T* w;
    const T* b;
    T* h;
    T* dw;
    T* db;
    index_t in, out;
  };
  // H_0 = tanh(x W_0^T + b_0), H_l = tanh(H_{l-1} W_l^T + b_l): all layers of a
  // block of 256 frames before the next block, so activations stay in cache,
  // and one parallel region for the whole pass.
  static void mlp_tanh_forward(const T* x, index_t N, const std::vector<mlp_layer>& L) {
    using map = Eigen::Map<tensor>;
    const index_t in0 = L.front().in;
    double cost = 0;
    for (const auto& l : L) cost += 2.0 * double(l.in * l.out);
    const bool tiled = uses_tiled(L, false);
    // The tiled kernel reads W^T (in x out): packed once per pass, not per block.
    auto& wt = mlp_packed();
    if (tiled) {
      wt.resize(L.size());
      for (size_t k = 0; k < L.size(); ++k) {
        resize(wt[k], L[k].in, L[k].out);
        wt[k] = Eigen::Map<const tensor>(L[k].w, L[k].out, L[k].in).transpose();
      }
    }
    detail::parallel_rows(N, cost, [&](index_t r0, index_t n) {
      for (index_t b0 = r0; b0 < r0 + n; b0 += block) {
        const index_t nb = std::min(block, r0 + n - b0);
        const T* in = x + b0 * in0;
        index_t din = in0;
        for (size_t k = 0; k < L.size(); ++k) {
          const auto& l = L[k];
          T* h = l.h + b0 * l.out;
          if (tiled) {
            if constexpr (std::is_same_v<T, float>)  // the bias starts every sum
              detail::kernels::gemm_tiled(nb, l.out, din, in, din, 1, wt[k].data(), l.out, l.b, h, l.out, false);
          } else {
            DSAE_ADD_FLOPS(2 * nb * l.out * din);
            map H(h, nb, l.out);
            H.noalias() = Eigen::Map<const tensor>(in, nb, din) * Eigen::Map<const tensor>(l.w, l.out, l.in).transpose();
            for (index_t r = 0; r < nb; ++r)
              for (index_t j = 0; j < l.out; ++j) h[r * l.out + j] += l.b[j];
          }
          // On the contiguous block as a flat array: Eigen vectorises tanh here,
          // not on a (rowwise + bias) expression (scalar std::tanh, ~10x slower).
          auto flat = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(h, nb * l.out);
          flat = flat.tanh();
          in = h;
          din = l.out;
        }
      }
    });
  }
  // VJP of mlp_tanh_forward. dy: gradient w.r.t. the last H (N x out_L). dx
  // (N x in_0, overwritten) may be null. Weight/bias gradients accumulate per
  // fixed chunk of frames and are summed in chunk order, so the result does
  // not depend on the thread count.
  static void mlp_tanh_backward(const T* x, index_t N, const std::vector<mlp_layer>& L, const T* dy, T* dx) {
    using cmap = Eigen::Map<const tensor>;
    using map = Eigen::Map<tensor>;
    constexpr index_t chunks = 8;
    const size_t nl = L.size();
    // Per chunk and layer: [dW] and [db] partials (2 entries), summed in chunk order.
    auto& parts = mlp_parts();
    parts.resize(2 * chunks * nl);
    for (index_t c = 0; c < chunks; ++c)
      for (size_t k = 0; k < nl; ++k) {
        auto& P = parts[2 * (size_t(c) * nl + k)];
        auto& Pb = parts[2 * (size_t(c) * nl + k) + 1];
        resize(P, L[k].out, L[k].in);
        resize(Pb, 1, L[k].out);
        P.setZero();
        Pb.setZero();
      }
    index_t wmax = 0;
    for (const auto& l : L) wmax = std::max({wmax, l.in, l.out});
    const bool tiled = uses_tiled(L, true);
    double cost = 0;
    for (const auto& l : L) cost += 6.0 * double(l.in * l.out);
    // tanh VJP of one block, fused with the bias gradient's partial (db += column
    // sums; a frozen layer's go to a scratch row).
    auto tanh_grad = [&](index_t nb, index_t w, const T* g, index_t ldg, const T* h, T* d, T* db) {
      if constexpr (std::is_same_v<T, float>) {
        if (tiled) {
          detail::kernels::tanh_grad_rows(nb, w, g, ldg, h, w, d, wmax, db);
          return;
        }
      }
      Eigen::Map<tensor, 0, Eigen::OuterStride<>> D(d, nb, w, Eigen::OuterStride<>(wmax));
      D = Eigen::Map<const tensor, 0, Eigen::OuterStride<>>(g, nb, w, Eigen::OuterStride<>(ldg)).array() *
          (T(1) - cmap(h, nb, w).array().square());
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(db, w) += D.colwise().sum();
    };
    detail::parallel_rows(chunks, cost * double(N) / chunks, [&](index_t c0, index_t cn) {
      tensor d(block, wmax), dprev(block, wmax), db_unused(1, wmax);
      for (index_t c = c0; c < c0 + cn; ++c) {
        const index_t e0 = N * c / chunks, e1 = N * (c + 1) / chunks;
        for (index_t b0 = e0; b0 < e1; b0 += block) {
          const index_t nb = std::min(block, e1 - b0);
          {
            const auto& last = L.back();
            auto& Pb = parts[2 * (size_t(c) * nl + nl - 1) + 1];
            tanh_grad(nb, last.out, dy + b0 * last.out, last.out, last.h + b0 * last.out, d.data(),
                      last.dw ? Pb.data() : db_unused.setZero().data());
          }
          for (size_t k = nl; k-- > 0;) {
            const auto& l = L[k];
            auto Dk = d.topLeftCorner(nb, l.out);
            const T* in = k == 0 ? x + b0 * l.in : L[k - 1].h + b0 * l.in;
            if (l.dw) {
              auto& P = parts[2 * (size_t(c) * nl + k)];
              if (tiled) {  // P += Dk^T in, with Dk read transposed in place
                if constexpr (std::is_same_v<T, float>)
                  detail::kernels::gemm_tiled(l.out, l.in, nb, d.data(), 1, wmax, in, l.in, nullptr, P.data(), l.in,
                                              true);
              } else {
                DSAE_ADD_FLOPS(2 * nb * l.out * l.in);
                P.noalias() += Dk.transpose() * cmap(in, nb, l.in);
              }
            }
            if (k == 0 && !dx) break;
            // Dp = Dk W: straight into dx for the first layer.
            T* dp = k == 0 ? dx + b0 * l.in : dprev.data();
            const index_t ldp = k == 0 ? l.in : wmax;
            if (tiled) {
              if constexpr (std::is_same_v<T, float>)
                detail::kernels::gemm_tiled(nb, l.in, l.out, d.data(), wmax, 1, l.w, l.in, nullptr, dp, ldp, false);
            } else {
              DSAE_ADD_FLOPS(2 * nb * l.out * l.in);
              Eigen::Map<tensor, 0, Eigen::OuterStride<>>(dp, nb, l.in, Eigen::OuterStride<>(ldp)).noalias() =
                  Dk * cmap(l.w, l.out, l.in);
            }
            if (k > 0) {
              const auto& lp = L[k - 1];
              auto& Pb = parts[2 * (size_t(c) * nl + k - 1) + 1];
              tanh_grad(nb, l.in, dprev.data(), wmax, lp.h + b0 * l.in, d.data(),
                        lp.dw ? Pb.data() : db_unused.setZero().data());
            }
          }
        }
      }
    });
    for (size_t k = 0; k < nl; ++k) {
      const auto& l = L[k];
      if (!l.dw) continue;
      map dW(l.dw, l.out, l.in);
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> db(l.db, l.out);
      for (index_t c = 0; c < chunks; ++c) {
        dW += parts[2 * (size_t(c) * nl + k)];
        db += parts[2 * (size_t(c) * nl + k) + 1];
      }
    }
  }

  // ---- LSTM cell (gate order i, f, g, o) -------------------------------------
  // In: G (B x 4H) pre-activations, c_prev (B x H, or 0 rows for a zero state),
  // m (B x 1 mask, or 0 rows for all-valid).
  // Out: G activated in place; c = m * (f c_prev + i g); tc = tanh(f c_prev + i g);
  // h = m * o * tc. A masked frame leaves a zero state behind.
  // Whole-block expressions (rows x H), not a loop over rows: Eigen vectorises
  // each along the contiguous gate columns without per-row overhead.
  static void lstm_forward_step(ref G, cref c_prev, cref m, ref c, ref tc, ref h) {
    const index_t Bn = G.rows(), H = G.cols() / 4;
    auto if_ = G.leftCols(2 * H).array();
    auto gg = G.middleCols(2 * H, H).array();
    auto o = G.rightCols(H).array();
    if_ = T(1) / (T(1) + (-if_).exp());
    gg = gg.tanh();
    o = T(1) / (T(1) + (-o).exp());
    auto i = G.leftCols(H).array();
    auto f = G.middleCols(H, H).array();
    if (c_prev.rows() > 0) c.array() = f * c_prev.array() + i * gg;
    else c.array() = i * gg;
    tc.array() = c.array().tanh();
    h.array() = o * tc.array();
    if (m.rows() > 0)
      for (index_t r = 0; r < Bn; ++r)
        if (m(r, 0) == T(0)) {
          c.row(r).setZero();
          h.row(r).setZero();
        }
  }
  // VJP of lstm_forward_step. In: dh (B x H) total gradient into h_t, dc (B x H)
  // gradient into c_t from step t+1. Out: dG (B x 4H) pre-activation gradients,
  // dc overwritten with the gradient into c_{t-1}.
  static void lstm_backward_step(ref dG, cref G, cref c_prev, cref m, cref tc, cref dh, ref dc) {
    const index_t Bn = G.rows(), H = G.cols() / 4;
    const auto i = G.leftCols(H).array(), f = G.middleCols(H, H).array(), gg = G.middleCols(2 * H, H).array(),
               o = G.rightCols(H).array();
    const auto t = tc.array();
    const auto dhr = dh.array();
    // dc~ = dc + dh * o * (1 - tanh^2)
    dc.array() += dhr * o * (T(1) - t.square());
    dG.rightCols(H).array() = dhr * t * o * (T(1) - o);
    dG.leftCols(H).array() = dc.array() * gg * i * (T(1) - i);
    dG.middleCols(2 * H, H).array() = dc.array() * i * (T(1) - gg.square());
    if (c_prev.rows() > 0) dG.middleCols(H, H).array() = dc.array() * c_prev.array() * f * (T(1) - f);
    else dG.middleCols(H, H).setZero();
    dc.array() *= f;
    if (m.rows() > 0)  // a masked frame passes no gradient (its state was reset)
      for (index_t r = 0; r < Bn; ++r)
        if (m(r, 0) == T(0)) {
          dG.row(r).setZero();
          dc.row(r).setZero();
        }
  }

  // ---- LSTM recurrence over a whole sequence (optional op; see nn/lstm.hpp) --
  // The recurrence is serial in time but independent across the batch: each
  // thread takes a fixed slice of the batch rows and runs its own time loop,
  // instead of a fork/join per time step. Every row's arithmetic is the same
  // for any slicing, so results do not depend on the thread count.
  // In: G (T*B x 4H) = x W_ih^T + biases; whh (4H x H); m (T*B x 1) or 0 rows.
  // Out: G activated, c, tc, h (T*B x H) as lstm_forward_step at every t.
  static void lstm_forward_sequence(ref G, ref c, ref tc, ref h, cref whh, cref m, index_t batch, bool reverse) {
    const index_t Tn = G.rows() / batch, H = whh.cols();
    const tensor none;
    // The tiled recurrence and the fused gates read rows in place: dense storage.
    const bool tiled = tiled_lstm(H) && G.outerStride() == 4 * H && c.outerStride() == H && tc.outerStride() == H &&
                       h.outerStride() == H && (m.rows() == 0 || m.outerStride() == 1);
    auto& whh_t = lstm_packed();
    if (tiled) {
      resize(whh_t, H, 4 * H);
      whh_t = whh.transpose();
    }
    detail::parallel_rows(batch, 2.0 * double(Tn) * double(4 * H * H + 40 * H), [&](index_t b0, index_t nb) {
      for (index_t k = 0; k < Tn; ++k) {
        const index_t t = reverse ? Tn - 1 - k : k, prev = reverse ? t + 1 : t - 1;
        auto Gt = G.middleRows(t * batch + b0, nb);
        if (k > 0) {
          if (tiled) {
            if constexpr (std::is_same_v<T, float>)
              detail::kernels::gemm_tiled(nb, 4 * H, H, h.data() + (prev * batch + b0) * H, H, 1, whh_t.data(), 4 * H,
                                          nullptr, Gt.data(), 4 * H, true);
          } else {
            DSAE_ADD_FLOPS(8 * nb * H * H);
            Gt.noalias() += h.middleRows(prev * batch + b0, nb) * whh.transpose();
          }
        }
        if (tiled && detail::lstm_kernels::available) {  // fused gates (detail/cpu_lstm.hpp)
          if constexpr (std::is_same_v<T, float>)
            detail::lstm_kernels::forward(nb, H, Gt.data(), k > 0 ? c.data() + (prev * batch + b0) * H : nullptr,
                                          m.rows() > 0 ? m.data() + t * batch + b0 : nullptr,
                                          c.data() + (t * batch + b0) * H, tc.data() + (t * batch + b0) * H,
                                          h.data() + (t * batch + b0) * H);
          continue;
        }
        lstm_forward_step(Gt, k > 0 ? crows(c, prev * batch + b0, nb) : crows(none, 0, 0),
                          m.rows() > 0 ? crows(m, t * batch + b0, nb) : crows(none, 0, 0),
                          c.middleRows(t * batch + b0, nb), tc.middleRows(t * batch + b0, nb),
                          h.middleRows(t * batch + b0, nb));
      }
    });
  }
  // VJP of lstm_forward_sequence through the recurrence. dy (T*B x H): the
  // gradient into every h_t from above. Out: dG (T*B x 4H) pre-activation
  // gradients (the weight gradients are products of dG, done by the caller).
  static void lstm_backward_sequence(ref dG, cref G, cref c, cref tc, cref dy, cref whh, cref m, index_t batch,
                                     bool reverse) {
    const index_t Tn = G.rows() / batch, H = whh.cols();
    const tensor none;
    const bool tiled = tiled_lstm(H) && G.outerStride() == 4 * H && dG.outerStride() == 4 * H && c.outerStride() == H &&
                       tc.outerStride() == H && dy.outerStride() == H && (m.rows() == 0 || m.outerStride() == 1);
    detail::parallel_rows(batch, 2.0 * double(Tn) * double(4 * H * H + 40 * H), [&](index_t b0, index_t nb) {
      tensor dh(nb, H), dc = tensor::Zero(nb, H), dh_rec = tensor::Zero(nb, H);
      for (index_t k = Tn; k-- > 0;) {
        const index_t t = reverse ? Tn - 1 - k : k, prev = reverse ? t + 1 : t - 1;
        auto dGt = dG.middleRows(t * batch + b0, nb);
        if (tiled && detail::lstm_kernels::available) {  // fused gates, dh = dy_t + dh_rec read in place
          if constexpr (std::is_same_v<T, float>)
            detail::lstm_kernels::backward(nb, H, G.data() + (t * batch + b0) * 4 * H,
                                           k > 0 ? c.data() + (prev * batch + b0) * H : nullptr,
                                           m.rows() > 0 ? m.data() + t * batch + b0 : nullptr,
                                           tc.data() + (t * batch + b0) * H, dy.data() + (t * batch + b0) * H,
                                           k + 1 < Tn ? dh_rec.data() : nullptr, dc.data(), dGt.data());
        } else {
          dh = dy.middleRows(t * batch + b0, nb);
          if (k + 1 < Tn) dh += dh_rec;
          lstm_backward_step(dGt, crows(G, t * batch + b0, nb),
                             k > 0 ? crows(c, prev * batch + b0, nb) : crows(none, 0, 0),
                             m.rows() > 0 ? crows(m, t * batch + b0, nb) : crows(none, 0, 0),
                             crows(tc, t * batch + b0, nb), dh, dc);
        }
        if (k == 0) break;
        if (tiled) {  // dh_rec = dG_t W_hh
          if constexpr (std::is_same_v<T, float>)
            detail::kernels::gemm_tiled(nb, H, 4 * H, dGt.data(), 4 * H, 1, whh.data(), H, nullptr, dh_rec.data(), H,
                                        false);
        } else {
          DSAE_ADD_FLOPS(8 * nb * H * H);
          dh_rec.noalias() = dGt * whh;
        }
      }
    });
  }

  // ---- time structure (rows t * B + b) --------------------------------------
  // out[b, :] = sum_t w[t*B + b] * X[t*B + b, :]   (B = out.rows())
  static void time_weighted_sum(ref out, cref X, cref w) {
    const index_t Bn = out.rows(), Tn = X.rows() / Bn;
    out.setZero();
    for (index_t t = 0; t < Tn; ++t)
      out.array() += X.middleRows(t * Bn, Bn).array().colwise() * w.middleRows(t * Bn, Bn).col(0).array();
  }
  // dX[t*B + b, :] += w[t*B + b] * dout[b, :]
  static void time_weighted_sum_backward(ref dX, cref dout, cref w) {
    const index_t Bn = dout.rows(), Tn = dX.rows() / Bn;
    for (index_t t = 0; t < Tn; ++t)
      dX.middleRows(t * Bn, Bn).array() += dout.array().colwise() * w.middleRows(t * Bn, Bn).col(0).array();
  }
  // dst = [a, b] column-wise. b has a.rows() rows, or B rows broadcast over
  // time (row t*B + i takes b's row i).
  static void concat_cols(ref dst, cref a, cref b) {
    const index_t R = a.rows(), Bn = b.rows(), ca = a.cols(), cb = b.cols();
    each_rows(R, ca + cb, [&](index_t r0, index_t n) {
      dst.middleRows(r0, n).leftCols(ca) = a.middleRows(r0, n);
      for (index_t r = r0; r < r0 + n; ++r) dst.row(r).rightCols(cb) = b.row(r % Bn);
    });
  }
  // a = src[:, :a.cols()], b = src[:, a.cols():] (same rows).
  static void split_cols(ref a, ref b, cref src) {
    const index_t ca = a.cols(), cb = b.cols();
    each_rows(src.rows(), src.cols(), [&](index_t r0, index_t n) {
      a.middleRows(r0, n) = src.middleRows(r0, n).leftCols(ca);
      b.middleRows(r0, n) = src.middleRows(r0, n).rightCols(cb);
    });
  }
  // VJP of concat_cols, accumulating: da += d[:, :ca]; db += d[:, ca:] (summed
  // over time when b was broadcast). Either output may be null.
  static void split_cols_backward(tensor* da, tensor* db, cref d) {
    const index_t R = d.rows();
    if (da) {
      const index_t ca = da->cols();
      each_rows(R, ca, [&](index_t r0, index_t n) {
        da->middleRows(r0, n) += d.middleRows(r0, n).leftCols(ca);
      });
    }
    if (db) {
      const index_t Bn = db->rows(), cb = db->cols();
      for (index_t r0 = 0; r0 < R; r0 += Bn) *db += d.middleRows(r0, Bn).rightCols(cb);
    }
  }
  // dst[t*B + i] = src[t*B + perm[i]] for every t (B = perm.size()).
  static void gather_batch(ref dst, cref src, const index_vector& perm) {
    const index_t Bn = index_t(perm.size()), R = src.rows();
    for (index_t r0 = 0; r0 < R; r0 += Bn)
      for (index_t i = 0; i < Bn; ++i) dst.row(r0 + i) = src.row(r0 + perm[size_t(i)]);
  }
  // VJP of gather_batch, accumulating: dsrc[t*B + perm[i]] += ddst[t*B + i].
  static void gather_batch_backward(ref dsrc, cref ddst, const index_vector& perm) {
    const index_t Bn = index_t(perm.size()), R = ddst.rows();
    for (index_t r0 = 0; r0 < R; r0 += Bn)
      for (index_t i = 0; i < Bn; ++i) dsrc.row(r0 + perm[size_t(i)]) += ddst.row(r0 + i);
  }

  // ---- Gaussian -------------------------------------------------------------
  // eps = standard-normal noise, a function of (key, element index) only.
  // Vectorised, 64 elements (one group of the stream's layout) at a time.
  static void normal(ref eps, prob::noise_key key) {
    const index_t n = eps.size(), groups = (n + 63) / 64;
    T* p = eps.data();
    detail::parallel_rows(groups, 300.0, [&](index_t g0, index_t gn) {
      detail::noise::fill(p + g0 * 64, std::uint64_t(g0) * 64, std::min(gn * 64, n - g0 * 64), key);
    });
  }
  // s = mu + eps * exp(0.5 * logvar)
  static void reparam(ref s, cref mu, cref lv, cref eps) {
    s.array() = mu.array() + eps.array() * (T(0.5) * lv.array()).exp();
  }
  // Accumulating VJP: dmu += ds; dlv += ds * eps * 0.5 * exp(0.5 * logvar).
  static void reparam_backward(tensor* dmu, tensor* dlv, cref ds, cref lv, cref eps) {
    if (dmu) *dmu += ds;
    if (dlv) dlv->array() += ds.array() * eps.array() * T(0.5) * (T(0.5) * lv.array()).exp();
  }
  // sum_r w[r] * sum_j KL(N(mu1, e^lv1) || N(mu2, e^lv2)) [r, j]; an empty
  // (0-row) mu2/lv2 means the standard normal.
  static T kl(cref mu1, cref lv1, cref mu2, cref lv2, cref w) {
    const bool std_prior = mu2.rows() == 0;
    T total = 0;
    for (index_t r = 0; r < mu1.rows(); ++r) {
      const T wr = w(r, 0);
      if (wr == T(0)) continue;
      const auto m1 = mu1.row(r).array(), l1 = lv1.row(r).array();
      T s;
      if (std_prior) s = T(0.5) * (-l1 + l1.exp() + m1.square() - T(1)).sum();
      else {
        const auto m2 = mu2.row(r).array(), l2 = lv2.row(r).array();
        s = T(0.5) * (l2 - l1 + (l1.exp() + (m1 - m2).square()) * (-l2).exp() - T(1)).sum();
      }
      total += wr * s;
    }
    return total;
  }
  // Accumulating VJP of scale * kl(...). Null outputs are skipped.
  static void kl_backward(T scale, cref mu1, cref lv1, cref mu2, cref lv2, cref w, tensor* dmu1,
                          tensor* dlv1, tensor* dmu2, tensor* dlv2) {
    const bool std_prior = mu2.rows() == 0;
    for (index_t r = 0; r < mu1.rows(); ++r) {
      const T wr = scale * w(r, 0);
      if (wr == T(0)) continue;
      const auto m1 = mu1.row(r).array(), l1 = lv1.row(r).array();
      if (std_prior) {
        if (dmu1) dmu1->row(r).array() += wr * m1;
        if (dlv1) dlv1->row(r).array() += wr * T(0.5) * (l1.exp() - T(1));
        continue;
      }
      const auto m2 = mu2.row(r).array(), l2 = lv2.row(r).array();
      const auto inv2 = (-l2).exp();
      if (dmu1) dmu1->row(r).array() += wr * (m1 - m2) * inv2;
      if (dmu2) dmu2->row(r).array() -= wr * (m1 - m2) * inv2;
      if (dlv1) dlv1->row(r).array() += wr * T(0.5) * (l1.exp() * inv2 - T(1));
      if (dlv2) dlv2->row(r).array() += wr * T(0.5) * (T(1) - (l1.exp() + (m1 - m2).square()) * inv2);
    }
  }
  // sum_r w[r] * sum_j (a - b)^2 [r, j]
  static T sq_error(cref a, cref b, cref w) {
    T total = 0;
    for (index_t r = 0; r < a.rows(); ++r)
      if (w(r, 0) != T(0)) total += w(r, 0) * (a.row(r) - b.row(r)).squaredNorm();
    return total;
  }
  // Accumulating VJP of scale * sq_error with respect to a: da += 2 scale w (a - b).
  static void sq_error_backward(ref da, T scale, cref a, cref b, cref w) {
    each_rows(a.rows(), a.cols(), [&](index_t r0, index_t n) {
      const T k = T(2) * scale;
      da.middleRows(r0, n).array() +=
          ((a.middleRows(r0, n) - b.middleRows(r0, n)).array().colwise() * w.middleRows(r0, n).col(0).array()) * k;
    });
  }

  // ---- optimiser ------------------------------------------------------------
  // One Adam update of n contiguous parameters (PyTorch's formulation). `step`
  // is this parameter's own update count, starting at 1.
  static void adam_update(ref p, cref g, ref m, ref v, ref vmax, index_t offset, index_t n, T lr, T b1,
                          T b2, T eps, std::int64_t step, bool amsgrad) {
    T* pp = p.data() + offset;
    const T* gp = g.data() + offset;
    T* mp = m.data() + offset;
    T* vp = v.data() + offset;
    T* vm = vmax.data() + offset;
    const T bc1 = T(1) - std::pow(b1, T(step)), bc2 = T(1) - std::pow(b2, T(step));
    const T step_size = lr / bc1, sqrt_bc2 = std::sqrt(bc2);
    for (index_t i = 0; i < n; ++i) {
      mp[i] = b1 * mp[i] + (T(1) - b1) * gp[i];
      vp[i] = b2 * vp[i] + (T(1) - b2) * gp[i] * gp[i];
      T vv = vp[i];
      if (amsgrad) {
        vm[i] = std::max(vm[i], vp[i]);
        vv = vm[i];
      }
      pp[i] -= step_size * mp[i] / (std::sqrt(vv) / sqrt_bc2 + eps);
    }
  }

 private:
  template <class F>
  static void each_rows(index_t rows, index_t cols, F&& f) {
    detail::parallel_rows(rows, double(cols), f);
  }

  // gemm on the register-tiled fp32 kernels (detail/cpu_kernels.hpp) for the
  // forms the modules use: alpha = 1, beta 0 or 1, op(A) op(B) other than
  // A^T B^T, N whole vectors. Returns false (nothing done) otherwise. Both
  // forms work on blocks of `block` rows of the long dimension (frames), so the
  // streamed operand stays in L2 while every column panel reads it; the
  // reduction over frames (A^T B) is split into the same fixed chunks as
  // gemm_split_k, so results do not depend on the thread count.
  // bias (C's row-wise starting value, N entries) only with !ta and beta = 0.
  static bool gemm_tiled(ref C, cref A, bool ta, cref B, bool tb, T alpha, T beta, double flops,
                         const T* bias = nullptr)
    requires std::is_same_v<T, float>
  {
    namespace kn = detail::kernels;
    const index_t M = C.rows(), N = C.cols(), K = ta ? A.rows() : A.cols();
    if (alpha != T(1) || (beta != T(0) && beta != T(1)) || (ta && tb) || !kn::tiled_cols(N) || M == 0) return false;
    if (bias && (ta || beta != T(0))) return false;
    if (K == 0) return false;
    const index_t lda = A.outerStride(), ldc = C.outerStride();
    const bool acc = beta == T(1);
    if (!ta) {
      const T* bp = B.data();
      index_t ldb = B.outerStride();
      if (tb) {  // B is N x K: pack B^T (K x N) once; B is a weight, small
        auto& P = gemm_packed();
        resize(P, K, N);
        P = B.transpose();
        bp = P.data();
        ldb = N;
      }
      auto body = [&](index_t r0, index_t n) {
        for (index_t b0 = r0; b0 < r0 + n; b0 += block)
          kn::gemm_tiled(std::min(block, r0 + n - b0), N, K, A.data() + b0 * lda, lda, 1, bp, ldb, bias,
                         C.data() + b0 * ldc, ldc, acc);
      };
      if (M >= 256 && flops > 2e6) detail::parallel_rows(M, flops / double(M), body);
      else body(0, M);
      return true;
    }
    // C (M x N) (+)= A^T B, A: K x M, B: K x N; reduction over K in blocks.
    const index_t ldb = B.outerStride();
    auto reduce = [&](index_t k0, index_t kn_, T* out, index_t ldo, bool first_acc) {
      for (index_t b0 = k0; b0 < k0 + kn_; b0 += block)
        kn::gemm_tiled(M, N, std::min(block, k0 + kn_ - b0), A.data() + b0 * lda, 1, lda, B.data() + b0 * ldb, ldb,
                       nullptr, out, ldo, b0 == k0 ? first_acc : true);
    };
    if (K >= 4096 && flops > 4e6) {
      constexpr index_t chunks = 4;  // as gemm_split_k: fixed, thread-count independent
      auto& parts = split_k_parts();
      parts.resize(chunks);
      for (auto& p : parts) resize(p, M, N);
      detail::parallel_rows(chunks, 1e9, [&](index_t c0, index_t cn) {
        for (index_t c = c0; c < c0 + cn; ++c) {
          const index_t k0 = K * c / chunks;
          reduce(k0, K * (c + 1) / chunks - k0, parts[size_t(c)].data(), N, false);
        }
      });
      if (!acc) C.setZero();
      for (index_t c = 0; c < chunks; ++c) C += parts[size_t(c)];
    } else {
      reduce(0, K, C.data(), ldc, acc);
    }
    return true;
  }

  static void gemm_split_k(ref C, cref A, cref B, bool tb, T alpha, T beta) {
    const index_t K = A.rows();
    constexpr index_t chunks = 4;  // fixed: the sum order is thread-count independent
    auto& parts = split_k_parts();
    auto body = [&](index_t c0, index_t cn) {
      for (index_t c = c0; c < c0 + cn; ++c) {
        const index_t k0 = K * c / chunks, kn = K * (c + 1) / chunks - k0;
        tensor& P = parts[size_t(c)];
        if (!tb) P.noalias() = A.middleRows(k0, kn).transpose() * B.middleRows(k0, kn);
        else P.noalias() = A.middleRows(k0, kn).transpose() * B.middleCols(k0, kn).transpose();
      }
    };
    // Partials: the calling thread's scratch, sized once per shape (the OpenMP
    // team only fills the caller's partials, through the reference).
    parts.resize(chunks);
    for (auto& p : parts) resize(p, C.rows(), C.cols());
    detail::parallel_rows(chunks, 1e9, body);
    if (beta == T(0)) C.setZero();
    else if (beta != T(1)) C *= beta;
    for (index_t c = 0; c < chunks; ++c) C += alpha * parts[size_t(c)];
  }
  static constexpr index_t block = 256;  // frames per cache block of the fused MLP
  // The register-tiled fp32 kernels (detail/cpu_kernels.hpp) take a pass when
  // its output widths are whole vectors (64, 80, 32 ... on AVX2); else Eigen.
  // The forward's products have `out` columns, the backward's also `in`.
  static bool uses_tiled(const std::vector<mlp_layer>& L, bool backward) {
    if constexpr (!std::is_same_v<T, float>) return false;
    for (const auto& l : L)
      if (!detail::kernels::tiled_cols(l.out) || (backward && !detail::kernels::tiled_cols(l.in))) return false;
    return true;
  }
  static bool tiled_lstm(index_t H) {
    if constexpr (!std::is_same_v<T, float>) return false;
    return detail::kernels::tiled_cols(H);
  }
  static tensor& lstm_packed() {
    thread_local tensor p;
    return p;
  }
  static tensor& gemm_packed() {
    thread_local tensor p;
    return p;
  }
  static std::vector<tensor>& mlp_packed() {
    thread_local std::vector<tensor> p;
    return p;
  }
  // Scratch of the reductions: one set per calling thread (thread_local), so
  // models stepping on different threads never share it; the OpenMP team of a
  // call writes the caller's set through a captured reference. Sized once per
  // shape, then reused (no allocation per step).
  static std::vector<tensor>& mlp_parts() {
    thread_local std::vector<tensor> p;
    return p;
  }
  static std::vector<tensor>& split_k_parts() {
    thread_local std::vector<tensor> p;
    return p;
  }
};

}  // namespace dsae
