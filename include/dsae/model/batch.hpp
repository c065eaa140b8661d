#pragma once
// sequence_batch<B>: a time-major batch of B sequences of up to T frames.
//
// x is (T*B) x F (row t*B + b = frame t of sequence b); lengths[b] valid frames
// come first, padding after. The derived row weights carry every reduction of
// the objective (spec, "Objective"):
//   mask     m[t*B+b]      = 1 on valid frames       (LSTM masks)
//   time_w   m / n_b                                 (masked mean over time, recon, KL_z)
//   ones     1 per sequence                          (KL_v)
#include <string>
#include <vector>
#include "../nn/parameters.hpp"

namespace dsae::model {

template <class B>
struct sequence_batch {
  using T = typename B::scalar;
  using tensor = typename B::tensor;

  tensor x;                      // (T*B) x F
  std::vector<index_t> lengths;  // B
  index_t batch = 0, frames = 0;
  tensor mask, time_w, ones;     // (T*B) x 1, (T*B) x 1, B x 1
  index_t valid = 0;             // total valid frames

  // Builds the derived weights. requires: x.rows() == frames * batch,
  // 1 <= lengths[b] <= frames.
  void finalize() {
    batch = index_t(lengths.size());
    if (batch == 0) detail::fail("sequence_batch: empty batch");
    if (frames <= 0 || x.rows() != frames * batch)
      detail::fail("sequence_batch: x has shape ", to_string(B::shape(x)), ", expected [(", frames, "*", batch, ") x F]");
    std::vector<T> m(size_t(frames * batch)), w(m.size());
    valid = 0;
    for (index_t b = 0; b < batch; ++b) {
      const index_t n = lengths[size_t(b)];
      if (n < 1 || n > frames)
        detail::fail("sequence_batch: sequence ", b, " has length ", n, ", expected 1..", frames);
      valid += n;
      for (index_t t = 0; t < n; ++t) {
        m[size_t(t * batch + b)] = T(1);
        w[size_t(t * batch + b)] = T(1) / T(n);
      }
    }
    mask = B::from_host(m, frames * batch, 1);
    time_w = B::from_host(w, frames * batch, 1);
    ones = B::from_host(std::vector<T>(size_t(batch), T(1)), batch, 1);
  }
  bool all_full() const { return valid == frames * batch; }
};

}  // namespace dsae::model
