// LDA: parity with scikit-learn's LinearDiscriminantAnalysis() on several datasets,
// plus closed-form and error checks that need no Python.
#include <boost/test/unit_test.hpp>

#include "dsae/eval/f1.hpp"
#include "dsae/eval/lda.hpp"
#include "peer.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using dsae::eval::lda;
using namespace dsae_test;

namespace {

struct dataset {
  std::string name;
  Eigen::MatrixXd X, T;
  std::vector<int> y, yt;
};

// Gaussian classes with a shared random covariance A A^T: class k mean = spread * m_k.
dataset gaussian_classes(const std::string& name, std::uint64_t seed, Eigen::Index d,
                         const std::vector<int>& labels, const std::vector<int>& counts,
                         double spread, double scale = 1.0) {
  normal_rng g(seed);
  dataset ds;
  ds.name = name;
  const Eigen::MatrixXd a = g.normal(d, d) * 0.5 + Eigen::MatrixXd::Identity(d, d);
  const Eigen::MatrixXd means = g.normal(static_cast<Eigen::Index>(labels.size()), d) * spread;
  auto draw = [&](int per_class_div, Eigen::MatrixXd& X, std::vector<int>& y) {
    Eigen::Index total = 0;
    for (int c : counts) total += c / per_class_div + 1;
    X.resize(total, d);
    Eigen::Index r = 0;
    // Interleave classes so that the class order in the rows is not sorted.
    std::vector<int> left;
    for (int c : counts) left.push_back(c / per_class_div + 1);
    while (r < total) {
      for (std::size_t k = 0; k < labels.size(); ++k) {
        if (left[k] == 0) continue;
        --left[k];
        X.row(r) = (means.row(static_cast<Eigen::Index>(k)) + g.normal(1, d) * a.transpose()) * scale;
        y.push_back(labels[k]);
        ++r;
      }
    }
  };
  draw(1, ds.X, ds.y);
  draw(1, ds.T, ds.yt);
  return ds;
}

std::vector<dataset> parity_datasets() {
  std::vector<dataset> v;
  v.push_back(gaussian_classes("a_two_classes", 11, 4, {0, 1}, {120, 110}, 1.0));
  v.push_back(gaussian_classes("b_three_classes", 12, 5, {0, 1, 2}, {60, 70, 50}, 1.2));
  v.push_back(gaussian_classes("c_unbalanced", 13, 3, {0, 1}, {250, 18}, 1.5));
  v.push_back(gaussian_classes("d_unbalanced_four", 14, 6, {-3, 7, 42, 100}, {90, 40, 12, 6}, 1.3));
  {
    // Near-collinear and rank-deficient features: column 4 = 2*c1 - c2 exactly,
    // column 5 = c0 + 1e-7 noise, column 6 constant. sklearn drops the tiny
    // directions through tol; the predictions must agree anyway.
    dataset ds = gaussian_classes("e_collinear", 15, 4, {1, 2, 3}, {80, 60, 70}, 1.0);
    normal_rng g(99);
    for (Eigen::MatrixXd* m : {&ds.X, &ds.T}) {
      Eigen::MatrixXd w(m->rows(), 7);
      w.leftCols(4) = *m;
      w.col(4) = 2.0 * m->col(1) - m->col(2);
      w.col(5) = m->col(0) + 1e-7 * g.normal(m->rows(), 1);
      w.col(6).setConstant(3.25);
      *m = w;
    }
    v.push_back(ds);
  }
  // More features than samples per class: the within-class scatter is singular.
  v.push_back(gaussian_classes("f_wide", 16, 30, {0, 1}, {12, 10}, 1.0));
  // Badly scaled features (v-means of a trained model can be large).
  {
    dataset ds = gaussian_classes("g_scaled", 17, 5, {0, 1, 2}, {40, 40, 40}, 0.8);
    Eigen::VectorXd s(5);
    s << 1e3, 1e-3, 1.0, 50.0, 1e-2;
    ds.X = ds.X * s.asDiagonal();
    ds.T = ds.T * s.asDiagonal();
    v.push_back(ds);
  }
  // Heavily overlapping classes: many test points near the boundary.
  v.push_back(gaussian_classes("h_overlap", 18, 8, {0, 1}, {150, 150}, 0.15));
  return v;
}

double max_abs(const Eigen::MatrixXd& m) { return m.size() ? m.cwiseAbs().maxCoeff() : 0.0; }

}  // namespace

