// Model structure: parameter counts and names, stage schedule, swaps,
// generation, bad input.
#include <boost/test/unit_test.hpp>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "common.hpp"

using namespace dsae;
using namespace dsae::test;

BOOST_AUTO_TEST_SUITE(model_structure)

BOOST_AUTO_TEST_CASE(parameter_counts_match_the_reference) {
  // Spec: V = 16: Z=8: 47120, Z=16: 50224, Z=32: 56432; stage-1 trainable (Z=32): 23920.
  for (auto [z, n] : {std::pair{8, 47120}, {16, 50224}, {32, 56432}}) {
    model::model_sizes s;
    s.z_dim = z;
    model::dsae<cpu<float>> m(s);
    BOOST_TEST(m.params().size() == n, "Z=" << z);
  }
  model::model_sizes s;
  s.z_dim = 32;
  model::ts_dsae<cpu<float>> m(s);
  BOOST_TEST(m.stage() == 1);
  BOOST_TEST(m.params().trainable_size() == 23920);
  BOOST_TEST(m.params().find("global_encoder.net.0.weight") >= 0);
  BOOST_TEST(m.params().find("local_encoder.logvar.bias") >= 0);
  BOOST_TEST(m.params().find("transition.lstm.weight_hh_l1") >= 0);
  BOOST_TEST(m.params().find("decoder.out.weight") >= 0);
  BOOST_TEST(m.params().find("snapshot.mu.weight") >= 0);
}

