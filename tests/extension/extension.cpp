// Out-of-tree compositions, written as a user would: public headers only
// (<dsae/...>), no test framework (the public checker returns a report).
//   (a) beta-weighted KL_v: DSAE with kl_v<4.0>
//   (b) a regulariser the library does not ship: the squared distance between
//       the v-means of a random swap pair, written here with its VJP
//   (c) a custom global-encoder slot (one tanh layer, masked mean, Gau-V),
//       used in TS-DSAE (so the snapshot prior copies it too)
// Each is gradient-checked at model level (stages 1 and 2 where it has two)
// and trained two epochs with train::trainer. Exit status 0 = all passed.
#include <dsae/dsae.hpp>
#include <dsae/testing/gradcheck.hpp>
#include <dsae/train/trainer.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

using namespace dsae;
using host_backend = cpu<double>;
using tensor = host_backend::tensor;

int failures = 0;
void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// ---- (b) a new loss term -------------------------------------------------
// penalty = W * mean over i and V of (mu_v(x_i) - mu_v(x_p(i)))^2 with p a
// uniform random permutation of the batch (its own noise stream).
template <class Backend>
struct mean_distance_site {
  objective::node<Backend>*a = nullptr, *b = nullptr;  // mu_v and its permuted copy
  double scale = 0;                                       // W / (B * V)
  void backward() {  // VJP of scale * ||a - b||^2
    if (auto* ga = a->acc()) *ga += (2 * scale) * (*a->value - *b->value);
    if (auto* gb = b->acc()) *gb -= (2 * scale) * (*a->value - *b->value);
  }
};

template <double Weight = 1.0>
struct v_mean_distance {
  static constexpr double weight = Weight;
  static std::string name() { return objective::weighted_name("v_mean_distance", weight); }
  template <class Step>
  static void forward(Step& s, objective::loss_terms& out) {
    using site_type = mean_distance_site<typename Step::backend_type>;
    const auto& perm = s.permutation(objective::first_free_stream, nullptr);
    auto q = s.posterior_v();
    auto& partner = s.gather(*q.mu, perm);
    auto& site = s.template site<site_type>();
    site.a = q.mu;
    site.b = &partner;
    const double inv = 1.0 / double(s.batch().batch * s.sizes().v_dim);
    site.scale = weight * inv;
    const double value = inv * (*q.mu->value - *partner.value).squaredNorm();
    s.record(site);
    out.report("v_mean_distance", value, weight);  // by name in logs; weight * value into extra and loss
  }
};

// ---- (c) a new global-encoder slot ---------------------------------------
template <class Backend>
class one_layer_global_encoder {
 public:
  using tensor = typename Backend::tensor;
  static constexpr const char* name = "one_layer_mean";
  struct state {
    typename nn::mlp<Backend>::state net;
    typename nn::masked_mean<Backend>::state mean;
    typename nn::gaussian_head<Backend>::state head;
  };
  one_layer_global_encoder() = default;
  one_layer_global_encoder(parameters<Backend>& p, const std::string& prefix, const model::model_sizes& s, group owner)
      : m_net(p, prefix + ".net", s.x_dim, {s.hidden}, owner), m_head(p, prefix, s.hidden, s.v_dim, owner) {}
  void forward(state& st, const tensor& x, const tensor& time_w, index_t batch) const {
    m_head.forward(st.head, m_mean.forward(st.mean, m_net.forward(st.net, x), time_w, batch));
  }
  const tensor* backward(state& st, const tensor& dmu, const tensor& dlv, bool need_dx) const {
    const tensor* dh = m_head.backward(st.head, dmu, dlv, true);
    return m_net.backward(st.net, *m_mean.backward(st.mean, *dh, true), need_dx);
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
using beta_dsae = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                        model::factorised_decoder, lstm_prior, standard_normal, one_stage,
                                        reconstruction<>, kl_z<>, kl_v<4.0>>;
template <class Backend>
using dsae_with_distance = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                                 model::factorised_decoder, lstm_prior, snapshot_posterior, two_stage<>,
                                                 reconstruction<>, kl_z<>, kl_v<>, swap_regulariser<global_swap>,
                                                 v_mean_distance<0.5>>;
template <class Backend>
using ts_dsae_one_layer = model::sequential_vae<Backend, one_layer_global_encoder, model::factorised_local_encoder,
                                                model::factorised_decoder, lstm_prior, snapshot_posterior, two_stage<>,
                                                reconstruction<>, kl_z<>, kl_v<>, swap_regulariser<global_swap>,
                                                swap_regulariser<local_swap>>;

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

template <template <class> class M>
void check_and_train(const std::string& label) {
  const auto set = tiny_set(6, 5);
  model::sequence_batch<host_backend> b;
  const index_t idx[] = {0, 1, 2, 3};
  set.batch_into(b, idx, 4);
  M<host_backend> m(tiny(), 3);
  std::printf("%s: %s\n", label.c_str(), M<host_backend>::variant_name().c_str());
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
  // Two epochs with the library's trainer, in float as a user would train.
  M<cpu<float>> mf(tiny(), 4);
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
  const tensor before = mf.params().values().template cast<double>();
  train::trainer<M<cpu<float>>> t(mf, o);
  const auto fit = t.fit(set, tiny_set(3, 6));
  const double moved = (mf.params().values().template cast<double>() - before).norm();
  expect(fit.epochs_run == 2 && epochs == 2 && finite && moved > 0,
         label + " trains two epochs (finite losses, parameters moved by " + std::to_string(moved) + ")");
  expect(mf.stage() == 2, label + " ends in the final stage");
}

}  // namespace

int main() {
  // (a) the weight reaches the objective: loss = recon + kl_z + 4 kl_v.
  {
    beta_dsae<host_backend> m(tiny(), 3);
    const auto set = tiny_set(4, 5);
    model::sequence_batch<host_backend> b;
    const index_t idx[] = {0, 1, 2, 3};
    set.batch_into(b, idx, 4);
    const auto l = m.evaluate(b, 1, 1);
    expect(std::abs(l.loss - (l.recon + l.kl_z + 4 * l.kl_v)) < 1e-12, "beta_dsae: loss = recon + kl_z + 4 kl_v");
    expect(beta_dsae<host_backend>::variant_name().find("kl_v*4") != std::string::npos, "beta_dsae: the weight is named");
  }
  check_and_train<beta_dsae>("beta_dsae");
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
    expect(l.named.size() == 1 && std::isfinite(d) && d > 0, "the custom term is reported by name");
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
    dsae_with_distance<cpu<float>> mf(tiny(), 4);
    train::trainer<dsae_with_distance<cpu<float>>> t(mf, o);
    t.fit(set, tiny_set(3, 6));
    std::ifstream in(o.out_dir / "metrics.jsonl");
    std::string line;
    std::getline(in, line);
    expect(line.find("\"terms\": {\"v_mean_distance\": ") != std::string::npos,
           "metrics.jsonl has the term by name: " + line);
    std::filesystem::remove_all(o.out_dir);
  }
  check_and_train<ts_dsae_one_layer>("ts_dsae_one_layer");
  std::printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
