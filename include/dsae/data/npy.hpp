#pragma once
// .npy I/O for float32 arrays, with the validation that numpy's format allows a hostile
// file to skip: truncated files, NaN/Inf, rank, header lengths and shapes that do not fit
// the file, and errors that name the file.
//
// Public API (namespace dsae::data):
//   load_npy_float<N>(path)   any N-d little-endian float32 C-order .npy -> xt::xtensor<float,N>
//   load_npy_float<N>(bytes, source)   the same from a file image in memory
//   load_features(path)       an N x T x F float32 .npy (the trainer's input) -> xtensor<float,3>
//   save_npy(path, array)     writes via a temporary file, fsync + rename (io/atomic_file.hpp)
// All loaders throw std::runtime_error "<path>: <problem>" for a missing file, a file that
// is not .npy, a dtype other than <f4, Fortran order, a wrong rank, a header or payload
// that does not fit the file's size, or a NaN/Inf value. Nothing is allocated from a size
// read in the header before that size is checked against the file (overflow-safe).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>
#include <xtensor/xtensor.hpp>

#include "../io/atomic_file.hpp"

namespace dsae::data {

namespace detail {
[[noreturn]] inline void npy_fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// The parsed header of a .npy file (format versions 1.0, 2.0, 3.0).
struct npy_header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
  std::uint64_t data_offset = 0;  // bytes before the payload
  std::uint64_t numel = 1;        // product of shape (checked, no overflow)
};

// Parser of the header's Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class npy_dict_parser {
 public:
  npy_dict_parser(std::string_view t, const std::string& path) : m_t(t), m_path(path) {}

  void parse(npy_header& h) {
    bool has_descr = false, has_order = false, has_shape = false;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (peek() == '}') { ++m_i; break; }
      const std::string key = str();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (has_descr) fail("duplicate key 'descr'");
        has_descr = true;
        h.descr = str();
      } else if (key == "fortran_order") {
        if (has_order) fail("duplicate key 'fortran_order'");
        has_order = true;
        if (m_t.substr(m_i, 4) == "True") { h.fortran_order = true; m_i += 4; }
        else if (m_t.substr(m_i, 5) == "False") { h.fortran_order = false; m_i += 5; }
        else fail("'fortran_order' must be True or False");
      } else if (key == "shape") {
        if (has_shape) fail("duplicate key 'shape'");
        has_shape = true;
        h.shape = tuple();
      } else {
        fail("unexpected key '" + key + "'");
      }
      ws();
      if (peek() == ',') { ++m_i; continue; }
      expect('}');
      break;
    }
    while (m_i < m_t.size() && (m_t[m_i] == ' ' || m_t[m_i] == '\n' || m_t[m_i] == '\0')) ++m_i;
    if (m_i != m_t.size()) fail("unexpected bytes after the header dict");
    if (!has_descr || !has_order || !has_shape) fail("the header needs 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    npy_fail(m_path, "unreadable .npy header (byte " + std::to_string(m_i) + "): " + what);
  }
  char peek() const { return m_i < m_t.size() ? m_t[m_i] : '\0'; }
  void ws() {
    while (m_i < m_t.size() && (m_t[m_i] == ' ' || m_t[m_i] == '\t' || m_t[m_i] == '\n')) ++m_i;
  }
  void expect(char c) {
    if (peek() != c || m_i >= m_t.size()) fail(std::string("expected '") + c + "'");
    ++m_i;
  }
  std::string str() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++m_i;
    const auto end = m_t.find(q, m_i);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(m_t.substr(m_i, end - m_i));
    if (s.size() > 64) fail("string too long");
    m_i = end + 1;
    return s;
  }
  std::vector<std::uint64_t> tuple() {
    expect('(');
    std::vector<std::uint64_t> v;
    for (;;) {
      ws();
      if (peek() == ')') { ++m_i; return v; }
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in 'shape'");
      std::uint64_t x = 0;
      while (peek() >= '0' && peek() <= '9') {
        const auto d = std::uint64_t(peek() - '0');
        if (x > (std::numeric_limits<std::uint64_t>::max() - d) / 10) fail("a dimension overflows 64 bits");
        x = x * 10 + d;
        ++m_i;
      }
      if (peek() == 'L') ++m_i;  // Python 2 long literal
      if (v.size() >= 32) fail("more than 32 dimensions");
      v.push_back(x);
      ws();
      if (peek() == ',') { ++m_i; continue; }
      expect(')');
      return v;
    }
  }

  std::string_view m_t;
  const std::string& m_path;
  std::size_t m_i = 0;
};

inline std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

