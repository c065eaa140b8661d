#pragma once
// Project-wide basics: index type, host/device qualifiers, error helpers.

// Library version. CMakeLists.txt fails the configure when these differ from
// project(VERSION), so the two cannot drift apart.
#define DSAE_VERSION_MAJOR 0
#define DSAE_VERSION_MINOR 1
#define DSAE_VERSION_PATCH 0
// One comparable number: 10000 * major + 100 * minor + patch (0.1.0 -> 100).
#define DSAE_VERSION (DSAE_VERSION_MAJOR * 10000 + DSAE_VERSION_MINOR * 100 + DSAE_VERSION_PATCH)
#define DSAE_VERSION_STRING "0.1.0"

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

// CCCL 3 does not define __host__/__device__ for g++, so every function that a
// Thrust functor may call goes through this macro.
#if defined(__CUDACC__)
#define DSAE_HD __host__ __device__
#else
#define DSAE_HD
#endif

namespace dsae {

using index_t = std::int64_t;

// A (rows x cols) shape, printed as "[rows x cols]" in error messages.
struct shape2 {
  index_t rows = 0, cols = 0;
  friend bool operator==(const shape2&, const shape2&) = default;
};
inline std::string to_string(shape2 s) {
  return "[" + std::to_string(s.rows) + " x " + std::to_string(s.cols) + "]";
}

namespace detail {
template <class... A>
[[noreturn]] inline void fail(const A&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw std::invalid_argument(os.str());
}
// Whether module entry points scan their inputs for NaN/Inf. On by default;
// a model that validates its batch once turns it off for the internal calls
// (unchecked_inputs), so the scan is not paid on every layer.
inline bool& finite_checks() {
  thread_local bool on = true;
  return on;
}
}  // namespace detail

// RAII: disables the per-module NaN/Inf scan in this scope (this thread).
struct unchecked_inputs {
  bool m_prev;
  unchecked_inputs() : m_prev(detail::finite_checks()) { detail::finite_checks() = false; }
  ~unchecked_inputs() { detail::finite_checks() = m_prev; }
  unchecked_inputs(const unchecked_inputs&) = delete;
  unchecked_inputs& operator=(const unchecked_inputs&) = delete;
};

// Throws std::invalid_argument "<where>: <what> <got>, expected <want>" when shapes differ.
inline void check_shape(const char* where, const char* what, shape2 got, shape2 want) {
  if (!(got == want))
    detail::fail(where, ": ", what, " has shape ", to_string(got), ", expected ",
                 to_string(want));
}

}  // namespace dsae
