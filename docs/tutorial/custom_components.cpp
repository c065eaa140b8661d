// Tutorial: write your own prior, loss term and slot (docs/tutorial/README.md).
// Compiled and run by the test suite (tests/extension/CMakeLists.txt:
// tutorial_custom_components). Public headers only.
#include <dsae/dsae.hpp>
#include <dsae/testing/gradcheck.hpp>

#include <cmath>
#include <cstdio>

using namespace dsae;

// ---- 1. A prior: p(v) = N(0, 4 I) -------------------------------------------
// A constant prior: two nodes that need no gradient, so no VJP.
struct wide_normal_v {
  static constexpr const char* name = "normal_var4";
  static constexpr bool sequential = false, uses_snapshot = false;
  template <class Backend>
  struct site {
    typename Backend::tensor mu, logvar;
    objective::node<Backend> mu_node, logvar_node;
  };
  template <class Step>
  static typename Step::gaussian_type forward(Step& s) {
    using backend = typename Step::backend_type;
    auto& c = s.template site<site<backend>>();  // persistent across steps
    const index_t n = s.batch().batch, v = s.sizes().v_dim;
    backend::resize(c.mu, n, v);
    backend::resize(c.logvar, n, v);
    backend::zero(c.mu);
    backend::fill(c.logvar, typename Step::scalar(std::log(4.0)));
    c.mu_node.reset(c.mu, false);
    c.logvar_node.reset(c.logvar, false);
    return {&c.mu_node, &c.logvar_node};
  }
};

// ---- 2. A loss term: W * mean of z-posterior means squared ------------------
// The forward computes the value; the call site's backward() is its VJP.
template <class Backend>
struct z_energy_site {
  objective::node<Backend>* mu = nullptr;
  double scale = 0;
  void backward() {
    if (auto* g = mu->acc()) *g += (2 * scale) * *mu->value;  // d/dmu scale * ||mu||^2
  }
};

template <double Weight = 1.0>
struct z_energy {
  static constexpr double weight = Weight;
  static std::string name() { return objective::weighted_name("z_energy", weight); }
  template <class Step>
  static void forward(Step& s, objective::loss_terms& out) {
    auto q = s.posterior_z();
    auto& c = s.template site<z_energy_site<typename Step::backend_type>>();
    const double inv = 1.0 / double(q.mu->value->size());
    c.mu = q.mu;
    c.scale = weight * inv;
    s.record(c);  // c.backward() runs in the reverse pass
    const double value = inv * q.mu->value->squaredNorm();
    out.report("z_energy", value, weight);  // by name in logs; weight * value into extra and loss
  }
};

// ---- 3. A slot: a linear decoder [z_t, v] -> x_t ------------------------------
template <class Backend>
class linear_decoder {
 public:
  using tensor = typename Backend::tensor;
  static constexpr const char* name = "linear";
  struct state {
    tensor in;
    typename nn::linear<Backend>::state out;
  };
  linear_decoder() = default;
  linear_decoder(parameters<Backend>& p, const std::string& prefix, const model::model_sizes& s, group owner)
      : m_out(p, prefix + ".out", s.z_dim + s.v_dim, s.x_dim, owner), m_z(s.z_dim), m_v(s.v_dim) {}
  const tensor& forward(state& st, const tensor& z, const tensor& v, const tensor*, index_t) const {
    Backend::resize(st.in, z.rows(), m_z + m_v);
    Backend::concat_cols(st.in, z, v);  // v broadcast over the frames
    return m_out.forward(st.out, st.in);
  }
  void backward(state& st, const tensor& dxhat, tensor* dz, tensor* dv) const {
    const tensor* din = m_out.backward(st.out, dxhat, dz || dv);
    if (din) Backend::split_cols_backward(dz, dv, *din);
  }

 private:
  nn::linear<Backend> m_out;
  index_t m_z = 0, m_v = 0;
};

// ---- 4. Compose -------------------------------------------------------------
template <class Backend>
using my_model = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                       linear_decoder, objective::transition_prior<model::lstm_transition>,
                                       wide_normal_v, objective::one_stage, objective::reconstruction<>,
                                       objective::kl_z<>, objective::kl_v<>, z_energy<0.1>>;

int main() {
  model::model_sizes sizes;
  sizes.x_dim = 3;
  sizes.v_dim = 2;
  sizes.z_dim = 2;
  sizes.hidden = 4;
  sizes.prior_hidden = 3;
  std::printf("%s\n", my_model<cpu<double>>::variant_name().c_str());

  // A batch of 3 sequences of up to 4 frames.
  model::sequence_batch<cpu<double>> b;
  b.frames = 4;
  b.lengths = {4, 2, 3};
  cpu<double>::resize(b.x, 12, 3);
  cpu<double>::normal(b.x, {1, 0, 0});
  b.finalize();

  // 5. Check the gradients of the whole objective with the public checker.
  my_model<cpu<double>> m(sizes, 7);
  const auto report = testing::check_model(m, b, 3, 0);
  std::printf("%s", report.summary().c_str());
  if (!report.ok()) return 1;

  // 6. Train it (float, Adam) for a few steps.
  my_model<cpu<float>> mf(sizes, 7);
  train::adam<cpu<float>> opt(mf.params());
  model::sequence_batch<cpu<float>> bf;
  bf.frames = 4;
  bf.lengths = b.lengths;
  bf.x = b.x.cast<float>();
  bf.finalize();
  double first = 0, last = 0;
  for (std::uint32_t step = 0; step < 50; ++step) {
    const auto l = mf.train_step(bf, 3, step);
    opt.step();
    (step == 0 ? first : last) = l.loss;
  }
  std::printf("gradients ok; loss %.4f -> %.4f after 50 steps\n", first, last);
  return last < first ? 0 : 1;
}
