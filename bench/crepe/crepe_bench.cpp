// CREPE inference speed (frames per second) of dsae, one JSON line per measurement:
//   dsae_crepe_bench [--capacity full|tiny] [--frames N] [--threads T] [--rounds R]
// The frames are 1024-sample windows of a 220 Hz harmonic tone with noise at hop 160
// (preprocessing included, decoding excluded: activations only, as torchcrepe.infer).
// bench/crepe/run.sh runs it interleaved with torchcrepe (bench/crepe/torchcrepe_bench.py).
#include <dsae/audio/crepe.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string cap = "full";
  int frames = 32, threads = 1, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--capacity") cap = argv[i + 1];
    else if (a == "--frames") frames = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  try {
    const auto model = dsae::audio::crepe_model::load(dsae::audio::parse_crepe_capacity(cap));
    const int hop = 160;
    std::vector<float> x(std::size_t(hop) * std::size_t(frames - 1) + 1);
    std::mt19937 rng(1);
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (std::size_t i = 0; i < x.size(); ++i) {
      double v = 0;
      for (int h = 1; h <= 6; ++h) v += std::sin(2 * std::numbers::pi * 220.0 * h * double(i) / 16000) / h;
      x[i] = float(0.3 * v) + noise(rng);
    }
    (void)model.activations(std::span<const float>(x.data(), std::min<std::size_t>(x.size(), 2000)), hop, true, threads);  // warm-up
    for (int r = 0; r < rounds; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto act = model.activations(x, hop, true, threads);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("{\"impl\":\"dsae\",\"capacity\":\"%s\",\"threads\":%d,\"frames\":%ld,\"seconds\":%.4f,"
                  "\"frames_per_s\":%.3f,\"gflop_per_s\":%.2f,\"checksum\":%.6f}\n",
                  cap.c_str(), threads, long(act.rows()), s, double(act.rows()) / s,
                  2.0 * model.macs_per_frame() * double(act.rows()) / s * 1e-9, double(act.sum()));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsae_crepe_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
