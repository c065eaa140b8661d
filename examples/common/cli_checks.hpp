#pragma once
// CLI11 validators for the examples' numeric options, with short messages. CLI11's
// PositiveNumber / NonNegativeNumber print the type's full range (a 300-digit double) and
// an unsigned option silently wraps "-5" to 18446744073709551611.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace dsae_cli {

// An integer in [lo, hi], written in decimal without a sign for lo >= 0.
inline CLI::Validator integer_in(long long lo, long long hi, const std::string& what) {
  return CLI::Validator(
      [lo, hi, what](std::string& s) -> std::string {
        long long v = 0;
        const auto* end = s.data() + s.size();
        const auto r = std::from_chars(s.data(), end, v);
        if (r.ec == std::errc::result_out_of_range || (r.ptr == end && (v < lo || v > hi)))
          return "must be " + what + " (" + std::to_string(lo) + " to " + std::to_string(hi) + "), got " + s;
        if (r.ec != std::errc() || r.ptr != end) return "must be " + what + ", got '" + s + "'";
        return {};
      },
      what);
}
inline CLI::Validator positive_int(const std::string& what = "a positive integer") {
  return integer_in(1, 1'000'000'000'000LL, what);
}
inline CLI::Validator non_negative_int(const std::string& what = "a non-negative integer") {
  return integer_in(0, 1'000'000'000'000LL, what);
}
// A finite real number > 0.
inline CLI::Validator positive_real() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !std::isfinite(v) || !(v > 0))
          return "must be a finite number > 0, got '" + s + "'";
        return {};
      },
      "a positive number");
}

}  // namespace dsae_cli
