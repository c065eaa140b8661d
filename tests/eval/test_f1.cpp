// F1 / confusion / accuracy: hand-computed cases and parity with sklearn.metrics.
#include <boost/test/unit_test.hpp>

#include "dsae/eval/f1.hpp"
#include "peer.hpp"

#include <cmath>
#include <string>
#include <vector>

using namespace dsae_test;
namespace ev = dsae::eval;

BOOST_AUTO_TEST_SUITE(f1_suite)

BOOST_AUTO_TEST_CASE(hand_computed_binary) {
  // tp(1)=2, fp(1)=1, fn(1)=1 -> P=R=2/3, F1(1)=2/3; class 0: tp=1, fp=1, fn=1 -> 1/2.
  const std::vector<int> t{0, 0, 1, 1, 1}, p{0, 1, 1, 1, 0};
  const auto f = ev::f1_per_class(t, p);
  BOOST_TEST(std::abs(f(0) - 0.5) < 1e-15);
  BOOST_TEST(std::abs(f(1) - 2.0 / 3.0) < 1e-15);
  BOOST_TEST(std::abs(ev::f1_macro(t, p) - (0.5 + 2.0 / 3.0) / 2.0) < 1e-15);
  BOOST_TEST(ev::accuracy(t, p) == 0.6);
  const auto cm = ev::confusion_matrix(t, p);
  BOOST_TEST((cm.labels == std::vector<int>{0, 1}));
  BOOST_TEST(cm.counts(0, 0) == 1);
  BOOST_TEST(cm.counts(0, 1) == 1);
  BOOST_TEST(cm.counts(1, 0) == 1);
  BOOST_TEST(cm.counts(1, 1) == 2);
}

BOOST_AUTO_TEST_CASE(zero_division_counts_as_zero) {
  // Everything predicted as 1: class 0 has no predictions -> precision 0 -> F1 0.
  const std::vector<int> t{0, 0, 1, 1}, p{1, 1, 1, 1};
  BOOST_TEST(ev::f1_per_class(t, p)(0) == 0.0);
  BOOST_TEST(std::abs(ev::f1_macro(t, p) - (2.0 / 3.0) / 2.0) < 1e-15);
  // A label only predicted (never true) joins the average with F1 0.
  const std::vector<int> t2{0, 0, 0}, p2{0, 0, 2};
  BOOST_TEST(std::abs(ev::f1_macro(t2, p2) - 0.4) < 1e-15);  // F1(0) = 0.8, F1(2) = 0
  // A full label swap scores 0: the reading "post-swap far below 0.5" of the spec.
  const std::vector<int> t3{0, 1, 0, 1}, p3{1, 0, 1, 0};
  BOOST_TEST(ev::f1_macro(t3, p3) == 0.0);
}

BOOST_AUTO_TEST_CASE(errors_name_the_problem) {
  const std::vector<int> a{0, 1}, b{0};
  BOOST_CHECK_THROW(ev::f1_macro(a, b), std::invalid_argument);
  BOOST_CHECK_THROW(ev::accuracy(std::vector<int>{}, std::vector<int>{}), std::invalid_argument);
  try {
    ev::confusion_matrix(a, b);
    BOOST_FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("y_true has 2 labels but y_pred has 1") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(matches_sklearn_metrics,
                     *boost::unit_test::precondition(peer_available{"sklearn"})) {
  struct pair_case {
    std::vector<int> t, p;
  };
  std::vector<pair_case> cases;
  cases.push_back({{0, 0, 1, 1, 1}, {0, 1, 1, 1, 0}});
  cases.push_back({{0, 0, 1, 1}, {1, 1, 1, 1}});           // class never predicted
  cases.push_back({{0, 0, 0}, {0, 0, 2}});                 // label only in y_pred
  cases.push_back({{0, 1, 0, 1}, {1, 0, 1, 0}});           // all wrong
  cases.push_back({{3, 3, 3, 3}, {3, 3, 3, 3}});           // one class, perfect
  cases.push_back({{-1, 4, 9, 4, -1}, {4, 4, 9, 9, -1}});  // unsorted, negative labels
  normal_rng g(3);
  for (int k = 0; k < 6; ++k) {  // random multi-class cases with biased predictions
    pair_case c;
    const int n = 50 + 37 * k, classes = 2 + k % 4;
    for (int i = 0; i < n; ++i) {
      const int t = static_cast<int>(g.raw() % static_cast<std::uint64_t>(classes));
      const int p = (g.uniform() < 0.7) ? t : static_cast<int>(g.raw() % static_cast<std::uint64_t>(classes + 1));
      c.t.push_back(t);
      c.p.push_back(p);
    }
    cases.push_back(c);
  }
  scratch_dir dir("f1");
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto sub = dir / ("case" + std::to_string(100 + k));
    std::filesystem::create_directories(sub);
    write_csv(sub / "y_true.csv", cases[k].t);
    write_csv(sub / "y_pred.csv", cases[k].p);
  }
  run_peer("f1", dir.path());
  for (std::size_t k = 0; k < cases.size(); ++k) {
    BOOST_TEST_CONTEXT("case " << k) {
      const auto sub = dir / ("case" + std::to_string(100 + k));
      const auto& c = cases[k];
      BOOST_TEST(std::abs(ev::f1_macro(c.t, c.p) - read_csv(sub / "macro.csv")(0)) <= 1e-12);
      const Eigen::MatrixXd ref_pc = read_csv(sub / "per_class.csv");
      const Eigen::VectorXd pc = ev::f1_per_class(c.t, c.p);
      BOOST_REQUIRE_EQUAL(pc.size(), ref_pc.size());
      for (Eigen::Index i = 0; i < pc.size(); ++i) BOOST_TEST(std::abs(pc(i) - ref_pc(i)) <= 1e-12);
      BOOST_TEST(ev::accuracy(c.t, c.p) == read_csv(sub / "accuracy.csv")(0));
      const Eigen::MatrixXd ref_cm = read_csv(sub / "confusion.csv");
      const Eigen::MatrixXd cm = ev::confusion_matrix(c.t, c.p).counts.cast<double>();
      BOOST_REQUIRE_EQUAL(cm.rows(), ref_cm.rows());
      BOOST_TEST((cm - ref_cm).cwiseAbs().maxCoeff() == 0.0);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
