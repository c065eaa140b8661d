// Counter-based noise: reproducible for any thread count, standard normal.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <dsae/backend/cpu.hpp>
#include <dsae/prob/philox.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace dsae;

BOOST_AUTO_TEST_SUITE(philox)

BOOST_AUTO_TEST_CASE(same_samples_for_one_and_two_threads) {
  using Bd = cpu<double>;
  Bd::tensor a(1000, 1000), b(1000, 1000);
  const prob::noise_key key{831, 3, 17};
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
  Bd::normal(a, key);
#if defined(_OPENMP)
  omp_set_num_threads(2);
#endif
  Bd::normal(b, key);
  BOOST_TEST((a - b).norm() == 0.0);
  // Element i is a pure function of (key, i): a sub-block drawn alone agrees.
  BOOST_TEST(a(3, 7) == prob::philox_normal(key, 3 * 1000 + 7));
  // Float and double backends see the same noise (drawn in float).
  cpu<float>::tensor f(10, 10);
  cpu<float>::normal(f, key);
  BOOST_TEST(double(f(4, 5)) == double(float(a(0, 45))));
}

BOOST_AUTO_TEST_CASE(different_keys_give_different_streams) {
  const prob::noise_key k1{1, 0, 0}, k2{1, 1, 0}, k3{1, 0, 1}, k4{2, 0, 0};
  BOOST_TEST(prob::philox_normal(k1, 5) != prob::philox_normal(k2, 5));
  BOOST_TEST(prob::philox_normal(k1, 5) != prob::philox_normal(k3, 5));
  BOOST_TEST(prob::philox_normal(k1, 5) != prob::philox_normal(k4, 5));
}

BOOST_AUTO_TEST_CASE(mean_variance_and_tails_on_a_million_samples) {
  const index_t n = 1000000;
  const prob::noise_key key{277, 1, 2};
  double s = 0, s2 = 0, s4 = 0;
  index_t beyond2 = 0;
  for (index_t i = 0; i < n; ++i) {
    const double x = prob::philox_normal(key, std::uint64_t(i));
    s += x;
    s2 += x * x;
    s4 += x * x * x * x;
    beyond2 += std::abs(x) > 2.0;
  }
  const double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n / (var * var);
  // 5-sigma bounds for n = 1e6: sd(mean) = 1e-3, sd(var) ~ 1.4e-3, sd(kurt) ~ 5e-3.
  BOOST_TEST(std::abs(mean) < 5e-3);
  BOOST_TEST(std::abs(var - 1.0) < 7e-3);
  BOOST_TEST(std::abs(kurt - 3.0) < 0.05);
  BOOST_TEST(std::abs(double(beyond2) / n - 0.0455003) < 1.1e-3);  // P(|x| > 2)
}

BOOST_AUTO_TEST_CASE(uniform_for_initialisation) {
  const prob::noise_key key{5, 0, 0};
  double s = 0, lo = 1, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = prob::philox_uniform(key, std::uint64_t(i));
    s += u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  BOOST_TEST(std::abs(s / 100000 - 0.5) < 5e-3);
  BOOST_TEST(lo >= 0.0);
  BOOST_TEST(hi < 1.0);
}

BOOST_AUTO_TEST_SUITE_END()
