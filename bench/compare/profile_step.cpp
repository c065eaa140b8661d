// dsae_profile_step: where the time of one TS-DSAE stage-2 training step goes.
//
//   OMP_NUM_THREADS=2 dsae_profile_step [--q factorised|full] [--z 16] [--reps 5]
//
// Times every module of the step in isolation (forward and backward, with the
// step's shapes B = 128, T = 251, F = 80 and the step's need_dx flags), multiplies
// by how often the step calls it, and sets that against the measured full step
// (model.train_step + Adam). "rest" = full step - sum of the modules: the
// reparameterisations, KLs, MSE, gathers, gradient zeroing and the workspace
// traffic between modules. Medians over --reps repetitions.
//
// Call counts of a TS-DSAE stage-2 step (model/sequential_vae.hpp):
//   global encoder  4 forwards (main, snapshot, 2 re-encodings), 3 backwards
//                   (main without dx, the 2 re-encodings with dx)
//   local encoder   3 forwards (main, 2 re-encodings), 3 backwards (main without dx)
//   transition      1 forward, 1 backward (with dz)
//   decoder         3 forwards (main, 2 swaps), 3 backwards (with dz and dv)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <dsae/dsae.hpp>

namespace {

using B = dsae::cpu<float>;
using tensor = B::tensor;
using dsae::index_t;
using clk = std::chrono::steady_clock;

tensor random_tensor(index_t r, index_t c, unsigned seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  tensor t(r, c);
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = d(g);
  return t;
}

double ms_since(clk::time_point t0) { return std::chrono::duration<double, std::milli>(clk::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct row {
  std::string what;
  int fwd_calls, bwd_calls;
  double fwd_ms, bwd_ms;  // per call
  double per_step() const { return fwd_calls * fwd_ms + bwd_calls * bwd_ms; }
};

// Times fwd() and then bwd() (which needs fwd's state) `reps` times after one warm-up.
row time_pair(const std::string& what, int fc, int bc, int reps, const std::function<void()>& fwd,
              const std::function<void()>& bwd) {
  std::vector<double> f, b;
  fwd();
  bwd();
  for (int r = 0; r < reps; ++r) {
    auto t0 = clk::now();
    fwd();
    f.push_back(ms_since(t0));
    t0 = clk::now();
    bwd();
    b.push_back(ms_since(t0));
  }
  return {what, fc, bc, median(f), median(b)};
}

template <template <class> class Local, class Model>
int run(const std::string& q, index_t Z, int reps) {
  namespace m = dsae::model;
  const index_t Bn = 128, T = 251, R = Bn * T;
  m::model_sizes s;
  s.z_dim = Z;
  dsae::parameters<B> p;
  m::global_encoder<B> genc(p, "global_encoder", s, dsae::group::global_encoder);
  Local<B> lenc(p, "local_encoder", s, dsae::group::local_encoder);
  m::lstm_transition<B> trans(p, "transition", s, dsae::group::transition);
  m::factorised_decoder<B> dec(p, "decoder", s, dsae::group::decoder);
  p.finalize(3);
  dsae::unchecked_inputs off;

  const tensor x = random_tensor(R, s.x_dim, 1), v = random_tensor(Bn, s.v_dim, 2), z = random_tensor(R, Z, 3);
  const tensor time_w = tensor::Constant(R, 1, 1.f / float(T)), mask = tensor::Ones(R, 1);
  const tensor dmu_v = random_tensor(Bn, s.v_dim, 4, 1e-3f), dlv_v = random_tensor(Bn, s.v_dim, 5, 1e-3f);
  const tensor dmu_z = random_tensor(R, Z, 6, 1e-5f), dlv_z = random_tensor(R, Z, 7, 1e-5f);
  const tensor dx = random_tensor(R, s.x_dim, 8, 1e-5f);
  tensor dz(R, Z), dv(Bn, s.v_dim), dxg(R, s.x_dim);

  std::vector<row> rows;
  typename m::global_encoder<B>::state gs;
  rows.push_back(time_pair("global encoder (FCN 80-64-64, mean, Gau-V)", 4, 3, reps,
                           [&] { genc.forward(gs, {.x = &x, .time_w = &time_w, .batch = Bn}); },
                           [&] {
                             dxg.setZero();
                             genc.backward(gs, {&dmu_v, &dlv_v}, {.x = &dxg});
                           }));
  typename Local<B>::state ls;
  rows.push_back(time_pair(q == "full" ? "local encoder (2-layer BiLSTM 96->64, Gau-Z)" : "local encoder (FCN 80-64-64, Gau-Z)",
                           3, 3, reps, [&] { lenc.forward(ls, {.x = &x, .v = &v, .mask = &mask, .batch = Bn}); },
                           [&] {
                             dxg.setZero();
                             dv.setZero();
                             lenc.backward(ls, {&dmu_z, &dlv_z}, {.x = &dxg, .v = &dv});
                           }));
  typename m::lstm_transition<B>::state ts;
  rows.push_back(time_pair("transition (2-layer LSTM 32, Gau-Z)", 1, 1, reps, [&] { trans.forward(ts, {.z = &z, .mask = &mask, .batch = Bn}); },
                           [&] {
                             dz.setZero();
                             trans.backward(ts, {&dmu_z, &dlv_z}, {.z = &dz});
                           }));
  typename m::factorised_decoder<B>::state ds;
  rows.push_back(time_pair("decoder (FCN [z,v]-64-64, Linear 64->80)", 3, 3, reps,
                           [&] { dec.forward(ds, {.z = &z, .v = &v, .mask = &mask, .batch = Bn}); },
                           [&] {
                             dz.setZero();
                             dv.setZero();
                             dec.backward(ds, {&dx, nullptr}, {.z = &dz, .v = &dv});
                           }));

  // The whole step, and Adam alone.
  Model model(s, 831);
  model.set_stage(2);
  dsae::train::adam<B> opt(model.params());
  m::sequence_batch<B> batch;
  batch.frames = T;
  batch.lengths.assign(size_t(Bn), T);
  batch.x = x;
  batch.finalize();
  std::vector<double> step_ms, fb_ms, adam_ms;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = clk::now();
    model.train_step(batch, 0, std::uint32_t(r));
    const double fb = ms_since(t0);
    auto t1 = clk::now();
    opt.step();
    const double ad = ms_since(t1);
    if (r == 0) continue;  // warm-up (workspace allocation)
    fb_ms.push_back(fb);
    adam_ms.push_back(ad);
    step_ms.push_back(fb + ad);
  }
  const double step = median(step_ms), adam = median(adam_ms);

  std::printf("TS-DSAE stage 2, q = %s, Z = %ld, B = %ld, T = %ld, F = %ld, OpenMP threads = %d, median of %d\n\n",
              q.c_str(), long(Z), long(Bn), long(T), long(s.x_dim), dsae::detail::max_threads(), reps);
  std::printf("| part | calls fwd/bwd | fwd ms/call | bwd ms/call | ms per step | %% of step |\n|---|---|---|---|---|---|\n");
  double sum = 0;
  for (const auto& r : rows) {
    std::printf("| %s | %d / %d | %.1f | %.1f | %.1f | %.0f%% |\n", r.what.c_str(), r.fwd_calls, r.bwd_calls, r.fwd_ms,
                r.bwd_ms, r.per_step(), 100.0 * r.per_step() / step);
    sum += r.per_step();
  }
  std::printf("| Adam update | 1 | | | %.1f | %.0f%% |\n", adam, 100.0 * adam / step);
  sum += adam;
  std::printf("| rest (sampling, KLs, MSE, gathers, zeroing, copies) | | | | %.1f | %.0f%% |\n", step - sum,
              100.0 * (step - sum) / step);
  std::printf("| **full step** (train_step + Adam) | | | | **%.1f** | 100%% |\n", step);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("\nload average after: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string q = "factorised";
  long z = 16;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--q") q = v;
    else if (a == "--z") z = std::atol(v.c_str());
    else if (a == "--reps") reps = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "dsae_profile_step: unknown option %s (use --q factorised|full, --z N, --reps N)\n", a.c_str());
      return 2;
    }
  }
  if ((argc - 1) % 2 != 0 || z <= 0 || reps <= 0 || (q != "factorised" && q != "full")) {
    std::fprintf(stderr, "usage: dsae_profile_step [--q factorised|full] [--z N > 0] [--reps N > 0]\n");
    return 2;
  }
  namespace m = dsae::model;
  if (q == "full") return run<m::full_local_encoder, m::ts_dsae_full<B>>(q, z, reps);
  return run<m::factorised_local_encoder, m::ts_dsae<B>>(q, z, reps);
}
