// Raw pitch accuracy: closed-form edge cases and parity with Debian's mir_eval.
#include <boost/test/unit_test.hpp>

#include "dsae/eval/rpa.hpp"
#include "peer.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace dsae_test;
namespace ev = dsae::eval;

namespace {
Eigen::VectorXd vec(std::initializer_list<double> v) {
  Eigen::VectorXd x(static_cast<Eigen::Index>(v.size()));
  Eigen::Index i = 0;
  for (double d : v) x(i++) = d;
  return x;
}
const double nan_v = std::numeric_limits<double>::quiet_NaN();
}  // namespace

BOOST_AUTO_TEST_SUITE(rpa_suite)

BOOST_AUTO_TEST_CASE(cents_threshold_is_strict) {
  const Eigen::VectorXd rv = vec({1, 1, 1, 1}), rc = vec({6000, 6000, 6000, 6000});
  const Eigen::VectorXd ev_ = vec({1, 1, 0, 1}), ec = vec({6050, 6049.999, 5950.001, 6100});
  // 6050: exactly at 50 cents -> wrong; 6049.999 and 5950.001 -> right (voicing of the
  // estimate is ignored); 6100 -> wrong.
  BOOST_TEST(ev::raw_pitch_accuracy_cents(rv, rc, ev_, ec) == 0.5);
  BOOST_TEST(ev::raw_pitch_accuracy_cents(rv, rc, ev_, ec, 100.0) == 0.75);
}

