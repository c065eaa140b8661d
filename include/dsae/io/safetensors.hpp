#pragma once
// Header-only safetensors reader/writer (https://huggingface.co/docs/safetensors).
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON (padded with
// spaces so the data starts 8-byte aligned), then the raw little-endian tensor
// bytes. The JSON maps tensor names to {"dtype","shape","data_offsets"} and may
// hold "__metadata__": {string: string}. The parser below accepts exactly that
// subset (no generic JSON dependency) and validates the file as strictly as the
// reference Rust implementation: offsets must tile the data buffer exactly.
//
// Checkpoints are written to `path + ".tmp"`, fsynced and renamed over `path`,
// so a crash or a failed write never leaves a broken file at `path`.

#include <Eigen/Core>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "atomic_file.hpp"

namespace dsae::io {

static_assert(std::endian::native == std::endian::little,
              "dsae::io::safetensors assumes a little-endian host (the format is little-endian)");

// Element types of the format. requires: nothing. ensures: names round-trip via dtype_name.
enum class dtype : std::uint8_t { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean };

// Bytes per element. ensures: > 0.
constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::f64: case dtype::i64: case dtype::u64: return 8;
    case dtype::f32: case dtype::i32: case dtype::u32: return 4;
    case dtype::f16: case dtype::bf16: case dtype::i16: case dtype::u16: return 2;
    case dtype::i8: case dtype::u8: case dtype::boolean: return 1;
  }
  return 1;
}

// The format's spelling ("F32", ...). ensures: dtype_from_name(dtype_name(t)) == t.
constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::f64: return "F64";
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::i64: return "I64";
    case dtype::i32: return "I32";
    case dtype::i16: return "I16";
    case dtype::i8: return "I8";
    case dtype::u64: return "U64";
    case dtype::u32: return "U32";
    case dtype::u16: return "U16";
    case dtype::u8: return "U8";
    case dtype::boolean: return "BOOL";
  }
  return "?";
}

// Parses a dtype name. ensures: nullopt for names the format does not define.
inline std::optional<dtype> dtype_from_name(std::string_view s) noexcept {
  for (auto t : {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64, dtype::i32, dtype::i16,
                 dtype::i8, dtype::u64, dtype::u32, dtype::u16, dtype::u8, dtype::boolean})
    if (dtype_name(t) == s) return t;
  return std::nullopt;
}

// C++ element type -> dtype. requires: T one of double, float, (u)int{8,16,32,64}_t, bool.
template <class T>
constexpr dtype dtype_of() noexcept {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, double>) return dtype::f64;
  else if constexpr (std::is_same_v<U, float>) return dtype::f32;
  else if constexpr (std::is_same_v<U, bool>) return dtype::boolean;
  else if constexpr (std::is_same_v<U, std::int64_t>) return dtype::i64;
  else if constexpr (std::is_same_v<U, std::int32_t>) return dtype::i32;
  else if constexpr (std::is_same_v<U, std::int16_t>) return dtype::i16;
  else if constexpr (std::is_same_v<U, std::int8_t>) return dtype::i8;
  else if constexpr (std::is_same_v<U, std::uint64_t>) return dtype::u64;
  else if constexpr (std::is_same_v<U, std::uint32_t>) return dtype::u32;
  else if constexpr (std::is_same_v<U, std::uint16_t>) return dtype::u16;
  else if constexpr (std::is_same_v<U, std::uint8_t>) return dtype::u8;
  else static_assert(sizeof(U) == 0, "dsae::io: unsupported tensor element type");
}

// How typed getters treat a dtype different from the requested one.
// exact: throw; float_cast: F32 <-> F64 are converted (other mismatches still throw).
enum class convert { exact, float_cast };

// One tensor: dtype, shape (row-major, may be empty = scalar) and raw little-endian bytes.
// invariant (checked by safetensors_file::put and by the reader): bytes.size() == numel * dtype_size.
struct tensor {
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  // Product of the shape (1 for a scalar). ensures: >= 0.
  [[nodiscard]] std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

// "[3, 4]" for messages.
inline std::string shape_string(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace detail {

inline bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // reject overlong forms, surrogates and values past U+10FFFF
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;  // UTF-8 passes through (validated by the caller)
        }
    }
  }
  out += '"';
}

