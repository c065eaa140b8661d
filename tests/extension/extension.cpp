// Out-of-tree compositions, written as a user would: public headers only
// (<dsae/...>), no test framework (the public checker returns a report), no Eigen
// and no gradient code in any component (node operations only, so each runs on
// every backend).
//   (a) beta-VAE with a warm-up: DSAE's kl_v given as a value, {.weight = 4,
//       .schedule = linear}, and the same from text ("kl_v.weight=4")
//   (b) a regulariser the library does not ship: the squared distance between
//       the v-means of a random swap pair, from node operations
//   (b2) a term on TS-DSAE's swap outputs (no second decode): the re-encoded
//       v-mean of x' against the v-mean of its v source
//   (c) a custom global-encoder slot (one tanh layer, masked mean, Gau-V),
//       used in TS-DSAE (so the snapshot prior copies it too)
//   (d) a learnable prior on v written here: N(mu, s^2 I) with one learnt
//       log-variance shared by all dimensions, registered under its own group
// Each is gradient-checked at model level (stages 1 and 2 where it has two, on
// cpu<double>) and trained two epochs with train::trainer in float: on cpu<float>,
// or on the Thrust backend when built as test_extension_thrust
// (DSAE_EXTENSION_THRUST): the components are the same source on both.
// Exit status 0 = all passed.
#include <dsae/dsae.hpp>
#include <dsae/testing/gradcheck.hpp>
#include <dsae/train/trainer.hpp>
#ifdef DSAE_EXTENSION_THRUST
#include <dsae/backend/thrust.hpp>
#endif

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

using namespace dsae;
using host_backend = cpu<double>;  // gradient checks
#ifdef DSAE_EXTENSION_THRUST
using train_backend = thrust_backend<float>;
#else
using train_backend = cpu<float>;
#endif
using tensor = host_backend::tensor;

int failures = 0;
void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// ---- (b) a new loss term -------------------------------------------------
// penalty = mean over i and V of (mu_v(x_i) - mu_v(x_p(i)))^2 with p a uniform
// random permutation of the batch (its own noise stream).
struct v_mean_distance {
  static constexpr const char* name = "v_mean_distance";
  double weight = 0.5;
  template <class Step>
  void forward(Step& s, objective::loss_terms& out, double w) const {
    const auto& perm = s.permutation(objective::first_free_stream, nullptr);
    auto& mu = *s.posterior_v().mu;
    const double inv = 1.0 / double(s.batch().batch * s.sizes().v_dim);
    const double value = s.minimise(s.squared_distance(mu, s.gather(mu, perm), inv), w);
    out.report(name, value, w);  // by name in logs; w * value into extra and loss
  }
};

// ---- (b2) a term on the swap outputs ---------------------------------------
// mean over i and V of (mu_v(x'_i) - mu_v(x_p(i)))^2 for the global swap's x'_i (v from
// p(i)): how far the re-encoded global latent lands from its source. Reuses the swap
// term's decode and encode (step::swapped), so it must come after swap_regulariser.
struct swap_v_consistency {
  static constexpr const char* name = "swap_v_consistency";
  double weight = 1;
  objective::weight_schedule schedule{};
  DSAE_TERM_SETTINGS
  template <class Step>
  void forward(Step& s, objective::loss_terms& out, double w) const {
    const auto* sw = s.swapped(objective::global_swap::index);
    if (!sw) {  // stage 1: no swap ran; reported as 0 so that the logs keep one set of keys
      out.report(name, 0.0, w);
      return;
    }
    auto& source = s.gather(*s.posterior_v().mu, *sw->perm);
    const double inv = 1.0 / double(s.batch().batch * s.sizes().v_dim);
    out.report(name, s.minimise(s.squared_distance(*sw->encoded.v_post.mu, source, inv), w), w);
  }
};

// ---- (d) a learnable prior on v ----------------------------------------------
// p(v) = N(mu, exp(c) I): mu (1 x V) and c (1 x 1) are parameters of group "my_prior".
struct shared_variance_prior {
  static constexpr const char* name = "shared_variance";
  static constexpr bool sequential = false, uses_snapshot = false;
  param_id mu = -1, log_var = -1;
  template <class Backend>
  struct ones_site {
    typename Backend::tensor ones;  // 1 x V
  };
  template <class Backend, class Sizes>
  void declare(parameters<Backend>& p, const Sizes& s) {
    const group g = p.group_of("my_prior");
    mu = p.add("my_prior.mu", 1, s.v_dim, g, 0.1);
    log_var = p.add("my_prior.log_var", 1, 1, g, 0.1);
  }
  template <class Step>
  typename Step::gaussian_type forward(Step& s) const {
    using backend = typename Step::backend_type;
    auto& c = s.template site<ones_site<backend>>();
    backend::resize(c.ones, 1, s.sizes().v_dim);
    backend::fill(c.ones, 1);
    const index_t n = s.batch().batch;
    auto& lv_row = s.matmul(s.parameter(log_var), s.constant(c.ones));  // c on every dimension
    return {&s.repeat_rows(s.parameter(mu), n), &s.repeat_rows(lv_row, n)};
  }
};

