// Priors with parameters (objective/priors.hpp): the learnable Gaussian prior on v and the
// mixture-of-Gaussians prior on v. Gradient-checked at model level, trained with the
// library's trainer, the mixture's KL estimator unbiased against the closed form (K = 1),
// and generate()'s v drawn from the configured prior.
#include <boost/test/unit_test.hpp>
#include <dsae/train/trainer.hpp>
#include "common/node_op_terms.hpp"
#include "model/common.hpp"

using namespace dsae;
using namespace dsae::test;

namespace {

template <class M>
void set_param(M& m, const std::string& name, const tensor& value) {
  auto& p = m.params();
  const auto id = p.find(name);
  BOOST_TEST_REQUIRE(id >= 0, name);
  p.value(id) = value.cast<typename M::scalar>();
}

train::sequence_set tiny_set(index_t count, std::uint64_t seed) {
  train::sequence_set d;
  d.count = count;
  d.frames = 4;
  d.features = 3;
  const tensor x = random_tensor(count * 4, 3, seed);
  d.data.assign(x.data(), x.data() + x.size());
  for (index_t i = 0; i < count; ++i) d.lengths.push_back(2 + i % 3);
  return d;
}

// Two epochs with the trainer; returns how far the prior's parameters moved.
template <template <class> class M>
double train_prior(const std::string& prefix) {
  M<cpu<float>> m(tiny_sizes(), 4);
  auto& p = m.params();
  std::vector<float> before;
  for (const auto& e : p.entries())
    if (e.name.rfind(prefix, 0) == 0)
      for (index_t i = 0; i < e.rows * e.cols; ++i) before.push_back(p.values()(0, e.offset + i));
  train::trainer_options o;
  o.batch_size = 4;
  o.max_epochs = 3;
  o.stage1_epochs = 0;
  o.verbose = false;
  train::trainer<M<cpu<float>>> t(m, o);
  const auto r = t.fit(tiny_set(8, 5), tiny_set(4, 6));
  BOOST_TEST(r.epochs_run == 3);
  double moved = 0;
  size_t k = 0;
  for (const auto& e : p.entries())
    if (e.name.rfind(prefix, 0) == 0)
      for (index_t i = 0; i < e.rows * e.cols; ++i, ++k) moved += std::abs(p.values()(0, e.offset + i) - before[k]);
  BOOST_TEST(k > 0u);
  return moved;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(priors)

BOOST_AUTO_TEST_CASE(learnable_normal_gradients_and_group) {
  learnable_prior_dsae<B> m(tiny_sizes(), 3);
  auto& p = m.params();
  BOOST_TEST(p.find("prior_v.mu") >= 0);
  BOOST_TEST(p.group_name(p.info(p.find("prior_v.logvar")).owner) == "prior_v");
  BOOST_TEST(m.variant_name().find("prior_v=learnable_normal") != std::string::npos, m.variant_name());
  set_param(m, "prior_v.mu", random_tensor(1, 2, 7, 0.5));
  set_param(m, "prior_v.logvar", random_tensor(1, 2, 8, 0.5));
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  const auto r = testing::check_model(m, b, 5, 9);
  expect_report(r);
  bool prior_checked = false;
  for (const auto& i : r.items) prior_checked |= i.name.find("prior_v.mu") != std::string::npos && i.informative;
  BOOST_TEST(prior_checked);
  // Frozen by name: the prior's group gets exactly zero gradient.
  p.freeze("prior_v");
  m.train_step(b, 5, 9);
  BOOST_TEST(p.grad(p.find("prior_v.mu")).norm() == 0.0);
  expect_report(testing::check_model(m, b, 5, 9));
}

BOOST_AUTO_TEST_CASE(mixture_gradients) {
  mixture_prior_dsae<B> m(tiny_sizes(), 3, std::vector<std::string>{"prior_v.components=3"});
  set_param(m, "prior_v.logvars", random_tensor(3, 2, 9, 0.4));
  set_param(m, "prior_v.logits", random_tensor(1, 3, 10, 0.4));
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  expect_report(testing::check_model(m, b, 5, 9));
}

BOOST_AUTO_TEST_CASE(both_train) {
  BOOST_TEST(train_prior<learnable_prior_dsae>("prior_v.") > 1e-4);
  BOOST_TEST(train_prior<mixture_prior_dsae>("prior_v.") > 1e-4);
}

// With one component the mixture is a Gaussian: its one-sample estimator, averaged over
// many noise draws, approaches the closed form of the learnable prior with equal parameters.
BOOST_AUTO_TEST_CASE(mixture_estimator_unbiased) {
  mixture_prior_dsae<B> mix(tiny_sizes(), 3, std::vector<std::string>{"prior_v.components=1"});
  learnable_prior_dsae<B> gauss(tiny_sizes(), 3);
  const tensor mu = random_tensor(1, 2, 12, 0.7), lv = random_tensor(1, 2, 13, 0.5);
  set_param(mix, "prior_v.means", mu);
  set_param(mix, "prior_v.logvars", lv);
  set_param(gauss, "prior_v.mu", mu);
  set_param(gauss, "prior_v.logvar", lv);
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  const double exact = gauss.evaluate(b, 1, 0).kl_v;
  const int n = 4000;
  double sum = 0, sum2 = 0;
  for (int k = 0; k < n; ++k) {
    const double e = mix.evaluate(b, 1, std::uint32_t(k)).kl_v;
    sum += e;
    sum2 += e * e;
  }
  const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
  BOOST_TEST(sd > 0.0);  // it is an estimate, not the closed form again
  BOOST_TEST(std::abs(mean - exact) < 4 * sd / std::sqrt(double(n)) + 1e-12,
             "estimator mean " << mean << " vs closed form " << exact << " (sd " << sd << ")");
}

BOOST_AUTO_TEST_CASE(generate_draws_from_the_configured_prior) {
  const index_t n = 20000;
  {
    learnable_prior_dsae<B> m(tiny_sizes(), 3);
    tensor mu(1, 2), lv(1, 2);
    mu << 2.0, -1.0;
    lv << std::log(0.25), 0.0;
    set_param(m, "prior_v.mu", mu);
    set_param(m, "prior_v.logvar", lv);
    const tensor v = m.sample_prior_v(n, 17);
    const Eigen::RowVectorXd mean = v.colwise().mean();
    const Eigen::RowVectorXd var = (v.rowwise() - mean).array().square().colwise().mean();
    BOOST_TEST(std::abs(mean(0) - 2.0) < 0.03);
    BOOST_TEST(std::abs(mean(1) + 1.0) < 0.05);
    BOOST_TEST(std::abs(var(0) - 0.25) < 0.02);
    BOOST_TEST(std::abs(var(1) - 1.0) < 0.05);
    const tensor x = m.generate(3, 4, 17);
    BOOST_TEST(x.rows() == 12);
    BOOST_TEST(x.allFinite());
  }
  {
    mixture_prior_dsae<B> m(tiny_sizes(), 3, std::vector<std::string>{"prior_v.components=2"});
    tensor means(2, 2), lvs(2, 2), logits(1, 2);
    means << 3.0, 3.0, -3.0, -3.0;
    lvs.setConstant(std::log(0.01));
    logits << 0.0, std::log(3.0);  // weights 1/4, 3/4
    set_param(m, "prior_v.means", means);
    set_param(m, "prior_v.logvars", lvs);
    set_param(m, "prior_v.logits", logits);
    const tensor v = m.sample_prior_v(n, 18);
    const double share_first = (v.col(0).array() > 0).cast<double>().mean();
    BOOST_TEST(std::abs(share_first - 0.25) < 0.015, share_first);
    BOOST_TEST((v.col(0).array() > 0).cast<int>().matrix() == (v.col(1).array() > 0).cast<int>().matrix());
    BOOST_TEST(std::abs(v.col(0).array().abs().mean() - 3.0) < 0.01);
  }
  {
    model::dsae<B> m(tiny_sizes(), 3);  // N(0, I)
    const tensor v = m.sample_prior_v(n, 19);
    BOOST_TEST(std::abs(v.mean()) < 0.02);
  }
}

BOOST_AUTO_TEST_SUITE_END()
