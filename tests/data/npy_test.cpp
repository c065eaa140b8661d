// .npy loading/saving and its validation.
#include <boost/test/unit_test.hpp>

#include <dsae/data/npy.hpp>

#include <cmath>
#include <limits>

#include "common.hpp"

namespace dd = dsae::data;

namespace {
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_SUITE(npy)

BOOST_AUTO_TEST_CASE(round_trip_and_numpy_header) {
  dsae_test::temp_dir tmp("npy_rt");
  xt::xtensor<float, 3> a = xt::zeros<float>({std::size_t(4), std::size_t(5), std::size_t(3)});
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = 0.5f * float(i) - 3.f;
  const auto p = (tmp.path / "x.npy").string();
  dd::save_npy<3>(p, a);
  BOOST_TEST(!std::filesystem::exists(p + ".tmp"));
  const auto b = dd::load_features(p);
  BOOST_TEST(b.shape(0) == 4u);
  BOOST_TEST(b.shape(1) == 5u);
  BOOST_TEST(b.shape(2) == 3u);
  BOOST_TEST(std::equal(a.begin(), a.end(), b.begin()));
  const std::string raw = dsae_test::slurp(p);
  BOOST_TEST(raw.substr(0, 6) == std::string("\x93NUMPY", 6));
  BOOST_TEST(has(raw, "'descr': '<f4'"));
  BOOST_TEST(has(raw, "'shape': (4, 5, 3)"));
  BOOST_TEST(raw.size() == 128 + 4 * 60);  // 64-aligned header + payload
}

BOOST_AUTO_TEST_CASE(readable_by_numpy_when_available) {
  dsae_test::temp_dir tmp("npy_py");
  xt::xtensor<float, 3> a = xt::zeros<float>({std::size_t(2), std::size_t(3), std::size_t(4)});
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = float(i);
  const auto p = (tmp.path / "x.npy").string();
  dd::save_npy<3>(p, a);
  const std::string cmd = std::string(DSAE_PYTHON) +
                          " -c \"import numpy as n,sys; a=n.load(sys.argv[1]); "
                          "sys.exit(0 if a.shape==(2,3,4) and a.dtype==n.float32 and a[1,2,3]==23 else 1)\" " + p +
                          " 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  if (rc != 0 && std::system((std::string(DSAE_PYTHON) + " -c 'import numpy' 2>/dev/null").c_str()) != 0) {
    BOOST_TEST_MESSAGE("SKIPPED: numpy not importable");
    return;
  }
  BOOST_TEST(rc == 0);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file) {
  dsae_test::temp_dir tmp("npy_bad");
  const auto missing = (tmp.path / "missing.npy").string();
  auto e = error_of([&] { dd::load_features(missing); });
  BOOST_TEST(has(e, missing));
  BOOST_TEST(has(e, "not found"));

  const auto notnpy = (tmp.path / "text.npy").string();
  dsae_test::spit(notnpy, "hello world, not numpy");
  e = error_of([&] { dd::load_features(notnpy); });
  BOOST_TEST(has(e, notnpy));
  BOOST_TEST(has(e, "not a .npy"));

  // Wrong rank: a 2-d array where N x T x F is expected.
  const auto two = (tmp.path / "two.npy").string();
  dd::save_npy<2>(two, xt::xtensor<float, 2>(xt::zeros<float>({std::size_t(3), std::size_t(2)})));
  e = error_of([&] { dd::load_features(two); });
  BOOST_TEST(has(e, two));
  BOOST_TEST(has(e, "2 dimensions"));
  BOOST_TEST(has(e, "expected 3"));

  // Wrong dtype: float64.
  const auto f8 = (tmp.path / "f8.npy").string();
  xt::dump_npy(f8, xt::xtensor<double, 3>(xt::zeros<double>({std::size_t(1), std::size_t(2), std::size_t(2)})));
  e = error_of([&] { dd::load_features(f8); });
  BOOST_TEST(has(e, f8));
  BOOST_TEST(has(e, "'<f8'"));

  // NaN.
  const auto nan = (tmp.path / "nan.npy").string();
  xt::xtensor<float, 3> a = xt::zeros<float>({std::size_t(2), std::size_t(2), std::size_t(2)});
  a(1, 0, 1) = std::numeric_limits<float>::quiet_NaN();
  dd::save_npy<3>(nan, a);
  e = error_of([&] { dd::load_features(nan); });
  BOOST_TEST(has(e, nan));
  BOOST_TEST(has(e, "NaN"));
  BOOST_TEST(has(e, "5"));  // flat index

  // Truncated payload.
  const auto cut = (tmp.path / "cut.npy").string();
  a(1, 0, 1) = 1.f;
  dd::save_npy<3>(cut, a);
  std::string raw = dsae_test::slurp(cut);
  dsae_test::spit(cut, raw.substr(0, raw.size() - 8));
  e = error_of([&] { dd::load_features(cut); });
  BOOST_TEST(has(e, cut));
  BOOST_TEST(has(e, "truncated"));
}

BOOST_AUTO_TEST_SUITE_END()
