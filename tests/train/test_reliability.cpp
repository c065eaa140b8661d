// Reliability of training (issue 13): weight shapes checked on load, the divergence
// guard, the metrics log that always matches the checkpoint, the stage-schedule check.
#include "common/errors.hpp"
#include <boost/test/unit_test.hpp>
#include <dsae/dsae.hpp>
#include <dsae/io/jsonl_log.hpp>
#include <dsae/train/divergence.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <unistd.h>

using namespace dsae;
namespace fs = std::filesystem;
using Bf = cpu<float>;

namespace {
model::model_sizes tiny() {
  model::model_sizes s;
  s.x_dim = 3;
  s.v_dim = 2;
  s.z_dim = 2;
  s.hidden = 4;
  s.prior_hidden = 2;
  s.prior_layers = 1;
  s.rnn_hidden = 2;
  s.rnn_layers = 1;
  return s;
}
fs::path fresh(const std::string& tag) {
  const auto d = fs::temp_directory_path() / ("dsae_trainrel_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
train::sequence_set toy(index_t n, std::uint64_t seed, float scale = 0.3f) {
  train::sequence_set s;
  s.count = n;
  s.frames = 5;
  s.features = 3;
  s.data.resize(size_t(n * 5 * 3));
  for (std::size_t i = 0; i < s.data.size(); ++i) s.data[i] = scale * float(prob::philox_normal({seed, 1, 0}, i));
  return s;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}
using dsae_test_errors::error_of;
using dsae_test_errors::has;
}  // namespace

BOOST_AUTO_TEST_SUITE(reliability)

BOOST_AUTO_TEST_CASE(load_weights_checks_shapes_not_only_counts) {
  // Issue 13 item 8: a [4, 3] weight declared [3, 4] has the same element count and
  // loaded silently as another matrix.
  const auto dir = fresh("shape");
  model::dsae<Bf> m(tiny(), 1);
  train::save_weights(dir / "w.safetensors", m);
  model::dsae<Bf> m2(tiny(), 2);
  train::load_weights(dir / "w.safetensors", m2);  // the good file loads
  auto f = io::read_safetensors(dir / "w.safetensors");
  std::string name;
  io::tensor t;
  for (const auto& [k, v] : f.tensors())
    if (v.shape.size() == 2 && v.shape[0] != v.shape[1] && v.shape[0] > 1) {
      name = k;
      t = v;
      break;
    }
  BOOST_REQUIRE(!name.empty());
  const auto want = io::shape_string(t.shape);
  std::swap(t.shape[0], t.shape[1]);
  f.put(name, t);
  io::write_safetensors(dir / "w.safetensors", f);
  const auto e = error_of([&] { train::load_weights(dir / "w.safetensors", m2); });
  BOOST_TEST(has(e, (dir / "w.safetensors").string()), e);
  BOOST_TEST(has(e, name), e);
  BOOST_TEST(has(e, "expected " + want), e);
  fs::remove_all(dir);
}

// Issue 19 item 10: every training-state field is parsed strictly and range-checked.
BOOST_AUTO_TEST_CASE(checkpoint_metadata_is_range_checked) {
  const std::map<std::string, std::string> good{{"stage", "2"},      {"next_epoch", "3"},        {"step", "9"},
                                                {"best_val", "1.5"}, {"best_epoch", "2"},        {"finished", "0"},
                                                {"epochs_since_best", "0"}};
  const auto s = train::parse_training_state(good, "ck");
  BOOST_TEST(s.next_epoch == 3);
  BOOST_TEST(s.best_val == 1.5);
  const std::pair<const char*, const char*> bad[] = {
      {"next_epoch", "-3"}, {"best_val", "nan"}, {"best_val", "inf"}, {"step", "-1"},        {"stage", "3"},
      {"best_epoch", "3"},  {"finished", "2"},   {"next_epoch", "0x3"}, {"epochs_since_best", "4"}, {"step", "010x"}};
  for (const auto& [k, v] : bad) {
    auto md = good;
    md[k] = v;
    const auto e = error_of([&] { train::parse_training_state(md, "ck.safetensors"); });
    BOOST_TEST(has(e, "ck.safetensors"), k << " " << v << ": " << e);
    BOOST_TEST(has(e, k), k << " " << v << ": " << e);
  }
  auto md = good;
  md.erase("step");
  BOOST_TEST(has(error_of([&] { train::parse_training_state(md, "ck"); }), "step"));
}

// Issue 19 item 11: a non-finite weight is refused on load, naming the file and tensor.
BOOST_AUTO_TEST_CASE(non_finite_weights_are_refused_on_load) {
  const auto dir = fresh("nonfinite");
  model::dsae<Bf> m(tiny(), 1);
  train::save_weights(dir / "w.safetensors", m);
  auto f = io::read_safetensors(dir / "w.safetensors");
  const std::string name = f.tensors().begin()->first;
  auto v = f.get_vector<float>(name);
  v.back() = std::numeric_limits<float>::infinity();
  f.put_vector(name, std::span<const float>(v), f.at(name).shape);
  io::write_safetensors(dir / "w.safetensors", f);
  const auto e = error_of([&] { train::load_weights(dir / "w.safetensors", m); });
  BOOST_TEST(has(e, (dir / "w.safetensors").string()), e);
  BOOST_TEST(has(e, name), e);
  BOOST_TEST(has(e, "non-finite"), e);
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(divergence_stops_training_and_keeps_the_last_good_checkpoint) {
  // Issue 13 item 3: --lr 10 ended with exit 0, a NaN checkpoint and bare inf/nan in
  // metrics.jsonl. Here: three good epochs, then data that overflow the loss.
  const auto dir = fresh("div");
  auto tr = toy(8, 1), va = toy(4, 2);
  model::dsae<Bf> m(tiny(), 3);
  train::trainer_options o;
  o.batch_size = 4;
  o.max_epochs = 6;
  o.out_dir = dir;
  o.verbose = false;
  int epochs_seen = 0;
  o.on_epoch = [&](index_t, const model::loss_terms&, const model::loss_terms&) {
    if (++epochs_seen == 3)
      for (auto& v : tr.data) v = 3e37f;  // finite data, non-finite loss
  };
  train::trainer<model::dsae<Bf>> t(m, o);
  std::string what;
  try {
    t.fit(tr, va);
  } catch (const train::divergence_error& e) {
    what = e.what();
    BOOST_TEST(e.epoch == 3);
  }
  BOOST_TEST(has(what, "diverged in epoch 4"), what);
  BOOST_TEST(has(what, "non-finite training"), what);
  BOOST_TEST(has(what, "checkpoint.safetensors"), what);
  // The checkpoint is the one of the third epoch, finite.
  const auto ck = io::read_safetensors(dir / "checkpoint.safetensors");
  BOOST_TEST(ck.metadata_value("next_epoch") == "3");
  for (const auto& [k, v] : ck.tensors())
    if (v.type == io::dtype::f32)
      for (float x : ck.get_vector<float>(k)) BOOST_REQUIRE(std::isfinite(x));
  // metrics.jsonl: exactly the three good epochs, no inf/nan anywhere.
  const auto text = slurp(dir / "metrics.jsonl");
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 3);
  BOOST_TEST(!has(text, "inf"));
  BOOST_TEST(!has(text, "nan"));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(step_and_epoch_checks) {
  model::loss_terms ok{};
  std::vector<float> g{0.f, 1.f};
  train::check_step_finite(ok, g, 0, 0, "");
  g[1] = std::numeric_limits<float>::infinity();
  auto e = error_of([&] { train::check_step_finite(ok, g, 4, 17, "; advice"); });
  BOOST_TEST(has(e, "epoch 5 at step 17: non-finite training gradient entry 1 inf; advice"), e);
  model::loss_terms bad{};
  bad.kl_v = std::numeric_limits<double>::quiet_NaN();
  e = error_of([&] { train::check_epoch_finite(ok, bad, 1, 2, ""); });
  BOOST_TEST(has(e, "non-finite validation KL_v"), e);
}

BOOST_AUTO_TEST_CASE(metrics_log_keeps_only_what_the_checkpoint_covers) {
  // Issue 13 item 11: a kill between the checkpoint and its metrics line lost the line.
  // Now the line is written first and a resumed run drops the lines of redone epochs.
  const auto dir = fresh("jsonl");
  const auto p = dir / "metrics.jsonl";
  {
    std::ofstream f(p);
    f << "{\"epoch\": 0, \"x\": 1}\n{\"epoch\": 1, \"x\": 2}\n{\"epoch\": 2, \"x\": 3}\n{\"epoch\": 3, \"x";  // torn
  }
  io::jsonl_log log;
  log.open(p, 2);
  BOOST_TEST(slurp(p) == "{\"epoch\": 0, \"x\": 1}\n{\"epoch\": 1, \"x\": 2}\n");
  log.append("{\"epoch\": 2, \"x\": 4}");
  BOOST_TEST(slurp(p) == "{\"epoch\": 0, \"x\": 1}\n{\"epoch\": 1, \"x\": 2}\n{\"epoch\": 2, \"x\": 4}\n");
  BOOST_TEST(!fs::exists(dir / "metrics.jsonl.tmp"));
  BOOST_TEST(io::jsonl_log::epoch_of("{\"epoch\": 12, \"a\": 1}") == 12);
  BOOST_TEST(io::jsonl_log::epoch_of("garbage") == -1);
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(trainer_resumes_with_matching_metrics_after_a_lost_checkpoint) {
  // Train 4 epochs; pretend the process died after epoch 3's metrics line but before its
  // checkpoint (restore epoch 2's checkpoint); resume: one line per epoch, equal lines.
  const auto dir = fresh("resume");
  const auto tr = toy(8, 5), va = toy(4, 6);
  train::trainer_options o;
  o.batch_size = 4;
  o.max_epochs = 4;
  o.out_dir = dir;
  o.verbose = false;
  fs::path saved = dir / "ck2";
  o.on_epoch = [&](index_t e, const model::loss_terms&, const model::loss_terms&) {
    if (e == 1) fs::copy_file(dir / "checkpoint.safetensors", saved);
  };
  {
    model::dsae<Bf> m(tiny(), 3);
    train::trainer<model::dsae<Bf>> t(m, o);
    t.fit(tr, va);
  }
  const auto full = slurp(dir / "metrics.jsonl");
  fs::copy_file(saved, dir / "checkpoint.safetensors", fs::copy_options::overwrite_existing);
  o.on_epoch = nullptr;
  model::dsae<Bf> m(tiny(), 3);
  train::trainer<model::dsae<Bf>> t(m, o);
  t.resume();
  BOOST_TEST(t.state().next_epoch == 2);
  t.fit(tr, va);
  const auto again = slurp(dir / "metrics.jsonl");
  BOOST_TEST(std::count(again.begin(), again.end(), '\n') == 4);
  // Same numbers (the "seconds" field differs): compare the lines up to "seconds".
  auto strip = [](const std::string& s) {
    std::string out;
    std::size_t a = 0;
    while (a < s.size()) {
      const auto nl = s.find('\n', a);
      const auto line = s.substr(a, nl - a);
      out += line.substr(0, line.find("\"seconds\"")) + "\n";
      a = nl + 1;
    }
    return out;
  };
  BOOST_TEST(strip(full) == strip(again));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(two_stage_needs_a_stage_two_epoch) {
  // Issue 13 item 9: --stage1-epochs 5 --epochs 2 exited 0 with no best checkpoint.
  model::ts_dsae<Bf> m(tiny(), 1);
  train::trainer_options o;
  o.max_epochs = 2;
  o.stage1_epochs = 5;
  const auto e = error_of([&] { train::trainer<model::ts_dsae<Bf>> t(m, o); });
  BOOST_TEST(has(e, "stage-1 epochs (5) must be fewer than the maximum epochs (2)"), e);
  o.stage1_epochs = 1;
  BOOST_TEST(error_of([&] { train::trainer<model::ts_dsae<Bf>> t(m, o); }).empty());
}

BOOST_AUTO_TEST_SUITE_END()
