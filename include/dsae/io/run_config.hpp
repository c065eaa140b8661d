#pragma once
// dsae-eval's reader of a run's config.json (written by dsae-train), in a header so that
// the fuzz target fuzz_config exercises exactly this code.
//
//   parse_run_config(text, where)   method, q, decoder, z, v, settings, data_fingerprint
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../model/sizes.hpp"

namespace dsae::io {

struct run_config {
  std::string method, q, decoder;
  index_t z = 16, v = 16;
  std::vector<std::string> settings;  // dsae-train --set, "component.key=value" each, in order
  nlohmann::json data_fingerprint;  // null for runs written before it was recorded
};

// The one reader of a run's config.json in dsae-eval: a regular file of bounded size, every
// field type-checked ("z": 2^62 or 16.7 is refused, not truncated or overflowed) and every
// size within model_sizes' bounds. Throws std::runtime_error naming the file and field.
inline run_config parse_run_config(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw std::runtime_error(where + ": not a JSON object");
  auto str = [&](const char* k, const char* def) -> std::string {
    if (!j.contains(k)) {
      if (def) return def;
      throw std::runtime_error(where + ": missing field \"" + k + "\" (is --run a dsae-train run folder?)");
    }
    if (!j[k].is_string()) throw std::runtime_error(where + ": field \"" + k + "\" must be a string");
    return j[k].get<std::string>();
  };
  auto size = [&](const char* k, index_t def) -> index_t {
    if (!j.contains(k)) return def;
    const auto& x = j[k];
    const index_t hi = model::model_sizes::max_latent;
    if (!x.is_number_integer() || (x.is_number_unsigned() ? x.get<std::uint64_t>() > std::uint64_t(hi)
                                                          : (x.get<std::int64_t>() < 1 || x.get<std::int64_t>() > hi)))
      throw std::runtime_error(where + ": field \"" + k + "\" must be an integer from 1 to " + std::to_string(hi) +
                               ", got " + x.dump().substr(0, 40));
    return x.get<index_t>();
  };
  run_config c;
  c.method = str("method", nullptr);
  c.q = str("q", "factorised");
  c.decoder = str("decoder", "factorised");
  if (!j.contains("z")) throw std::runtime_error(where + ": missing field \"z\"");
  c.z = size("z", 16);
  c.v = size("v", 16);
  if (c.z == 0 || c.v == 0) throw std::runtime_error(where + ": latent sizes must be positive");
  if (j.contains("settings")) {
    const auto& a = j["settings"];
    if (!a.is_array() || a.size() > 256)
      throw std::runtime_error(where + ": field \"settings\" must be an array of at most 256 strings");
    for (const auto& e : a) {
      if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>().size() > 256)
        throw std::runtime_error(where + ": field \"settings\" must hold strings of 1-256 characters");
      c.settings.push_back(e.get<std::string>());
    }
  }
  if (j.contains("data_fingerprint")) c.data_fingerprint = j["data_fingerprint"];
  return c;
}

}  // namespace dsae::io