BOOST_AUTO_TEST_SUITE(lda_suite)

BOOST_AUTO_TEST_CASE(matches_sklearn_predictions_exactly,
                     *boost::unit_test::precondition(peer_available{"sklearn"})) {
  scratch_dir dir("lda");
  const auto sets = parity_datasets();
  for (const auto& ds : sets) {
    const auto sub = dir / ds.name;
    std::filesystem::create_directories(sub);
    write_csv(sub / "X.csv", ds.X);
    write_csv(sub / "y.csv", ds.y);
    write_csv(sub / "T.csv", ds.T);
    write_csv(sub / "yt.csv", ds.yt);
  }
  run_peer("lda", dir.path());
  for (const auto& ds : sets) {
    BOOST_TEST_CONTEXT("dataset " << ds.name) {
      const auto sub = dir / ds.name;
      lda m;
      m.fit(ds.X, ds.y);
      const auto pred = m.predict(ds.T);
      const auto ref_pred = read_labels(sub / "pred.csv");
      BOOST_REQUIRE_EQUAL(pred.size(), ref_pred.size());
      std::size_t mismatches = 0;
      for (std::size_t i = 0; i < pred.size(); ++i) mismatches += pred[i] != ref_pred[i];
      BOOST_TEST(mismatches == 0u);

      Eigen::MatrixXd dec = m.decision_function(ds.T);
      const Eigen::MatrixXd ref_dec = read_csv(sub / "dec.csv");
      BOOST_REQUIRE_EQUAL(dec.rows(), ref_dec.rows());
      BOOST_REQUIRE_EQUAL(dec.cols(), ref_dec.cols());
      BOOST_TEST(max_abs(dec - ref_dec) <= 1e-10 * (1.0 + max_abs(ref_dec)));
      BOOST_TEST_MESSAGE("lda " << ds.name << ": " << pred.size() << " test points, " << mismatches
                                << " prediction mismatches, max |decision - sklearn| "
                                << max_abs(dec - ref_dec) << " (max |decision| " << max_abs(ref_dec)
                                << "), rank " << m.scalings().cols());

      const Eigen::MatrixXd proba = m.predict_proba(ds.T);
      BOOST_TEST(max_abs(proba - read_csv(sub / "proba.csv")) <= 1e-9);
      BOOST_TEST(max_abs((proba.rowwise().sum().array() - 1.0).matrix()) <= 1e-12);

      const Eigen::MatrixXd ref_coef = read_csv(sub / "coef.csv");
      const Eigen::MatrixXd coef = m.coef();
      BOOST_REQUIRE_EQUAL(coef.rows(), ref_coef.rows());
      BOOST_TEST(max_abs(coef - ref_coef) <= 1e-8 * max_abs(ref_coef));
      const Eigen::MatrixXd ref_icpt = read_csv(sub / "intercept.csv");
      BOOST_TEST(max_abs(Eigen::MatrixXd(m.intercept()) - ref_icpt) <= 1e-8 * (1.0 + max_abs(ref_icpt)));
      BOOST_TEST(m.scalings().cols() == static_cast<Eigen::Index>(read_csv(sub / "rank.csv")(0)));

      const double f1 = dsae::eval::f1_macro(ds.yt, pred);
      BOOST_TEST(std::abs(f1 - read_csv(sub / "f1.csv")(0)) <= 1e-12);
    }
  }
}

BOOST_AUTO_TEST_CASE(two_point_classes_closed_form) {
  // Classes at -1 and +1 on one axis with equal priors: boundary at 0 and, with
  // pooled variance s^2, the score is 2x/s^2 (log-likelihood ratio of class 1).
  Eigen::MatrixXd X(6, 1);
  X << -1.5, -1.0, -0.5, 0.5, 1.0, 1.5;
  const std::vector<int> y{0, 0, 0, 1, 1, 1};
  lda m;
  m.fit(X, y);
  const double s2 = (0.5 + 0.5) / (6 - 2);  // pooled within-class variance over N - C
  Eigen::MatrixXd q(3, 1);
  q << -0.2, 0.3, 2.0;
  const Eigen::MatrixXd d = m.decision_function(q);
  for (Eigen::Index i = 0; i < 3; ++i) BOOST_TEST(std::abs(d(i, 0) - 2.0 * q(i, 0) / s2) < 1e-12);
  BOOST_TEST((m.predict(q) == std::vector<int>{0, 1, 1}));
  BOOST_TEST(m.priors()(0) == 0.5);
}

