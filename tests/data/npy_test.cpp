// .npy loading/saving and its validation.
#include <boost/test/unit_test.hpp>

#include <dsae/data/npy.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
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

  // Wrong dtype: an integer array where features are expected (float64 is read: below).
  const auto i4 = (tmp.path / "i4.npy").string();
  xt::dump_npy(i4, xt::xtensor<int, 3>(xt::zeros<int>({std::size_t(1), std::size_t(2), std::size_t(2)})));
  e = error_of([&] { dd::load_features(i4); });
  BOOST_TEST(has(e, i4));
  BOOST_TEST(has(e, "'<i4'"));
  BOOST_TEST(has(e, "astype(np.float32)"));

  // float64 beyond float32's range.
  const auto big = (tmp.path / "big.npy").string();
  xt::xtensor<double, 3> d = xt::zeros<double>({std::size_t(1), std::size_t(2), std::size_t(2)});
  d(0, 1, 0) = 1e300;
  xt::dump_npy(big, d);
  e = error_of([&] { dd::load_features(big); });
  BOOST_TEST(has(e, big));
  BOOST_TEST(has(e, "float32's range"));

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

// numpy's default dtypes: float64 features are converted (exactly where float32 can hold
// the value), NaN is allowed when the caller asks (padding), integer arrays of every width
// and signedness are read as int64 for lengths and labels.
BOOST_AUTO_TEST_CASE(float64_and_integer_arrays) {
  dsae_test::temp_dir tmp("npy_dtypes");
  const auto f8 = (tmp.path / "f8.npy").string();
  xt::xtensor<double, 3> d = xt::zeros<double>({std::size_t(2), std::size_t(3), std::size_t(2)});
  for (std::size_t i = 0; i < d.size(); ++i) d.data()[i] = 0.1 * double(i) - 0.5;
  d(1, 2, 1) = std::numeric_limits<double>::quiet_NaN();
  xt::dump_npy(f8, d);
  BOOST_TEST(dd::npy_dtype(f8) == "<f8");
  BOOST_TEST(has(error_of([&] { dd::load_features(f8); }), "NaN"));
  const auto x = dd::load_features(f8, false);
  for (std::size_t i = 0; i + 1 < d.size(); ++i) BOOST_TEST(x.data()[i] == float(d.data()[i]));
  BOOST_TEST(std::isnan(x(1, 2, 1)));

  auto check_int = [&](auto type_tag, const char* name) {
    using I = decltype(type_tag);
    const auto p = (tmp.path / name).string();
    xt::xtensor<I, 1> a = xt::zeros<I>({std::size_t(4)});
    a(0) = I(1);
    a(1) = std::numeric_limits<I>::max();
    a(2) = std::numeric_limits<I>::min();
    a(3) = I(7);
    xt::dump_npy(p, a);
    const auto b = dd::load_npy_int<1>(p);
    BOOST_TEST_REQUIRE(b.size() == 4u);
    for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(b(i) == std::int64_t(a(i)), name << " item " << i);
  };
  check_int(std::int8_t{}, "i1.npy");
  check_int(std::uint8_t{}, "u1.npy");
  check_int(std::int16_t{}, "i2.npy");
  check_int(std::uint16_t{}, "u2.npy");
  check_int(std::int32_t{}, "i4.npy");
  check_int(std::uint32_t{}, "u4.npy");
  check_int(std::int64_t{}, "i8.npy");
  // uint64 beyond int64, and a float array given as labels: refused with the file named.
  const auto u8 = (tmp.path / "u8.npy").string();
  xt::xtensor<std::uint64_t, 1> u = {1, std::numeric_limits<std::uint64_t>::max()};
  xt::dump_npy(u8, u);
  auto e = error_of([&] { dd::load_npy_int<1>(u8); });
  BOOST_TEST(has(e, u8));
  BOOST_TEST(has(e, "beyond int64"));
  e = error_of([&] { dd::load_npy_int<3>(f8); });
  BOOST_TEST(has(e, f8));
  BOOST_TEST(has(e, "expected an integer array"));
}

// Hand-made .npy images for the hostile-input regressions (issue 13, items 1 and 2).
namespace {
std::string npy_image(int major, const std::string& dict, std::size_t pad_to_len, const std::string& payload) {
  std::string h = dict;
  while (h.size() + 1 < pad_to_len) h += ' ';
  h += '\n';
  std::string out("\x93NUMPY", 6);
  out += char(major);
  out += char(0);
  const std::uint32_t n = std::uint32_t(h.size());
  out += char(n & 0xff);
  out += char((n >> 8) & 0xff);
  if (major >= 2) {
    out += char((n >> 16) & 0xff);
    out += char((n >> 24) & 0xff);
  }
  return out + h + payload;
}
std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::size_t i = 0;
  for (float f : v) std::memcpy(s.data() + 4 * i++, &f, 4);
  return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(header_lengths_are_unsigned) {
  // Headers of 0x86 and 0x90 bytes (numpy < 1.14 aligned headers to 16 bytes): the top bit
  // of the low length byte must not be sign-extended.
  dsae_test::temp_dir tmp("npy_len");
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 3), }";
  for (auto [major, len] : {std::pair{1, 0x86}, std::pair{2, 0x90}, std::pair{3, 0x86}, std::pair{1, 0xF6}}) {
    const auto p = (tmp.path / ("v" + std::to_string(major) + "_" + std::to_string(len) + ".npy")).string();
    const std::string img = npy_image(major, dict, std::size_t(len), floats({1.5f, -2.f, 3.f}));
    dsae_test::spit(p, img);
    const auto a = dd::load_features(p);
    BOOST_TEST(a.size() == 3u);
    BOOST_TEST(a(0, 0, 1) == -2.f);
    const auto b = dd::load_npy_float<3>(std::string_view(img), "mem");
    BOOST_TEST(b(0, 0, 2) == 3.f);
  }
}

