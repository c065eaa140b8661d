#pragma once
// A dsae-train run's model and data, for the commands that read a run (dsae-encode, dsae-eval's
// generic mode).
//
//   read_run_config(run)            RUN/config.json through io::parse_run_config (sizes typed
//                                   and bounded) plus the raw JSON
//   with_run_model(config, f)       f.template operator()<Model>() for the run's variant
//                                   (method, q, decoder), as dsae-eval dispatches
//   load_run_weights(path, model)   the stage the weights were saved in, then the weights
//   run_data_source(config)         the data the run was trained on (config.json's "data",
//                                   "data_files", "seed", "val_fraction")
// Errors are std::runtime_error naming the file and the field.
#include <dsae/dsae.hpp>
#include <dsae/model/registry.hpp>
#include <dsae/io/files.hpp>
#include <dsae/io/run_config.hpp>
#include <dsae/io/safetensors.hpp>
#include <dsae/train/dataset_sets.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <vector>
#include <stdexcept>
#include <string>
#include <utility>

namespace dsae_cli {

struct run_files {
  dsae::io::run_config config;  // method, q, decoder, z, v, data_fingerprint
  nlohmann::json raw;           // the whole config.json
  std::filesystem::path path;   // RUN/config.json
};

// requires: run is a dsae-train run folder. ensures: its config.json parsed and checked.
inline run_files read_run_config(const std::filesystem::path& run) {
  run_files f;
  f.path = run / "config.json";
  std::string text;
  try {
    text = dsae::io::read_regular_file(f.path, dsae::io::max_json_bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + " (is --run a dsae-train run folder?)");
  }
  f.config = dsae::io::parse_run_config(text, f.path.string());  // valid JSON from here on
  f.raw = nlohmann::json::parse(text);
  return f;
}

// Calls f.template operator()<Model>() with the run's variant on cpu<float> (the method
// registry, model/registry.hpp); an unknown name is an error naming config.json.
template <class F>
decltype(auto) with_run_model(const dsae::io::run_config& c, F&& f) {
  try {
    return dsae::model::with_variant<dsae::cpu<float>>(c.method, c.q, c.decoder, std::forward<F>(f));
  } catch (const std::invalid_argument& e) {
    if (!dsae::model::is_method(c.method) || (c.q != "factorised" && c.q != "full") ||
        (c.decoder != "factorised" && c.decoder != "richer"))
      throw std::runtime_error(std::string("config.json: ") + e.what());
    throw;
  }
}

// The weights' own stage (metadata "stage", written by save_weights) decides what the
// objective compares KL_v with; weights without it (a PyTorch export) count as final (2).
template <class Model>
int load_run_weights(const std::filesystem::path& path, Model& m) {
  int stage = 2;
  {
    const auto f = dsae::io::read_safetensors(path);
    const auto& md = f.metadata();
    if (auto it = md.find("stage"); it != md.end()) {
      if (it->second != "1" && it->second != "2")
        throw std::runtime_error(path.string() + ": metadata \"stage\" is '" + it->second.substr(0, 20) +
                                 "', expected 1 or 2");
      stage = it->second == "1" ? 1 : 2;
    }
  }
  if (stage == 1 && !Model::policy::two_stage)
    throw std::runtime_error(path.string() + ": stage 1 for a single-stage variant");
  m.restore_stage(stage);
  dsae::train::load_weights(path, m);
  return stage;
}

// What the run was trained on, as dsae-train's --data, --lengths, --labels, --label-names,
// --val-data, --val-lengths, --val-labels, --val-fraction and --seed (the split's seed).
// data is empty when config.json does not record it (runs before issue 18).
inline dsae::train::data_source run_data_source(const run_files& f) {
  const auto& j = f.raw;
  const std::string where = f.path.string();
  auto str = [&](const nlohmann::json& o, const char* k, const std::string& ctx) -> std::string {
    if (!o.contains(k)) return {};
    if (!o[k].is_string() || o[k].get<std::string>().empty())
      throw std::runtime_error(where + ": field \"" + ctx + k + "\" must be a non-empty string");
    return o[k].get<std::string>();
  };
  dsae::train::data_source s;
  s.data = str(j, "data", "");  // empty for runs written before it was recorded
  if (j.contains("data_files")) {
    const auto& d = j["data_files"];
    if (!d.is_object()) throw std::runtime_error(where + ": field \"data_files\" must be an object");
    s.lengths = str(d, "lengths", "data_files.");
    s.labels = str(d, "labels", "data_files.");
    s.val_data = str(d, "val_data", "data_files.");
    s.val_lengths = str(d, "val_lengths", "data_files.");
    s.val_labels = str(d, "val_labels", "data_files.");
    if (d.contains("label_names")) {
      const auto& n = d["label_names"];
      if (!n.is_array() || n.size() > 64 ||
          !std::all_of(n.begin(), n.end(), [](const auto& e) { return e.is_string(); }))
        throw std::runtime_error(where + ": field \"data_files.label_names\" must be an array of at most 64 strings");
      s.label_names = n.get<std::vector<std::string>>();
    }
  }
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned())
      throw std::runtime_error(where + ": field \"seed\" must be an unsigned integer");
    s.seed = j["seed"].get<std::uint64_t>();
  } else {
    s.seed = 831;  // dsae-train's default
  }
  if (j.contains("val_fraction")) {
    const auto& v = j["val_fraction"];
    if (!v.is_number() || !(v.get<double>() > 0 && v.get<double>() < 1))
      throw std::runtime_error(where + ": field \"val_fraction\" must be a number in (0, 1)");
    s.val_fraction = v.get<double>();
  }
  return s;
}

}  // namespace dsae_cli
