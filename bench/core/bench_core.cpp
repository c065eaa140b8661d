// bench_core: kernel-level throughput of the cpu<float> backend against the
// machine's measured GEMM peak (Google Benchmark).
//
//   bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Every benchmark takes the OpenMP thread count as its last argument and
// reports GFLOP/s (counter "GFLOPs", per second of real time). Before the
// benchmarks run, main() measures the peak once (best of several Eigen 1024^3
// float GEMMs on 1 and on 2 threads); the module benchmarks also report
// "pct_peak" = their GFLOP/s over that peak for the same thread count.
// Because the project machine is shared, every benchmark also reports
// "GFLOP_per_cpu_s" (FLOPs per second of process CPU time, all threads) and
// "pct_peak_cpu" (that over the 1-thread GEMM's GFLOP per CPU-second): an
// efficiency that others' load disturbs much less than real time.
//
// FLOPs counted (2*M*N*K per GEMM, element-wise work not counted):
//   mlp (frames M = 32128, 80 -> 64 -> 64): forward 2 GEMMs; backward 2 weight
//     gradients + the input gradient of layer 2 (layer 1's input gradient is
//     skipped, need_dx = false, as on the encoders' main pass) = 5 GEMMs; the
//     "_dx" variant also computes layer 1's input gradient (6 GEMMs).
//   lstm_layer (D -> H, T = 251, B = 128, R = T*B rows): forward input
//     projection 2*R*D*4H + (T-1) recurrent steps 2*B*H*4H; backward (T-1)
//     recurrent dh, dW_ih 2*R*D*4H, dW_hh 2*(R-B)*H*4H, dx 2*R*4H*D.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include <dsae/dsae.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

using B = dsae::cpu<float>;
using tensor = B::tensor;
using dsae::index_t;

double g_peak[3] = {0, 0, 0};      // measured GFLOP/s (real time) on 1 and 2 threads
double g_peak_cpu[3] = {0, 0, 0};  // the same GEMMs per second of process CPU time

// Process CPU time (all threads): on the shared machine real time depends on
// others' load, GFLOP per CPU-second much less (spin-waiting still counts).
struct cpu_clock {
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  double t0 = now();
  double elapsed() const { return now() - t0; }
};

// OpenMP threads for the library's own splitting. Eigen's internal GEMM
// threading stays at 1 as the library sets it (cpu::gemm), except where a
// benchmark asks for it (the square GEMM peak, the LSTM "eigen_par" variant).
void set_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(1);
}

tensor random_tensor(index_t r, index_t c, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  tensor t(r, c);
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = d(g);
  return t;
}

void report(benchmark::State& st, double flops, int threads, double cpu_s) {
  st.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["threads"] = threads;
  const double per_cpu = flops * 1e-9 * double(st.iterations()) / std::max(cpu_s, 1e-12);
  st.counters["GFLOP_per_cpu_s"] = per_cpu;
  if (g_peak_cpu[1] > 0) st.counters["pct_peak_cpu"] = 100.0 * per_cpu / g_peak_cpu[1];
  st.SetLabel("peak(" + std::to_string(threads) + "T)=" + std::to_string(int(g_peak[threads] + 0.5)) + " GFLOP/s");
}

// Achieved fraction of the measured peak, as a rate counter scaled by 1/peak.
void report_pct(benchmark::State& st, double flops, int threads, double cpu_s) {
  report(st, flops, threads, cpu_s);
  if (g_peak[threads] > 0)
    st.counters["pct_peak"] =
        benchmark::Counter(flops * 1e-9 * 100.0 / g_peak[threads], benchmark::Counter::kIsIterationInvariantRate);
}

