#pragma once
// VGGish (Hershey et al., ICASSP 2017), the embedding of the Frechet Audio Distance, with its
// own front end. The weights are not on a package registry: the user supplies the PyTorch
// port's state dict (torchvggish `vggish-10086976.pth`) and converts it with
// scripts/convert-vggish-weights to safetensors.
//
// Public API (namespace dsae::audio):
//   vggish_examples(x16k)       front end: examples x (96 * 64) log-mel patches
//   vggish_model::load(file)    the network; embed(examples) -> examples x 128
//   vggish_weights_path()       $DSAE_VGGISH_WEIGHTS, else <cache>/dsae/vggish/vggish.safetensors
//   vggish_embedding_name       "vggish-fc3" (the 128-d output before the last ReLU, no PCA)
//
// Front end (the definition of vggish_input.waveform_to_examples / mel_features): 16 kHz;
// frames of 400 samples (25 ms) every 160 (10 ms), no padding (1 + (n - 400) / 160 frames);
// periodic Hann window 0.5 - 0.5 cos(2 pi k / 400); |rfft| with 512 points (257 bins,
// magnitude, not power); 64 mel bands with edges equally spaced on mel = 1127 ln(1 + f/700)
// between 125 and 7500 Hz, triangular weights on the bin frequencies linspace(0, 8000, 257),
// the DC bin's weights zero; log(mel + 0.01); examples of 96 frames (0.96 s) every 96.
// Computed in double, returned as float.
//
// Network (torchvggish): input 1 x 96 x 64; conv3x3 (padding 1) + ReLU with channels 64, M,
// 128, M, 256, 256, M, 512, 512, M (M = max-pool 2x2 stride 2) -> 512 x 6 x 4; flattened
// channel-last (h, w, c) -> Linear 12288->4096, ReLU, 4096->4096, ReLU, 4096->128 (and a
// final ReLU in torchvggish, off by default here as in the frechet_audio_distance package).
// Each conv is an im2col + GEMM on Eigen; examples are split across OpenMP threads, one
// example per thread with the same code, so results do not depend on the thread count.
#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../detail/parallel.hpp"
#include "../io/safetensors.hpp"