// Strict recursive-descent parser for the safetensors header subset.
class header_parser {
 public:
  struct entry {
    std::string name;
    dtype type;
    std::vector<std::int64_t> shape;
    std::uint64_t begin, end;
  };

  header_parser(std::string_view text, std::string_view source) : m_text(text), m_source(source) {}

  void parse(std::vector<entry>& entries, std::map<std::string, std::string>& metadata) {
    bool seen_metadata = false;
    skip_ws();
    expect('{', "the header must be a JSON object");
    skip_ws();
    std::set<std::string, std::less<>> names;
    if (peek() == '}') {
      ++m_pos;
    } else {
      for (;;) {
        skip_ws();
        std::string key = parse_string();
        skip_ws();
        expect(':', "expected ':' after an object key");
        skip_ws();
        if (key == "__metadata__") {
          if (seen_metadata) fail("duplicate key '__metadata__'");
          seen_metadata = true;
          parse_metadata(metadata);
        } else {
          if (!names.insert(key).second) fail("duplicate tensor name '" + key + "'");
          entries.push_back(parse_entry(std::move(key)));
        }
        skip_ws();
        if (peek() == ',') { ++m_pos; continue; }
        expect('}', "expected ',' or '}' in the header object");
        break;
      }
    }
    skip_ws();
    if (m_pos != m_text.size()) fail("unexpected bytes after the header object");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("safetensors '" + std::string(m_source) + "': invalid JSON header at byte " +
                             std::to_string(m_pos) + ": " + what);
  }
  char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
  void skip_ws() {
    while (m_pos < m_text.size() &&
           (m_text[m_pos] == ' ' || m_text[m_pos] == '\n' || m_text[m_pos] == '\r' || m_text[m_pos] == '\t'))
      ++m_pos;
  }
  void expect(char c, const char* what) {
    if (m_pos >= m_text.size() || m_text[m_pos] != c) fail(what);
    ++m_pos;
  }

