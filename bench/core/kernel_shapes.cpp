// kernel_shapes: the register-tiled fp32 product kernel (backend/detail/cpu_kernels.hpp)
// alone, on the shapes of a training step's frame-wise products, against the
// register-only FMA peak (bench/common/fma_peak.hpp). bench/core/kernel_vs_mkl.py runs it
// beside MKL's sgemm (PyTorch's torch.mm in a venv) on the same shapes, 1 thread each.
//
//   OMP_NUM_THREADS=1 build/bench/core/kernel_shapes        # one JSON line per shape
//
// Shapes (M x N x K, all frames of a batch: M = 128 x 251 = 32128 rows in blocks of
// 256, as cpu<float> runs them): forward x W^T (80 -> 64, 64 -> 64, 64 -> 80; the
// input gradients dY W have the same shapes), and the weight gradient dY^T X
// (64 x 80, 64 x 64, summed over all frames).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <dsae/backend/detail/cpu_kernels.hpp>
#include "../common/fma_peak.hpp"

namespace {
using dsae::index_t;
namespace kn = dsae::detail::kernels;

struct shape {
  const char* name;
  index_t M, N, K;
  bool weight_gradient;  // C (M x N) = A^T B with A: K x M, B: K x N (K = frames)
};

double gflops(const shape& s, int reps) {
  const index_t rows = s.weight_gradient ? s.K : s.M, a_cols = s.weight_gradient ? s.M : s.K;
  std::vector<float> a(size_t(rows * a_cols)), b(size_t((s.weight_gradient ? s.K : s.K) * s.N)), c(size_t(s.M * s.N));
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) * 0.1f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.1f;
  constexpr index_t block = 256;
  auto once = [&] {
    if (!s.weight_gradient) {
      for (index_t r0 = 0; r0 < s.M; r0 += block)
        kn::gemm_tiled(std::min(block, s.M - r0), s.N, s.K, a.data() + r0 * s.K, s.K, 1, b.data(), s.N, nullptr,
                       c.data() + r0 * s.N, s.N, false);
    } else {
      for (index_t k0 = 0; k0 < s.K; k0 += block)
        kn::gemm_tiled(s.M, s.N, std::min(block, s.K - k0), a.data() + k0 * s.M, 1, s.M, b.data() + k0 * s.N, s.N,
                       nullptr, c.data(), s.N, k0 > 0);
    }
  };
  once();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * double(s.M) * double(s.N) * double(s.K) / best * 1e-9;
}
}  // namespace

int main() {
  const index_t frames = 128 * 251;
  const shape shapes[] = {{"fwd 80->64", frames, 64, 80, false},
                          {"fwd 64->64", frames, 64, 64, false},
                          {"fwd 64->80", frames, 80, 64, false},
                          {"dW 64x80", 64, 80, frames, true},
                          {"dW 64x64", 64, 64, frames, true}};
  const double peak = dsae_bench::fma_peak_gflops(1, 10);
  for (const auto& s : shapes) {
    const double g = gflops(s, 15);
    std::printf("{\"impl\": \"dsae\", \"shape\": \"%s\", \"M\": %ld, \"N\": %ld, \"K\": %ld, \"gflops\": %.1f, "
                "\"fma_peak_gflops\": %.1f, \"pct_fma_peak\": %.1f}\n",
                s.name, long(s.M), long(s.N), long(s.K), g, peak, 100.0 * g / peak);
  }
}