BOOST_AUTO_TEST_CASE(hostile_headers_fail_fast_without_allocating) {
  dsae_test::temp_dir tmp("npy_hostile");
  const auto t0 = std::chrono::steady_clock::now();
  // 12-byte v2 file whose u32 header length (0xFFFFFF86) runs far past the end.
  const auto p12 = (tmp.path / "v2_12.npy").string();
  dsae_test::spit(p12, std::string("\x93NUMPY\x02\x00\x86\xff\xff\xff", 12));
  auto e = error_of([&] { dd::load_features(p12); });
  BOOST_TEST(has(e, p12));
  BOOST_TEST(has(e, "runs past the end"), e);
  // A shape whose product overflows 64 bits (the 96-byte crash of item 1).
  const auto pov = (tmp.path / "overflow.npy").string();
  dsae_test::spit(pov, npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }",
                                 86, floats({1.f, 2.f})));
  e = error_of([&] { dd::load_features(pov); });
  BOOST_TEST(has(e, pov));
  BOOST_TEST(has(e, "2^60"), e);
  // An empty array (a zero dimension) next to a huge one: xtensor's strides overflowed
  // (signed overflow, found by fuzz_npy; the input is in fuzz/corpus/npy/).
  const auto pzero = (tmp.path / "zero_huge.npy").string();
  dsae_test::spit(pzero, npy_image(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 10038210819607984903, 20), }",
                                   118, ""));
  e = error_of([&] { dd::load_features(pzero); });
  BOOST_TEST(has(e, "2^60"), e);
  const auto pempty = (tmp.path / "empty.npy").string();
  dsae_test::spit(pempty, npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 251, 80), }", 118, ""));
  BOOST_TEST(dd::load_features(pempty).shape(1) == 251u);
  // A product that wraps to a small number when multiplied by 4 bytes.
  const auto pwrap = (tmp.path / "wrap4.npy").string();
  dsae_test::spit(pwrap, npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 1, 1), }",
                                   118, floats({1.f})));
  e = error_of([&] { dd::load_features(pwrap); });
  BOOST_TEST(has(e, "2^60"), e);
  // 10^12 elements promised by a file of a few bytes: rejected before any allocation.
  const auto pbig = (tmp.path / "tera.npy").string();
  dsae_test::spit(pbig, npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000, 1000), }",
                                  118, floats({1.f, 2.f})));
  e = error_of([&] { dd::load_features(pbig); });
  BOOST_TEST(has(e, pbig));
  BOOST_TEST(has(e, "truncated"), e);
  BOOST_TEST(has(e, "4000000000000 bytes"), e);
  // Trailing bytes after the payload, an unknown version, garbage in the dict.
  const auto ptrail = (tmp.path / "trail.npy").string();
  dsae_test::spit(ptrail, npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }", 118,
                                    floats({1.f, 2.f})));
  e = error_of([&] { dd::load_features(ptrail); });
  BOOST_TEST(has(e, "4 trailing bytes"), e);
  const auto pver = (tmp.path / "v9.npy").string();
  dsae_test::spit(pver, npy_image(9, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }", 118, floats({1.f})));
  e = error_of([&] { dd::load_features(pver); });
  BOOST_TEST(has(e, "version 9.0"), e);
  const auto pjunk = (tmp.path / "junk.npy").string();
  dsae_test::spit(pjunk, npy_image(1, "{'descr': '<f4', 'shape': (1, 1, 1), 'evil': __import__('os'), }", 118, floats({1.f})));
  e = error_of([&] { dd::load_features(pjunk); });
  BOOST_TEST(has(e, "unreadable .npy header"), e);
  BOOST_TEST(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 2.0);
}

BOOST_AUTO_TEST_CASE(numpy_versions_1_2_3_read_when_available) {
  dsae_test::temp_dir tmp("npy_ver");
  const std::string dir = tmp.path.string();
  const std::string cmd = std::string(DSAE_PYTHON) +
      " -c \"import numpy as n,sys; a=n.arange(24,dtype=n.float32).reshape(2,3,4)\n"
      "for v in [(1,0),(2,0),(3,0)]:\n"
      "  f=open(sys.argv[1]+'/v%d.npy'%v[0],'wb'); n.lib.format.write_array(f,a,version=v); f.close()\" " + dir +
      " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    BOOST_TEST_MESSAGE("SKIPPED: numpy not importable");
    return;
  }
  for (int v = 1; v <= 3; ++v) {
    const auto a = dd::load_features(dir + "/v" + std::to_string(v) + ".npy");
    BOOST_TEST(a(1, 2, 3) == 23.f);
    BOOST_TEST(a(0, 1, 0) == 4.f);
  }
}

BOOST_AUTO_TEST_SUITE_END()
