#pragma once
// Classification scores with scikit-learn's semantics:
//  - labels default to the sorted union of y_true and y_pred;
//  - confusion matrix rows = true label, columns = predicted label;
//  - per-class precision tp/(tp+fp) and recall tp/(tp+fn) are 0 when their
//    denominator is 0 (sklearn's zero_division="warn" -> 0), and
//    F1 = 2*P*R/(P+R), 0 when P+R == 0;
//  - macro F1 is the unweighted mean over the labels.
#include "dsae/eval/detail/check.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

namespace dsae::eval {

struct confusion_matrix_result {
  std::vector<int> labels;  // row/column order
  Eigen::MatrixXi counts;   // counts(t, p): samples with true labels[t] predicted labels[p]
};

namespace detail {
inline void check_pair(const char* where, std::span<const int> y_true, std::span<const int> y_pred) {
  if (y_true.size() != y_pred.size())
    fail(where, ": y_true has ", y_true.size(), " labels but y_pred has ", y_pred.size());
  if (y_true.empty()) fail(where, ": y_true and y_pred are empty");
}

inline std::vector<int> union_labels(std::span<const int> a, std::span<const int> b) {
  std::vector<int> l(a.begin(), a.end());
  l.insert(l.end(), b.begin(), b.end());
  std::sort(l.begin(), l.end());
  l.erase(std::unique(l.begin(), l.end()), l.end());
  return l;
}
}  // namespace detail

// requires: y_true.size() == y_pred.size() > 0; labels, if given, distinct (the order
//   is kept); samples whose true or predicted label is not in `labels` are ignored.
// ensures: sklearn.metrics.confusion_matrix(y_true, y_pred, labels=labels).
inline confusion_matrix_result confusion_matrix(std::span<const int> y_true,
                                                std::span<const int> y_pred,
                                                std::span<const int> labels = {}) {
  const char* where = "dsae::eval::confusion_matrix (f1.hpp)";
  detail::check_pair(where, y_true, y_pred);
  confusion_matrix_result r;
  r.labels = labels.empty() ? detail::union_labels(y_true, y_pred)
                            : std::vector<int>(labels.begin(), labels.end());
  {
    std::vector<int> s = r.labels;
    std::sort(s.begin(), s.end());
    if (std::adjacent_find(s.begin(), s.end()) != s.end())
      detail::fail(where, ": labels contain a duplicate");
  }
  const auto n = static_cast<Eigen::Index>(r.labels.size());
  r.counts = Eigen::MatrixXi::Zero(n, n);
  auto pos = [&](int v) -> Eigen::Index {
    const auto it = std::find(r.labels.begin(), r.labels.end(), v);
    return it == r.labels.end() ? -1 : static_cast<Eigen::Index>(it - r.labels.begin());
  };
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    const Eigen::Index t = pos(y_true[i]), p = pos(y_pred[i]);
    if (t >= 0 && p >= 0) ++r.counts(t, p);
  }
  return r;
}

// requires: y_true.size() == y_pred.size() > 0.
// ensures: fraction of samples with y_pred == y_true (sklearn accuracy_score).
inline double accuracy(std::span<const int> y_true, std::span<const int> y_pred) {
  detail::check_pair("dsae::eval::accuracy (f1.hpp)", y_true, y_pred);
  std::size_t ok = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) ok += (y_true[i] == y_pred[i]);
  return static_cast<double>(ok) / static_cast<double>(y_true.size());
}

// requires: y_true.size() == y_pred.size() > 0.
// ensures: per-class F1 in the order of the sorted union of labels (sklearn
//   f1_score(average=None)), with the zero-division rule above.
inline Eigen::VectorXd f1_per_class(std::span<const int> y_true, std::span<const int> y_pred) {
  const auto cm = confusion_matrix(y_true, y_pred);
  const auto n = static_cast<Eigen::Index>(cm.labels.size());
  Eigen::VectorXd f(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    const double tp = cm.counts(k, k);
    const double pred_sum = cm.counts.col(k).sum();
    const double true_sum = cm.counts.row(k).sum();
    const double precision = pred_sum == 0.0 ? 0.0 : tp / pred_sum;
    const double recall = true_sum == 0.0 ? 0.0 : tp / true_sum;
    const double denom = precision + recall;
    f(k) = denom == 0.0 ? 0.0 : 2.0 * precision * recall / denom;  // sklearn's evaluation order
  }
  return f;
}

// requires: y_true.size() == y_pred.size() > 0.
// ensures: sklearn.metrics.f1_score(y_true, y_pred, average="macro") (zero_division -> 0).
inline double f1_macro(std::span<const int> y_true, std::span<const int> y_pred) {
  const Eigen::VectorXd f = f1_per_class(y_true, y_pred);
  double s = 0.0;
  for (Eigen::Index k = 0; k < f.size(); ++k) s += f(k);
  return s / static_cast<double>(f.size());
}

}  // namespace dsae::eval
