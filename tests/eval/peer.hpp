#pragma once
// Helpers for the eval parity tests: a scratch folder, CSV exchange with the
// Python peers (tests/eval/peer.py run by Debian's /usr/bin/python3), a visible
// skip when a peer module is missing, and a portable deterministic RNG.
#include <boost/test/unit_test.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace dsae_test {

namespace fs = std::filesystem;

// DSAE_PYTHON, unless the environment variable DSAE_EVAL_PYTHON names another
// interpreter (e.g. DSAE_EVAL_PYTHON=/nonexistent shows the visible skips).
inline std::string python() {
  const char* env = std::getenv("DSAE_EVAL_PYTHON");
  return (env && *env) ? std::string(env) : std::string(DSAE_PYTHON);
}
inline fs::path source_dir() { return fs::path(DSAE_TEST_SOURCE_DIR); }
inline fs::path peer_script() { return source_dir() / "tests" / "eval" / "peer.py"; }

// True when DSAE_PYTHON finds every module of the comma-separated list (cached). Uses
// importlib.util.find_spec, which does not run the (slow) package imports; a module that
// is found but broken makes its peer run fail, which fails the test rather than skip it.
inline bool importable(const std::string& modules) {
  static std::map<std::string, bool> cache;
  const auto it = cache.find(modules);
  if (it != cache.end()) return it->second;
  std::ostringstream os;
  os << '"' << python()
     << "\" -c \"import importlib.util as u, sys; "
        "sys.exit(0 if all(u.find_spec(m.strip()) for m in sys.argv[1].split(',')) else 1)\" \""
     << modules << "\" >/dev/null 2>&1";
  const std::string cmd = os.str();
  const bool ok = std::system(cmd.c_str()) == 0;
  cache[modules] = ok;
  return ok;
}

// Boost.Test precondition: the test is skipped (and says so on stdout) when the
// Python peer cannot be imported.
struct peer_available {
  std::string modules;
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    if (importable(modules)) return true;
    std::cout << "SKIPPED: " << modules << " not importable by " << python() << std::endl;
    boost::test_tools::assertion_result r(false);
    r.message() << "SKIPPED: " << modules << " not importable by " << python();
    return r;
  }
};

// A fresh scratch folder removed on destruction.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& tag) {
    static int counter = 0;
    std::ostringstream name;
    name << "dsae_eval_" << tag << "_" << ::getpid() << "_" << counter++;
    m_path = fs::temp_directory_path() / name.str();
    fs::remove_all(m_path);
    fs::create_directories(m_path);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const fs::path& path() const { return m_path; }
  fs::path operator/(const std::string& name) const { return m_path / name; }

 private:
  fs::path m_path;
};

// Writes a matrix as CSV with round-trip precision (%.17g; nan/inf as numpy reads them).
inline void write_csv(const fs::path& p, const Eigen::MatrixXd& m) {
  std::FILE* f = std::fopen(p.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + p.string());
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    for (Eigen::Index c = 0; c < m.cols(); ++c)
      std::fprintf(f, c ? ",%.17g" : "%.17g", m(r, c));
    std::fprintf(f, "\n");
  }
  std::fclose(f);
}

inline void write_csv(const fs::path& p, const std::vector<int>& v) {
  std::ofstream os(p);
  for (int x : v) os << x << "\n";
}

// Reads a CSV of numbers (numpy.savetxt with delimiter ',').
inline Eigen::MatrixXd read_csv(const fs::path& p) {
  std::ifstream is(p);
  if (!is) throw std::runtime_error("cannot read " + p.string());
  std::vector<std::vector<double>> rows;
  std::string line;
  while (std::getline(is, line)) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      if (cell == "nan") row.push_back(std::nan(""));
      else row.push_back(std::stod(cell));
    }
    rows.push_back(std::move(row));
  }
  Eigen::MatrixXd m(static_cast<Eigen::Index>(rows.size()),
                    rows.empty() ? 0 : static_cast<Eigen::Index>(rows[0].size()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (static_cast<Eigen::Index>(rows[r].size()) != m.cols())
      throw std::runtime_error("ragged CSV " + p.string());
    for (std::size_t c = 0; c < rows[r].size(); ++c)
      m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = rows[r][c];
  }
  return m;
}

inline std::vector<int> read_labels(const fs::path& p) {
  const Eigen::MatrixXd m = read_csv(p);
  std::vector<int> v(static_cast<std::size_t>(m.size()));
  for (Eigen::Index i = 0; i < m.size(); ++i) v[static_cast<std::size_t>(i)] = static_cast<int>(std::lround(m(i)));
  return v;
}

// Runs `python peer.py <task> <dir>`; fails the test with the peer's exit code otherwise.
inline void run_peer(const std::string& task, const fs::path& dir) {
  std::ostringstream os;
  os << '"' << python() << "\" \"" << peer_script().string() << "\" " << task << " \"" << dir.string()
     << '"';
  const std::string cmd = os.str();
  const int rc = std::system(cmd.c_str());
  BOOST_REQUIRE_MESSAGE(rc == 0, "python peer failed (" << rc << "): " << cmd);
}

// Deterministic standard normals from mt19937_64 (Box-Muller; independent of the
// standard library's distributions, so datasets are the same everywhere).
class normal_rng {
 public:
  explicit normal_rng(std::uint64_t seed) : m_rng(seed) {}
  double uniform() { return (static_cast<double>(m_rng() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  Eigen::MatrixXd normal(Eigen::Index r, Eigen::Index c) {
    Eigen::MatrixXd m(r, c);
    for (Eigen::Index j = 0; j < c; ++j)
      for (Eigen::Index i = 0; i < r; ++i) m(i, j) = normal();
    return m;
  }
  std::uint64_t raw() { return m_rng(); }

 private:
  std::mt19937_64 m_rng;
};

}  // namespace dsae_test