  unsigned hex4() {
    if (m_pos + 4 > m_text.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = m_text[m_pos++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"', "expected a string");
    std::string out;
    for (;;) {
      if (m_pos >= m_text.size()) fail("unterminated string");
      const char c = m_text[m_pos++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in a string");
      if (c != '\\') { out += c; continue; }
      if (m_pos >= m_text.size()) fail("unterminated escape");
      const char e = m_text[m_pos++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (m_pos + 2 > m_text.size() || m_text[m_pos] != '\\' || m_text[m_pos + 1] != 'u')
              fail("unpaired high surrogate in \\u escape");
            m_pos += 2;
            const std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired low surrogate in \\u escape");
          }
          put_utf8(out, cp);
          break;
        }
        default: fail(std::string("bad escape '\\") + e + "'");
      }
    }
    return out;
  }

  // JSON integer without sign, fraction or exponent (shapes and offsets).
  std::uint64_t parse_uint() {
    const std::size_t start = m_pos;
    if (peek() == '-') fail("expected a non-negative integer, found a negative number");
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer");
    if (peek() == '0' && m_pos + 1 < m_text.size() && m_text[m_pos + 1] >= '0' && m_text[m_pos + 1] <= '9')
      fail("leading zero in a number");
    std::uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const auto d = std::uint64_t(peek() - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
        m_pos = start;
        fail("integer overflows 64 bits");
      }
      v = v * 10 + d;
      ++m_pos;
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E') fail("expected an integer, found a fraction/exponent");
    return v;
  }

  std::vector<std::uint64_t> parse_uint_array() {
    expect('[', "expected '['");
    std::vector<std::uint64_t> v;
    skip_ws();
    if (peek() == ']') { ++m_pos; return v; }
    for (;;) {
      skip_ws();
      v.push_back(parse_uint());
      skip_ws();
      if (peek() == ',') { ++m_pos; continue; }
      expect(']', "expected ',' or ']' in an array");
      return v;
    }
  }

  void parse_metadata(std::map<std::string, std::string>& metadata) {
    expect('{', "__metadata__ must be an object of strings");
    skip_ws();
    if (peek() == '}') { ++m_pos; return; }
    for (;;) {
      skip_ws();
      std::string k = parse_string();
      skip_ws();
      expect(':', "expected ':' after a metadata key");
      skip_ws();
      if (peek() != '"') fail("__metadata__ value of '" + k + "' must be a string");
      std::string v = parse_string();
      if (!metadata.emplace(k, std::move(v)).second) fail("duplicate metadata key '" + k + "'");
      skip_ws();
      if (peek() == ',') { ++m_pos; continue; }
      expect('}', "expected ',' or '}' in __metadata__");
      return;
    }
  }

  entry parse_entry(std::string name) {
    const std::string where = "tensor '" + name + "': ";
    expect('{', (where + "entry must be an object").c_str());
    entry e{std::move(name), dtype::f32, {}, 0, 0};
    bool has_dtype = false, has_shape = false, has_offsets = false;
    skip_ws();
    if (peek() != '}') {
      for (;;) {
        skip_ws();
        const std::string k = parse_string();
        skip_ws();
        expect(':', "expected ':' after a key");
        skip_ws();
        if (k == "dtype") {
          if (has_dtype) fail(where + "duplicate key 'dtype'");
          has_dtype = true;
          const std::string d = parse_string();
          auto t = dtype_from_name(d);
          if (!t) fail(where + "unknown dtype '" + d + "'");
          e.type = *t;
        } else if (k == "shape") {
          if (has_shape) fail(where + "duplicate key 'shape'");
          has_shape = true;
          for (auto s : parse_uint_array()) {
            if (s > std::uint64_t(std::numeric_limits<std::int64_t>::max())) fail(where + "shape entry too large");
            e.shape.push_back(std::int64_t(s));
          }
        } else if (k == "data_offsets") {
          if (has_offsets) fail(where + "duplicate key 'data_offsets'");
          has_offsets = true;
          const auto o = parse_uint_array();
          if (o.size() != 2) fail(where + "data_offsets must have exactly 2 entries");
          e.begin = o[0];
          e.end = o[1];
        } else {
          fail(where + "unexpected key '" + k + "'");
        }
        skip_ws();
        if (peek() == ',') { ++m_pos; continue; }
        expect('}', "expected ',' or '}' in a tensor entry");
        break;
      }
    } else {
      ++m_pos;
    }
    if (!has_dtype || !has_shape || !has_offsets) fail(where + "entry needs dtype, shape and data_offsets");
    return e;
  }

  std::string_view m_text;
  std::string_view m_source;
  std::size_t m_pos = 0;
};

inline bool is_float(dtype t) noexcept { return t == dtype::f32 || t == dtype::f64; }

}  // namespace detail

// A set of named tensors plus string metadata: the in-memory form of one file.
// invariant: every stored tensor satisfies bytes.size() == numel * dtype_size; names are
// non-empty valid UTF-8 and never "__metadata__".
class safetensors_file {
 public:
  using tensor_map = std::map<std::string, tensor, std::less<>>;

  // source: the file name used in error messages. ensures: empty file.
  explicit safetensors_file(std::string source = "<memory>") : m_source(std::move(source)) {}

  // Adds or replaces a tensor. requires: consistent byte size, valid name (else invalid_argument).
  void put(std::string name, tensor t) {
    check_name(name);
    for (auto s : t.shape)
      if (s < 0) throw std::invalid_argument(prefix(name) + "negative dimension in shape " + shape_string(t.shape));
    const auto want = std::uint64_t(t.numel()) * dtype_size(t.type);
    if (t.bytes.size() != want)
      throw std::invalid_argument(prefix(name) + std::string(dtype_name(t.type)) + " shape " +
                                  shape_string(t.shape) + " needs " + std::to_string(want) + " bytes, got " +
                                  std::to_string(t.bytes.size()));
    m_tensors.insert_or_assign(std::move(name), std::move(t));
  }

