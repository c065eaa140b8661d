#pragma once
// Linear discriminant analysis that reproduces scikit-learn's
// LinearDiscriminantAnalysis() with its defaults (solver='svd', priors estimated
// from class frequencies, tol=1e-4, no shrinkage), including its rank handling:
//  1. centre each sample on its class mean, scale each feature by the std-dev
//     (ddof 0) of the centred data (a zero std-dev counts as 1), multiply by
//     sqrt(1/(N-C)) and take the SVD; keep directions whose singular value is
//     > tol (absolute): `scalings` = V / std / S.
//  2. project the prior-weighted class centres sqrt(N*prior*1/(C-1)) * (mean - xbar)
//     and take a second SVD; keep directions whose singular value is > tol * S_max.
//  3. coef = (mean - xbar) W, intercept = -|coef|^2/2 + log prior, then back to the
//     input space; two classes collapse to one column (class 1 minus class 0).
// predict() is then argmax of the decision function (two classes: score > 0 picks
// the larger label, as sklearn's LinearClassifierMixin does).
#include "dsae/eval/detail/check.hpp"

#include <Eigen/Core>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <span>
#include <stdexcept>
#include <vector>

namespace dsae::eval {

class lda {
 public:
  // requires: tol >= 0 (sklearn's default 1e-4).
  explicit lda(double tol = 1e-4) : m_tol(tol) {
    if (!(tol >= 0.0)) detail::fail("dsae::eval::lda (lda.hpp): tol must be >= 0, got ", tol);
  }

