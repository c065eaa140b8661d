#pragma once
// The one place where dsae reads a number from text: command-line options (through
// examples/common/cli_checks.hpp), checkpoint metadata and the other text fields of files.
//
//   parse_integer<I>(text, lo, hi, what)   strictly decimal: an optional '-' (only when lo < 0)
//                                          and digits; "010" is ten (never octal), "0x10",
//                                          "+1", " 1", "1.0", "1e3" are refused; the value
//                                          must lie in [lo, hi] (no wrap-around of "-1")
//   parse_real(text, lo, hi, what)         a finite decimal number in [lo, hi]
//   check_integer / check_real             the same, returning the message instead of throwing
//
// Messages read "must be WHAT (LO to HI), got 'TEXT'", so callers prefix the name of the
// option or the file and field.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace dsae::io {

namespace detail {
template <class I>
std::string range_text(I lo, I hi) {
  return std::to_string(lo) + " to " + std::to_string(hi);
}
inline std::string quoted(std::string_view s) {
  std::string q(s.substr(0, 80));
  if (s.size() > 80) q += "...";
  return "'" + q + "'";
}
}  // namespace detail

// Empty on success (and *out set), else the reason.
template <class I>
std::string check_integer(std::string_view s, I lo, I hi, std::string_view what, I* out = nullptr) {
  static_assert(std::is_integral_v<I> && !std::is_same_v<I, bool>);
  const std::string bad = "must be " + std::string(what) + " (" + detail::range_text(lo, hi) + "), got " +
                          detail::quoted(s);
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) i = 1;
  if (i == s.size()) return bad;
  for (std::size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return bad;
  if (negative && lo >= 0) return bad;  // "-1" for an unsigned option: never wrapped
  I v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v, 10);  // base 10: "010" is ten
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi) return bad;
  if (out) *out = v;
  return {};
}

template <class I>
I parse_integer(std::string_view s, I lo, I hi, std::string_view what) {
  I v{};
  if (auto why = check_integer(s, lo, hi, what, &v); !why.empty()) throw std::invalid_argument(why);
  return v;
}

// A finite decimal number ("1e-3", "0.5", "-2"; no "inf", "nan", hex or surrounding spaces).
inline std::string check_real(std::string_view s, double lo, double hi, std::string_view what,
                              double* out = nullptr) {
  auto num = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", x);
    return std::string(b);
  };
  const std::string bad = "must be " + std::string(what) + " (" + num(lo) + " to " + num(hi) + "), got " +
                          detail::quoted(s);
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) return bad;
  if (s.empty() || s[0] == '+') return bad;
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v) || v < lo || v > hi) return bad;
  if (out) *out = v;
  return {};
}

inline double parse_real(std::string_view s, double lo, double hi, std::string_view what) {
  double v = 0;
  if (auto why = check_real(s, lo, hi, what, &v); !why.empty()) throw std::invalid_argument(why);
  return v;
}

}  // namespace dsae::io