  // Typed flat data with a shape (empty = 1-D of data.size()); stored as `as` when given
  // (F32 <-> F64 only). requires: numel(shape) == data.size() (else invalid_argument).
  template <class T>
  void put_vector(std::string name, std::span<const T> data, std::vector<std::int64_t> shape = {},
                  std::optional<dtype> as = std::nullopt) {
    if (shape.empty()) shape = {std::int64_t(data.size())};
    put_typed(std::move(name), data, std::move(shape), as);
  }
  template <class T>
  void put_vector(std::string name, const std::vector<T>& data, std::vector<std::int64_t> shape = {},
                  std::optional<dtype> as = std::nullopt) {
    put_vector(std::move(name), std::span<const T>(data), std::move(shape), as);
  }

  // A 0-d tensor (shape []). ensures: get_scalar<T>(name) == value.
  template <class T>
  void put_scalar(std::string name, T value, std::optional<dtype> as = std::nullopt) {
    put_typed(std::move(name), std::span<const T>(&value, 1), {}, as);
  }

  // An Eigen matrix as a 2-D row-major tensor of its scalar type (or `as`, F32<->F64).
  // requires: floating or integer scalar. ensures: get_matrix returns the same values.
  template <class Derived>
  void put_matrix(std::string name, const Eigen::MatrixBase<Derived>& m, std::optional<dtype> as = std::nullopt) {
    using S = typename Derived::Scalar;
    const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
    put_vector(std::move(name), std::span<const S>(rm.data(), std::size_t(rm.size())),
               {std::int64_t(rm.rows()), std::int64_t(rm.cols())}, as);
  }

  [[nodiscard]] bool contains(std::string_view name) const { return m_tensors.find(name) != m_tensors.end(); }

  // requires: contains(name) (else runtime_error naming the file and the tensor).
  [[nodiscard]] const tensor& at(std::string_view name) const {
    auto it = m_tensors.find(name);
    if (it == m_tensors.end()) throw std::runtime_error(prefix(name) + "no such tensor");
    return it->second;
  }

  // ensures: removes the tensor if present; returns whether it was present.
  bool erase(std::string_view name) {
    auto it = m_tensors.find(name);
    if (it == m_tensors.end()) return false;
    m_tensors.erase(it);
    return true;
  }

  // Flat row-major copy of the data as T. requires: dtype == dtype_of<T> or (float_cast and
  // both floating); when expected_shape is given, the shape must equal it.
  template <class T>
  [[nodiscard]] std::vector<T> get_vector(std::string_view name, convert c = convert::exact,
                                          std::optional<std::vector<std::int64_t>> expected_shape = std::nullopt) const {
    const tensor& t = at(name);
    if (expected_shape && *expected_shape != t.shape)
      throw std::runtime_error(prefix(name) + "shape " + shape_string(t.shape) + ", expected " +
                               shape_string(*expected_shape));
    return convert_to<T>(name, t, c);
  }

  // The single element of a tensor with numel 1 (shape [], [1], [1,1], ...).
  template <class T>
  [[nodiscard]] T get_scalar(std::string_view name, convert c = convert::exact) const {
    const tensor& t = at(name);
    if (t.numel() != 1)
      throw std::runtime_error(prefix(name) + "expected a scalar, found shape " + shape_string(t.shape));
    return convert_to<T>(name, t, c)[0];
  }