  // requires: X is N x D with finite entries, labels.size() == N, at least two distinct
  //   labels, N > number of classes, some within-class variance.
  // ensures: the model holds sklearn's classes_, priors_, means_, xbar_, scalings_,
  //   coef_, intercept_ and explained_variance_ratio_ for (X, labels); returns *this.
  lda& fit(const Eigen::Ref<const Eigen::MatrixXd>& X, std::span<const int> labels) {
    const char* where = "dsae::eval::lda::fit (lda.hpp)";
    const Eigen::Index n = X.rows(), d = X.cols();
    if (static_cast<std::size_t>(n) != labels.size())
      detail::fail(where, ": X has shape ", detail::shape_str(n, d), " but ", labels.size(),
                   " labels were given; expected one label per row");
    if (n < 2) detail::fail(where, ": need at least 2 samples, got ", n);
    if (d < 1) detail::fail(where, ": X has shape ", detail::shape_str(n, d), ", need >= 1 feature");
    detail::check_finite(where, "X", X);

    m_classes.assign(labels.begin(), labels.end());
    std::sort(m_classes.begin(), m_classes.end());
    m_classes.erase(std::unique(m_classes.begin(), m_classes.end()), m_classes.end());
    const Eigen::Index c = static_cast<Eigen::Index>(m_classes.size());
    if (c < 2)
      detail::fail(where, ": need at least 2 classes, got ", c, " (label ", m_classes.front(),
                   " only) in ", n, " samples");
    if (n == c)
      detail::fail(where, ": the number of samples (", n,
                   ") must be more than the number of classes (", c, ")");

    std::vector<Eigen::Index> cls(static_cast<std::size_t>(n));
    Eigen::VectorXd count = Eigen::VectorXd::Zero(c);
    m_means = Eigen::MatrixXd::Zero(c, d);
    for (Eigen::Index i = 0; i < n; ++i) {
      const auto k = class_index(labels[static_cast<std::size_t>(i)]);
      cls[static_cast<std::size_t>(i)] = k;
      count(k) += 1.0;
      m_means.row(k) += X.row(i);  // accumulated in sample order, as np.add.at
    }
    for (Eigen::Index k = 0; k < c; ++k) m_means.row(k) /= count(k);
    m_priors = count / static_cast<double>(n);
    m_xbar = m_priors.transpose() * m_means;  // 1 x D

    // Within-class centred data, concatenated class by class (sklearn's order).
    Eigen::MatrixXd xc(n, d);
    {
      Eigen::Index r = 0;
      for (Eigen::Index k = 0; k < c; ++k)
        for (Eigen::Index i = 0; i < n; ++i)
          if (cls[static_cast<std::size_t>(i)] == k) xc.row(r++) = X.row(i) - m_means.row(k);
    }
    Eigen::RowVectorXd stdev(d);
    for (Eigen::Index j = 0; j < d; ++j) {
      const double mu = xc.col(j).mean();
      const double var = (xc.col(j).array() - mu).square().mean();
      const double s = std::sqrt(var);
      stdev(j) = (s == 0.0) ? 1.0 : s;
    }
    const double fac_w = 1.0 / static_cast<double>(n - c);
    Eigen::MatrixXd xs = std::sqrt(fac_w) * (xc.array().rowwise() / stdev.array()).matrix();

    Eigen::JacobiSVD<Eigen::MatrixXd> svd_w(xs, Eigen::ComputeThinV);
    const Eigen::VectorXd& s_w = svd_w.singularValues();
    Eigen::Index rank_w = 0;
    for (Eigen::Index k = 0; k < s_w.size(); ++k)
      if (s_w(k) > m_tol) ++rank_w;
    if (rank_w == 0)
      detail::fail(where, ": X of shape ", detail::shape_str(n, d),
                   " has no within-class variance above tol=", m_tol,
                   " (every feature is constant within each class)");
    // scalings(:, k) = V(:, k) / std / S(k)   (D x rank_w)
    Eigen::MatrixXd scalings = svd_w.matrixV().leftCols(rank_w);
    scalings.array().colwise() /= stdev.transpose().array();
    scalings.array().rowwise() /= s_w.head(rank_w).transpose().array();

    const double fac_b = 1.0 / static_cast<double>(c - 1);
    Eigen::MatrixXd centres = m_means.rowwise() - m_xbar;  // C x D
    Eigen::MatrixXd xb(c, d);
    for (Eigen::Index k = 0; k < c; ++k)
      xb.row(k) = std::sqrt(static_cast<double>(n) * m_priors(k) * fac_b) * centres.row(k);
    Eigen::MatrixXd xb_s = xb * scalings;  // C x rank_w
    Eigen::JacobiSVD<Eigen::MatrixXd> svd_b(xb_s, Eigen::ComputeThinV);
    const Eigen::VectorXd& s_b = svd_b.singularValues();

    const Eigen::Index max_components = std::min<Eigen::Index>(c - 1, d);
    const double ss = s_b.squaredNorm();
    m_explained = Eigen::VectorXd::Zero(std::min<Eigen::Index>(max_components, s_b.size()));
    for (Eigen::Index k = 0; k < m_explained.size(); ++k)
      m_explained(k) = s_b(k) * s_b(k) / ss;  // NaN when all centres coincide, as sklearn

    Eigen::Index rank_b = 0;
    for (Eigen::Index k = 0; k < s_b.size(); ++k)
      if (s_b(k) > m_tol * s_b(0)) ++rank_b;
    m_scalings = scalings * svd_b.matrixV().leftCols(rank_b);  // D x rank_b

    Eigen::MatrixXd coef = centres * m_scalings;  // C x rank_b
    Eigen::VectorXd intercept = -0.5 * coef.rowwise().squaredNorm();
    intercept.array() += m_priors.array().log();
    Eigen::MatrixXd coef_full = coef * m_scalings.transpose();  // C x D
    intercept -= coef_full * m_xbar.transpose();

    if (c == 2) {
      m_coef = coef_full.row(1) - coef_full.row(0);
      m_intercept = Eigen::VectorXd::Constant(1, intercept(1) - intercept(0));
    } else {
      m_coef = coef_full;
      m_intercept = intercept;
    }
    m_n_features = d;
    return *this;
  }