// ---- (a) machine peak: Eigen float GEMM 1024^3 ---------------------------------
void BM_eigen_gemm_1024(benchmark::State& st) {
  const int threads = int(st.range(0));
  set_threads(threads);
  Eigen::setNbThreads(threads);
  const index_t n = 1024;
  Eigen::MatrixXf A = Eigen::MatrixXf::Random(n, n), Bm = Eigen::MatrixXf::Random(n, n), C(n, n);
  const cpu_clock cc;
  for (auto _ : st) {
    C.noalias() = A * Bm;
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  report(st, 2.0 * double(n) * double(n) * double(n), threads, cc.elapsed());
}

// ---- (a) the frame-wise layer shape through the backend -------------------------
void BM_framewise_gemm(benchmark::State& st) {
  const int threads = int(st.range(0));
  set_threads(threads);
  const index_t M = 32128, K = 80, N = 64;
  const tensor X = random_tensor(M, K, 1), W = random_tensor(N, K, 2);  // W: out x in (PyTorch layout)
  tensor C(M, N);
  const cpu_clock cc;
  for (auto _ : st) {
    B::gemm(C, X, false, W, true, 1.f, 0.f);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  report_pct(st, 2.0 * double(M) * double(N) * double(K), threads, cc.elapsed());
}

// ---- (b) frame-wise MLP forward + backward ----------------------------------------
void BM_mlp_fwd_bwd(benchmark::State& st) {
  const int threads = int(st.range(0));
  const bool need_dx = st.range(1) != 0;
  set_threads(threads);
  const index_t M = 32128, D = 80, H = 64;
  dsae::parameters<B> p;
  dsae::nn::mlp<B> net(p, "net", D, {H, H}, dsae::group::global_encoder);
  p.finalize(7);
  const tensor x = random_tensor(M, D, 3), dy = random_tensor(M, H, 4);
  typename dsae::nn::mlp<B>::state s;
  dsae::unchecked_inputs off;
  const cpu_clock cc;
  for (auto _ : st) {
    p.zero_grad();
    benchmark::DoNotOptimize(net.forward(s, x).data());
    benchmark::DoNotOptimize(net.backward(s, dy, need_dx));
    benchmark::ClobberMemory();
  }
  const double fwd = 2.0 * M * (D * H + H * H);
  const double bwd = 2.0 * M * (D * H + H * H) + 2.0 * M * H * H + (need_dx ? 2.0 * M * H * D : 0.0);
  report_pct(st, fwd + bwd, threads, cc.elapsed());
}

// Forward only (2 GEMMs + bias + tanh), to separate the two directions.
void BM_mlp_fwd(benchmark::State& st) {
  const int threads = int(st.range(0));
  set_threads(threads);
  const index_t M = 32128, D = 80, H = 64;
  dsae::parameters<B> p;
  dsae::nn::mlp<B> net(p, "net", D, {H, H}, dsae::group::global_encoder);
  p.finalize(7);
  const tensor x = random_tensor(M, D, 3);
  typename dsae::nn::mlp<B>::state s;
  dsae::unchecked_inputs off;
  const cpu_clock cc;
  for (auto _ : st) {
    benchmark::DoNotOptimize(net.forward(s, x).data());
    benchmark::ClobberMemory();
  }
  report_pct(st, 2.0 * M * (D * H + H * H), threads, cc.elapsed());
}

// ---- (c) one LSTM layer forward + backward ----------------------------------------
// eigen_par = 1 turns Eigen's own GEMM threading on (Eigen::setNbThreads(threads)),
// as the library had it before b1d26de: the per-time-step (B x H) x (H x 4H)
// products are large enough for Eigen to fork an OpenMP team on every step.
// eigen_par = 0 is the library's setting (Eigen single-threaded).
void BM_lstm_layer_fwd_bwd(benchmark::State& st) {
  const index_t D = st.range(0), H = st.range(1);
  const int threads = int(st.range(2));
  set_threads(threads);
  if (st.range(3) != 0) Eigen::setNbThreads(threads);
  const index_t T = 251, Bn = 128, R = T * Bn;
  dsae::parameters<B> p;
  dsae::nn::lstm_layer<B> layer(p, "lstm", "l0", D, H, false, dsae::group::transition);
  p.finalize(11);
  const tensor x = random_tensor(R, D, 5), dy = random_tensor(R, H, 6);
  typename dsae::nn::lstm_layer<B>::state s;
  dsae::unchecked_inputs off;
  const cpu_clock cc;
  for (auto _ : st) {
    p.zero_grad();
    benchmark::DoNotOptimize(layer.forward(s, x, nullptr, Bn).data());
    benchmark::DoNotOptimize(layer.backward(s, dy, true));
    benchmark::ClobberMemory();
  }
  const double G = 4.0 * H;
  const double fwd = 2.0 * R * D * G + 2.0 * (T - 1) * Bn * H * G;
  const double bwd = 2.0 * (T - 1) * Bn * G * H + 2.0 * R * G * D + 2.0 * (R - Bn) * H * G + 2.0 * R * G * D;
  report_pct(st, fwd + bwd, threads, cc.elapsed());
}

// Best of `reps` timed 1024^3 GEMMs (after one warm-up) on `threads` threads.
double measure_peak(int threads, int reps, double* per_cpu) {
  set_threads(threads);
  Eigen::setNbThreads(threads);
  const index_t n = 1024;
  Eigen::MatrixXf A = Eigen::MatrixXf::Random(n, n), Bm = Eigen::MatrixXf::Random(n, n), C(n, n);
  C.noalias() = A * Bm;
  double best = 1e30, best_cpu = 1e30;
  for (int r = 0; r < reps; ++r) {
    const cpu_clock cc;
    const auto t0 = std::chrono::steady_clock::now();
    C.noalias() = A * Bm;
    benchmark::DoNotOptimize(C.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    best_cpu = std::min(best_cpu, cc.elapsed());
  }
  *per_cpu = 2.0 * double(n) * n * n / best_cpu * 1e-9;
  return 2.0 * double(n) * n * n / best * 1e-9;
}

}  // namespace

BENCHMARK(BM_eigen_gemm_1024)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_framewise_gemm)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mlp_fwd)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mlp_fwd_bwd)
    ->ArgNames({"threads", "dx"})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_lstm_layer_fwd_bwd)
    ->ArgNames({"in", "hidden", "threads", "eigen_par"})
    ->Args({16, 32, 1, 0})
    ->Args({16, 32, 2, 0})
    ->Args({16, 32, 2, 1})
    ->Args({32, 32, 1, 0})
    ->Args({32, 32, 2, 0})
    ->Args({16, 64, 1, 0})
    ->Args({16, 64, 2, 0})
    ->Args({16, 64, 2, 1})
    ->Args({96, 64, 1, 0})
    ->Args({96, 64, 2, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_peak[1] = measure_peak(1, 7, &g_peak_cpu[1]);
  g_peak[2] = measure_peak(2, 7, &g_peak_cpu[2]);
  Eigen::setNbThreads(1);
  std::printf("measured peak (best of 7 Eigen float GEMM 1024^3): 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s;"
              " per CPU-second: 1 thread %.1f, 2 threads %.1f (pct_peak_cpu is relative to the 1-thread one)\n",
              g_peak[1], g_peak[2], g_peak_cpu[1], g_peak_cpu[2]);
  std::fflush(stdout);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