  // A 2-D tensor as a row-major Eigen matrix. requires: 2-D; rows/cols match when >= 0.
  template <class T>
  [[nodiscard]] Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> get_matrix(
      std::string_view name, convert c = convert::exact, Eigen::Index rows = -1, Eigen::Index cols = -1) const {
    const tensor& t = at(name);
    if (t.shape.size() != 2 || (rows >= 0 && t.shape[0] != rows) || (cols >= 0 && t.shape[1] != cols))
      throw std::runtime_error(prefix(name) + "shape " + shape_string(t.shape) + ", expected a matrix [" +
                               (rows >= 0 ? std::to_string(rows) : std::string("*")) + ", " +
                               (cols >= 0 ? std::to_string(cols) : std::string("*")) + "]");
    const auto v = convert_to<T>(name, t, c);
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(t.shape[0], t.shape[1]);
    if (!v.empty()) std::memcpy(m.data(), v.data(), v.size() * sizeof(T));
    return m;
  }

  // requires: key and value valid UTF-8 (checked at write).
  void set_metadata(std::string key, std::string value) { m_metadata.insert_or_assign(std::move(key), std::move(value)); }
  // requires: key present (else runtime_error naming the file).
  [[nodiscard]] const std::string& metadata_value(const std::string& key) const {
    auto it = m_metadata.find(key);
    if (it == m_metadata.end())
      throw std::runtime_error("safetensors '" + m_source + "': no metadata key '" + key + "'");
    return it->second;
  }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return m_metadata; }
  [[nodiscard]] std::map<std::string, std::string>& metadata() noexcept { return m_metadata; }
  [[nodiscard]] const tensor_map& tensors() const noexcept { return m_tensors; }
  [[nodiscard]] const std::string& source() const noexcept { return m_source; }
  void set_source(std::string s) { m_source = std::move(s); }

 private:
  std::string prefix(std::string_view name) const {
    return "safetensors '" + m_source + "': tensor '" + std::string(name) + "': ";
  }
  void check_name(const std::string& name) const {
    if (name.empty()) throw std::invalid_argument("safetensors '" + m_source + "': empty tensor name");
    if (name == "__metadata__") throw std::invalid_argument(prefix(name) + "the name is reserved");
    if (!detail::valid_utf8(name)) throw std::invalid_argument(prefix(name) + "name is not valid UTF-8");
  }

  template <class T>
  void put_typed(std::string name, std::span<const T> data, std::vector<std::int64_t> shape, std::optional<dtype> as) {
    tensor t;
    t.shape = std::move(shape);
    for (auto s : t.shape)
      if (s < 0) throw std::invalid_argument(prefix(name) + "negative dimension in shape " + shape_string(t.shape));
    if (std::uint64_t(t.numel()) != data.size())
      throw std::invalid_argument(prefix(name) + "shape " + shape_string(t.shape) + " does not hold " +
                                  std::to_string(data.size()) + " elements");
    t.type = as.value_or(dtype_of<T>());
    if (t.type == dtype_of<T>()) {
      t.bytes.resize(data.size() * sizeof(T));
      if (!data.empty()) std::memcpy(t.bytes.data(), data.data(), t.bytes.size());
    } else if (detail::is_float(t.type) && std::is_floating_point_v<T>) {
      if (t.type == dtype::f32) fill_cast<float>(t, data);
      else fill_cast<double>(t, data);
    } else {
      throw std::invalid_argument(prefix(name) + "cannot store " + std::string(dtype_name(dtype_of<T>())) +
                                  " data as " + std::string(dtype_name(t.type)));
    }
    put(std::move(name), std::move(t));
  }

  template <class D, class T>
  static void fill_cast(tensor& t, std::span<const T> data) {
    t.bytes.resize(data.size() * sizeof(D));
    for (std::size_t i = 0; i < data.size(); ++i) {
      const D d = static_cast<D>(data[i]);
      std::memcpy(t.bytes.data() + i * sizeof(D), &d, sizeof(D));
    }
  }

  template <class T>
  std::vector<T> convert_to(std::string_view name, const tensor& t, convert c) const {
    const std::size_t n = std::size_t(t.numel());
    std::vector<T> out(n);
    if (t.type == dtype_of<T>()) {
      if (n) std::memcpy(out.data(), t.bytes.data(), n * sizeof(T));
    } else if (c == convert::float_cast && detail::is_float(t.type) && std::is_floating_point_v<T>) {
      for (std::size_t i = 0; i < n; ++i) {
        if (t.type == dtype::f32) {
          float f;
          std::memcpy(&f, t.bytes.data() + i * 4, 4);
          out[i] = static_cast<T>(f);
        } else {
          double d;
          std::memcpy(&d, t.bytes.data() + i * 8, 8);
          out[i] = static_cast<T>(d);
        }
      }
    } else {
      throw std::runtime_error(prefix(name) + "dtype " + std::string(dtype_name(t.type)) + ", requested " +
                               std::string(dtype_name(dtype_of<T>())) +
                               (detail::is_float(t.type) && std::is_floating_point_v<T>
                                    ? " (pass convert::float_cast to convert)" : ""));
    }
    return out;
  }

  std::string m_source;
  tensor_map m_tensors;
  std::map<std::string, std::string> m_metadata;
};

