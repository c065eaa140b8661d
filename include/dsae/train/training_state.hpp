#pragma once
// The training state a checkpoint carries as metadata (train/checkpoint.hpp), and the one
// place where that metadata is read back: parse_training_state. A small header of its own so
// that the fuzz target fuzz_run_json exercises exactly this code.
#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "../config.hpp"
#include "../io/numbers.hpp"
#include "../prob/philox.hpp"

namespace dsae::train {

struct training_state {
  index_t next_epoch = 0;      // first epoch not yet run
  int stage = 1;
  std::uint64_t step = 0;      // optimiser steps so far (noise counter)
  double best_val = 1e300;
  index_t best_epoch = -1;
  index_t epochs_since_best = 0;
  bool finished = false;
  int noise_stream = prob::noise_stream_version;  // of the run so far (1: before 2026-12-04)
};

// The training state of a checkpoint's metadata, every field parsed by io/numbers.hpp
// (strictly decimal) and range-checked, since the file may come from anywhere: a negative
// next_epoch would train epochs -3..1, best_val nan would never improve, step -1 would wrap.
// The one place where checkpoint metadata is read. Throws std::runtime_error naming `where`.
inline training_state parse_training_state(const std::map<std::string, std::string>& md, const std::string& where) {
  constexpr index_t max_epochs = 1'000'000'000'000LL;  // the --epochs bound
  training_state s;
  std::string field;
  try {
    auto get = [&](const char* k) -> const std::string& {
      field = k;
      const auto it = md.find(k);
      if (it == md.end()) throw std::invalid_argument("missing");
      return it->second;
    };
    s.stage = io::parse_integer<int>(get("stage"), 1, 2, "a stage");
    s.next_epoch = io::parse_integer<index_t>(get("next_epoch"), 0, max_epochs, "an epoch count");
    s.step = io::parse_integer<std::uint64_t>(get("step"), 0, std::uint64_t(1) << 62, "a step count");
    // 1e300 = "no best yet" (what a fresh run writes); a loss is finite.
    s.best_val = io::parse_real(get("best_val"), -1e300, 1e300, "a finite validation loss");
    s.best_epoch = io::parse_integer<index_t>(get("best_epoch"), -1, std::max<index_t>(s.next_epoch - 1, -1),
                                              "-1 or an epoch before next_epoch");
    s.epochs_since_best = io::parse_integer<index_t>(get("epochs_since_best"), 0, s.next_epoch,
                                                     "an epoch count up to next_epoch");
    const int fin = io::parse_integer<int>(get("finished"), 0, 1, "0 or 1");
    s.finished = fin == 1;
    // Absent: written before the noise stream was versioned, i.e. version 1.
    s.noise_stream = md.count("noise_stream")
                         ? io::parse_integer<int>(get("noise_stream"), 1, prob::noise_stream_version, "a noise stream version")
                         : 1;
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("checkpoint '" + where + "': bad training state metadata: " + field + " " + e.what());
  }
  return s;
}

}  // namespace dsae::train
