#pragma once
// Shared by the thrust (g++, OMP device system) and cuda (nvcc, cuBLAS)
// consumers: C = 1.5 A B^T + 0.5 C on thrust_backend<double> against
// cpu<double> (a transposed operand and a beta exercise the row-major mapping).
#include <dsae/backend/cpu.hpp>
#include <dsae/backend/thrust.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

inline int gemm_vs_cpu(const char* system) {
  using G = dsae::thrust_backend<double>;
  using C = dsae::cpu<double>;
  std::vector<double> a(6 * 4), b(5 * 4), c(6 * 5);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(double(i) + 1);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::cos(double(i) * 0.7);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = 0.1 * double(i);
  auto gc = G::from_host(c, 6, 5);
  G::gemm(gc, G::from_host(a, 6, 4), false, G::from_host(b, 5, 4), true, 1.5, 0.5);
  auto cc = C::from_host(c, 6, 5);
  C::gemm(cc, C::from_host(a, 6, 4), false, C::from_host(b, 5, 4), true, 1.5, 0.5);
  const auto got = G::to_host(gc), want = C::to_host(cc);
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    err = std::fmax(err, std::abs(got[i] - want[i]));
    scale = std::fmax(scale, std::abs(want[i]));
  }
  const bool ok = scale > 0 && err <= 1e-12 * scale;
  std::printf("%s gemm 6x4 * (5x4)^T vs cpu<double>: max |diff| %.3g (scale %.3g)\n", system, err, scale);
  std::printf(ok ? "consumer ok\n" : "consumer failed\n");
  return ok ? 0 : 1;
}