BOOST_AUTO_TEST_CASE(stage_switch_freezes_and_snapshots) {
  model::ts_dsae<B> m(tiny_sizes(), 1);
  auto& p = m.params();
  BOOST_TEST(!p.trainable(group::local_encoder));
  BOOST_TEST(!p.trainable(group::transition));
  BOOST_TEST(p.trainable(group::global_encoder));
  p.value(p.find("global_encoder.mu.bias")).setConstant(0.25);
  m.set_stage(2);
  BOOST_TEST(p.trainable(group::local_encoder));
  BOOST_TEST(!p.trainable(group::snapshot));
  BOOST_TEST((p.value(p.find("snapshot.mu.bias")).array() == 0.25).all());
  BOOST_TEST(m.swaps_active());

  model::dsae_f<B> f(tiny_sizes(), 1);
  f.set_stage(2);
  BOOST_TEST(!f.params().trainable(group::global_encoder));
  BOOST_TEST(f.params().trainable(group::local_encoder));
  model::dsae<B> d(tiny_sizes(), 1);
  BOOST_TEST(d.stage() == 2);
  BOOST_CHECK_THROW(d.set_stage(1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(stage1_kl_z_is_reported_but_gives_no_gradient) {
  model::ts_dsae<B> m(tiny_sizes(), 2);
  auto b = random_batch(4, {4, 4, 4}, 3, 3);
  // On request, a stage-1 training step computes KL_z too: reported, no gradient.
  m.compute_gradient_free_terms(true);
  const auto l = m.train_step(b, 1, 1);
  BOOST_TEST(l.kl_z_computed);
  BOOST_TEST(l.kl_z > 0.0);
  const auto& p = m.params();
  for (const auto& e : p.entries())
    if (e.owner == group::local_encoder || e.owner == group::transition)
      BOOST_TEST(Eigen::Map<const tensor>(p.grads().data() + e.offset, e.rows, e.cols).norm() == 0.0, e.name);
  const tensor with = p.grads();
  // By default the step skips it (and the transition): the same gradient, bit
  // for bit, and the same loss less KL_z.
  m.compute_gradient_free_terms(false);
  const auto l2 = m.train_step(b, 1, 1);
  BOOST_TEST(!l2.kl_z_computed);
  BOOST_TEST(l2.kl_z == 0.0);
  BOOST_TEST(l2.loss == l.loss - l.kl_z, boost::test_tools::tolerance(1e-12));
  BOOST_TEST((p.grads() - with).norm() == 0.0);
  // Validation always computes it.
  const auto lv = m.evaluate(b, 1, 1);
  BOOST_TEST(lv.kl_z_computed);
  BOOST_TEST(lv.kl_z == l.kl_z);
  // Full q: KL_z reaches v through q(z | x, v), so the step keeps it.
  model::ts_dsae_full<B> f(tiny_sizes(), 2);
  BOOST_TEST(f.train_step(b, 1, 1).kl_z_computed);
  // Stage 2 always computes it.
  m.set_stage(2);
  BOOST_TEST(m.train_step(b, 1, 2).kl_z_computed);
}

BOOST_AUTO_TEST_CASE(padding_frames_do_not_change_the_loss) {
  model::ts_dsae_full<B> m(tiny_sizes(), 4);
  m.set_stage(2);
  auto b1 = random_batch(5, {5, 3, 2}, 3, 21);
  auto b2 = b1;
  for (index_t r = 0; r < b2.x.rows(); ++r)
    if (b2.mask(r, 0) == 0) b2.x.row(r).setConstant(100.0);
  const auto l1 = m.train_step(b1, 7, 3);
  const tensor g1 = m.params().grads();
  const auto l2 = m.train_step(b2, 7, 3);
  BOOST_TEST(std::abs(l1.loss - l2.loss) < 1e-12);
  BOOST_TEST((m.params().grads() - g1).norm() < 1e-12);
}

BOOST_AUTO_TEST_CASE(reconstruction_averages_each_sequence_over_its_own_frames) {
  // Spec (corrected 2026-12-01): recon = mean over b and bins of the mean over
  // b's valid frames. A pooled mean over all valid frames differs with unequal lengths.
  model::dsae<B> m(tiny_sizes(), 8);
  const std::vector<index_t> len{5, 1, 3};
  auto b = random_batch(5, len, 3, 31);
  const auto l = m.evaluate(b, 4, 4);
  const tensor& xhat = m.last_reconstruction();
  const index_t n = index_t(len.size());
  double per_seq = 0, pooled = 0;
  for (index_t s = 0; s < n; ++s) {
    double se = 0;
    for (index_t t = 0; t < len[size_t(s)]; ++t) se += (xhat.row(t * n + s) - b.x.row(t * n + s)).squaredNorm();
    per_seq += se / double(len[size_t(s)]);
    pooled += se;
  }
  per_seq /= double(n * 3);
  pooled /= double(9 * 3);
  BOOST_TEST(l.recon == per_seq, boost::test_tools::tolerance(1e-13));
  BOOST_TEST(std::abs(per_seq - pooled) > 1e-3 * per_seq);  // the case tells the two apart
}

BOOST_AUTO_TEST_CASE(given_noise_reproduces_generated_noise) {
  model::ts_dsae<B> m(tiny_sizes(), 5);
  m.set_stage(2);
  auto b = random_batch(3, {3, 3, 3, 3}, 3, 4);
  const auto l = m.evaluate(b, 9, 2);
  model::given_noise<B> g;
  auto draw = [&](tensor& t, index_t r, index_t c, std::uint32_t stream) {
    t.resize(r, c);
    B::normal(t, {9, stream, 2});
  };
  draw(g.eps_v, 4, 2, model::eps_v);
  draw(g.eps_z, 12, 2, model::eps_z);
  draw(g.eps_v_g, 4, 2, model::eps_v_g);
  draw(g.eps_z_g, 12, 2, model::eps_z_g);
  draw(g.eps_v_l, 4, 2, model::eps_v_l);
  draw(g.eps_z_l, 12, 2, model::eps_z_l);
  g.perm_g = model::random_permutation(4, {9, model::perm_g, 2});
  g.perm_l = model::random_permutation(4, {9, model::perm_l, 2});
  const auto l2 = m.evaluate(b, 0, 0, &g);
  BOOST_TEST(l.loss == l2.loss);
  g.perm_g = {0, 1, 2, 3};
  g.perm_l = {0, 1, 2, 3};
  const auto l3 = m.evaluate(b, 0, 0, &g);
  // Identity permutations: the swaps decode the original pairs.
  BOOST_TEST(l3.swap[0] == l3.swap[2], boost::test_tools::tolerance(1e-12));
  g.perm_g = {0, 1, 2, 7};
  BOOST_CHECK_THROW(m.evaluate(b, 0, 0, &g), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(compositions_have_distinct_names_and_checkpoints_refuse_another) {
  using namespace dsae::objective;
  // TS-DSAE with the swap regularisers weighted 2: same parameters, another objective.
  using heavy_swaps = model::sequential_vae<B, model::global_encoder, model::factorised_local_encoder,
                                            model::factorised_decoder, transition_prior<model::lstm_transition>,
                                            snapshot_posterior, two_stage<>, reconstruction<>, kl_z<>, kl_v<>,
                                            swap_regulariser<global_swap, 2.0>, swap_regulariser<local_swap, 2.0>>;
  const std::vector<std::string> names{model::dsae<B>().variant_name(),          model::dsae_f<B>().variant_name(),
                                       model::ts_dsae_noreg<B>().variant_name(), model::ts_dsae<B>().variant_name(),
                                       model::dsae_full<B>().variant_name(),     model::ts_dsae_full<B>().variant_name(),
                                       model::dsae_rich<B>().variant_name(),     model::ts_dsae_rich<B>().variant_name(),
                                       heavy_swaps().variant_name()};
  BOOST_TEST(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  BOOST_TEST(heavy_swaps().variant_name().find("swap_global*2") != std::string::npos, heavy_swaps().variant_name());
  BOOST_TEST(model::dsae_f<B>().variant_name().find("freeze at C: global_encoder") != std::string::npos);

  model::ts_dsae<B> m(tiny_sizes(), 3);
  heavy_swaps h(tiny_sizes(), 3);
  BOOST_TEST(m.params().size() == h.params().size());
  const auto path = std::filesystem::temp_directory_path() / ("dsae_composition_" + std::to_string(::getpid()) + ".safetensors");
  train::save_weights(path, m);
  train::load_weights(path, m);  // the same composition loads
  try {
    train::load_weights(path, h);
    BOOST_FAIL("a checkpoint of another composition was loaded");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find(path.string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("swap_global*2") != std::string::npos, msg);  // names what this model is
  }
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_CASE(random_permutations_are_permutations_and_vary) {
  std::vector<index_t> a = model::random_permutation(128, {1, 6, 0}), b = model::random_permutation(128, {1, 6, 1});
  BOOST_TEST(a != b);
  std::sort(a.begin(), a.end());
  for (index_t i = 0; i < 128; ++i) BOOST_TEST(a[size_t(i)] == i);
}

BOOST_AUTO_TEST_CASE(generation_and_inference_helpers) {
  model::ts_dsae<B> m(tiny_sizes(), 6);
  const tensor x = m.generate(3, 5, 42);
  BOOST_TEST(x.rows() == 15);
  BOOST_TEST(x.cols() == 3);
  BOOST_TEST(x.allFinite());
  BOOST_TEST((m.generate(3, 5, 42) - x).norm() == 0.0);  // seeded
  auto b = random_batch(4, {4, 4}, 3, 5);
  const tensor v = m.posterior_v_mean(b);
  const tensor z = m.posterior_z_mean(b, v);
  BOOST_TEST(v.rows() == 2);
  BOOST_TEST(z.rows() == 8);
  const tensor xh = m.decode(z, v, &b.mask, 2);
  BOOST_TEST(xh.rows() == 8);
  // The generated frames follow the prior: frame 0 uses N(0, I) only, so the
  // first frames of a 1-frame and a 5-frame generation agree.
  const tensor x1 = m.generate(3, 1, 42);
  BOOST_TEST((x1 - x.topRows(3)).norm() < 1e-12);
}

BOOST_AUTO_TEST_CASE(bad_batches_are_rejected_with_clear_messages) {
  model::dsae<B> m(tiny_sizes(), 7);
  auto b = random_batch(3, {3, 3}, 4, 1);  // F = 4, model expects 3
  try {
    m.train_step(b, 1, 1);
    BOOST_FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("[(3*2) x 3]") != std::string::npos, msg);
  }
  auto c = random_batch(3, {3, 3}, 3, 1);
  c.x(2, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_THROW(m.train_step(c, 1, 1), std::invalid_argument);
  model::sequence_batch<B> e;
  e.frames = 3;
  BOOST_CHECK_THROW(e.finalize(), std::invalid_argument);
  model::sequence_batch<B> f;
  f.frames = 3;
  f.lengths = {4};
  f.x = tensor::Zero(3, 3);
  BOOST_CHECK_THROW(f.finalize(), std::invalid_argument);
  model::model_sizes s;
  s.z_dim = 0;
  BOOST_CHECK_THROW(model::dsae<B>{s}, std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
