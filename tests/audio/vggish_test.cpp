// VGGish: the front end against a numpy implementation of its definition, the network against
// a PyTorch definition of the same architecture with seeded random weights (both written by
// tests/audio/vggish_peer.py), thread invariance, front-end closed forms and the errors.
// The released weights are user-supplied and not needed here.
#include <boost/test/unit_test.hpp>

#include <dsae/audio/vggish.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numbers>
#include <string>
#include <vector>

#include "common.hpp"

namespace au = dsae::audio;
namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

struct torch_precondition {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    const std::string cmd = std::string(DSAE_PYTHON) + " -c \"import torch, numpy\" >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return true;
    std::cout << "SKIPPED: VGGish peer: torch/numpy not importable by " << DSAE_PYTHON << std::endl;
    boost::test_tools::assertion_result r(false);
    r.message() << "SKIPPED: torch not importable";
    return r;
  }
};

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

}  // namespace

BOOST_AUTO_TEST_SUITE(vggish)

BOOST_AUTO_TEST_CASE(front_end_shapes_and_closed_forms) {
  BOOST_TEST(au::vggish_examples(std::vector<float>(15000, 0.1f)).rows() == 0);  // < 0.96 s + window
  // 1 + (n - 400) / 160 frames; 96 frames per example.
  BOOST_TEST(au::vggish_log_mel(std::vector<float>(16000, 0.0f)).rows() == 98);
  const auto ex = au::vggish_examples(std::vector<float>(32000, 0.0f));
  BOOST_TEST(ex.rows() == 2);
  BOOST_TEST(ex.cols() == 96 * 64);
  // Silence: every band is log(0 + 0.01).
  BOOST_TEST(std::abs(ex.maxCoeff() - std::log(0.01f)) < 1e-6);
  // A 1 kHz tone peaks in the band whose centre is nearest 1 kHz on the 1127 ln(1 + f/700) scale.
  std::vector<float> x(16000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * double(i) / 16000));
  const auto lm = au::vggish_log_mel(x);
  Eigen::Index best = 0;
  lm.row(10).maxCoeff(&best);
  auto mel = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
  const double lo = mel(125.0), hi = mel(7500.0);
  const double centre = std::exp((lo + (hi - lo) * double(best + 1) / 65.0) / 1127.0) * 700.0 - 700.0;
  BOOST_TEST(std::abs(centre - 1000.0) < 60.0);
}

BOOST_AUTO_TEST_CASE(missing_weights_say_what_to_do) {
  BOOST_CHECK_EXCEPTION((void)au::vggish_model::load("/nonexistent/vggish.safetensors"), std::runtime_error,
                        [](const std::runtime_error& e) {
                          const std::string m = e.what();
                          return m.find("/nonexistent/vggish.safetensors") != std::string::npos &&
                                 m.find("scripts/convert-vggish-weights") != std::string::npos;
                        });
}

BOOST_AUTO_TEST_CASE(matches_pytorch_and_numpy, *utf::precondition(torch_precondition{})) {
  dsae_test::temp_dir tmp("vggish_peer");
  const std::string cmd = std::string(DSAE_PYTHON) + " " + DSAE_TEST_SOURCE_DIR + "/tests/audio/vggish_peer.py \"" +
                          tmp.path.string() + "\"";
  BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, "peer failed: " << cmd);
  const auto audio = read_raw<float>(tmp.path / "audio.f32");
  const auto ex_ref = read_raw<double>(tmp.path / "examples.f64");
  const auto emb_ref = read_raw<float>(tmp.path / "embeddings.f32");
  // Front end: double in both, compared before the cast to float.
  const auto lm = au::vggish_log_mel(audio);
  const std::size_t E = ex_ref.size() / (96 * 64);
  BOOST_TEST_REQUIRE(E == 4u);
  BOOST_TEST_REQUIRE(std::size_t(lm.rows()) >= E * 96);
  double dfe = 0;
  for (std::size_t i = 0; i < ex_ref.size(); ++i) dfe = std::max(dfe, std::abs(lm.data()[i] - ex_ref[i]));
  BOOST_TEST(dfe < 1e-9);
  BOOST_TEST(au::vggish_examples(audio).rows() == Eigen::Index(E));
  // Network on the peer's examples.
  const auto model = au::vggish_model::load(tmp.path / "weights.safetensors");
  au::vggish_matrix ex(Eigen::Index(E), 96 * 64);
  for (std::size_t i = 0; i < ex_ref.size(); ++i) ex.data()[i] = float(ex_ref[i]);
  const auto emb = model.embed(ex);
  BOOST_TEST_REQUIRE(emb.size() == Eigen::Index(emb_ref.size()));
  double scale = 0, d = 0;
  for (std::size_t i = 0; i < emb_ref.size(); ++i) {
    scale = std::max(scale, double(std::abs(emb_ref[i])));
    d = std::max(d, double(std::abs(emb.data()[i] - emb_ref[i])));
  }
  BOOST_TEST(scale > 0.0);
  BOOST_TEST(d < 1e-4 * scale);  // relative: random weights give small outputs
  BOOST_TEST_MESSAGE("VGGish: front end max |diff| " << dfe << "; embeddings max |diff| " << d << " (max |e| "
                                                     << scale << ")");
  // Thread count does not change a bit.
  const auto e1 = model.embed(ex, false, 1), e2 = model.embed(ex, false, 2);
  BOOST_TEST((e1.array() == e2.array()).all());
  // scripts/convert-vggish-weights on the .pth of the same weights gives the same network.
  const fs::path conv = tmp.path / "converted.safetensors";
  const std::string conv_cmd = std::string(DSAE_TEST_SOURCE_DIR) + "/scripts/convert-vggish-weights \"" +
                               (tmp.path / "weights.pth").string() + "\" \"" + conv.string() + "\"";
  BOOST_TEST_REQUIRE(std::system(conv_cmd.c_str()) == 0, "converter failed: " << conv_cmd);
  BOOST_TEST((au::vggish_model::load(conv).embed(ex).array() == emb.array()).all());
  // The optional final ReLU of torchvggish.
  const auto er = model.embed(ex, true);
  BOOST_TEST((er.array() == emb.array().max(0.0f)).all());
}

BOOST_AUTO_TEST_SUITE_END()
