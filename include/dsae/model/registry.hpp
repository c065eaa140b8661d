#pragma once
// The method registry: the one list of the paper's methods and of the slot choices the
// commands offer, and the dispatch from their names to a model type. dsae-train, dsae-eval,
// dsae-encode and the benches dispatch through with_variant; `dsae-train --list-methods`
// prints methods_json(), which the Python drivers (dsae-experiment, plots.py) read instead
// of keeping their own tables. A new method: a struct in model/variants.hpp's namespace
// method (name, label, description, model) added to `methods` below.
//
//   with_variant<cpu<float>>("ts-dsae", "factorised", "factorised",
//                            [&]<class Model>() { Model m(sizes, seed); ... });
#include <array>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "../backend/cpu.hpp"
#include "variants.hpp"

namespace dsae::model {

// The methods, in the paper's order.
using methods = std::tuple<method::dsae, method::dsae_f, method::ts_dsae_noreg, method::ts_dsae>;

struct method_info {
  std::string_view name, label, description;
  bool two_stage;
};

template <class M>
constexpr method_info info_of() {
  using model_type = typename M::template model<cpu<double>, factorised_local_encoder, factorised_decoder>;
  return {M::name, M::label, M::description, model_type::policy::two_stage};
}
inline constexpr auto method_infos = []<class... M>(std::tuple<M...>*) {
  return std::array<method_info, sizeof...(M)>{info_of<M>()...};
}(static_cast<methods*>(nullptr));

// Local posterior (--q) and decoder (--decoder) choices.
inline constexpr std::array<std::string_view, 2> local_encoder_names{"factorised", "full"};
inline constexpr std::array<std::string_view, 2> decoder_names{"factorised", "richer"};

inline bool is_method(std::string_view name) {
  for (const auto& m : method_infos)
    if (m.name == name) return true;
  return false;
}

// requires: names from the registry; otherwise std::invalid_argument naming the choices.
// ensures: f.template operator()<Model>() for the variant on Backend, its result returned.
template <class Backend, class F>
decltype(auto) with_variant(std::string_view method_name, std::string_view q, std::string_view decoder, F&& f) {
  auto list = [](const auto& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + std::string(n);
    return s;
  };
  if (q != "factorised" && q != "full")
    throw std::invalid_argument("unknown local posterior q '" + std::string(q) + "' (one of: " +
                                list(local_encoder_names) + ")");
  if (decoder != "factorised" && decoder != "richer")
    throw std::invalid_argument("unknown decoder '" + std::string(decoder) + "' (one of: " + list(decoder_names) + ")");
  if (!is_method(method_name)) {
    std::string names;
    for (const auto& m : method_infos) names += (names.empty() ? "" : ", ") + std::string(m.name);
    throw std::invalid_argument("unknown method '" + std::string(method_name) + "' (one of: " + names + ")");
  }
  auto by_slots = [&]<template <class> class Local, template <class> class Decoder>() -> decltype(auto) {
    // The first method whose name matches; all branches return the same type.
    return [&]<class... M>(std::tuple<M...>*) -> decltype(auto) {
      using first = std::tuple_element_t<0, methods>;
      using result = decltype(f.template operator()<variant<Backend, Local, Decoder, first>>());
      if constexpr (std::is_void_v<result>) {
        (void)((M::name == method_name ? (f.template operator()<variant<Backend, Local, Decoder, M>>(), true) : false) ||
               ...);
      } else {
        // Returned by value (a prvalue): decltype(auto) of std::move(*r) would be a
        // reference into this frame.
        std::optional<result> r;
        (void)((M::name == method_name ? (r.emplace(f.template operator()<variant<Backend, Local, Decoder, M>>()), true)
                                       : false) ||
               ...);
        return result(std::move(*r));
      }
    }(static_cast<methods*>(nullptr));
  };
  const bool full = q == "full", rich = decoder == "richer";
  if (full && rich) return by_slots.template operator()<full_local_encoder, richer_decoder>();
  if (full) return by_slots.template operator()<full_local_encoder, factorised_decoder>();
  if (rich) return by_slots.template operator()<factorised_local_encoder, richer_decoder>();
  return by_slots.template operator()<factorised_local_encoder, factorised_decoder>();
}

// Machine-readable registry (JSON; the core has no JSON library, names need no escaping
// beyond what is done here).
inline std::string methods_json() {
  auto quoted = [](std::string_view t) {
    std::string q = "\"";
    for (char c : t) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
  };
  std::string s = "{\"methods\": [";
  for (std::size_t k = 0; k < method_infos.size(); ++k) {
    const auto& m = method_infos[k];
    s += std::string(k ? ", " : "") + "{\"name\": " + quoted(m.name) + ", \"label\": " + quoted(m.label) +
         ", \"two_stage\": " + (m.two_stage ? "true" : "false") + ", \"description\": " + quoted(m.description) + "}";
  }
  s += "], \"q\": [";
  for (std::size_t k = 0; k < local_encoder_names.size(); ++k) s += (k ? ", " : "") + quoted(local_encoder_names[k]);
  s += "], \"decoder\": [";
  for (std::size_t k = 0; k < decoder_names.size(); ++k) s += (k ? ", " : "") + quoted(decoder_names[k]);
  return s + "]}";
}

}  // namespace dsae::model