BOOST_AUTO_TEST_CASE(unequal_priors_shift_the_boundary) {
  // Same geometry with priors 1/4 and 3/4: the boundary moves to s^2 log(1/3) / 2 < 0.
  Eigen::MatrixXd X(8, 1);
  X << -1.5, -0.5, 0.5, 0.75, 1.25, 1.5, 0.5, 1.5;
  const std::vector<int> y{0, 0, 1, 1, 1, 1, 1, 1};
  lda m;
  m.fit(X, y);
  const double mu0 = -1.0, mu1 = (0.5 + 0.75 + 1.25 + 1.5 + 0.5 + 1.5) / 6.0;
  double ss = 0.5;  // class 0: two points at distance 0.5 from -1
  for (double v : {0.5, 0.75, 1.25, 1.5, 0.5, 1.5}) ss += (v - mu1) * (v - mu1);
  const double s2 = ss / (8 - 2);
  const double boundary = 0.5 * (mu0 + mu1) + s2 * std::log(0.25 / 0.75) / (mu1 - mu0);
  Eigen::MatrixXd q(2, 1);
  q << boundary - 1e-6, boundary + 1e-6;
  BOOST_TEST((m.predict(q) == std::vector<int>{0, 1}));
  Eigen::MatrixXd b(1, 1);
  b << boundary;
  BOOST_TEST(std::abs(m.decision_function(b)(0, 0)) < 1e-9);
}

BOOST_AUTO_TEST_CASE(separable_three_classes_are_recovered) {
  normal_rng g(5);
  Eigen::MatrixXd X(90, 2);
  std::vector<int> y;
  const double cx[3] = {0, 10, 0}, cy[3] = {0, 0, 10};
  for (int i = 0; i < 90; ++i) {
    const int k = i % 3;
    X(i, 0) = cx[k] + g.normal();
    X(i, 1) = cy[k] + g.normal();
    y.push_back(k + 5);
  }
  lda m;
  m.fit(X, y);
  BOOST_TEST((m.classes() == std::vector<int>{5, 6, 7}));
  BOOST_TEST(dsae::eval::accuracy(y, m.predict(X)) == 1.0);
  BOOST_TEST(m.explained_variance_ratio().size() == 2);
  BOOST_TEST(std::abs(m.explained_variance_ratio().sum() - 1.0) < 1e-12);
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected_with_a_message) {
  Eigen::MatrixXd X = Eigen::MatrixXd::Random(5, 2);
  lda m;
  auto message_has = [](const std::string& needle) {
    return [needle](const std::invalid_argument& e) {
      return std::string(e.what()).find(needle) != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(m.fit(X, std::vector<int>{1, 1, 1, 1, 1}), std::invalid_argument,
                        message_has("at least 2 classes"));
  BOOST_CHECK_EXCEPTION(m.fit(X, std::vector<int>{0, 1, 0}), std::invalid_argument,
                        message_has("[5 x 2]"));
  Eigen::MatrixXd Xn = X;
  Xn(3, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(m.fit(Xn, std::vector<int>{0, 1, 0, 1, 0}), std::invalid_argument,
                        message_has("non-finite"));
  BOOST_CHECK_EXCEPTION(m.predict(X), std::invalid_argument, message_has("not fitted"));
  m.fit(X, std::vector<int>{0, 1, 0, 1, 0});
  BOOST_CHECK_EXCEPTION(m.predict(Eigen::MatrixXd::Zero(3, 4)), std::invalid_argument,
                        message_has("expected 2 columns"));
  BOOST_CHECK_EXCEPTION(m.fit(Eigen::MatrixXd::Ones(4, 2), std::vector<int>{0, 1, 0, 1}),
                        std::invalid_argument, message_has("no within-class variance"));
  BOOST_CHECK_EXCEPTION(m.fit(Eigen::MatrixXd::Random(2, 2), std::vector<int>{0, 1}),
                        std::invalid_argument, message_has("more than the number of classes"));
}

BOOST_AUTO_TEST_SUITE_END()
