#pragma once
// .npy I/O for float32 arrays, with the validation that numpy's format allows a hostile
// file to skip: truncated files, NaN/Inf, rank, header lengths and shapes that do not fit
// the file, and errors that name the file.
//
// Public API (namespace dsae::data):
//   load_npy_float<N>(path[, finite])   any N-d little-endian float32 or float64 C-order .npy
//                             -> xt::xtensor<float,N> (float64 converted; values beyond float32's
//                             range refused); finite = false leaves NaN/Inf to the caller
//                             (padding past a sequence's length may hold anything)
//   load_npy_float<N>(bytes, source)   the same from a file image in memory
//   load_npy_int<N>(path)     any integer (or bool) dtype -> xt::xtensor<std::int64_t,N>
//   npy_dtype(path)           the file's dtype string ('<f8', '|u1', ...), header checked
//   load_features(path[, finite])   an N x T x F float .npy (the trainer's input) -> xtensor<float,3>
//   save_npy(path, array)     writes via a temporary file, fsync + rename (io/atomic_file.hpp)
//   save_npy_int(path, array) the same for int64 arrays ('<i8')
// All loaders throw std::runtime_error "<path>: <problem>" for a missing file, a file that
// is not .npy, an unsupported dtype, Fortran order, a wrong rank, a header or payload
// that does not fit the file's size, or a NaN/Inf value. Nothing is allocated from a size
// read in the header before that size is checked against the file (overflow-safe).
#include <array>
#include <concepts>
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

// Bytes per element of the dtypes dsae reads; 0 for any other.
inline std::size_t npy_item_size(const std::string& d) {
  if (d == "<f4" || d == "<i4" || d == "<u4") return 4;
  if (d == "<f8" || d == "<i8" || d == "<u8") return 8;
  if (d == "<i2" || d == "<u2") return 2;
  if (d == "|i1" || d == "|u1" || d == "|b1") return 1;
  return 0;
}

// Checks dtype kind, order, rank and payload size against the file; returns the header.
template <std::size_t N>
npy_header check_npy(std::istream& in, std::uint64_t file_size, const std::string& path, bool want_float) {
  const npy_header h = read_npy_header(in, file_size, path);
  const std::size_t item = npy_item_size(h.descr);
  const bool is_float = h.descr == "<f4" || h.descr == "<f8";
  if (want_float && !is_float)
    npy_fail(path, "dtype is '" + h.descr + "', expected float32 ('<f4') or float64 ('<f8')" +
                       (item ? std::string(" (an integer array: convert it with x.astype(np.float32))") : ""));
  if (!want_float && (item == 0 || is_float))
    npy_fail(path, "dtype is '" + h.descr + "', expected an integer array (int8..int64, uint8..uint64 or bool)" +
                       (is_float ? std::string(" (convert it with y.astype(np.int64))") : ""));
  if (h.fortran_order && h.shape.size() > 1)
    npy_fail(path, "Fortran-ordered array; save it C-ordered (np.ascontiguousarray)");
  if (h.shape.size() != N)
    npy_fail(path, "array has " + std::to_string(h.shape.size()) + " dimensions " + shape_text(h.shape) +
                       ", expected " + std::to_string(N));
  const std::uint64_t avail = file_size - h.data_offset;
  if (h.numel > avail / item)
    npy_fail(path, "truncated: the header's shape " + shape_text(h.shape) + " promises " +
                       (h.numel > std::numeric_limits<std::uint64_t>::max() / item
                            ? std::string("more than 2^64")
                            : std::to_string(h.numel * item)) +
                       " bytes of data, the file holds " + std::to_string(avail));
  if (h.numel * item != avail)
    npy_fail(path, std::to_string(avail - h.numel * item) + " trailing bytes after the data of shape " +
                       shape_text(h.shape));
  return h;
}

template <std::size_t N>
std::array<std::size_t, N> npy_shape(const npy_header& h) {
  std::array<std::size_t, N> shape{};
  for (std::size_t i = 0; i < N; ++i) shape[i] = std::size_t(h.shape[i]);
  return shape;
}

template <std::size_t N>
xt::xtensor<float, N> load_npy_stream(std::istream& in, std::uint64_t file_size, const std::string& path,
                                      bool require_finite = true) {
  const npy_header h = check_npy<N>(in, file_size, path, true);
  xt::xtensor<float, N> out(npy_shape<N>(h));  // sizes checked against the file above
  in.seekg(std::streamoff(h.data_offset));
  if (h.descr == "<f4") {
    if (h.numel && !in.read(reinterpret_cast<char*>(out.data()), std::streamsize(h.numel * 4)))
      npy_fail(path, "truncated: read failed inside the data");
  } else {  // float64 (numpy's default): converted in chunks, so no second full-size buffer
    std::vector<double> buf(std::size_t(std::min<std::uint64_t>(h.numel, 1 << 16)));
    for (std::uint64_t k = 0; k < h.numel;) {
      const std::size_t n = std::size_t(std::min<std::uint64_t>(buf.size(), h.numel - k));
      if (!in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(n * 8)))
        npy_fail(path, "truncated: read failed inside the data");
      for (std::size_t j = 0; j < n; ++j) {
        const double v = buf[j];
        if (std::isfinite(v) && std::abs(v) > double(std::numeric_limits<float>::max()))
          npy_fail(path, "value " + std::to_string(k + j) + " (flat index) is " + std::to_string(v) +
                             ", beyond float32's range");
        out.data()[k + j] = float(v);
      }
      k += n;
    }
  }
  if (require_finite)
    for (std::size_t i = 0; i < out.size(); ++i)
      if (!std::isfinite(out.data()[i]))
        npy_fail(path, "value " + std::to_string(i) + " (flat index) is NaN or Inf");
  return out;
}

