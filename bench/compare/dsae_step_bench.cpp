// dsae_step_bench: median time of full float32 training steps of one model
// configuration, the C++ side of bench/compare/compare.py.
//
//   dsae_step_bench --method ts-dsae --q factorised --decoder factorised --stage 2 \
//       --z 16 --batch 128 --T 251 --F 80 --steps 10 --warmup 2 [--json out.json]
//
// Prints one JSON object {median_ms, mean_ms, min_ms, max_ms, peak_rss_mb,
// gflop_per_step, fma_peak_gflops, pct_fma_peak, ...} on stdout: the step's
// product arithmetic (counted by the backend, DSAE_COUNT_FLOPS) per second of
// the median step, as a percentage of the register-only FMA peak of the threads
// in use (bench/common/fma_peak.hpp). Threads: OpenMP's (OMP_NUM_THREADS, default all cores). Eigen's
// own GEMM threading is kept off by the backend (since b1d26de; per thread and
// scope, without a process-wide setting, since issue 10); --eigen-threads sets
// Eigen's process-wide count, which overrides that (older library versions).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "../common/fma_peak.hpp"
#include "step_runner.hpp"

namespace {

using dsae::bench::step_options;

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "dsae_step_bench: " << why << "\n"
            << "usage: dsae_step_bench [--method dsae|dsae-f|ts-dsae-noreg|ts-dsae] [--q factorised|full]\n"
               "       [--decoder factorised|richer] [--stage 1|2] [--z N] [--v N] [--batch N] [--T N] [--F N]\n"
               "       [--steps N] [--warmup N] [--seed N] [--eigen-threads N] [--json FILE]\n"
               "--eigen-threads sets Eigen's own GEMM threading before the first step; the cpu backend\n"
               "  (since b1d26de) sets it to 1 on its first GEMM, so only older libraries honour N > 1.\n";
  std::exit(2);
}

long to_int(const std::string& flag, const std::string& v, long lo) {
  try {
    size_t pos = 0;
    const long x = std::stol(v, &pos);
    if (pos != v.size() || x < lo) throw std::invalid_argument(v);
    return x;
  } catch (const std::exception&) {
    usage(flag + " expects an integer >= " + std::to_string(lo) + ", got '" + v + "'");
  }
}

std::string json_times(const std::vector<double>& t) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < t.size(); ++i) s << (i ? ", " : "") << t[i];
  return s.str() + "]";
}

}  // namespace

int main(int argc, char** argv) {
  step_options o;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") usage("help");
    if (i + 1 >= argc) usage("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--method") o.method = v;
    else if (a == "--q") o.q = v;
    else if (a == "--decoder") o.decoder = v;
    else if (a == "--stage") o.stage = int(to_int(a, v, 1));
    else if (a == "--z") o.z = to_int(a, v, 1);
    else if (a == "--v") o.v = to_int(a, v, 1);
    else if (a == "--batch") o.batch = to_int(a, v, 1);
    else if (a == "--T") o.T = to_int(a, v, 1);
    else if (a == "--F") o.F = to_int(a, v, 1);
    else if (a == "--steps") o.steps = int(to_int(a, v, 1));
    else if (a == "--warmup") o.warmup = int(to_int(a, v, 0));
    else if (a == "--seed") o.seed = std::uint64_t(to_int(a, v, 0));
    else if (a == "--json") json_path = v;
    else if (a == "--eigen-threads") Eigen::setNbThreads(int(to_int(a, v, 1)));
    else usage("unknown option " + a);
  }
  if (o.stage != 1 && o.stage != 2) usage("--stage must be 1 or 2");

  dsae::bench::step_result r;
  try {
    if (o.method == "dsae") r = dsae::bench::run_dsae(o);
    else if (o.method == "dsae-f") r = dsae::bench::run_dsae_f(o);
    else if (o.method == "ts-dsae-noreg") r = dsae::bench::run_ts_dsae_noreg(o);
    else if (o.method == "ts-dsae") r = dsae::bench::run_ts_dsae(o);
    else usage("unknown --method " + o.method);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }

  std::vector<double> s = r.times_ms;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  const double median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  const double mean = std::accumulate(s.begin(), s.end(), 0.0) / double(n);
  // The step's product arithmetic over the register-only FMA peak of the
  // threads in use (bench/common/fma_peak.hpp), measured after the steps.
  const double peak = dsae_bench::fma_peak_gflops(dsae::detail::max_threads(), 20);
  const double pct_peak = 100.0 * r.gflop_per_step / (median * 1e-3) / peak;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);

  std::ostringstream js;
  js.precision(6);
  js << "{\"impl\": \"dsae\", \"method\": \"" << o.method << "\", \"stage\": " << o.stage << ", \"q\": \"" << o.q
     << "\", \"decoder\": \"" << o.decoder << "\", \"z\": " << o.z << ", \"v\": " << o.v << ", \"batch\": " << o.batch
     << ", \"T\": " << o.T << ", \"F\": " << o.F << ", \"steps\": " << o.steps << ", \"warmup\": " << o.warmup
     << ", \"threads\": " << dsae::detail::max_threads() << ", \"eigen_threads\": " << Eigen::nbThreads() << ", \"trainable_params\": " << r.trainable_params
     << ", \"median_ms\": " << median << ", \"mean_ms\": " << mean << ", \"min_ms\": " << s.front()
     << ", \"max_ms\": " << s.back() << ", \"peak_rss_mb\": " << double(ru.ru_maxrss) / 1024.0
     << ", \"gflop_per_step\": " << r.gflop_per_step << ", \"fma_peak_gflops\": " << peak
     << ", \"pct_fma_peak\": " << pct_peak << ", \"final_loss\": " << r.final_loss << ", \"loadavg_after\": [" << load[0] << ", " << load[1] << ", "
     << load[2] << "], \"times_ms\": " << json_times(r.times_ms) << "}";
  std::cout << js.str() << std::endl;
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    if (!f) {
      std::cerr << "dsae_step_bench: cannot write " << json_path << "\n";
      return 1;
    }
    f << js.str() << "\n";
  }
  return 0;
}
