#pragma once
// Frechet distance between Gaussian fits of two embedding sets (FAD / FID form):
//   d = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).
// No square root of the non-symmetric S1 S2 is formed. With any factors S = C^T C,
//   tr((S1 S2)^(1/2)) = sum of the singular values of C1 C2^T
// (S1 S2 is similar to (C1 C2^T)(C1 C2^T)^T). From data, C is the thin QR factor R of
// the centred data / sqrt(N - 1), so no eigenvalue is ever square-rooted; from given
// covariances, C = diag(sqrt(max(lambda, 0))) U^T from a symmetric eigendecomposition.
// Taking singular values of C1 C2^T instead of square roots of the eigenvalues of
// S1^(1/2) S2 S1^(1/2) avoids squaring the condition number, so ill-conditioned and
// rank-deficient (N < D) covariances keep their accuracy and the result stays real,
// where scipy.linalg.sqrtm(S1 @ S2) loses digits or turns complex.
#include "dsae/eval/detail/check.hpp"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>

namespace dsae::eval {

struct gaussian_fit {
  Eigen::VectorXd mean;  // D
  Eigen::MatrixXd cov;   // D x D, unbiased (N - 1), as numpy.cov(X, rowvar=False)
};

// requires: X is N x D, N >= 2, finite. ensures: sample mean and unbiased covariance.
inline gaussian_fit fit_gaussian(const Eigen::Ref<const Eigen::MatrixXd>& X) {
  const char* where = "dsae::eval::fit_gaussian (frechet.hpp)";
  if (X.rows() < 2 || X.cols() < 1)
    detail::fail(where, ": X has shape ", detail::shape_str(X.rows(), X.cols()),
                 ", need >= 2 samples (rows) and >= 1 dimension");
  detail::check_finite(where, "X", X);
  gaussian_fit g;
  g.mean = X.colwise().mean().transpose();
  const Eigen::MatrixXd xc = X.rowwise() - g.mean.transpose();
  g.cov = (xc.transpose() * xc) / static_cast<double>(X.rows() - 1);
  return g;
}

namespace detail {
// requires: S symmetric PSD (D x D). ensures: C (D x D) with C^T C = S up to rounding
//   (negative rounding eigenvalues clipped to 0).
inline Eigen::MatrixXd psd_factor(const Eigen::Ref<const Eigen::MatrixXd>& S, const char* where) {
  const Eigen::MatrixXd sym = 0.5 * (S + S.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sym);
  if (es.info() != Eigen::Success)
    fail(where, ": eigendecomposition of a ", shape_str(S.rows(), S.cols()),
         " covariance did not converge");
  const Eigen::VectorXd r = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return r.asDiagonal() * es.eigenvectors().transpose();
}

// requires: C1 (k1 x D), C2 (k2 x D). ensures: sum of singular values of C1 C2^T.
inline double nuclear_norm_of_product(const Eigen::Ref<const Eigen::MatrixXd>& C1,
                                      const Eigen::Ref<const Eigen::MatrixXd>& C2) {
  const Eigen::MatrixXd m = C1 * C2.transpose();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(m);  // singular values only, high relative accuracy
  return svd.singularValues().sum();
}
}  // namespace detail

// requires: S symmetric positive semi-definite (D x D).
// ensures: the symmetric PSD square root of S (negative rounding eigenvalues -> 0).
inline Eigen::MatrixXd sqrt_psd(const Eigen::Ref<const Eigen::MatrixXd>& S) {
  const Eigen::MatrixXd sym = 0.5 * (S + S.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sym);
  if (es.info() != Eigen::Success)
    detail::fail("dsae::eval::sqrt_psd (frechet.hpp): eigendecomposition of a ",
                 detail::shape_str(S.rows(), S.cols()), " matrix did not converge");
  const Eigen::VectorXd r = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * r.asDiagonal() * es.eigenvectors().transpose();
}

// requires: S1, S2 symmetric PSD D x D. ensures: tr((S1 S2)^(1/2)) (see the top of this file).
inline double trace_sqrt_product(const Eigen::Ref<const Eigen::MatrixXd>& S1,
                                 const Eigen::Ref<const Eigen::MatrixXd>& S2) {
  const char* where = "dsae::eval::trace_sqrt_product (frechet.hpp)";
  return detail::nuclear_norm_of_product(detail::psd_factor(S1, where), detail::psd_factor(S2, where));
}

// requires: mu1, mu2 of length D; S1, S2 D x D symmetric PSD; all finite.
// ensures: the Frechet distance of N(mu1, S1) and N(mu2, S2) (not clipped: rounding can
//   leave a value of order 1e-15 * tr(S) below 0 for identical inputs).
inline double frechet_distance(const Eigen::Ref<const Eigen::VectorXd>& mu1,
                               const Eigen::Ref<const Eigen::MatrixXd>& S1,
                               const Eigen::Ref<const Eigen::VectorXd>& mu2,
                               const Eigen::Ref<const Eigen::MatrixXd>& S2) {
  const char* where = "dsae::eval::frechet_distance (frechet.hpp)";
  const Eigen::Index d = mu1.size();
  if (d < 1 || mu2.size() != d || S1.rows() != d || S1.cols() != d || S2.rows() != d ||
      S2.cols() != d)
    detail::fail(where, ": shapes disagree: mu1 ", mu1.size(), ", S1 ",
                 detail::shape_str(S1.rows(), S1.cols()), ", mu2 ", mu2.size(), ", S2 ",
                 detail::shape_str(S2.rows(), S2.cols()));
  detail::check_finite(where, "mu1", mu1);
  detail::check_finite(where, "mu2", mu2);
  detail::check_finite(where, "S1", S1);
  detail::check_finite(where, "S2", S2);
  return (mu1 - mu2).squaredNorm() + S1.trace() + S2.trace() - 2.0 * trace_sqrt_product(S1, S2);
}

// requires: as fit_gaussian for both sets; same number of columns.
// ensures: frechet_distance of the two Gaussian fits.
inline double frechet_distance(const gaussian_fit& a, const gaussian_fit& b) {
  return frechet_distance(a.mean, a.cov, b.mean, b.cov);
}

// requires: X1 (N1 x D), X2 (N2 x D), N1, N2 >= 2, finite.
// ensures: Frechet distance between the Gaussian fits (mean, unbiased covariance) of the
//   rows of X1 and X2, computed from QR factors (see the top of this file).
inline double frechet_distance(const Eigen::Ref<const Eigen::MatrixXd>& X1,
                               const Eigen::Ref<const Eigen::MatrixXd>& X2) {
  if (X1.cols() != X2.cols())
    detail::fail("dsae::eval::frechet_distance (frechet.hpp): embedding sets have shapes ",
                 detail::shape_str(X1.rows(), X1.cols()), " and ",
                 detail::shape_str(X2.rows(), X2.cols()), "; the dimension must agree");
  const char* where = "dsae::eval::frechet_distance (frechet.hpp)";
  for (const auto* x : {&X1, &X2}) {
    if (x->rows() < 2 || x->cols() < 1)
      detail::fail(where, ": an embedding set has shape ", detail::shape_str(x->rows(), x->cols()),
                   ", need >= 2 samples (rows) and >= 1 dimension");
    detail::check_finite(where, "embeddings", *x);
  }
  // Upper-triangular factor R with R^T R = unbiased covariance (min(N, D) x D).
  auto factor = [](const Eigen::Ref<const Eigen::MatrixXd>& X, Eigen::VectorXd& mean) {
    mean = X.colwise().mean().transpose();
    const Eigen::MatrixXd xc =
        (X.rowwise() - mean.transpose()) / std::sqrt(static_cast<double>(X.rows() - 1));
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(xc);
    const Eigen::Index k = std::min(X.rows(), X.cols());
    Eigen::MatrixXd r = qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
    return r;
  };
  Eigen::VectorXd mu1, mu2;
  const Eigen::MatrixXd r1 = factor(X1, mu1), r2 = factor(X2, mu2);
  return (mu1 - mu2).squaredNorm() + r1.squaredNorm() + r2.squaredNorm() -
         2.0 * detail::nuclear_norm_of_product(r1, r2);
}

}  // namespace dsae::eval