// Reads and checks the header from `in` (positioned at the file start) of a file of
// file_size bytes. ensures: data_offset + 4 * numel == file_size for a float32 file
// (else a named error: truncated, or trailing bytes).
inline npy_header read_npy_header(std::istream& in, std::uint64_t file_size, const std::string& path) {
  unsigned char pre[12] = {};
  const std::size_t want = std::size_t(std::min<std::uint64_t>(file_size, 12));
  in.read(reinterpret_cast<char*>(pre), std::streamsize(want));
  if (want < 10 || !in || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    npy_fail(path, "not a .npy file (bad magic string)");
  const unsigned major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    npy_fail(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  std::uint64_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = std::uint64_t(pre[8]) | (std::uint64_t(pre[9]) << 8);  // unsigned little-endian u16
    prefix = 10;
  } else {
    if (want < 12) npy_fail(path, "truncated: the file ends inside the .npy header");
    header_len = std::uint64_t(pre[8]) | (std::uint64_t(pre[9]) << 8) | (std::uint64_t(pre[10]) << 16) |
                 (std::uint64_t(pre[11]) << 24);  // unsigned little-endian u32
    prefix = 12;
  }
  if (header_len > file_size - prefix)
    npy_fail(path, "truncated: the header length " + std::to_string(header_len) + " runs past the end of the file (" +
                       std::to_string(file_size) + " bytes)");
  std::string text(std::size_t(header_len), '\0');  // bounded by the file size (checked above)
  in.seekg(std::streamoff(prefix));
  if (header_len && !in.read(text.data(), std::streamsize(header_len)))
    npy_fail(path, "truncated: cannot read the .npy header");
  npy_header h;
  h.data_offset = prefix + header_len;
  npy_dict_parser(text, path).parse(h);
  // Product of the non-zero dimensions, bounded so that element strides and byte counts
  // fit a signed 64-bit integer even for an empty array (a zero dimension next to a huge
  // one overflowed xtensor's strides: found by fuzz_npy).
  constexpr std::uint64_t max_elems = std::uint64_t(1) << 60;
  std::uint64_t prod = 1;
  bool zero = false;
  for (auto d : h.shape) {
    if (d == 0) { zero = true; continue; }
    if (prod > max_elems / d) npy_fail(path, "shape " + shape_text(h.shape) + " has more elements than 2^60");
    prod *= d;
  }
  h.numel = zero ? 0 : prod;
  return h;
}

template <std::size_t N>
xt::xtensor<float, N> load_npy_stream(std::istream& in, std::uint64_t file_size, const std::string& path) {
  const npy_header h = read_npy_header(in, file_size, path);
  if (h.descr != "<f4")
    npy_fail(path, "dtype is '" + h.descr + "', expected float32 ('<f4')");
  if (h.fortran_order && h.shape.size() > 1)
    npy_fail(path, "Fortran-ordered array; save it C-ordered (np.ascontiguousarray)");
  if (h.shape.size() != N)
    npy_fail(path, "array has " + std::to_string(h.shape.size()) + " dimensions " + shape_text(h.shape) +
                       ", expected " + std::to_string(N));
  const std::uint64_t avail = file_size - h.data_offset;
  if (h.numel > avail / 4)
    npy_fail(path, "truncated: the header's shape " + shape_text(h.shape) + " promises " +
                       (h.numel > std::numeric_limits<std::uint64_t>::max() / 4
                            ? std::string("more than 2^64")
                            : std::to_string(h.numel * 4)) +
                       " bytes of data, the file holds " + std::to_string(avail));
  if (h.numel * 4 != avail)
    npy_fail(path, std::to_string(avail - h.numel * 4) + " trailing bytes after the data of shape " +
                       shape_text(h.shape));
  std::array<std::size_t, N> shape{};
  for (std::size_t i = 0; i < N; ++i) shape[i] = std::size_t(h.shape[i]);
  xt::xtensor<float, N> out(shape);  // numel * 4 bytes, checked against the file above
  in.seekg(std::streamoff(h.data_offset));
  if (h.numel && !in.read(reinterpret_cast<char*>(out.data()), std::streamsize(h.numel * 4)))
    npy_fail(path, "truncated: read failed inside the data");
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out.data()[i]))
      npy_fail(path, "value " + std::to_string(i) + " (flat index) is NaN or Inf");
  return out;
}
}  // namespace detail

// requires: path holds a float32 .npy of rank N. ensures: finite values, the file's shape.
template <std::size_t N>
xt::xtensor<float, N> load_npy_float(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) detail::npy_fail(path, "file not found");
  if (!std::filesystem::is_regular_file(path, ec))
    detail::npy_fail(path, "not a regular file (a FIFO, device or folder); refusing to read it");
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) detail::npy_fail(path, "cannot determine the file size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::npy_fail(path, "cannot open for reading");
  return detail::load_npy_stream<N>(in, file_size, path);
}

// The same from a whole file image in memory (used by the fuzz targets).
template <std::size_t N>
xt::xtensor<float, N> load_npy_float(std::string_view bytes, const std::string& source) {
  std::istringstream in{std::string(bytes)};
  return detail::load_npy_stream<N>(in, bytes.size(), source);
}

// The trainer's entry point: any N x T x F float32 .npy.
inline xt::xtensor<float, 3> load_features(const std::string& path) {
  return load_npy_float<3>(path);
}

// Writes a float32 array as .npy (version 1.0, C order) atomically (io/atomic_file.hpp).
template <std::size_t N>
void save_npy(const std::string& path, const xt::xtensor<float, N>& a) {
  std::ostringstream os;
  xt::detail::dump_npy_stream(os, a);
  try {
    io::write_file_atomic(path, os.str());
  } catch (const std::runtime_error& e) {
    detail::npy_fail(path, std::string("not written: ") + e.what());
  }
}

}  // namespace dsae::data
