#pragma once
// sequence_batch<Backend>: a time-major batch of n sequences of up to T frames.
//
// x is (T*n) x F (row t*n + b = frame t of sequence b); lengths[b] valid frames
// come first, padding after. The derived row weights carry every reduction of
// the objective (spec, "Objective"):
//   mask     m[t*n+b]      = 1 on valid frames       (LSTM masks)
//   time_w   m / n_b                                 (masked mean over time, recon, KL_z)
//   ones     1 per sequence                          (KL_v)
#include <string>
#include <vector>
#include "../nn/parameters.hpp"

namespace dsae::model {

template <class Backend>
struct sequence_batch {
  using T = typename Backend::scalar;
  using tensor = typename Backend::tensor;

  tensor x;                      // (T*n) x F, n = batch
  std::vector<index_t> lengths;  // n
  index_t batch = 0, frames = 0;
  tensor mask, time_w, ones;     // (T*n) x 1, (T*n) x 1, n x 1
  index_t valid = 0;             // total valid frames

  // Builds the derived weights. requires: x.rows() == frames * batch,
  // 1 <= lengths[b] <= frames.
  void finalize() {
    batch = index_t(lengths.size());
    if (batch == 0) detail::fail("sequence_batch: empty batch");
    if (frames <= 0 || x.rows() != frames * batch)
      detail::fail("sequence_batch: x has shape ", to_string(Backend::shape(x)), ", expected [(", frames, "*", batch, ") x F]");
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
    mask = Backend::from_host(m, frames * batch, 1);
    time_w = Backend::from_host(w, frames * batch, 1);
    ones = Backend::from_host(std::vector<T>(size_t(batch), T(1)), batch, 1);
  }
  bool all_full() const { return valid == frames * batch; }
};

}  // namespace dsae::model
