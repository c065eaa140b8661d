#pragma once
// One CREPE block on one frame: zero padding along time -> Conv2d with a (k, 1) kernel
// -> bias -> ReLU -> BatchNorm (inference statistics) -> MaxPool (2, 1). The order ReLU
// before BatchNorm is torchcrepe's (model.py, Crepe.layer), kept because BatchNorm with a
// negative scale does not commute with ReLU or with the max-pool.
//
// Activations are row-major (time x channels). A (k, 1) convolution with stride s is then
// a GEMM whose left operand needs no im2col copy: row p of the im2col matrix is the
// k * C_in contiguous floats starting at row p * s of the padded input, so a Map with
// outer stride s * C_in over the input buffer *is* the im2col matrix (rows overlap).
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace dsae::audio::detail {

using row_matrix_f = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct crepe_block {
  int in_channels = 0, out_channels = 0, kernel = 0, stride = 1, pad_top = 0, pad_bottom = 0;
  row_matrix_f weight;             // (kernel * in_channels) x out_channels; row k*C_in + c
  Eigen::RowVectorXf bias;         // conv bias, 1 x out
  Eigen::RowVectorXf bn_scale;     // gamma / sqrt(running_var + eps)
  Eigen::RowVectorXf bn_shift;     // beta - running_mean * bn_scale

  // Conv output positions for `in_positions` input rows (before padding).
  [[nodiscard]] int conv_positions(int in_positions) const {
    return (in_positions + pad_top + pad_bottom - kernel) / stride + 1;
  }
  // Rows after the max-pool.
  [[nodiscard]] int out_positions(int in_positions) const { return conv_positions(in_positions) / 2; }

  // requires: in holds (in_positions + pad_top + pad_bottom) x in_channels floats (row-major,
  //   padding rows zero); conv has room for conv_positions x out_channels; out points at
  //   out_positions x out_channels floats (inside the next block's padded buffer).
  // ensures: out = maxpool(bn(relu(conv(in) + bias))).
  void forward(const float* in, int in_positions, float* conv, float* out) const {
    const int P = conv_positions(in_positions);
    const Eigen::Map<const row_matrix_f, 0, Eigen::OuterStride<>> cols(
        in, P, Eigen::Index(kernel) * in_channels, Eigen::OuterStride<>(Eigen::Index(stride) * in_channels));
    Eigen::Map<row_matrix_f> y(conv, P, out_channels);
    y.noalias() = cols * weight;
    const int Q = P / 2;
    for (int q = 0; q < Q; ++q) {
      const float* a = conv + std::ptrdiff_t(2 * q) * out_channels;
      const float* b = a + out_channels;
      float* o = out + std::ptrdiff_t(q) * out_channels;
      for (int c = 0; c < out_channels; ++c) {
        const float va = std::max(a[c] + bias[c], 0.0f) * bn_scale[c] + bn_shift[c];
        const float vb = std::max(b[c] + bias[c], 0.0f) * bn_scale[c] + bn_shift[c];
        o[c] = std::max(va, vb);
      }
    }
  }
};

}  // namespace dsae::audio::detail
