#pragma once
// .npy I/O for float32 arrays over xtensor's npy reader/writer, with the validation that
// xtensor leaves out (truncated files, NaN/Inf, rank) and errors that name the file.
//
// Public API (namespace dsae::data):
//   load_npy_float<N>(path)   any N-d little-endian float32 C-order .npy -> xt::xtensor<float,N>
//   load_features(path)       an N x T x F float32 .npy (the trainer's input) -> xtensor<float,3>
//   save_npy(path, array)     writes via a temporary file + rename (never a half file)
// All loaders throw std::runtime_error "<path>: <problem>" for a missing file, a file that
// is not .npy, a dtype other than <f4, Fortran order, a wrong rank, a truncated payload,
// or a NaN/Inf value.
#include <array>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>
#include <xtensor/xtensor.hpp>

namespace dsae::data {

namespace detail {
[[noreturn]] inline void npy_fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}
}  // namespace detail

// requires: path holds a float32 .npy of rank N. ensures: finite values, the file's shape.
template <std::size_t N>
xt::xtensor<float, N> load_npy_float(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) detail::npy_fail(path, "file not found");
  const auto file_size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::npy_fail(path, "cannot open for reading");
  char magic[6] = {};
  in.read(magic, 6);
  if (!in || std::string(magic, 6) != std::string("\x93NUMPY", 6))
    detail::npy_fail(path, "not a .npy file (bad magic string)");
  in.seekg(0);
  xt::detail::npy_file npy = [&] {
    try {
      return xt::detail::load_npy_file(in);
    } catch (const std::exception& e) {
      detail::npy_fail(path, std::string("unreadable .npy header: ") + e.what());
    }
  }();
  const std::size_t payload = npy.m_n_bytes;
  if (!in || (!ec && static_cast<std::size_t>(in.tellg()) > file_size))
    detail::npy_fail(path, "truncated: the header promises " + std::to_string(payload) +
                               " bytes of data");
  if (npy.m_typestring != "<f4")
    detail::npy_fail(path, "dtype is '" + npy.m_typestring + "', expected float32 ('<f4')");
  if (npy.m_fortran_order && npy.m_shape.size() > 1)
    detail::npy_fail(path, "Fortran-ordered array; save it C-ordered (np.ascontiguousarray)");
  if (npy.m_shape.size() != N) {
    std::string shape = "(";
    for (std::size_t i = 0; i < npy.m_shape.size(); ++i)
      shape += (i ? ", " : "") + std::to_string(npy.m_shape[i]);
    detail::npy_fail(path, "array has " + std::to_string(npy.m_shape.size()) + " dimensions " +
                               shape + "), expected " + std::to_string(N));
  }
  std::array<std::size_t, N> shape{};
  for (std::size_t i = 0; i < N; ++i) shape[i] = npy.m_shape[i];
  xt::xtensor<float, N> out = xt::zeros<float>(shape);
  const float* src = reinterpret_cast<const float*>(npy.ptr());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(src[i]))
      detail::npy_fail(path, "value " + std::to_string(i) + " (flat index) is NaN or Inf");
    out.data()[i] = src[i];
  }
  return out;
}

// The trainer's entry point: any N x T x F float32 .npy.
inline xt::xtensor<float, 3> load_features(const std::string& path) {
  return load_npy_float<3>(path);
}

// Writes a float32 array as .npy (version 1.0, C order) through path + ".tmp" and rename.
template <std::size_t N>
void save_npy(const std::string& path, const xt::xtensor<float, N>& a) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) detail::npy_fail(tmp, "cannot open for writing");
    xt::detail::dump_npy_stream(out, a);
    out.flush();
    if (!out) detail::npy_fail(tmp, "write failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) detail::npy_fail(path, "cannot rename from " + tmp + ": " + ec.message());
}

}  // namespace dsae::data
