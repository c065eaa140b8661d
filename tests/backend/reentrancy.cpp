// Reentrancy of the cpu backend (and, built with DSAE_REENTRANCY_THRUST, of the Thrust
// backend on OMP): two TS-DSAE models trained on two std::threads
// (a seed sweep in one process) end bit-identical to each trained alone.
// Shapes are chosen so that every scratch-using path runs: the fused MLP's
// chunked weight gradients and the split-reduction GEMM (>= 4096 frames).
// Plain main (no test framework), so that the ThreadSanitizer build of this one
// file (tests/backend/tsan/) needs nothing but the headers. Exit 0 = passed.
#include <dsae/backend/cpu.hpp>
#if defined(DSAE_REENTRANCY_THRUST)  // the same test on the Thrust backend (OMP device system)
#include <dsae/backend/thrust.hpp>
#endif
#include <dsae/model/variants.hpp>
#include <dsae/train/adam.hpp>

#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

#if defined(DSAE_REENTRANCY_THRUST)
using backend = dsae::thrust_backend<float>;
#else
using backend = dsae::cpu<float>;
#endif
using model_type = dsae::model::ts_dsae<backend>;

dsae::model::model_sizes sizes() {
  dsae::model::model_sizes s;
  s.x_dim = 6;
  s.v_dim = 3;
  s.z_dim = 4;
  s.hidden = 8;
  s.prior_hidden = 4;
  return s;
}

dsae::model::sequence_batch<backend> make_batch(std::uint64_t seed) {
  dsae::model::sequence_batch<backend> b;
  b.frames = 64;
  const dsae::index_t n = 64;  // 64 x 64 = 4096 frames
  for (dsae::index_t i = 0; i < n; ++i) b.lengths.push_back(32 + (i * 7) % 33);
  backend::resize(b.x, b.frames * n, 6);
  backend::normal(b.x, {seed, 1, 0});
  b.finalize();
  return b;
}

// Four Adam steps in stage 1, four in stage 2 (swaps, snapshot prior).
std::vector<float> train(std::uint64_t seed) {
  model_type m(sizes(), seed);
  dsae::train::adam<backend> opt(m.params(), {});
  const auto batch = make_batch(seed);
  for (std::uint32_t step = 0; step < 8; ++step) {
    if (step == 4) m.set_stage(2);
    m.train_step(batch, seed, step);
    opt.step();
  }
  return backend::to_host(m.params().values());
}

}  // namespace

int main() {
  const std::vector<float> a = train(831), b = train(277);
  std::vector<float> ta, tb;
  std::thread t1([&] { ta = train(831); }), t2([&] { tb = train(277); });
  t1.join();
  t2.join();
  const bool same_a = ta.size() == a.size() && std::memcmp(ta.data(), a.data(), a.size() * sizeof(float)) == 0;
  const bool same_b = tb.size() == b.size() && std::memcmp(tb.data(), b.data(), b.size() * sizeof(float)) == 0;
  const bool differ = a != b;  // the two seeds give two different models
  std::printf("%s seed 831 on a thread == alone\n%s seed 277 on a thread == alone\n%s the seeds differ\n",
              same_a ? "ok  " : "FAIL", same_b ? "ok  " : "FAIL", differ ? "ok  " : "FAIL");
  return same_a && same_b && differ ? 0 : 1;
}
