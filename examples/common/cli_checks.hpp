#pragma once
// CLI11 transforms for the examples' numeric options, with short messages. Every number is
// parsed by dsae::io (io/numbers.hpp: strictly decimal, with its range) and the option's text
// is replaced by the canonical decimal, so CLI11's own conversion never sees "010" (which it
// reads as octal), "-1" for an unsigned option (which it wraps) or a 300-digit range.
// Use with ->transform(...), never ->check(...) (a check cannot rewrite the text).
#include <CLI/CLI.hpp>

#include <dsae/io/numbers.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace dsae_cli {

// An integer in [lo, hi].
template <class I = long long>
CLI::Validator integer_in(I lo, I hi, const std::string& what) {
  return CLI::Validator(
      [lo, hi, what](std::string& s) -> std::string {
        I v{};
        std::string why = dsae::io::check_integer(s, lo, hi, what, &v);
        if (why.empty()) s = std::to_string(v);
        return why;
      },
      what);
}
inline CLI::Validator positive_int(const std::string& what = "a positive integer") {
  return integer_in<long long>(1, 1'000'000'000'000LL, what);
}
inline CLI::Validator non_negative_int(const std::string& what = "a non-negative integer") {
  return integer_in<long long>(0, 1'000'000'000'000LL, what);
}
// Seeds: any unsigned 64-bit value, never a wrapped "-1".
inline CLI::Validator seed() {
  return integer_in<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max(), "an unsigned 64-bit seed");
}
// A finite real number in [lo, hi]; positive_real: > 0.
inline CLI::Validator real_in(double lo, double hi, const std::string& what) {
  return CLI::Validator(
      [lo, hi, what](std::string& s) -> std::string {
        double v = 0;
        return dsae::io::check_real(s, lo, hi, what, &v);
      },
      what);
}
inline CLI::Validator positive_real() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        std::string why = dsae::io::check_real(s, 0, 1e300, "a finite number > 0", &v);
        if (why.empty() && !(v > 0)) why = "must be a finite number > 0, got '" + s + "'";
        return why;
      },
      "a positive number");
}

}  // namespace dsae_cli

namespace dsae_cli {
// CLI11_PARSE with the tools' exit status: 0 for --help, 2 for any command-line error
// (CLI11's own codes, 105 and up, would read as crashes to a driver). Returns -1 to go on.
inline int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return -1;
}
}  // namespace dsae_cli
