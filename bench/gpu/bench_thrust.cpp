// Throughput of the Thrust backend (and cpu<T> beside it) at the paper's sizes
// (B = 128, T = 251, F = 80, float):
//   ts-dsae: one TS-DSAE stage-2 training step (factorised q, Z = V = 16):
//            train_step (forward + backward of the whole objective with the
//            four swap terms) + Adam update, full-length sequences
//   mlp:     forward + backward of the frame-wise MLP, 32128 x 80 -> 64 -> 64
//   lstm:    forward + backward of one LSTM layer, input 80, H = 32
// One source for both device systems: compiled by g++ it is bench_thrust_omp
// (OMP), by nvcc (bench_thrust.cu) bench_thrust_cuda (CUDA + cuBLAS).
//
//   bench_thrust [--steps N] [--warmup W] [--backends thrust,cpu] [--what ts-dsae,modules]
//                [--markdown FILE]
//
// Prints one markdown table row per (benchmark, backend): median / min ms over
// N timed steps after W warm-up steps. Device work is synchronised before the
// clock stops (thrust_backend::synchronize).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <dsae/backend/cpu.hpp>
#include <dsae/backend/thrust.hpp>
#include <dsae/nn/lstm.hpp>
#include <dsae/model/variants.hpp>
#include <dsae/nn/mlp.hpp>
#include <dsae/train/adam.hpp>

namespace {

using namespace dsae;

struct options {
  int steps = 20, warmup = 3;
  std::string backends = "thrust,cpu", what = "ts-dsae,modules", markdown;
};

template <class B>
void sync() {
  if constexpr (requires { B::synchronize(); }) B::synchronize();
}

template <class B>
typename B::tensor random_tensor(index_t r, index_t c, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<typename B::scalar> v(static_cast<size_t>(r * c));
  for (auto& x : v) x = u(g);
  return B::from_host(v, r, c);
}

struct timing {
  double median_ms = 0, min_ms = 0;
};
template <class B>
timing time_steps(const options& o, const std::function<void()>& step) {
  for (int i = 0; i < o.warmup; ++i) step();
  sync<B>();
  std::vector<double> ms;
  for (int i = 0; i < o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    sync<B>();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

constexpr index_t kT = 251, kB = 128, kF = 80;

template <class B>
timing bench_mlp(const options& o) {
  parameters<B> p;
  nn::mlp<B> net(p, "mlp", kF, {64, 64}, group::decoder);
  p.finalize(1);
  const auto x = random_tensor<B>(kT * kB, kF, 2), dy = random_tensor<B>(kT * kB, 64, 3);
  typename nn::mlp<B>::state s;
  unchecked_inputs nocheck;  // as inside a model step: no NaN scan per layer
  return time_steps<B>(o, [&] {
    p.zero_grad();
    net.forward(s, x);
    net.backward(s, dy, false);
  });
}

template <class B>
timing bench_lstm(const options& o) {
  parameters<B> p;
  nn::lstm<B> rnn(p, "rnn", kF, 32, 1, group::transition);
  p.finalize(4);
  const auto x = random_tensor<B>(kT * kB, kF, 5), dy = random_tensor<B>(kT * kB, 32, 6);
  typename nn::lstm<B>::state s;
  unchecked_inputs nocheck;
  return time_steps<B>(o, [&] {
    p.zero_grad();
    rnn.forward(s, x, nullptr, kB);
    rnn.backward(s, dy, true);
  });
}

template <class B>
timing bench_ts_dsae(const options& o) {
  model::ts_dsae<B> m;  // paper defaults: F = 80, V = Z = 16, FCN-[64, 64], prior LSTM 2 x 32
  m.set_stage(2);
  model::sequence_batch<B> b;
  b.frames = kT;
  b.lengths.assign(size_t(kB), kT);
  b.x = random_tensor<B>(kT * kB, kF, 7);
  b.finalize();
  train::adam<B> opt(m.params(), {});
  std::uint32_t step = 0;
  return time_steps<B>(o, [&] {
    m.train_step(b, 1, step++);
    opt.step();
  });
}

std::string device_name() {
#if DSAE_THRUST_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) return std::string("CUDA: ") + prop.name;
  return "CUDA";
#else
  return "host, " + std::to_string(detail::max_threads()) + " OpenMP threads";
#endif
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument("bench_thrust: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--steps") o.steps = std::stoi(next());
    else if (a == "--warmup") o.warmup = std::stoi(next());
    else if (a == "--backends") o.backends = next();
    else if (a == "--markdown") o.markdown = next();
    else if (a == "--what") o.what = next();
    else {
      std::cerr << "usage: bench_thrust [--steps N] [--warmup W] [--backends thrust,cpu] [--what ts-dsae,modules]"
                   " [--markdown FILE]\n";
      return 2;
    }
  }
  if (o.steps < 1) o.steps = 1;
  std::ostringstream md;
  md << "| benchmark | backend | device | median ms | min ms | steps |\n|---|---|---|---|---|---|\n";
  auto row = [&](const char* bench, const char* backend, const std::string& dev, timing t) {
    md << "| " << bench << " | " << backend << " | " << dev << " | " << t.median_ms << " | " << t.min_ms << " | "
       << o.steps << " |\n";
    std::cout << bench << " " << backend << " median " << t.median_ms << " ms, min " << t.min_ms << " ms"
              << std::endl;
  };
  using TB = thrust_backend<float>;
  using CB = cpu<float>;
  const std::string host = "host, " + std::to_string(detail::max_threads()) + " OpenMP threads";
  const bool use_thrust = o.backends.find("thrust") != std::string::npos,
             use_cpu = o.backends.find("cpu") != std::string::npos;
  const bool use_model = o.what.find("ts-dsae") != std::string::npos,
             use_modules = o.what.find("modules") != std::string::npos;
  if (use_thrust && use_model) row("ts-dsae stage 2 step, Z=16", TB::name, device_name(), bench_ts_dsae<TB>(o));
  if (use_cpu && use_model) row("ts-dsae stage 2 step, Z=16", CB::name, host, bench_ts_dsae<CB>(o));
  if (use_thrust && use_modules) {
    row("mlp 32128x80->64->64 fwd+bwd", TB::name, device_name(), bench_mlp<TB>(o));
    row("lstm T=251 B=128 80->32 fwd+bwd", TB::name, device_name(), bench_lstm<TB>(o));
  }
  if (use_cpu && use_modules) {
    row("mlp 32128x80->64->64 fwd+bwd", CB::name, host, bench_mlp<CB>(o));
    row("lstm T=251 B=128 80->32 fwd+bwd", CB::name, host, bench_lstm<CB>(o));
  }
  std::cout << "\n" << md.str();
  if (!o.markdown.empty()) std::ofstream(o.markdown) << md.str();
  return 0;
}