// ---- (c) a new global-encoder slot ---------------------------------------
template <class Backend>
class one_layer_global_encoder {
 public:
  using tensor = typename Backend::tensor;
  static constexpr const char* name = "one_layer_mean";
  static constexpr model::slot_role role = model::slot_role::global_encoder;
  struct state {
    typename nn::mlp<Backend>::state net;
    typename nn::masked_mean<Backend>::state mean;
    typename nn::gaussian_head<Backend>::state head;
  };
  one_layer_global_encoder() = default;
  one_layer_global_encoder(parameters<Backend>& p, const std::string& prefix, const model::model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.x_dim, {s.hidden}, owner), m_head(p, prefix, s.hidden, s.v_dim, owner) {}
  model::slot_outputs<Backend> forward(state& st, const model::slot_inputs<Backend>& in) const {
    m_head.forward(st.head, m_mean.forward(st.mean, m_net.forward(st.net, *in.x), *in.time_w, in.batch));
    return {&st.head.mu, &st.head.logvar};
  }
  void backward(state& st, const model::slot_output_grads<Backend>& dout,
                const model::slot_input_grads<Backend>& din) const {
    const tensor* dh = m_head.backward(st.head, *dout.mean, *dout.logvar, true);
    const tensor* dx = m_net.backward(st.net, *m_mean.backward(st.mean, *dh, true), din.x != nullptr);
    if (din.x) Backend::axpy(*din.x, 1, *dx);
  }

 private:
  nn::mlp<Backend> m_net;
  nn::masked_mean<Backend> m_mean;
  nn::gaussian_head<Backend> m_head;
};

// ---- the compositions ----------------------------------------------------
using namespace dsae::objective;
using lstm_prior = transition_prior<model::lstm_transition>;

template <class Backend>
using beta_dsae = model::dsae<Backend>;  // the weight and schedule are values (below)
template <class Backend>
using dsae_with_distance = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                                 model::factorised_decoder, lstm_prior, snapshot_posterior, two_stage<>,
                                                 reconstruction<>, kl_z<>, kl_v<>, swap_regulariser<global_swap>,
                                                 v_mean_distance, swap_v_consistency>;
template <class Backend>
using ts_dsae_one_layer = model::sequential_vae<Backend, one_layer_global_encoder, model::factorised_local_encoder,
                                                model::factorised_decoder, lstm_prior, snapshot_posterior, two_stage<>,
                                                reconstruction<>, kl_z<>, kl_v<>, swap_regulariser<global_swap>,
                                                swap_regulariser<local_swap>>;
template <class Backend>
using dsae_own_prior = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                             model::factorised_decoder, lstm_prior, shared_variance_prior, one_stage,
                                             reconstruction<>, kl_z<>, kl_v<>, v_mean_distance>;

// The beta-VAE with warm-up of (a): weight 4, linear over 2 epochs.
const kl_v<> beta_warmup{.weight = 4, .schedule = weight_schedule::linear(2)};

model::model_sizes tiny() {
  model::model_sizes s;
  s.x_dim = 3;
  s.v_dim = 2;
  s.z_dim = 2;
  s.hidden = 3;
  s.prior_hidden = 2;
  s.rnn_hidden = 2;
  return s;
}

// A small set of unequal-length sequences.
train::sequence_set tiny_set(index_t count, std::uint64_t seed) {
  train::sequence_set d;
  d.count = count;
  d.frames = 4;
  d.features = 3;
  std::mt19937_64 g(seed);
  std::normal_distribution<float> n;
  d.data.resize(size_t(count * d.frames * d.features));
  for (auto& v : d.data) v = n(g);
  for (index_t i = 0; i < count; ++i) d.lengths.push_back(2 + i % 3);
  return d;
}

template <template <class> class M, class... C>
void check_and_train(const std::string& label, const C&... components) {
  const auto set = tiny_set(6, 5);
  model::sequence_batch<host_backend> b;
  const index_t idx[] = {0, 1, 2, 3};
  set.batch_into(b, idx, 4);
  M<host_backend> m(tiny(), 3, components...);
  m.set_progress(0.5);  // part-way through any warm-up
  std::printf("%s: %s (trained on %s)\n", label.c_str(), m.variant_name().c_str(), train_backend::name);
  for (int stage = m.stage(); stage <= 2; ++stage) {
    if (m.stage() != stage) m.set_stage(stage);
    if (m.snapshot_prior_active()) {
      // q_C away from q, so that KL(q || q_C) has a non-trivial gradient.
      auto& p = m.params();
      for (const auto& e : p.entries())
        if (e.owner == group::snapshot) p.value(p.find(e.name)).array() += 0.1;
    }
    const auto r = testing::check_model(m, b, 7, 2);
    expect(r.ok(), label + " stage " + std::to_string(stage) + " gradients\n" + r.summary());
  }
  // Two epochs with the library's trainer, in float as a user would train (on train_backend).
  M<train_backend> mf(tiny(), 4, components...);
  train::trainer_options o;
  o.batch_size = 4;
  o.max_epochs = 2;
  o.stage1_epochs = 1;
  o.patience = 5;
  o.verbose = false;
  index_t epochs = 0;
  bool finite = true;
  o.on_epoch = [&](index_t, const objective::loss_terms& tr, const objective::loss_terms& va) {
    ++epochs;
    finite = finite && std::isfinite(tr.loss) && std::isfinite(va.loss) && tr.loss > 0;
  };
  const auto before = train_backend::to_host(mf.params().values());
  train::trainer<M<train_backend>> t(mf, o);
  const auto fit = t.fit(set, tiny_set(3, 6));
  const auto after = train_backend::to_host(mf.params().values());
  double moved = 0;
  for (size_t k = 0; k < after.size(); ++k) moved += std::abs(double(after[k]) - double(before[k]));
  expect(fit.epochs_run == 2 && epochs == 2 && finite && moved > 0,
         label + " trains two epochs (finite losses, parameters moved by " + std::to_string(moved) + ")");
  expect(mf.stage() == 2, label + " ends in the final stage");
}

}  // namespace