namespace dsae::audio {

inline constexpr const char* vggish_embedding_name = "vggish-fc3";
inline constexpr int vggish_frames = 96, vggish_bands = 64, vggish_dim = 128;

using vggish_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline std::filesystem::path vggish_weights_path() {
  if (const char* p = std::getenv("DSAE_VGGISH_WEIGHTS"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::filesystem::path(x) / "dsae" / "vggish" / "vggish.safetensors";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::filesystem::path(h) / ".cache" / "dsae" / "vggish" / "vggish.safetensors";
  return "vggish.safetensors";
}

namespace detail {
struct vggish_tables {
  std::vector<double> window, cos_t, sin_t;  // 400; 257 x 400 DFT tables
  std::vector<double> mel;                   // 257 x 64
  vggish_tables() : window(400), cos_t(257 * 400), sin_t(257 * 400), mel(257 * 64, 0.0) {
    for (int k = 0; k < 400; ++k) window[std::size_t(k)] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * k / 400.0);
    for (int b = 0; b < 257; ++b)
      for (int k = 0; k < 400; ++k) {
        const double a = 2 * std::numbers::pi * double((std::int64_t(b) * k) % 512) / 512.0;
        cos_t[std::size_t(b) * 400 + std::size_t(k)] = std::cos(a);
        sin_t[std::size_t(b) * 400 + std::size_t(k)] = std::sin(a);
      }
    auto hz_to_mel = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
    const double lo = hz_to_mel(125.0), hi = hz_to_mel(7500.0);
    std::array<double, 66> edges{};
    for (int i = 0; i < 66; ++i) edges[std::size_t(i)] = lo + (hi - lo) * i / 65.0;
    for (int b = 1; b < 257; ++b) {  // DC bin (b = 0) stays zero
      const double m = hz_to_mel(8000.0 * b / 256.0);
      for (int i = 0; i < 64; ++i) {
        const double l = edges[std::size_t(i)], c = edges[std::size_t(i) + 1], u = edges[std::size_t(i) + 2];
        const double w = std::min((m - l) / (c - l), (u - m) / (u - c));
        mel[std::size_t(b) * 64 + std::size_t(i)] = std::max(0.0, w);
      }
    }
  }
};
inline const vggish_tables& vggish_front_tables() {
  static const vggish_tables t;
  return t;
}
}  // namespace detail

// Log-mel frames (frames x 64, double) of a 16 kHz signal.
inline Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> vggish_log_mel(std::span<const float> x) {
  const auto& tb = detail::vggish_front_tables();
  const std::size_t n = x.size();
  const std::size_t F = n < 400 ? 0 : 1 + (n - 400) / 160;
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(Eigen::Index(F), 64);
  std::array<double, 400> fr{};
  std::array<double, 257> mag{};
  for (std::size_t t = 0; t < F; ++t) {
    for (std::size_t k = 0; k < 400; ++k) fr[k] = double(x[t * 160 + k]) * tb.window[k];
    for (std::size_t b = 0; b < 257; ++b) {
      double re = 0, im = 0;
      const double* c = tb.cos_t.data() + b * 400;
      const double* s = tb.sin_t.data() + b * 400;
      for (std::size_t k = 0; k < 400; ++k) {
        re += fr[k] * c[k];
        im -= fr[k] * s[k];
      }
      mag[b] = std::sqrt(re * re + im * im);
    }
    for (std::size_t i = 0; i < 64; ++i) {
      double m = 0;
      for (std::size_t b = 0; b < 257; ++b) m += mag[b] * tb.mel[b * 64 + i];
      out(Eigen::Index(t), Eigen::Index(i)) = std::log(m + 0.01);
    }
  }
  return out;
}

// examples x (96 * 64): non-overlapping 0.96 s patches of vggish_log_mel (row-major time x band).
inline vggish_matrix vggish_examples(std::span<const float> x) {
  const auto lm = vggish_log_mel(x);
  const Eigen::Index F = lm.rows();
  const Eigen::Index E = F < vggish_frames ? 0 : 1 + (F - vggish_frames) / vggish_frames;
  vggish_matrix ex(E, vggish_frames * vggish_bands);
  for (Eigen::Index e = 0; e < E; ++e)
    for (Eigen::Index r = 0; r < vggish_frames * vggish_bands; ++r)
      ex(e, r) = float(lm.data()[e * vggish_frames * vggish_bands + r]);
  return ex;
}

class vggish_model {
 public:
  // Loads torchvggish's state-dict names (features.{0,3,6,8,11,13}, embeddings.{0,2,4}) from
  // safetensors. throws std::runtime_error naming the file (and how to make it when missing).
  static vggish_model load(const std::filesystem::path& file = vggish_weights_path()) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
      throw std::runtime_error("VGGish weights not found: '" + file.string() +
                               "' does not exist. VGGish weights are not on a package registry: download "
                               "the PyTorch port's state dict (torchvggish vggish-10086976.pth), convert it "
                               "with scripts/convert-vggish-weights, or set DSAE_VGGISH_WEIGHTS");
    const auto st = io::read_safetensors(file);
    const std::string where = "VGGish weights '" + file.string() + "': ";
    auto get = [&](const std::string& name, std::vector<std::int64_t> shape) {
      try {
        return st.get_vector<float>(name, io::convert::float_cast, shape);
      } catch (const std::exception& e) {
        throw std::runtime_error(where + e.what());
      }
    };
    vggish_model m;
    const std::array<int, 6> idx{0, 3, 6, 8, 11, 13}, cout{64, 128, 256, 256, 512, 512};
    int cin = 1;
    for (std::size_t l = 0; l < 6; ++l) {
      conv& c = m.m_conv[l];
      c.cin = cin;
      c.cout = cout[l];
      const std::string p = "features." + std::to_string(idx[l]);
      const auto w = get(p + ".weight", {c.cout, c.cin, 3, 3});
      c.weight.resize(9 * c.cin, c.cout);
      for (int o = 0; o < c.cout; ++o)
        for (int i = 0; i < c.cin; ++i)
          for (int k = 0; k < 9; ++k)
            c.weight(Eigen::Index(k) * c.cin + i, o) = w[(std::size_t(o) * std::size_t(c.cin) + std::size_t(i)) * 9 + std::size_t(k)];
      const auto b = get(p + ".bias", {c.cout});
      c.bias = Eigen::Map<const Eigen::RowVectorXf>(b.data(), c.cout);
      cin = c.cout;
    }
    const std::array<int, 4> dims{12288, 4096, 4096, 128};
    for (std::size_t l = 0; l < 3; ++l) {
      const std::string p = "embeddings." + std::to_string(2 * l);
      const auto w = get(p + ".weight", {dims[l + 1], dims[l]});
      m.m_fc[l] = Eigen::Map<const vggish_matrix>(w.data(), dims[l + 1], dims[l]).transpose();
      const auto b = get(p + ".bias", {dims[l + 1]});
      m.m_fc_bias[l] = Eigen::Map<const Eigen::RowVectorXf>(b.data(), dims[l + 1]);
    }
    m.m_source = file.string();
    return m;
  }

  [[nodiscard]] const std::string& source() const noexcept { return m_source; }

  // requires: examples has 96 * 64 columns. ensures: examples.rows() x 128.
  [[nodiscard]] vggish_matrix embed(const Eigen::Ref<const vggish_matrix>& examples, bool final_relu = false,
                                    int threads = 0) const {
    if (examples.cols() != vggish_frames * vggish_bands)
      throw std::invalid_argument("vggish_model::embed: examples need 96 * 64 = 6144 columns, got " +
                                  std::to_string(examples.cols()));
    const Eigen::Index N = examples.rows();
    vggish_matrix out(N, vggish_dim);
    if (N == 0) return out;
    int nt = 1;
#if defined(_OPENMP)
    nt = int(std::min<Eigen::Index>(threads > 0 ? threads : omp_get_max_threads(), N));
#endif
    (void)threads;
    dsae::detail::exception_slot errors;  // a throw inside the region must not abort
#pragma omp parallel num_threads(nt)
    errors.run([&] {
      int k = 1, i = 0;
#if defined(_OPENMP)
      k = omp_get_num_threads();
      i = omp_get_thread_num();
      omp_set_num_threads(1);  // no Eigen GEMM forking inside (see crepe.hpp)
#endif
      {
        vggish_matrix a, col, y;
        for (Eigen::Index e = N * i / k; e < N * (i + 1) / k; ++e) {
          a = Eigen::Map<const vggish_matrix>(examples.row(e).data(), 96 * 64, 1);  // (h*w) x 1
          int H = 96, W = 64;
          for (std::size_t l = 0; l < 6; ++l) {
            conv_forward(m_conv[l], a, H, W, col, y);
            a.swap(y);
            if (l != 2 && l != 4) pool(a, H, W, m_conv[l].cout, y), a.swap(y), H /= 2, W /= 2;
          }
          Eigen::RowVectorXf h = Eigen::Map<const Eigen::RowVectorXf>(a.data(), a.size());
          for (std::size_t l = 0; l < 3; ++l) {
            Eigen::RowVectorXf z = h * m_fc[l] + m_fc_bias[l];
            if (l < 2 || final_relu) z = z.cwiseMax(0.0f);
            h.swap(z);
          }
          out.row(e) = h;
        }
      }
    });
    errors.rethrow();
    return out;
  }

 private:
  struct conv {
    int cin = 0, cout = 0;
    vggish_matrix weight;  // 9 cin x cout, row (ky*3 + kx) cin + c
    Eigen::RowVectorXf bias;
  };

  // a: (H*W) x cin -> y: (H*W) x cout, 3x3 padding 1, bias, ReLU.
  static void conv_forward(const conv& c, const vggish_matrix& a, int H, int W, vggish_matrix& col, vggish_matrix& y) {
    col.setZero(Eigen::Index(H) * W, 9 * c.cin);
    for (int r = 0; r < H; ++r)
      for (int s = 0; s < W; ++s)
        for (int ky = 0; ky < 3; ++ky) {
          const int rr = r + ky - 1;
          if (rr < 0 || rr >= H) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int ss = s + kx - 1;
            if (ss < 0 || ss >= W) continue;
            std::copy_n(a.data() + (std::ptrdiff_t(rr) * W + ss) * c.cin, c.cin,
                        col.data() + (std::ptrdiff_t(r) * W + s) * 9 * c.cin + (ky * 3 + kx) * c.cin);
          }
        }
    y.noalias() = col * c.weight;
    y.rowwise() += c.bias;
    y = y.cwiseMax(0.0f);
  }

  static void pool(const vggish_matrix& a, int H, int W, int C, vggish_matrix& y) {
    y.resize(Eigen::Index(H / 2) * (W / 2), C);
    for (int r = 0; r < H / 2; ++r)
      for (int s = 0; s < W / 2; ++s)
        y.row(Eigen::Index(r) * (W / 2) + s) =
            a.row(Eigen::Index(2 * r) * W + 2 * s)
                .cwiseMax(a.row(Eigen::Index(2 * r) * W + 2 * s + 1))
                .cwiseMax(a.row(Eigen::Index(2 * r + 1) * W + 2 * s))
                .cwiseMax(a.row(Eigen::Index(2 * r + 1) * W + 2 * s + 1));
  }

  std::array<conv, 6> m_conv;
  std::array<vggish_matrix, 3> m_fc;  // in x out
  std::array<Eigen::RowVectorXf, 3> m_fc_bias;
  std::string m_source;
};

}  // namespace dsae::audio
