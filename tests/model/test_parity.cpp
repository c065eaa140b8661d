// Gradient parity of every model variant with the PyTorch reference
// (bench/reference/parity.py, float64).
//
// For each configuration the C++ model is built with small but non-trivial
// sizes, put in its stage, and run once through train_step() with noise and
// permutations given from outside (model::given_noise). The same parameters,
// inputs, noise and permutations are written to IN.safetensors; the reference
// computes the loss terms and the gradient of every parameter it trains; both
// are compared tensor by tensor:
//   err = ||a - b|| / max(||a||, ||b||)  < 1e-8   (both ~0, i.e. norms <= 1e-14: ||a - b|| <= 1e-14)
// The sets of trained parameters must agree too: a parameter the reference does
// not train must have an exactly zero gradient on the C++ side.
//
// Every configuration runs with unequal lengths (masks matter; the reference
// takes its step-by-step masked LSTM) and with equal lengths (the reference
// uses torch's nn.LSTM). All configurations go to ONE Python process (parity.py's
// main() is called once per IN/OUT pair) to keep the runtime small.
// Skipped, visibly, when torch is not importable by DSAE_PYTHON.
// DSAE_KEEP_PARITY_FILES=1 keeps the files (IN, OUT and <label>.cpp.safetensors
// with the C++ terms and gradients) in $TMPDIR/dsae_parity_<pid>.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <dsae/io/safetensors.hpp>
#include "common.hpp"

using namespace dsae;
using namespace dsae::test;
namespace fs = std::filesystem;

namespace {

constexpr double tolerance = 1e-8;
constexpr double zero_floor = 1e-14;
constexpr index_t frames = 5;
const std::vector<index_t> unequal_lengths{5, 3, 4, 2};
const std::vector<index_t> equal_lengths{5, 5, 5, 5};

model::model_sizes parity_sizes() {
  model::model_sizes s;
  s.x_dim = 6;
  s.v_dim = 3;
  s.z_dim = 4;
  s.hidden = 5;
  s.prior_hidden = 3;
  s.prior_layers = 2;  // the reference's LSTMs have 2 layers
  s.rnn_hidden = 4;
  s.rnn_layers = 2;
  return s;
}

bool torch_importable() {
  static const bool ok = std::system("'" DSAE_PYTHON "' -c 'import torch' >/dev/null 2>&1") == 0;
  return ok;
}

struct torch_available {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(torch_importable());
    if (!r) {
      r.message() << "SKIPPED: torch not importable by DSAE_PYTHON (" DSAE_PYTHON ")";
      std::cout << "SKIPPED: torch not importable by DSAE_PYTHON (" DSAE_PYTHON ")" << std::endl;
    }
    return r;
  }
};

// One parameter as seen by the C++ side.
struct param_record {
  std::string name;
  std::vector<std::int64_t> ref_shape;  // PyTorch layout: biases 1-D
  std::vector<double> grad;             // C++ gradient (row-major)
  bool trainable = false;               // C++: its group trains
  bool sent = false;                    // written to IN (snapshot.* only where the prior uses it)
};

// One configuration: its files and the C++ results.
struct parity_case {
  std::string label;
  fs::path in, out;
  model::loss_terms terms;
  std::vector<param_record> params;
};

// Reference parameter shape: Linear / LSTM biases are 1-D in PyTorch, 1 x n here.
std::vector<std::int64_t> ref_shape(const std::string& name, index_t rows, index_t cols) {
  const auto last = name.substr(name.rfind('.') + 1);
  if (rows == 1 && last.rfind("bias", 0) == 0) return {std::int64_t(cols)};
  return {std::int64_t(rows), std::int64_t(cols)};
}

template <class Tn>
void put(io::safetensors_file& f, const std::string& name, const Tn& t, std::vector<std::int64_t> shape) {
  const tensor c = t;  // contiguous row-major copy
  f.put_vector(name, std::span<const double>(c.data(), size_t(c.size())), std::move(shape));
}

tensor normal(index_t r, index_t c, std::uint64_t seed, std::uint32_t stream) {
  tensor t(r, c);
  B::normal(t, {seed, stream, 7});
  return t;
}

bool is_identity(const std::vector<index_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != index_t(i)) return false;
  return true;
}