template <std::size_t N>
xt::xtensor<std::int64_t, N> load_npy_int_stream(std::istream& in, std::uint64_t file_size, const std::string& path) {
  const npy_header h = check_npy<N>(in, file_size, path, false);
  const std::size_t item = npy_item_size(h.descr);
  xt::xtensor<std::int64_t, N> out(npy_shape<N>(h));
  std::vector<unsigned char> bytes(std::size_t(h.numel * item));  // checked against the file above
  in.seekg(std::streamoff(h.data_offset));
  if (h.numel && !in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size())))
    npy_fail(path, "truncated: read failed inside the data");
  const bool is_signed = h.descr[1] == 'i';
  for (std::size_t i = 0; i < std::size_t(h.numel); ++i) {
    std::uint64_t u = 0;
    for (std::size_t b = 0; b < item; ++b) u |= std::uint64_t(bytes[i * item + b]) << (8 * b);  // little-endian
    std::int64_t v;
    if (is_signed && item < 8 && (u >> (8 * item - 1)) & 1) u |= ~std::uint64_t(0) << (8 * item);  // sign-extend
    if (!is_signed && item == 8 && u > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      npy_fail(path, "value " + std::to_string(i) + " (flat index) is " + std::to_string(u) + ", beyond int64");
    std::memcpy(&v, &u, sizeof v);
    if (h.descr == "|b1" && u > 1) npy_fail(path, "value " + std::to_string(i) + " is not a valid bool byte");
    out.data()[i] = v;
  }
  return out;
}

inline std::uint64_t checked_file_size(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) npy_fail(path, "file not found");
  if (!std::filesystem::is_regular_file(path, ec))
    npy_fail(path, "not a regular file (a FIFO, device or folder); refusing to read it");
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) npy_fail(path, "cannot determine the file size: " + ec.message());
  return file_size;
}
}  // namespace detail

// requires: path holds a float32 or float64 .npy of rank N. ensures: the file's shape;
// finite values unless require_finite is false.
template <std::size_t N>
xt::xtensor<float, N> load_npy_float(const std::string& path, bool require_finite = true) {
  const auto file_size = detail::checked_file_size(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::npy_fail(path, "cannot open for reading");
  return detail::load_npy_stream<N>(in, file_size, path, require_finite);
}

// The same from a whole file image in memory (used by the fuzz targets).
template <std::size_t N>
xt::xtensor<float, N> load_npy_float(std::string_view bytes, const std::string& source) {
  std::istringstream in{std::string(bytes)};
  return detail::load_npy_stream<N>(in, bytes.size(), source);
}

// requires: path holds an integer or bool .npy of rank N (lengths, labels).
template <std::size_t N>
xt::xtensor<std::int64_t, N> load_npy_int(const std::string& path) {
  const auto file_size = detail::checked_file_size(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::npy_fail(path, "cannot open for reading");
  return detail::load_npy_int_stream<N>(in, file_size, path);
}
template <std::size_t N>
xt::xtensor<std::int64_t, N> load_npy_int(std::string_view bytes, const std::string& source) {
  std::istringstream in{std::string(bytes)};
  return detail::load_npy_int_stream<N>(in, bytes.size(), source);
}

// The dtype string of a .npy file (its header checked), e.g. to say that float64 was converted.
inline std::string npy_dtype(const std::string& path) {
  const auto file_size = detail::checked_file_size(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::npy_fail(path, "cannot open for reading");
  return detail::read_npy_header(in, file_size, path).descr;
}

// The trainer's entry point: any N x T x F float32/float64 .npy.
inline xt::xtensor<float, 3> load_features(const std::string& path, bool require_finite = true) {
  return load_npy_float<3>(path, require_finite);
}

// Writes a float32 array (features, latents) or an int64 array (lengths, labels: numpy reads
// them back as int64) as .npy (version 1.0, C order) atomically (io/atomic_file.hpp).
template <std::size_t N, class T>
  requires std::same_as<T, float> || std::same_as<T, std::int64_t>
void save_npy(const std::string& path, const xt::xtensor<T, N>& a) {
  std::ostringstream os;
  xt::detail::dump_npy_stream(os, a);
  try {
    io::write_file_atomic(path, os.str());
  } catch (const std::runtime_error& e) {
    detail::npy_fail(path, std::string("not written: ") + e.what());
  }
}
template <std::size_t N>
void save_npy_int(const std::string& path, const xt::xtensor<std::int64_t, N>& a) {
  save_npy<N>(path, a);
}

}  // namespace dsae::data