  // requires: fitted; X is M x D (D as in fit) and finite.
  // ensures: M x 1 log-likelihood ratio of classes()[1] vs classes()[0] for two classes,
  //   M x C scores otherwise (sklearn's decision_function, as a column for C == 2).
  Eigen::MatrixXd decision_function(const Eigen::Ref<const Eigen::MatrixXd>& X) const {
    check_input("dsae::eval::lda::decision_function (lda.hpp)", X);
    Eigen::MatrixXd s = X * m_coef.transpose();
    s.rowwise() += m_intercept.transpose();
    return s;
  }

  // requires: as decision_function. ensures: M predicted labels, each one of classes().
  std::vector<int> predict(const Eigen::Ref<const Eigen::MatrixXd>& X) const {
    const Eigen::MatrixXd s = decision_function(X);
    std::vector<int> out(static_cast<std::size_t>(X.rows()));
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
      Eigen::Index best = 0;
      if (s.cols() == 1) {
        best = s(i, 0) > 0.0 ? 1 : 0;
      } else {
        for (Eigen::Index k = 1; k < s.cols(); ++k)
          if (s(i, k) > s(i, best)) best = k;  // first maximum wins, as numpy argmax
      }
      out[static_cast<std::size_t>(i)] = m_classes[static_cast<std::size_t>(best)];
    }
    return out;
  }

  // requires: as decision_function. ensures: M x C posterior probabilities, rows sum to 1
  //   (logistic of the score for two classes, softmax otherwise, as sklearn).
  Eigen::MatrixXd predict_proba(const Eigen::Ref<const Eigen::MatrixXd>& X) const {
    const Eigen::MatrixXd s = decision_function(X);
    const Eigen::Index c = static_cast<Eigen::Index>(m_classes.size());
    Eigen::MatrixXd p(s.rows(), c);
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
      if (c == 2) {
        const double p1 = 1.0 / (1.0 + std::exp(-s(i, 0)));
        p(i, 0) = 1.0 - p1;
        p(i, 1) = p1;
      } else {
        const double mx = s.row(i).maxCoeff();
        p.row(i) = (s.row(i).array() - mx).exp().matrix();
        p.row(i) /= p.row(i).sum();
      }
    }
    return p;
  }

  bool fitted() const { return m_n_features > 0; }
  // Sorted distinct training labels (sklearn's classes_).
  const std::vector<int>& classes() const { return m_classes; }
  const Eigen::VectorXd& priors() const { return m_priors; }                 // C
  const Eigen::MatrixXd& means() const { return m_means; }                   // C x D
  const Eigen::RowVectorXd& xbar() const { return m_xbar; }                  // 1 x D
  const Eigen::MatrixXd& scalings() const { return m_scalings; }             // D x rank
  const Eigen::MatrixXd& coef() const { return m_coef; }                     // 1 x D or C x D
  const Eigen::VectorXd& intercept() const { return m_intercept; }           // 1 or C
  const Eigen::VectorXd& explained_variance_ratio() const { return m_explained; }
  Eigen::Index n_features() const { return m_n_features; }
  double tol() const { return m_tol; }

 private:
  Eigen::Index class_index(int label) const {
    const auto it = std::lower_bound(m_classes.begin(), m_classes.end(), label);
    return static_cast<Eigen::Index>(it - m_classes.begin());
  }

  void check_input(const char* where, const Eigen::Ref<const Eigen::MatrixXd>& X) const {
    if (!fitted()) detail::fail(where, ": the model is not fitted; call fit() first");
    if (X.cols() != m_n_features)
      detail::fail(where, ": X has shape ", detail::shape_str(X.rows(), X.cols()), ", expected ",
                   m_n_features, " columns as in fit()");
    detail::check_finite(where, "X", X);
  }

  double m_tol;
  std::vector<int> m_classes;
  Eigen::VectorXd m_priors;
  Eigen::MatrixXd m_means;
  Eigen::RowVectorXd m_xbar;
  Eigen::MatrixXd m_scalings;
  Eigen::MatrixXd m_coef;
  Eigen::VectorXd m_intercept;
  Eigen::VectorXd m_explained;
  Eigen::Index m_n_features = 0;
};

}  // namespace dsae::eval