BOOST_AUTO_TEST_CASE(hz_edge_cases) {
  // Octave: 20 Hz vs 40 Hz are exactly 1200 cents apart (exact log2).
  BOOST_TEST(ev::raw_pitch_accuracy(vec({20, 20}), vec({40, 20})) == 0.5);
  BOOST_TEST(ev::raw_pitch_accuracy(vec({20, 20}), vec({40, 20}), 1200.0) == 0.5);
  BOOST_TEST(ev::raw_pitch_accuracy(vec({20, 20}), vec({40, 20}), 1200.5) == 1.0);
  // Unvoiced estimate: 0 Hz never counts; negative Hz (a pitch guess) does.
  BOOST_TEST(ev::raw_pitch_accuracy(vec({220, 220, 0}), vec({0, 0, 0})) == 0.0);
  BOOST_TEST(ev::raw_pitch_accuracy(vec({220, 220, 0}), vec({-220, 0, 0})) == 0.5);
  // Frames unvoiced in the reference are not scored (denominator = voiced ref frames).
  BOOST_TEST(ev::raw_pitch_accuracy(vec({0, 220, -300, 220}), vec({220, 220, 300, 440})) == 0.5);
  // No voiced reference frame -> 0 (mir_eval's convention), empty -> 0.
  BOOST_TEST(ev::raw_pitch_accuracy(vec({0, -100}), vec({100, 100})) == 0.0);
  BOOST_TEST(ev::raw_pitch_accuracy(Eigen::VectorXd(0), Eigen::VectorXd(0)) == 0.0);
  // NaN estimate frames are wrong, NaN reference frames are unvoiced.
  BOOST_TEST(ev::raw_pitch_accuracy(vec({nan_v, 220, 220}), vec({220, nan_v, 220})) == 0.5);
  // Times from 10 ms: mir_eval prepends frame 0 at t = 0, so frame 0 counts twice.
  BOOST_TEST(ev::raw_pitch_accuracy(vec({0.01, 0.02, 0.03}), vec({220, 220, 220}),
                                    vec({220, 300, 300})) == 0.5);
  BOOST_TEST(ev::raw_pitch_accuracy(vec({0.0, 0.01, 0.02}), vec({220, 220, 220}),
                                    vec({220, 300, 300})) == 1.0 / 3.0);
  BOOST_CHECK_THROW(ev::raw_pitch_accuracy(vec({1, 2}), vec({1})), std::invalid_argument);
  BOOST_CHECK_THROW(ev::raw_pitch_accuracy(vec({1, 2}), vec({1, 2}), 0.0), std::invalid_argument);
  BOOST_CHECK_THROW(ev::raw_pitch_accuracy_cents(vec({2}), vec({1}), vec({1}), vec({1})),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(matches_mir_eval, *boost::unit_test::precondition(peer_available{"mir_eval"})) {
  struct rcase {
    std::string name;
    Eigen::VectorXd ref, est;
    double tol = 50.0;
  };
  std::vector<rcase> cases;
  normal_rng g(31);
  const Eigen::Index n = 240;
  Eigen::VectorXd ref(n);
  for (Eigen::Index t = 0; t < n; ++t)
    ref(t) = g.uniform() < 0.3 ? 0.0 : 100.0 * std::exp2(3.0 * g.uniform());
  {
    Eigen::VectorXd est(n);
    for (Eigen::Index t = 0; t < n; ++t)
      est(t) = g.uniform() < 0.1 ? 0.0 : ref(t) * std::exp2((200.0 * g.uniform() - 100.0) / 1200.0);
    cases.push_back({"a_random_offsets", ref, est});
    cases.push_back({"b_tolerance_25", ref, est, 25.0});
  }
  {
    Eigen::VectorXd est = ref;
    for (Eigen::Index t = 0; t < n; t += 2) est(t) *= 2.0;       // octave errors
    for (Eigen::Index t = 1; t < n; t += 6) est(t) *= 0.5;
    cases.push_back({"c_octave_errors", ref, est});
  }
  cases.push_back({"d_unvoiced_estimate", ref, Eigen::VectorXd::Zero(n)});
  {
    Eigen::VectorXd est = -ref;  // "unvoiced but here is my pitch" everywhere
    for (Eigen::Index t = 0; t < n; t += 3) est(t) *= std::exp2(70.0 / 1200.0);
    cases.push_back({"e_negative_estimate", ref, est});
  }
  {
    Eigen::VectorXd r = ref, est = ref;
    for (Eigen::Index t = 0; t < n; t += 4) r(t) = -std::abs(r(t)) - 50.0;  // negative ref
    for (Eigen::Index t = 0; t < n; t += 5) est(t) = -est(t);
    cases.push_back({"f_negative_reference", r, est});
  }
  {
    // Around the 50-cent threshold, from both sides, computed in double.
    Eigen::VectorXd r = Eigen::VectorXd::Constant(12, 440.0), est(12);
    const double offs[12] = {50.0, -50.0, 49.999999, -49.999999, 50.000001, -50.000001,
                             49.9999999999, 50.0000000001, 0.0, 25.0, -75.0, 1200.0};
    for (int k = 0; k < 12; ++k) est(k) = 440.0 * std::exp2(offs[k] / 1200.0);
    cases.push_back({"g_threshold", r, est});
    Eigen::VectorXd r2 = Eigen::VectorXd::Constant(12, 20.0), e2(12);
    for (int k = 0; k < 12; ++k) e2(k) = 20.0 * std::exp2(offs[k] / 1200.0);
    cases.push_back({"h_threshold_20hz", r2, e2});
  }
  cases.push_back({"i_exact_octave", vec({20, 20, 40, 80}), vec({40, 20, 80, 80}), 1200.0});
  cases.push_back({"j_ten_hz_is_zero_cents", vec({10, 20, 10, 0}), vec({10, 10, 20, 10})});
  cases.push_back({"k_nan", vec({nan_v, 220, 220, 0}), vec({220, nan_v, 220, 220})});
  cases.push_back({"l_all_unvoiced_ref", vec({0, 0, -220}), vec({220, 220, 220})});
  cases.push_back({"m_identical", ref, ref});

  scratch_dir dir("rpa");
  for (const auto& c : cases) {
    const auto sub = dir / c.name;
    std::filesystem::create_directories(sub);
    write_csv(sub / "ref.csv", Eigen::MatrixXd(c.ref));
    write_csv(sub / "est.csv", Eigen::MatrixXd(c.est));
    write_csv(sub / "tol.csv", Eigen::MatrixXd::Constant(1, 1, c.tol));
  }
  run_peer("rpa", dir.path());
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      const auto sub = dir / c.name;
      const double mine = ev::raw_pitch_accuracy(c.ref, c.est, c.tol);
      BOOST_TEST(mine == read_csv(sub / "rpa.csv")(0));
      const Eigen::VectorXd times =
          (Eigen::VectorXd::LinSpaced(c.ref.size(), 0.0, static_cast<double>(c.ref.size() - 1)).array() + 1.0) * 0.01;
      if (c.tol == 50.0)  // mir_eval.melody.evaluate uses the default tolerance
        BOOST_TEST(ev::raw_pitch_accuracy(times, c.ref, c.est) == read_csv(sub / "rpa_t.csv")(0));
      const Eigen::MatrixXd cents = read_csv(sub / "cents.csv");
      const auto r = ev::to_cent_voicing(c.ref), e = ev::to_cent_voicing(c.est);
      BOOST_REQUIRE_EQUAL(cents.rows(), c.ref.size());
      for (Eigen::Index t = 0; t < cents.rows(); ++t) {
        BOOST_TEST(r.voicing(t) == cents(t, 0));
        BOOST_TEST(e.voicing(t) == cents(t, 2));
        for (auto [mine_c, ref_c] : {std::pair{r.cents(t), cents(t, 1)}, std::pair{e.cents(t), cents(t, 3)}}) {
          if (std::isnan(ref_c)) BOOST_TEST(std::isnan(mine_c));
          else BOOST_TEST(std::abs(mine_c - ref_c) <= 1e-9);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