// Builds configuration M in `stage`, runs the C++ step and writes IN.
template <class M>
parity_case prepare(const std::string& label, const char* method, int stage, const std::vector<index_t>& lengths, std::uint64_t seed,
                    const fs::path& dir) {
  const auto s = parity_sizes();
  M m(s, seed);
  if (stage == 2 && m.stage() == 1) m.set_stage(2);  // takes the snapshot q_C
  if (m.stage() != stage) throw std::runtime_error(label + ": could not set stage " + std::to_string(stage));
  auto& p = m.params();
  if (m.snapshot_prior_active()) {
    // q_C as after some stage-2 updates, so that KL(q || q_C) is non-trivial.
    for (const auto& e : p.entries())
      if (e.owner == group::snapshot)
        p.value(p.find(e.name)) += random_tensor(e.rows, e.cols, seed * 1000 + std::uint64_t(e.offset), 0.1);
  }
  const index_t Bn = index_t(lengths.size()), V = s.v_dim, Z = s.z_dim, F = s.x_dim;
  // Padding frames hold random values too: masking must make them irrelevant on both sides.
  auto b = random_batch(frames, lengths, F, seed + 17);

  model::given_noise<B> g;
  g.eps_v = normal(Bn, V, seed, model::eps_v);
  g.eps_z = normal(frames * Bn, Z, seed, model::eps_z);
  g.eps_v_g = normal(Bn, V, seed, model::eps_v_g);
  g.eps_z_g = normal(frames * Bn, Z, seed, model::eps_z_g);
  g.eps_v_l = normal(Bn, V, seed, model::eps_v_l);
  g.eps_z_l = normal(frames * Bn, Z, seed, model::eps_z_l);
  // Non-trivial, distinct permutations (fixed points allowed, identity not).
  for (std::uint32_t k = 0;; ++k) {
    g.perm_g = model::random_permutation(Bn, {seed, model::perm_g, k});
    g.perm_l = model::random_permutation(Bn, {seed, model::perm_l, k});
    if (!is_identity(g.perm_g) && !is_identity(g.perm_l) && g.perm_g != g.perm_l) break;
  }

  parity_case c;
  c.label = label;
  c.in = dir / (label + ".in.safetensors");
  c.out = dir / (label + ".out.safetensors");
  // The reference reports KL_z in stage 1 too (it gives no gradient there): compute it for
  // the comparison; the gradients are the same either way (tests/model/test_model.cpp).
  m.compute_gradient_free_terms(true);
  c.terms = m.train_step(b, 0, 0, &g);

  io::safetensors_file f(c.in.string());
  for (const auto& e : p.entries()) {
    const param_id id = p.find(e.name);
    param_record r;
    r.name = e.name;
    r.ref_shape = ref_shape(e.name, e.rows, e.cols);
    const tensor gr = p.grad(id);
    r.grad.assign(gr.data(), gr.data() + gr.size());
    r.trainable = p.trainable(id);
    r.sent = e.owner != group::snapshot || m.snapshot_prior_active();
    if (r.sent) put(f, e.name, p.value(id), r.ref_shape);
    c.params.push_back(std::move(r));
  }
  const auto T3 = [&](index_t d) { return std::vector<std::int64_t>{frames, Bn, d}; };
  put(f, "x", b.x, T3(F));
  put(f, "mask", b.mask, {frames, Bn});
  put(f, "eps_v", g.eps_v, {Bn, V});
  put(f, "eps_z", g.eps_z, T3(Z));
  if (m.swaps_active()) {
    put(f, "eps_v_g", g.eps_v_g, {Bn, V});
    put(f, "eps_z_g", g.eps_z_g, T3(Z));
    put(f, "eps_v_l", g.eps_v_l, {Bn, V});
    put(f, "eps_z_l", g.eps_z_l, T3(Z));
    const std::vector<std::int64_t> pg(g.perm_g.begin(), g.perm_g.end()), pl(g.perm_l.begin(), g.perm_l.end());
    f.put_vector("perm_g", pg);
    f.put_vector("perm_l", pl);
  }
  f.set_metadata("method", method);
  f.set_metadata("stage", std::to_string(stage));
  f.set_metadata("q", M::local_type::name);
  f.set_metadata("decoder", M::decoder_type::name);
  f.set_metadata("z_dim", std::to_string(Z));
  f.set_metadata("v_dim", std::to_string(V));
  f.set_metadata("hidden", std::to_string(s.hidden));
  f.set_metadata("trans_hidden", std::to_string(s.prior_hidden));
  f.set_metadata("lstm_hidden", std::to_string(s.rnn_hidden));
  io::write_safetensors(c.in, f);
  if (std::getenv("DSAE_KEEP_PARITY_FILES")) {
    // The C++ side's results next to IN/OUT, for diagnosing a mismatch.
    io::safetensors_file mine((dir / (label + ".cpp.safetensors")).string());
    const std::vector<std::pair<const char*, double>> terms{
        {"loss", c.terms.loss},      {"recon", c.terms.recon},    {"kl_z", c.terms.kl_z},
        {"kl_v", c.terms.kl_v},      {"swap_1", c.terms.swap[0]}, {"swap_2", c.terms.swap[1]},
        {"swap_3", c.terms.swap[2]}, {"swap_4", c.terms.swap[3]}};
    for (const auto& [name, v] : terms) mine.put_scalar(name, v);
    for (const auto& r : c.params)
      if (r.trainable) mine.put_vector("grad." + r.name, r.grad, r.ref_shape);
    io::write_safetensors(dir / (label + ".cpp.safetensors"), mine);
  }
  return c;
}

