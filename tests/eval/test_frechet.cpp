// Frechet distance: closed forms and parity with numpy.cov + scipy.linalg.sqrtm.
#include <boost/test/unit_test.hpp>

#include "dsae/eval/frechet.hpp"

#include <Eigen/Dense>
#include "peer.hpp"

#include <cmath>
#include <string>
#include <vector>

using namespace dsae_test;
namespace ev = dsae::eval;

BOOST_AUTO_TEST_SUITE(frechet_suite)

BOOST_AUTO_TEST_CASE(identical_sets_are_at_distance_zero) {
  normal_rng g(1);
  const Eigen::MatrixXd X = g.normal(200, 12) * g.normal(12, 12);
  const double tr = ev::fit_gaussian(X).cov.trace();
  BOOST_TEST(std::abs(ev::frechet_distance(X, X)) <= 1e-12 * tr);
  // Fewer samples than dimensions: singular covariance, still ~0.
  const Eigen::MatrixXd Y = g.normal(6, 20);
  BOOST_TEST(std::abs(ev::frechet_distance(Y, Y)) <= 1e-12 * ev::fit_gaussian(Y).cov.trace());
}

BOOST_AUTO_TEST_CASE(closed_forms) {
  // Diagonal covariances: sum_k (sqrt(a_k) - sqrt(b_k))^2 + ||mu1 - mu2||^2.
  Eigen::VectorXd a(4), b(4), m1(4), m2(4);
  a << 1.0, 4.0, 0.25, 9.0;
  b << 4.0, 4.0, 1.0, 0.0;
  m1 << 0.0, 1.0, 2.0, 3.0;
  m2 << 1.0, 1.0, 0.0, 3.0;
  double expect = (m1 - m2).squaredNorm();
  for (int k = 0; k < 4; ++k) expect += std::pow(std::sqrt(a(k)) - std::sqrt(b(k)), 2);
  const Eigen::MatrixXd A = a.asDiagonal(), B = b.asDiagonal();
  BOOST_TEST(std::abs(ev::frechet_distance(m1, A, m2, B) - expect) <= 1e-12);
  // Rotating both covariances by one orthogonal matrix changes nothing. B has a zero
  // variance: the rounding of q B q^T (~1e-16) moves the exact distance by ~1e-8, since
  // tr sqrt is not Lipschitz at a singular covariance; a full-rank B2 is exact to 1e-12.
  normal_rng g(2);
  const Eigen::MatrixXd q = g.normal(4, 4).householderQr().householderQ();
  const Eigen::MatrixXd Ar = q * A * q.transpose(), Br = q * B * q.transpose();
  BOOST_TEST(std::abs(ev::frechet_distance(q * m1, Ar, q * m2, Br) - expect) <= 1e-6);
  Eigen::VectorXd b2 = b;
  b2(3) = 2.0;
  const double expect2 = expect - std::pow(3.0, 2) + std::pow(3.0 - std::sqrt(2.0), 2);
  const Eigen::MatrixXd B2 = b2.asDiagonal(), B2r = q * B2 * q.transpose();
  BOOST_TEST(std::abs(ev::frechet_distance(m1, A, m2, B2) - expect2) <= 1e-12);
  BOOST_TEST(std::abs(ev::frechet_distance(q * m1, Ar, q * m2, B2r) - expect2) <= 1e-12);
  // The public square root squares back, also for a PSD matrix with a zero eigenvalue.
  const Eigen::MatrixXd r = ev::sqrt_psd(Br);
  BOOST_TEST((r * r - Br).cwiseAbs().maxCoeff() <= 1e-12);
  BOOST_TEST((r - r.transpose()).cwiseAbs().maxCoeff() <= 1e-14);
  // Symmetric in its arguments.
  BOOST_TEST(std::abs(ev::frechet_distance(m2, B2r, m1, Ar) - expect2) <= 1e-12);
  // One dimension: (m1 - m2)^2 + (s1 - s2)^2 on data, with the unbiased N-1 variance.
  Eigen::MatrixXd x(4, 1), y(3, 1);
  x << 1, 2, 3, 4;  // mean 2.5, var 5/3
  y << 0, 0, 3;     // mean 1, var 3
  const double d1 = 1.5 * 1.5 + std::pow(std::sqrt(5.0 / 3.0) - std::sqrt(3.0), 2);
  BOOST_TEST(std::abs(ev::frechet_distance(x, y) - d1) <= 1e-12);
  // Translation only: the squared mean difference.
  const Eigen::MatrixXd X = g.normal(50, 5);
  const Eigen::MatrixXd Xs = X.rowwise() + Eigen::RowVectorXd::Constant(5, 2.0);
  BOOST_TEST(std::abs(ev::frechet_distance(X, Xs) - 20.0) <= 1e-10);
}

