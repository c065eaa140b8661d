// Tutorial: write your own prior, loss term and slot, and set weights and schedules
// (docs/tutorial/README.md). Compiled and run by the test suite
// (tests/extension/CMakeLists.txt: tutorial_custom_components). Public headers only; no
// gradient code and no Eigen in the components, so they run on every backend.
#include <dsae/backend/fused.hpp>
#include <dsae/dsae.hpp>
#include <dsae/testing/gradcheck.hpp>

#include <cmath>
#include <cstdio>

using namespace dsae;

// ---- 1. A learnable prior on v: p(v) = N(m, diag exp(s)) ---------------------
// Its parameters m and s (1 x V each) are registered under its own group "my_prior" by
// declare(); forward() reads them as nodes (step.parameter) and repeats them for every
// sequence of the batch. The model's kl_v then compares q(v | x) with it in closed form,
// and the reverse pass reaches m and s through the node operations' VJPs.
struct my_learnt_prior {
  static constexpr const char* name = "my_learnt_prior";
  static constexpr bool sequential = false, uses_snapshot = false;
  param_id mean = -1, log_var = -1;

  template <class Backend, class Sizes>
  void declare(parameters<Backend>& p, const Sizes& s) {
    const group g = p.group_of("my_prior");
    mean = p.add("my_prior.mean", 1, s.v_dim, g, 0);  // initial bound 0: starts at N(0, I)
    log_var = p.add("my_prior.log_var", 1, s.v_dim, g, 0);
  }
  template <class Step>
  typename Step::gaussian_type forward(Step& s) const {
    const index_t n = s.batch().batch;
    return {&s.repeat_rows(s.parameter(mean), n), &s.repeat_rows(s.parameter(log_var), n)};
  }
};

// ---- 2. A loss term: smoothness of z over time ---------------------------------
// value = mean over sequences and Z of the time average of (mu_z[t] - mu_z[t-1])^2 over the
// sequence's own frames, written with node operations: previous_frame shifts the
// (time-major) rows by one frame, squared_distance sums with per-row weights (1 / (n_b - 1)
// on the valid frames t >= 1 of sequence b, divided by B and Z). w is the weight at this point
// of training (weight x schedule); settings() makes weight and schedule settable from text
// ("z_smooth.weight=0.1", dsae-train --set).
struct z_smoothness {
  static constexpr const char* name = "z_smooth";
  double weight = 0.1;
  objective::weight_schedule schedule{};
  DSAE_TERM_SETTINGS

  template <class Backend>
  struct weights_site {  // persistent across steps
    typename Backend::tensor pair_w;
  };
  template <class Step>
  void forward(Step& s, objective::loss_terms& out, double w) const {
    using backend = typename Step::backend_type;
    const auto& b = s.batch();
    const index_t n = b.batch;
    std::vector<typename Step::scalar> pw(size_t(b.frames * n), 0);
    for (index_t i = 0; i < n; ++i) {
      const index_t len = b.lengths[size_t(i)];
      for (index_t t = 1; t < len; ++t) pw[size_t(t * n + i)] = 1.0 / double((len - 1) * n * s.sizes().z_dim);
    }
    auto& c = s.template site<weights_site<backend>>();
    c.pair_w = backend::from_host(pw, b.frames * n, 1);
    auto& mu = *s.posterior_z().mu;  // (T*B) x Z
    out.report(name, s.minimise(s.squared_distance(mu, s.previous_frame(mu), c.pair_w), w), w);
  }
};