// All configurations, prepared once, and the single reference run over them.
class peer_run {
 public:
  static peer_run& get() {
    static peer_run r;
    return r;
  }
  const parity_case& find(const std::string& label) const {
    if (!m_error.empty()) throw std::runtime_error(m_error);
    for (const auto& c : m_cases)
      if (c.label == label) return c;
    throw std::runtime_error("parity: no configuration '" + label + "'");
  }
  peer_run(const peer_run&) = delete;
  peer_run& operator=(const peer_run&) = delete;
  ~peer_run() {
    std::error_code ec;
    if (std::getenv("DSAE_KEEP_PARITY_FILES")) std::cout << "parity files kept in " << m_dir << std::endl;
    else if (m_error.empty()) fs::remove_all(m_dir, ec);
  }

 private:
  template <class Method, template <class> class Local = model::factorised_local_encoder,
            template <class> class Decoder = model::factorised_decoder>
  void both(const std::string& name, int stage) {
    using M = model::variant<B, Local, Decoder, Method>;
    const std::uint64_t seed = 101 + 13 * std::uint64_t(m_cases.size());
    m_cases.push_back(prepare<M>(name + "_unequal", Method::name, stage, unequal_lengths, seed, m_dir));
    m_cases.push_back(prepare<M>(name + "_equal", Method::name, stage, equal_lengths, seed + 1, m_dir));
  }

  peer_run() {
    m_dir = fs::temp_directory_path() / ("dsae_parity_" + std::to_string(::getpid()));
    try {
      fs::remove_all(m_dir);
      fs::create_directories(m_dir);
      both<model::method::dsae>("dsae_factorised", 2);
      both<model::method::dsae, model::full_local_encoder>("dsae_full_q", 2);
      both<model::method::ts_dsae>("ts_dsae_stage1_factorised", 1);
      both<model::method::ts_dsae, model::full_local_encoder>("ts_dsae_stage1_full_q", 1);
      both<model::method::ts_dsae>("ts_dsae_stage2_factorised", 2);
      both<model::method::ts_dsae, model::full_local_encoder>("ts_dsae_stage2_full_q", 2);
      both<model::method::ts_dsae, model::factorised_local_encoder, model::richer_decoder>("ts_dsae_stage2_richer", 2);
      both<model::method::dsae, model::factorised_local_encoder, model::richer_decoder>("dsae_richer", 2);
      both<model::method::dsae_f>("dsae_f_stage2_factorised", 2);
      both<model::method::ts_dsae_noreg>("ts_dsae_noreg_stage2_factorised", 2);

      // One interpreter, parity.py's own main() per IN/OUT pair (torch's import
      // dominates the cost of a run).
      const fs::path ref = fs::path(DSAE_TEST_SOURCE_DIR) / "bench" / "reference";
      const fs::path log = m_dir / "peer.log";
      std::ostringstream cmd;
      cmd << "'" DSAE_PYTHON "' -c 'import sys; sys.path.insert(0, sys.argv[1]); import parity; a = sys.argv[2:]; "
             "[parity.main([a[i], a[i + 1]]) for i in range(0, len(a), 2)]' '"
          << ref.string() << "'";
      for (const auto& c : m_cases) cmd << " '" << c.in.string() << "' '" << c.out.string() << "'";
      cmd << " >'" << log.string() << "' 2>&1";
      if (std::system(cmd.str().c_str()) != 0) {
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        m_error = "parity: the reference run failed: " + cmd.str() + "\n" + ss.str();
      }
    } catch (const std::exception& e) {
      m_error = std::string("parity: preparing the configurations failed: ") + e.what();
    }
  }

  fs::path m_dir;
  std::vector<parity_case> m_cases;
  std::string m_error;
};

