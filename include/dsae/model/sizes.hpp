#pragma once
// model_sizes: latent sizes and widths, runtime values with the paper's defaults.
#include "../config.hpp"

namespace dsae::model {

struct model_sizes {
  index_t x_dim = 80;        // F, log-mel bins
  index_t v_dim = 16;        // V, global latent
  index_t z_dim = 16;        // Z, local latent (paper: 8, 16, 32)
  index_t hidden = 64;       // FCN-[64, 64] widths
  index_t prior_hidden = 32; // transition LSTM
  index_t prior_layers = 2;
  index_t rnn_hidden = 64;   // bidirectional LSTMs (full q, richer decoder)
  index_t rnn_layers = 2;

  // Upper bounds of every size: sizes come from command lines and files (config.json), and
  // a parameter matrix is rows x cols of them, so with every size <= 2^16 no product of
  // two or three sizes can overflow index_t. Latents: the paper uses 8 to 32.
  static constexpr index_t max_latent = 4096;
  static constexpr index_t max_width = index_t(1) << 16;

  // Throws std::invalid_argument naming the first invalid field.
  void validate() const {
    auto pos = [](const char* n, index_t v, index_t hi = max_width) {
      if (v <= 0) detail::fail("model_sizes: ", n, " must be positive, got ", v);
      if (v > hi) detail::fail("model_sizes: ", n, " is ", v, ", more than the ", hi, " allowed");
    };
    pos("x_dim", x_dim);
    pos("v_dim", v_dim, max_latent);
    pos("z_dim", z_dim, max_latent);
    pos("hidden", hidden);
    pos("prior_hidden", prior_hidden);
    pos("prior_layers", prior_layers);
    pos("rnn_hidden", rnn_hidden);
    pos("rnn_layers", rnn_layers);
  }
};

}  // namespace dsae::model
