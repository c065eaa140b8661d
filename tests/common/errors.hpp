#pragma once
// Shared test helpers for error messages: the text a call throws ("" when it does not),
// and substring search.
#include <exception>
#include <string>

namespace dsae_test_errors {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
inline bool has(const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; }

}  // namespace dsae_test_errors
