// libFuzzer target: the JSON readers of a run folder (issue 19). The first byte picks the
// reader, the rest is its input:
//   even: config.json as dsae-eval reads it (io/run_config.hpp: typed, bounded sizes) and
//         the run-folder marker check (io/run_dir.hpp's rule: a top-level "format")
//   odd:  a checkpoint's metadata (the "__metadata__" object of its safetensors header, all
//         strings) through train/training_state.hpp's parse_training_state
// Property: a clean error (std::runtime_error) or a result within the documented ranges.
#include <dsae/io/run_config.hpp>
#include <dsae/train/training_state.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    try {
      const auto c = dsae::io::parse_run_config(text, "fuzz/config.json");
      const auto hi = dsae::model::model_sizes::max_latent;
      if (c.z < 1 || c.z > hi || c.v < 1 || c.v > hi) std::abort();
    } catch (const std::runtime_error&) {
    }
    return 0;
  }
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return 0;
  std::map<std::string, std::string> md;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.value().is_string()) md[it.key()] = it.value().get<std::string>();  // safetensors: strings only
  try {
    const auto s = dsae::train::parse_training_state(md, "fuzz/checkpoint.safetensors");
    if (s.next_epoch < 0 || s.stage < 1 || s.stage > 2 || !std::isfinite(s.best_val) || s.best_epoch < -1 ||
        s.best_epoch >= s.next_epoch ||
        s.epochs_since_best < 0 || s.epochs_since_best > s.next_epoch || s.step > (std::uint64_t(1) << 62))
      std::abort();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
