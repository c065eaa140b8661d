// Interop with the numpy-only safetensors implementation of the PyTorch reference
// (bench/reference/safetensors_np.py): each side reads what the other wrote.
#include <boost/test/unit_test.hpp>

#include "common.hpp"

#include <cstdlib>
#include <iostream>

using namespace dsae::io;
using namespace dsae_test_io;

namespace {

const std::string python = DSAE_PYTHON;
const std::string script = std::string(DSAE_TEST_SOURCE_DIR) + "/bench/reference/safetensors_np.py";

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

// Skip (visibly) when the Python peer cannot run.
boost::test_tools::assertion_result numpy_peer(boost::unit_test::test_unit_id) {
  static const bool ok = run("\"" + python + "\" -c 'import numpy' >/dev/null 2>&1") == 0;
  boost::test_tools::assertion_result r(ok);
  if (!ok) {
    std::cout << "SKIPPED: numpy not importable by " << python << std::endl;
    r.message() << "SKIPPED: numpy not importable by " << python;
  }
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_python, *boost::unit_test::precondition(numpy_peer))

BOOST_AUTO_TEST_CASE(cpp_reads_python_file) {
  const auto dir = fresh_dir("py_to_cpp");
  const auto path = dir / "from_python.safetensors";
  BOOST_REQUIRE(run("\"" + python + "\" \"" + script + "\" sample \"" + path.string() + "\"") == 0);
  const auto got = read_safetensors(path);
  const auto want = sample_file();
  BOOST_TEST(got.metadata() == want.metadata());
  BOOST_REQUIRE_EQUAL(got.tensors().size(), want.tensors().size());
  for (const auto& [name, t] : want.tensors()) {
    BOOST_TEST_CONTEXT("tensor " << name) {
      BOOST_REQUIRE(got.contains(name));
      const auto& u = got.at(name);
      BOOST_TEST((t.type == u.type));
      BOOST_TEST(t.shape == u.shape, boost::test_tools::per_element());
      BOOST_TEST((t.bytes == u.bytes));
    }
  }
  const auto m = got.get_matrix<float>("matrix_f32", convert::exact, 4, 3);
  BOOST_TEST(m(3, 2) == float(((2 * 4 + 3) * 0.25 - 1.0) * 0.5));
}

BOOST_AUTO_TEST_CASE(python_reads_cpp_file) {
  const auto dir = fresh_dir("cpp_to_py");
  const auto path = dir / "from_cpp.safetensors";
  write_safetensors(path, sample_file());
  BOOST_TEST(run("\"" + python + "\" \"" + script + "\" check-sample \"" + path.string() + "\"") == 0);
  // the Python reader is strict too: a truncated C++ file is refused there as well
  auto bytes = slurp(path);
  bytes.pop_back();
  std::vector<std::byte> cut(bytes.size());
  std::memcpy(cut.data(), bytes.data(), bytes.size());
  spit(path, cut);
  BOOST_TEST(run("\"" + python + "\" \"" + script + "\" dump \"" + path.string() + "\" >/dev/null 2>&1") != 0);
}

BOOST_AUTO_TEST_SUITE_END()
