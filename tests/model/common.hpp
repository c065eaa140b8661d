#pragma once
// Small models and batches for the model tests.
#include <dsae/dsae.hpp>
#include "common/gradcheck.hpp"

namespace dsae::test {

inline model::model_sizes tiny_sizes() {
  model::model_sizes s;
  s.x_dim = 3;
  s.v_dim = 2;
  s.z_dim = 2;
  s.hidden = 3;
  s.prior_hidden = 2;
  s.prior_layers = 2;
  s.rnn_hidden = 2;
  s.rnn_layers = 2;
  return s;
}

template <class Bk = B>
model::sequence_batch<Bk> random_batch(index_t T, std::vector<index_t> lengths, index_t F, std::uint64_t seed) {
  model::sequence_batch<Bk> b;
  b.frames = T;
  b.lengths = std::move(lengths);
  b.x = random_tensor(T * index_t(b.lengths.size()), F, seed).template cast<typename Bk::scalar>();
  b.finalize();
  return b;
}

}  // namespace dsae::test