BOOST_AUTO_TEST_CASE(fit_and_errors) {
  Eigen::MatrixXd X(3, 2);
  X << 1, 2, 3, 6, 5, 1;
  const auto f = ev::fit_gaussian(X);
  BOOST_TEST(f.mean(0) == 3.0);
  BOOST_TEST(f.mean(1) == 3.0);
  BOOST_TEST(std::abs(f.cov(0, 0) - 4.0) < 1e-15);   // (4 + 0 + 4) / 2
  BOOST_TEST(std::abs(f.cov(1, 1) - 7.0) < 1e-15);   // (1 + 9 + 4) / 2
  BOOST_TEST(std::abs(f.cov(0, 1) - -1.0) < 1e-15);  // (2 + 0 - 4) / 2
  BOOST_CHECK_THROW(ev::fit_gaussian(Eigen::MatrixXd::Zero(1, 3)), std::invalid_argument);
  BOOST_CHECK_THROW(ev::frechet_distance(Eigen::MatrixXd::Zero(4, 3), Eigen::MatrixXd::Zero(4, 2)),
                    std::invalid_argument);
  Eigen::MatrixXd bad = Eigen::MatrixXd::Zero(4, 2);
  bad(1, 1) = std::nan("");
  BOOST_CHECK_THROW(ev::fit_gaussian(bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(matches_scipy_sqrtm_formula,
                     *boost::unit_test::precondition(peer_available{"scipy.linalg, mpmath"})) {
  // rel_tol bounds |mine - scipy|; mine must match the 50-digit mpmath value to 1e-13
  // relative (of the traces) in every case, including those where scipy's sqrtm of the
  // non-symmetric S1 S2 loses digits.
  struct fcase {
    std::string name;
    Eigen::MatrixXd X1, X2;
    double rel_tol;
  };
  normal_rng g(3);
  std::vector<fcase> cases;
  cases.push_back({"a_isotropic", g.normal(300, 8), g.normal(250, 8) * 1.3, 1e-9});
  {
    const Eigen::MatrixXd L1 = g.normal(16, 16), L2 = g.normal(16, 16) * 0.7;
    Eigen::MatrixXd X2 = g.normal(400, 16) * L2;
    X2.rowwise() += Eigen::RowVectorXd::Constant(16, 0.3);
    cases.push_back({"b_correlated", g.normal(500, 16) * L1, X2, 1e-9});
  }
  {
    // Reconstruction-like: X2 = X1 + small noise (distance small relative to the traces).
    const Eigen::MatrixXd X1 = g.normal(300, 10) * g.normal(10, 10);
    cases.push_back({"c_close", X1, X1 + 0.05 * g.normal(300, 10), 1e-6});
  }
  // Badly conditioned: a near-degenerate direction.
  {
    Eigen::MatrixXd X1 = g.normal(200, 6), X2 = g.normal(220, 6);
    X1.col(5) = X1.col(0) + 1e-4 * X1.col(5);
    X2.col(5) = X2.col(0) + 1e-4 * X2.col(5);
    cases.push_back({"d_ill_conditioned", X1, X2, 1e-7});
  }
  // Fewer samples than dimensions: both covariances singular.
  cases.push_back({"e_singular", g.normal(7, 12), g.normal(9, 12) + Eigen::MatrixXd::Constant(9, 12, 0.1), 1e-5});
  scratch_dir dir("frechet");
  for (const auto& c : cases) {
    const auto sub = dir / c.name;
    std::filesystem::create_directories(sub);
    write_csv(sub / "X1.csv", c.X1);
    write_csv(sub / "X2.csv", c.X2);
  }
  run_peer("frechet", dir.path());
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      const auto sub = dir / c.name;
      const double ref = read_csv(sub / "fd.csv")(0);
      const double mine = ev::frechet_distance(c.X1, c.X2);
      const double exact = read_csv(sub / "fd_mp.csv")(0);
      const double scale = ev::fit_gaussian(c.X1).cov.trace() + ev::fit_gaussian(c.X2).cov.trace();
      BOOST_TEST_MESSAGE("frechet " << c.name << ": dsae " << mine << ", |dsae - mpmath| / (trS1 + trS2) "
                                    << std::abs(mine - exact) / scale << ", |scipy - mpmath| / (trS1 + trS2) "
                                    << std::abs(ref - exact) / scale);
      BOOST_TEST(std::abs(mine - exact) <= 1e-13 * scale, "mine " << mine << " mpmath " << exact);
      BOOST_TEST(std::abs(mine - ref) <= c.rel_tol * std::abs(ref), "mine " << mine << " scipy " << ref);
      // The covariance interface (eigendecomposition route) agrees on full-rank cases.
      if (c.X1.rows() > c.X1.cols() && c.X2.rows() > c.X2.cols())
        BOOST_TEST(std::abs(ev::frechet_distance(ev::fit_gaussian(c.X1), ev::fit_gaussian(c.X2)) - mine) <=
                   1e-9 * scale);
      const Eigen::MatrixXd cov = ev::fit_gaussian(c.X1).cov;
      BOOST_TEST((cov - read_csv(sub / "cov1.csv")).cwiseAbs().maxCoeff() <= 1e-12 * cov.cwiseAbs().maxCoeff());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