int main() {
  // (a) the weight and its schedule reach the objective: loss = recon + kl_z + w kl_v with
  // w = 4 * min(1, epochs / 2); the same composition from text.
  {
    beta_dsae<host_backend> m(tiny(), 3, beta_warmup);
    beta_dsae<host_backend> from_text(tiny(), 3, std::vector<std::string>{"kl_v.weight=4", "kl_v.schedule=linear:2"});
    const auto set = tiny_set(4, 5);
    model::sequence_batch<host_backend> b;
    const index_t idx[] = {0, 1, 2, 3};
    set.batch_into(b, idx, 4);
    bool all = true;
    for (double epochs : {0.0, 0.5, 1.0, 3.0}) {
      m.set_progress(epochs);
      const auto l = m.evaluate(b, 1, 1);
      all = all && std::abs(l.loss - (l.recon + l.kl_z + 4 * std::min(1.0, epochs / 2) * l.kl_v)) < 1e-12;
    }
    expect(all, "beta_dsae: loss = recon + kl_z + 4 min(1, epochs/2) kl_v");
    expect(m.variant_name() == from_text.variant_name() &&
               m.variant_name().find("kl_v*4[schedule=linear:0:2]") != std::string::npos,
           "beta_dsae: the weight and schedule are named, the same from C++ and from text: " + m.variant_name());
  }
  check_and_train<beta_dsae>("beta_dsae", beta_warmup);
  check_and_train<dsae_with_distance>("dsae_with_distance");
  // (b') a custom term is reported by name: its unweighted value, weight * value in extra and
  // loss, the name in the metrics line of the trainer; a bad name is refused.
  {
    dsae_with_distance<host_backend> m(tiny(), 3);
    const auto set = tiny_set(4, 5);
    model::sequence_batch<host_backend> b;
    const index_t idx[] = {0, 1, 2, 3};
    set.batch_into(b, idx, 4);
    const auto l = m.evaluate(b, 1, 1);
    const double d = l.term("v_mean_distance");
    expect(l.named.size() == 2 && std::isfinite(d) && d > 0, "the custom term is reported by name");
    expect(l.term("swap_v_consistency") == 0, "stage 1: no swap ran, the swap-output term is 0");
    m.set_stage(2);
    const auto l2 = m.evaluate(b, 1, 1);
    expect(l2.term("swap_v_consistency") > 0, "stage 2: the swap-output term sees the global swap's x'");
    expect(std::abs(l.extra - 0.5 * d) < 1e-12 && std::abs(l.loss - (l.recon + l.kl_z + l.kl_v + 0.5 * d)) < 1e-12,
           "extra = weight * value and the loss includes it");
    bool refused = false;
    try {
      objective::loss_terms t;
      t.report("has space", 1.0, 1.0);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    expect(refused, "a term name with a space is refused");
    train::trainer_options o;
    o.batch_size = 4;
    o.max_epochs = 1;
    o.stage1_epochs = 0;
    o.verbose = false;
    o.out_dir = std::filesystem::temp_directory_path() / ("dsae_extension_" + std::to_string(::getpid()));
    std::filesystem::remove_all(o.out_dir);
    dsae_with_distance<train_backend> mf(tiny(), 4);
    train::trainer<dsae_with_distance<train_backend>> t(mf, o);
    t.fit(set, tiny_set(3, 6));
    std::ifstream in(o.out_dir / "metrics.jsonl");
    std::string line;
    std::getline(in, line);
    expect(line.find("\"terms\": {\"v_mean_distance\": ") != std::string::npos,
           "metrics.jsonl has the term by name: " + line);
    std::filesystem::remove_all(o.out_dir);
  }
  check_and_train<ts_dsae_one_layer>("ts_dsae_one_layer");
  check_and_train<dsae_own_prior>("dsae_own_prior");
  {
    // The prior's parameters are in the registry under their own group, and they train.
    dsae_own_prior<host_backend> m(tiny(), 3);
    auto& p = m.params();
    const auto id = p.find("my_prior.log_var");
    expect(id >= 0 && p.group_name(p.info(id).owner) == "my_prior", "my_prior.log_var is in group my_prior");
  }
  std::printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