// Per-tensor relative error (see the file comment).
double rel_err(const double* a, const double* b, size_t n) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  d = std::sqrt(d);
  const double s = std::max(std::sqrt(na), std::sqrt(nb));
  if (s <= zero_floor) return d <= zero_floor ? 0.0 : d / zero_floor;
  return d / s;
}

std::set<std::string> split(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.insert(item);
  return out;
}

void check(const std::string& label) {
  const parity_case& c = peer_run::get().find(label);
  const auto out = io::read_safetensors(c.out);
  double worst = 0;
  std::string worst_name;
  auto record = [&](const std::string& name, double e) {
    BOOST_TEST(e < tolerance, label << ": " << name << " relative error " << e);
    if (e >= worst) {
      worst = e;
      worst_name = name;
    }
  };

  // Loss terms.
  const std::vector<std::pair<const char*, double>> terms{
      {"loss", c.terms.loss},      {"recon", c.terms.recon},    {"kl_z", c.terms.kl_z},
      {"kl_v", c.terms.kl_v},      {"swap_1", c.terms.swap[0]}, {"swap_2", c.terms.swap[1]},
      {"swap_3", c.terms.swap[2]}, {"swap_4", c.terms.swap[3]}};
  for (const auto& [name, mine] : terms) {
    const double ref = out.get_scalar<double>(name);
    record(name, rel_err(&mine, &ref, 1));
  }
  // The configuration exercises what it claims to.
  BOOST_TEST(c.terms.kl_z > 0.0);
  BOOST_TEST(c.terms.kl_v > 0.0);

  // Trained sets and gradients.
  const auto ref_trainable = split(out.metadata_value("trainable"));
  std::set<std::string> mine;
  index_t n_trained = 0;
  for (const auto& r : c.params) {
    mine.insert(r.name);
    const bool ref_trains = ref_trainable.count(r.name) != 0;
    BOOST_TEST(ref_trains == r.trainable, label << ": " << r.name << " trains in the reference: " << ref_trains
                                                << ", in C++: " << r.trainable);
    BOOST_TEST((ref_trains || !out.contains("grad." + r.name)), label << ": reference has a gradient for untrained "
                                                                      << r.name);
    if (!ref_trains) {
      double n2 = 0;
      for (double v : r.grad) n2 += v * v;
      BOOST_TEST(n2 == 0.0, label << ": " << r.name << " is not trained by the reference but has C++ gradient norm "
                                  << std::sqrt(n2));
      continue;
    }
    ++n_trained;
    const auto& t = out.at("grad." + r.name);
    BOOST_TEST((t.shape == r.ref_shape), label << ": grad." << r.name << " has shape " << io::shape_string(t.shape)
                                               << ", expected " << io::shape_string(r.ref_shape));
    const auto ref = out.get_vector<double>("grad." + r.name);
    if (ref.size() != r.grad.size()) continue;
    record("grad." + r.name, rel_err(r.grad.data(), ref.data(), ref.size()));
  }
  for (const auto& n : ref_trainable)
    BOOST_TEST(mine.count(n) == 1u, label << ": the reference trains " << n << ", unknown to the C++ model");
  BOOST_TEST(n_trained > 0);

  BOOST_TEST_MESSAGE("parity " << label << ": " << n_trained << " trained tensors, loss " << c.terms.loss
                               << ", max relative error " << worst << " (" << worst_name << ")");
}

}  // namespace

#define DSAE_PARITY_CASE(name)                                  \
  BOOST_AUTO_TEST_CASE(name##_unequal) { check(#name "_unequal"); } \
  BOOST_AUTO_TEST_CASE(name##_equal) { check(#name "_equal"); }

BOOST_AUTO_TEST_SUITE(pytorch_parity, *boost::unit_test::precondition(torch_available()))

DSAE_PARITY_CASE(dsae_factorised)
DSAE_PARITY_CASE(dsae_full_q)
DSAE_PARITY_CASE(ts_dsae_stage1_factorised)
DSAE_PARITY_CASE(ts_dsae_stage1_full_q)
DSAE_PARITY_CASE(ts_dsae_stage2_factorised)
DSAE_PARITY_CASE(ts_dsae_stage2_full_q)
DSAE_PARITY_CASE(ts_dsae_stage2_richer)
DSAE_PARITY_CASE(dsae_richer)
DSAE_PARITY_CASE(dsae_f_stage2_factorised)
DSAE_PARITY_CASE(ts_dsae_noreg_stage2_factorised)

BOOST_AUTO_TEST_SUITE_END()
