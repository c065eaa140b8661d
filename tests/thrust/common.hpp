#pragma once
// Shared helpers of the Thrust backend's parity tests: the same random inputs
// on cpu<T> (the reference) and thrust_backend<T>, and the comparison rule.
//
// Comparison: every element must satisfy |got - want| <= tol * (|want| + S),
// S = max |want| over the tensor, i.e. relative to the element and to the
// tensor's scale (an element that cancels to ~0 is judged against the scale).
// tol = 1e-5 for float, 1e-12 for double. A reference that is all zeros fails
// (a vacuous comparison proves nothing).
#include <boost/test/unit_test.hpp>
#include <dsae/backend/cpu.hpp>
#include <dsae/backend/thrust.hpp>
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace dsae::thrust_test {

template <class T>
using C = cpu<T>;
template <class T>
using G = thrust_backend<T>;

template <class T>
constexpr double tol() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

template <class T>
std::vector<T> random_host(index_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = T(u(g));
  return v;
}

// The same (rows x cols) values on both backends.
template <class T>
struct both {
  typename C<T>::tensor c;
  typename G<T>::tensor g;
  both() = default;
  both(const std::vector<T>& v, index_t r, index_t cc) : c(C<T>::from_host(v, r, cc)), g(G<T>::from_host(v, r, cc)) {}
};
template <class T>
both<T> make(index_t r, index_t c, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return both<T>(random_host<T>(r * c, seed, lo, hi), r, c);
}
// A (rows x 1) 0/1 mask column with the given zero rows.
template <class T>
both<T> mask(index_t r, const std::vector<index_t>& zeros) {
  std::vector<T> v(size_t(r), T(1));
  for (index_t z : zeros) v[size_t(z)] = T(0);
  return both<T>(v, r, 1);
}

// Worst |got - want| / (|want| + max|want|) over all elements.
template <class T>
double worst_error(const std::vector<T>& got, const std::vector<T>& want) {
  double scale = 0, worst = 0;
  for (T w : want) scale = std::max(scale, std::abs(double(w)));
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::abs(double(got[i]) - double(want[i])) / (std::abs(double(want[i])) + scale);
    if (!(e <= worst)) worst = e;  // NaN propagates as a failure
  }
  return worst;
}

template <class T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, const std::string& what,
                  double tolerance = tol<T>()) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), what << ": sizes " << got.size() << " vs " << want.size());
  double scale = 0;
  for (T w : want) scale = std::max(scale, std::abs(double(w)));
  BOOST_TEST(scale > 0, what << ": reference is all zeros");
  const double e = worst_error(got, want);
  BOOST_TEST(e <= tolerance, what << ": worst relative error " << e << " > " << tolerance);
}
template <class T>
void expect_close(typename G<T>::cref got, typename C<T>::cref want, const std::string& what,
                  double tolerance = tol<T>()) {
  BOOST_TEST_REQUIRE((G<T>::shape(got) == C<T>::shape(want)),
                     what << ": shapes " << to_string(G<T>::shape(got)) << " vs " << to_string(C<T>::shape(want)));
  expect_close<T>(G<T>::to_host(got), C<T>::to_host(want), what, tolerance);
}
template <class T>
void expect_close(const both<T>& x, const std::string& what, double tolerance = tol<T>()) {
  expect_close<T>(x.g, x.c, what, tolerance);
}
template <class T>
void expect_scalar(T got, T want, const std::string& what, double tolerance = tol<T>()) {
  const double e = std::abs(double(got) - double(want)) / std::max(std::abs(double(want)), 1e-300);
  BOOST_TEST(e <= tolerance, what << ": " << got << " vs " << want << " (relative " << e << ")");
}

}  // namespace dsae::thrust_test