namespace detail {

// Tensor order in the data buffer: larger elements first, then by name, so every tensor
// starts aligned to its element size (the header keeps the buffer 8-byte aligned).
inline std::vector<const safetensors_file::tensor_map::value_type*> data_order(const safetensors_file& f) {
  std::vector<const safetensors_file::tensor_map::value_type*> order;
  for (const auto& kv : f.tensors()) order.push_back(&kv);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return dtype_size(a->second.type) > dtype_size(b->second.type);
  });
  return order;
}

// The 8-byte length prefix plus the space-padded JSON header.
inline std::string make_header(const safetensors_file& f) {
  std::string json = "{";
  bool first = true;
  if (!f.metadata().empty()) {
    json += "\"__metadata__\":{";
    for (const auto& [k, v] : f.metadata()) {
      if (!valid_utf8(k) || !valid_utf8(v))
        throw std::invalid_argument("safetensors '" + f.source() + "': metadata '" + k + "' is not valid UTF-8");
      if (!first) json += ',';
      first = false;
      append_json_string(json, k);
      json += ':';
      append_json_string(json, v);
    }
    json += '}';
    first = false;
  }
  std::uint64_t offset = 0;
  for (const auto* kv : data_order(f)) {
    if (!first) json += ',';
    first = false;
    append_json_string(json, kv->first);
    json += ":{\"dtype\":\"";
    json += dtype_name(kv->second.type);
    json += "\",\"shape\":[";
    for (std::size_t i = 0; i < kv->second.shape.size(); ++i) {
      if (i) json += ',';
      json += std::to_string(kv->second.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(offset) + ",";
    offset += kv->second.bytes.size();
    json += std::to_string(offset) + "]}";
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json;
}

}  // namespace detail

// The whole file as bytes (header + data), e.g. for tests or network transfer.
// ensures: parse_safetensors(serialize_safetensors(f)) holds the same tensors and metadata.
inline std::vector<std::byte> serialize_safetensors(const safetensors_file& f) {
  const std::string header = detail::make_header(f);
  std::vector<std::byte> out(header.size());
  std::memcpy(out.data(), header.data(), header.size());
  for (const auto* kv : detail::data_order(f)) out.insert(out.end(), kv->second.bytes.begin(), kv->second.bytes.end());
  return out;
}

// Parses and validates a whole file image. source names the file in messages.
// requires: a valid safetensors image; else runtime_error naming source and the problem
// (header length, JSON, dtype, shape/size mismatch, overlap, gap, truncation, trailing bytes).
inline safetensors_file parse_safetensors(std::span<const std::byte> data, const std::string& source = "<memory>") {
  const auto fail = [&](const std::string& what) -> void {
    throw std::runtime_error("safetensors '" + source + "': " + what);
  };
  if (data.size() < 8) fail("file is " + std::to_string(data.size()) + " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, data.data(), 8);
  constexpr std::uint64_t max_header = 100'000'000;
  if (n > max_header) fail("header length " + std::to_string(n) + " exceeds the limit " + std::to_string(max_header));
  if (n > data.size() - 8)
    fail("file truncated: header length " + std::to_string(n) + " runs past the end of the file (" +
         std::to_string(data.size()) + " bytes)");
  const std::string_view text(reinterpret_cast<const char*>(data.data()) + 8, std::size_t(n));
  if (!detail::valid_utf8(text)) fail("header is not valid UTF-8");
  std::vector<detail::header_parser::entry> entries;
  safetensors_file f(source);
  detail::header_parser(text, source).parse(entries, f.metadata());

  const std::span<const std::byte> buf = data.subspan(8 + std::size_t(n));
  for (const auto& e : entries) {
    const std::string where = "tensor '" + e.name + "': ";
    if (e.name.empty()) fail("empty tensor name");
    if (e.begin > e.end)
      fail(where + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] are reversed");
    std::uint64_t numel = 1;
    for (auto s : e.shape) {
      if (s != 0 && numel > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(s) / 8)
        fail(where + "shape " + shape_string(e.shape) + " overflows");
      numel *= std::uint64_t(s);
    }
    const std::uint64_t nbytes = numel * dtype_size(e.type);
    if (e.end - e.begin != nbytes)
      fail(where + std::string(dtype_name(e.type)) + " shape " + shape_string(e.shape) + " needs " +
           std::to_string(nbytes) + " bytes but data_offsets span " + std::to_string(e.end - e.begin));
  }
  std::vector<const detail::header_parser::entry*> sorted;
  for (const auto& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return std::pair(a->begin, a->end) < std::pair(b->begin, b->end); });
  std::uint64_t pos = 0;
  for (const auto* e : sorted) {
    if (e->begin < pos)
      fail("tensor '" + e->name + "' overlaps the previous tensor (begins at " + std::to_string(e->begin) +
           " < " + std::to_string(pos) + ")");
    if (e->begin > pos)
      fail("gap in the data buffer before tensor '" + e->name + "' (bytes " + std::to_string(pos) + ".." +
           std::to_string(e->begin) + " unused)");
    pos = e->end;
  }
  if (pos > buf.size())
    fail("file truncated: tensor data needs " + std::to_string(pos) + " bytes, only " + std::to_string(buf.size()) +
         " present");
  if (pos < buf.size()) fail(std::to_string(buf.size() - pos) + " trailing bytes after the last tensor");
  for (const auto& e : entries) {
    tensor t;
    t.type = e.type;
    t.shape = e.shape;
    t.bytes.assign(buf.begin() + std::ptrdiff_t(e.begin), buf.begin() + std::ptrdiff_t(e.end));
    f.put(e.name, std::move(t));
  }
  return f;
}

// Reads and validates `path`. ensures: the returned file's source() is path.
// requires: a readable, valid file; else runtime_error naming the file and the problem.
inline safetensors_file read_safetensors(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    throw std::runtime_error("safetensors '" + name + "': not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("safetensors '" + name + "': cannot open for reading: " + std::strerror(errno));
  // The allocation is the file's real size (never a size read from the header): the
  // header length and every data offset are then checked against it by the parser.
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("safetensors '" + name + "': cannot determine the file size: " + ec.message());
  std::vector<std::byte> data(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(data.data()), std::streamsize(size)))
    throw std::runtime_error("safetensors '" + name + "': read failed (file shrank while being read?)");
  return parse_safetensors(data, name);
}

// Writes `f` to path + ".tmp", fsyncs it, renames it over `path` and fsyncs the directory
// (io/atomic_file.hpp). ensures: on success `path` holds the complete new file; on failure
// (runtime_error naming the file) `path` is untouched (old content or absent) and the
// temporary file is removed.
inline void write_safetensors(const std::filesystem::path& path, const safetensors_file& f) {
  const std::string header = detail::make_header(f);  // throws before touching the disk
  try {
    atomic_file out(path);
    out.write(header);
    for (const auto* kv : detail::data_order(f))
      if (!kv->second.bytes.empty()) out.write(kv->second.bytes.data(), kv->second.bytes.size());
    out.commit();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("safetensors '" + path.string() + "': not written (" + e.what() + ")");
  }
}

}  // namespace dsae::io
