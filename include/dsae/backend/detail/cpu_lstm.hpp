#pragma once
// Fused LSTM gate kernels of one time step for cpu<float> (gate order i, f, g, o).
//
// One pass over the step's rows, every gate of a row in registers: the separate
// whole-block expressions (sigmoid, tanh, the cell update, the output, the
// mask, and in the VJP five more) each read and wrote the step's block once.
// exp and tanh are Eigen's packet functions, the ones its .exp() / .tanh() use.
// requires: H a multiple of kernels::lanes (kernels::tiled_cols(H)).
#include <Eigen/Core>

#include "cpu_kernels.hpp"

namespace dsae::detail::lstm_kernels {

// nvcc (the CUDA build of tests that also use cpu<T>) sees other vector
// settings for Eigen than g++ does: there the Eigen block expressions run.
#if defined(__CUDACC__)
inline constexpr bool available = false;
inline void forward(index_t, index_t, float*, const float*, const float*, float*, float*, float*) {}
inline void backward(index_t, index_t, const float*, const float*, const float*, const float*, const float*,
                     const float*, float*, float*) {}
#else
inline constexpr bool available = true;

using kernels::lanes;
using kernels::load;
using kernels::store;
using kernels::vfloat;
using packet = Eigen::internal::packet_traits<float>::type;
static_assert(sizeof(packet) == sizeof(vfloat), "Eigen's float packet and the kernels' vector differ in width");

inline vfloat vexp(vfloat x) { return vfloat(Eigen::internal::pexp(packet(x))); }
inline vfloat vtanh(vfloat x) { return vfloat(Eigen::internal::ptanh(packet(x))); }
inline vfloat sigmoid(vfloat x) { return 1.0f / (1.0f + vexp(-x)); }

// G (rows x 4H, row stride 4H): pre-activations in, activated gates out.
// c_prev (row stride H) or null for a zero state; mask (rows) or null.
// c = m (f c_prev + i g); tc = tanh(f c_prev + i g); h = m o tc.
inline void forward(index_t rows, index_t H, float* G, const float* c_prev, const float* mask, float* c, float* tc,
                    float* h) {
  for (index_t r = 0; r < rows; ++r) {
    float* g = G + r * 4 * H;
    const bool keep = !mask || mask[r] != 0.0f;
    for (index_t j = 0; j < H; j += lanes) {
      const vfloat i = sigmoid(load(g + j)), f = sigmoid(load(g + H + j)), gg = vtanh(load(g + 2 * H + j)),
                   o = sigmoid(load(g + 3 * H + j));
      store(g + j, i);
      store(g + H + j, f);
      store(g + 2 * H + j, gg);
      store(g + 3 * H + j, o);
      const vfloat cell = c_prev ? f * load(c_prev + r * H + j) + i * gg : i * gg;
      const vfloat t = vtanh(cell);
      store(tc + r * H + j, t);
      store(c + r * H + j, keep ? cell : vfloat{});
      store(h + r * H + j, keep ? o * t : vfloat{});
    }
  }
}

// VJP of forward. dy (row stride H): the gradient into h_t from above; dh_rec
// (row stride H) or null: from step t+1 through W_hh. dc: in, the gradient into
// c_t from t+1; out, into c_{t-1}. dG (rows x 4H): pre-activation gradients.
inline void backward(index_t rows, index_t H, const float* G, const float* c_prev, const float* mask, const float* tc,
                     const float* dy, const float* dh_rec, float* dc, float* dG) {
  for (index_t r = 0; r < rows; ++r) {
    const float* g = G + r * 4 * H;
    float* d = dG + r * 4 * H;
    if (mask && mask[r] == 0.0f) {  // a masked frame passes no gradient (its state was reset)
      for (index_t j = 0; j < 4 * H; j += lanes) store(d + j, vfloat{});
      for (index_t j = 0; j < H; j += lanes) store(dc + r * H + j, vfloat{});
      continue;
    }
    for (index_t j = 0; j < H; j += lanes) {
      const vfloat i = load(g + j), f = load(g + H + j), gg = load(g + 2 * H + j), o = load(g + 3 * H + j);
      const vfloat t = load(tc + r * H + j);
      const vfloat dh = dh_rec ? load(dy + r * H + j) + load(dh_rec + r * H + j) : load(dy + r * H + j);
      const vfloat dcell = load(dc + r * H + j) + dh * o * (1.0f - t * t);
      store(d + 3 * H + j, dh * t * o * (1.0f - o));
      store(d + j, dcell * gg * i * (1.0f - i));
      store(d + 2 * H + j, dcell * i * (1.0f - gg * gg));
      store(d + H + j, c_prev ? dcell * load(c_prev + r * H + j) * f * (1.0f - f) : vfloat{});
      store(dc + r * H + j, dcell * f);
    }
  }
}

#endif  // __CUDACC__

}  // namespace dsae::detail::lstm_kernels
