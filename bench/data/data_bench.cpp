// Speed of the dMelodies pipeline stages (not a test): per-clip render and log-mel cost on
// one thread, then render + log-mel for N clips on T threads (the dsae-data hot loop).
//   dsae_data_bench [N=3000] [T=2]
// Prints wall seconds and process CPU seconds (CPU/wall shows how much of T cores the
// process actually got on a shared machine).
#include <dsae/audio/features.hpp>
#include <dsae/audio/render.hpp>
#include <dsae/datasets/dmelodies.hpp>

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  namespace dm = dsae::datasets::dmelodies;
  namespace au = dsae::audio;
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 3000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const auto sel = dm::select(dm::subset_rows({4}), n, 0, 2);
  std::vector<std::vector<int>> mel;
  std::vector<au::gm_preset> pre;
  for (const auto& s : sel) {
    const auto m = dm::melody(dm::from_row(s.row));
    mel.emplace_back(m.begin(), m.end());
    pre.push_back(s.instrument ? au::gm_trumpet : au::gm_violin);
  }
  const au::log_mel lm;

  // Stage costs on one thread (wall, and this thread's CPU time, which a busy machine
  // inflates much less).
  {
    double t = now();
    au::fluid_session session(au::render_config{});
    const double load = now() - t;
    const std::size_t k = std::min<std::size_t>(n, 100);
    std::vector<float> clip(64000);
    t = now();
    double c = thread_cpu();
    for (std::size_t i = 0; i < k; ++i) session.render_into(mel[i], pre[i], clip);
    const double render = (now() - t) / double(k), render_cpu = (thread_cpu() - c) / double(k);
    std::vector<float> out(251 * 80);
    t = now();
    c = thread_cpu();
    for (std::size_t i = 0; i < k; ++i) lm.compute_into(clip, out);
    const double feat = (now() - t) / double(k), feat_cpu = (thread_cpu() - c) / double(k);
    std::printf("1 thread: soundfont load %.3f s; render %.2f ms/clip (%.2f ms CPU); "
                "log-mel %.2f ms/clip (%.2f ms CPU)\n",
                load, 1e3 * render, 1e3 * render_cpu, 1e3 * feat, 1e3 * feat_cpu);
  }

  // The full hot loop on `threads` workers (the same work as dsae-data minus file writes).
  const double c0 = cpu_seconds(), t0 = now();
  xt::xtensor<float, 3> feats = xt::zeros<float>({n, std::size_t(251), std::size_t(80)});
#pragma omp parallel num_threads(threads)
  {
    au::fluid_session session(au::render_config{});
    std::vector<float> clip(64000);
#pragma omp for schedule(dynamic, 8)
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); ++i) {
      session.render_into(mel[std::size_t(i)], pre[std::size_t(i)], clip);
      lm.compute_into(clip, std::span<float>(feats.data() + std::size_t(i) * 251 * 80, 251 * 80));
    }
  }
  const double wall = now() - t0, cpu = cpu_seconds() - c0;
  std::printf("%zu clips, %d threads: render + log-mel %.2f s wall, %.2f s CPU (%.2f cores busy), "
              "%.1f clips/s\n", n, threads, wall, cpu, cpu / wall, double(n) / wall);
  return 0;
}
