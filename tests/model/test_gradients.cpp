// The full objective of every variant and stage against central differences
// (double precision): masks of different lengths, swaps, snapshot prior,
// full q and the richer decoder.
#include <boost/test/unit_test.hpp>
#include "common.hpp"

using namespace dsae;
using namespace dsae::test;

namespace {

template <class M>
void check_model(int stage, bool perturb_snapshot = true) {
  M m(tiny_sizes(), 3);
  if (stage == 2 && m.stage() == 1) m.set_stage(2);
  auto& p = m.params();
  if (perturb_snapshot && M::prior_v_type::uses_snapshot) {
    // Make q_C differ from q so that KL(q || q_C) has a non-trivial gradient.
    for (const auto& e : p.entries())
      if (e.owner == group::snapshot)
        p.value(p.find(e.name)) += random_tensor(e.rows, e.cols, std::uint64_t(e.offset), 0.2);
  }
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  auto loss = [&] { return m.evaluate(b, 5, 9).loss; };
  const auto l = m.train_step(b, 5, 9);
  // evaluate() == train_step() forward; a stage-1 step with factorised q skips
  // KL_z (no gradient), which evaluate() reports.
  const auto ev = m.evaluate(b, 5, 9);
  BOOST_TEST(l.kl_z_computed == !(stage == 1 && !M::local_type::uses_v));
  BOOST_TEST(std::abs(l.loss + (l.kl_z_computed ? 0.0 : ev.kl_z) - ev.loss) < 1e-14);
  BOOST_TEST(l.loss == l.recon + l.kl_z + l.kl_v + l.swap[0] + l.swap[1] + l.swap[2] + l.swap[3] + l.extra,
             boost::test_tools::tolerance(1e-12));
  if (m.swaps_active())
    for (double s : l.swap) BOOST_TEST(s > 0.0);
  BOOST_TEST_MESSAGE(m.variant_name() << " stage " << stage << ": loss " << l.loss);
  check_gradients(p, loss);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(objective_gradients)

BOOST_AUTO_TEST_CASE(dsae_factorised) { check_model<model::dsae<B>>(2); }
BOOST_AUTO_TEST_CASE(dsae_full_q) { check_model<model::dsae_full<B>>(2); }
BOOST_AUTO_TEST_CASE(two_stage_stage1_factorised) { check_model<model::ts_dsae<B>>(1); }
BOOST_AUTO_TEST_CASE(two_stage_stage1_full_q) { check_model<model::ts_dsae_full<B>>(1); }
BOOST_AUTO_TEST_CASE(dsae_f_stage2) { check_model<model::dsae_f<B>>(2); }
BOOST_AUTO_TEST_CASE(dsae_f_stage2_full_q) { check_model<model::dsae_f_full<B>>(2); }
BOOST_AUTO_TEST_CASE(ts_dsae_noreg_stage2) { check_model<model::ts_dsae_noreg<B>>(2); }
BOOST_AUTO_TEST_CASE(ts_dsae_stage2_factorised) { check_model<model::ts_dsae<B>>(2); }
BOOST_AUTO_TEST_CASE(ts_dsae_stage2_full_q) { check_model<model::ts_dsae_full<B>>(2); }
BOOST_AUTO_TEST_CASE(ts_dsae_stage2_richer_decoder) { check_model<model::ts_dsae_rich<B>>(2); }
BOOST_AUTO_TEST_CASE(dsae_richer_decoder) { check_model<model::dsae_rich<B>>(2); }

BOOST_AUTO_TEST_SUITE_END()