// ---- 3. A slot: a linear decoder [z_t, v] -> x_t ------------------------------
template <class Backend>
class linear_decoder {
 public:
  using tensor = typename Backend::tensor;
  static constexpr const char* name = "linear";
  static constexpr model::slot_role role = model::slot_role::decoder;
  struct state {
    tensor in;
    typename nn::linear<Backend>::state out;
  };
  linear_decoder() = default;
  linear_decoder(parameters<Backend>& p, const std::string& prefix, const model::model_sizes& s, group owner)
      : m_out(p, prefix + ".out", s.z_dim + s.v_dim, s.x_dim, owner), m_z(s.z_dim), m_v(s.v_dim) {}
  // The slot contract (model/slots.hpp): forward(state, inputs) -> outputs (views into
  // state); backward(state, output gradients, input gradients) adds into the input
  // gradients that are asked for (null: not needed).
  model::slot_outputs<Backend> forward(state& st, const model::slot_inputs<Backend>& in) const {
    Backend::resize(st.in, in.z->rows(), m_z + m_v);
    fused::concat_cols<Backend>(st.in, *in.z, *in.v);  // v broadcast over the frames
    return {&m_out.forward(st.out, st.in), nullptr};
  }
  void backward(state& st, const model::slot_output_grads<Backend>& dout,
                const model::slot_input_grads<Backend>& din) const {
    const tensor* dzv = m_out.backward(st.out, *dout.mean, din.z || din.v);
    if (dzv) fused::split_cols_backward<Backend>(din.z, din.v, *dzv);
  }

 private:
  nn::linear<Backend> m_out;
  index_t m_z = 0, m_v = 0;
};

// ---- 4. Compose -------------------------------------------------------------
template <class Backend>
using my_model = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                       linear_decoder, objective::transition_prior<model::lstm_transition>,
                                       my_learnt_prior, objective::one_stage, objective::reconstruction<>,
                                       objective::kl_z<>, objective::kl_v<>, z_smoothness>;

int main() {
  model::model_sizes sizes;
  sizes.x_dim = 3;
  sizes.v_dim = 2;
  sizes.z_dim = 2;
  sizes.hidden = 4;
  sizes.prior_hidden = 3;

  // A batch of 3 sequences of up to 4 frames.
  model::sequence_batch<cpu<double>> b;
  b.frames = 4;
  b.lengths = {4, 2, 3};
  cpu<double>::resize(b.x, 12, 3);
  cpu<double>::normal(b.x, {1, 0, 0});
  b.finalize();

  // 5. Components are values: a beta-VAE weight on KL_v with a linear warm-up over 10
  //    epochs, given in C++; the same could come from text (the settings constructor, or
  //    dsae-train --set kl_v.weight=4 --set kl_v.schedule=linear:10).
  const objective::kl_v<> beta{.weight = 4, .schedule = objective::weight_schedule::linear(10)};
  my_model<cpu<double>> m(sizes, 7, beta, z_smoothness{.weight = 0.5});
  std::printf("%s\n", m.variant_name().c_str());
  m.set_progress(5);  // half-way through the warm-up: kl_v counts with weight 2

  // 6. Check the gradients of the whole objective with the public checker (the prior's
  //    parameters included).
  const auto report = testing::check_model(m, b, 3, 0);
  std::printf("%s", report.summary().c_str());
  if (!report.ok()) return 1;

  // 7. Train it (float, Adam) for a few steps, the warm-up advancing with the steps.
  my_model<cpu<float>> mf(sizes, 7, beta, z_smoothness{.weight = 0.5});
  train::adam<cpu<float>> opt(mf.params());
  model::sequence_batch<cpu<float>> bf;
  bf.frames = 4;
  bf.lengths = b.lengths;
  bf.x = b.x.cast<float>();
  bf.finalize();
  // Compared at the same point of the schedule (after the warm-up) before and after.
  mf.set_progress(10);
  const double first = mf.evaluate(bf, 3, 0).loss;
  for (std::uint32_t step = 0; step < 50; ++step) {
    mf.set_progress(step / 5.0);  // 5 steps an "epoch"
    mf.train_step(bf, 3, step);
    opt.step();
  }
  mf.set_progress(10);
  const double last = mf.evaluate(bf, 3, 0).loss;
  const auto& p = mf.params();
  std::printf("gradients ok; loss %.4f -> %.4f after 50 steps; learnt prior mean %.4f %.4f\n", first, last,
              double(p.values()(0, p.info(p.find("my_prior.mean")).offset)),
              double(p.values()(0, p.info(p.find("my_prior.mean")).offset + 1)));
  return last < first ? 0 : 1;
}
