#pragma once
// Input checks shared by the eval headers. Self-contained (Eigen + std) so the
// metrics can be used without the rest of the library.
#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dsae::eval::detail {

// requires: nothing. ensures: throws std::invalid_argument with the parts concatenated.
template <class... A>
[[noreturn]] inline void fail(const A&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw std::invalid_argument(os.str());
}

// "[rows x cols]" for messages.
inline std::string shape_str(Eigen::Index rows, Eigen::Index cols) {
  std::ostringstream os;  // not "[" + std::to_string(..): GCC 12 warns falsely (-Wrestrict)
  os << '[' << rows << " x " << cols << ']';
  return os.str();
}

// requires: nothing. ensures: throws std::invalid_argument naming `where`/`what` and the
// first non-finite entry (row, col) if m holds NaN or +-inf.
template <class Derived>
inline void check_finite(const char* where, const char* what, const Eigen::DenseBase<Derived>& m) {
  for (Eigen::Index c = 0; c < m.cols(); ++c)
    for (Eigen::Index r = 0; r < m.rows(); ++r)
      if (!std::isfinite(static_cast<double>(m(r, c))))
        fail(where, ": ", what, " of shape ", shape_str(m.rows(), m.cols()),
             " has a non-finite value (", m(r, c), ") at row ", r, ", column ", c);
}

}  // namespace dsae::eval::detail
