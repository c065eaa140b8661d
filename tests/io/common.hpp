#pragma once
// Shared helpers of the io tests.
#include <boost/test/unit_test.hpp>

#include <dsae/io/safetensors.hpp>

#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dsae_test_io {

// A fresh empty directory under the test's working directory.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::current_path() / ("io_tmp_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// True when f throws an exception whose message holds `needle` (else the message is logged).
inline bool throws_with(auto&& f, const std::string& needle) {
  try {
    f();
  } catch (const std::exception& e) {
    const bool ok = std::string(e.what()).find(needle) != std::string::npos;
    if (!ok) BOOST_TEST_MESSAGE("unexpected message: " << e.what());
    return ok;
  }
  return false;
}

inline std::vector<char> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void spit(const std::filesystem::path& p, const std::vector<std::byte>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// The fixed interop sample; must equal sample_tensors() in bench/reference/safetensors_np.py.
inline dsae::io::safetensors_file sample_file() {
  dsae::io::safetensors_file f;
  Eigen::Matrix<double, 3, 4, Eigen::RowMajor> m;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) m(i, j) = (i * 4 + j) * 0.25 - 1.0;
  f.put_matrix("matrix_f64", m);
  const Eigen::MatrixXf mt = (m.transpose() * 0.5).cast<float>();  // column-major input on purpose
  f.put_matrix("matrix_f32", mt);
  f.put_vector("vector_f32", std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f});
  f.put_scalar("scalar_f64", 3.5);
  f.put_vector("ints_i64", std::vector<std::int64_t>{-3, 0, 7, std::int64_t(1) << 40});
  f.put_vector("bytes_u8", std::vector<std::uint8_t>{0, 255, 17, 42}, {2, 2});
  f.put_vector("empty_f32", std::vector<float>{}, {0, 3});
  f.set_metadata("format", "pt");
  f.set_metadata("note", "caf\xc3\xa9 \"quoted\"\n");
  return f;
}

}  // namespace dsae_test_io
