#pragma once
// From a dataset on disk to the trainer's sequence sets (needs dsae::xtensor:
// data/dataset.hpp).
//
//   to_sequence_set(features, source)     N x T x F float32 -> sequence_set (all full length)
//   split_train_val(all, seed, fraction)  a seeded random split; validation gets
//                                         max(1, floor(N * fraction)) sequences
//   load_train_val(path, seed)            a dataset folder (train/ and val/ splits,
//                                         docs/data.md) or one .npy file split 80/20
//   data_fingerprint(train, val)          shapes + FNV-1a 64 of the values (config.json's
//                                         "data_fingerprint": --resume and dsae-eval check it)
// Errors (std::runtime_error) name the path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

#include "../data/dataset.hpp"
#include "../data/npy.hpp"
#include "../model/sequential_vae.hpp"
#include "sequence_set.hpp"

namespace dsae::train {

// What a run was trained on: both arrays' shapes and a hash of their values (FNV-1a 64, in
// the order train then val), so that other data is caught even under the same path.
struct array_view {
  const float* data;
  std::size_t size;
  index_t n, t, f;
};
inline nlohmann::json data_fingerprint(const array_view& tr, const array_view& va) {
  std::uint64_t h = 1469598103934665603ull;
  for (const auto* s : {&tr, &va}) {
    const auto* p = reinterpret_cast<const unsigned char*>(s->data);
    for (std::size_t i = 0, n = s->size * sizeof(float); i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  return {{"train", {tr.n, tr.t, tr.f}}, {"val", {va.n, va.t, va.f}}, {"fnv1a64", hex}};
}
inline nlohmann::json data_fingerprint(const sequence_set& tr, const sequence_set& va) {
  return data_fingerprint({tr.data.data(), tr.data.size(), tr.count, tr.frames, tr.features},
                          {va.data.data(), va.data.size(), va.count, va.frames, va.features});
}
inline nlohmann::json data_fingerprint(const xt::xtensor<float, 3>& tr, const xt::xtensor<float, 3>& va) {
  auto view = [](const xt::xtensor<float, 3>& a) {
    return array_view{a.data(), a.size(), index_t(a.shape()[0]), index_t(a.shape()[1]), index_t(a.shape()[2])};
  };
  return data_fingerprint(view(tr), view(va));
}

inline sequence_set to_sequence_set(const xt::xtensor<float, 3>& a, const std::string& source) {
  sequence_set s;
  s.count = index_t(a.shape()[0]);
  s.frames = index_t(a.shape()[1]);
  s.features = index_t(a.shape()[2]);
  s.data.assign(a.begin(), a.end());
  s.source = source;
  return s;
}

// requires: all.count >= 2, 0 < val_fraction < 1.
// ensures: a partition of `all` (lengths kept); the order follows one seeded permutation.
inline std::pair<sequence_set, sequence_set> split_train_val(const sequence_set& all, std::uint64_t seed,
                                                             double val_fraction = 0.2) {
  if (all.count < 2) throw std::runtime_error(all.source + ": needs at least 2 sequences for a train/val split");
  if (!(val_fraction > 0 && val_fraction < 1))
    throw std::runtime_error(all.source + ": validation fraction must be in (0, 1)");
  const auto perm = model::random_permutation(all.count, {seed, 12, 0});
  const index_t n_val =
      std::min<index_t>(all.count - 1, std::max<index_t>(1, index_t(std::floor(double(all.count) * val_fraction))));
  sequence_set tr, va;
  for (auto* s : {&tr, &va}) {
    s->frames = all.frames;
    s->features = all.features;
    s->source = all.source;
  }
  const index_t stride = all.frames * all.features;
  for (index_t k = 0; k < all.count; ++k) {
    auto& dst = k < n_val ? va : tr;
    const index_t i = perm[size_t(k)];
    const float* src = all.data.data() + i * stride;
    dst.data.insert(dst.data.end(), src, src + stride);
    if (!all.lengths.empty()) dst.lengths.push_back(all.lengths[size_t(i)]);
    ++dst.count;
  }
  return {tr, va};
}

inline std::pair<sequence_set, sequence_set> load_train_val(const std::filesystem::path& p, std::uint64_t seed) {
  namespace fs = std::filesystem;
  if (fs::is_directory(p)) {
    if (!data::holds_dataset(p))
      throw std::runtime_error(p.string() + ": not a dsae dataset folder (expected train/features.npy, "
                               "val/features.npy and manifest.json; see docs/data.md)");
    const auto ds = data::load_dataset(p);
    return {to_sequence_set(ds.train().features, (p / "train/features.npy").string()),
            to_sequence_set(ds.val().features, (p / "val/features.npy").string())};
  }
  if (!fs::is_regular_file(p)) throw std::runtime_error(p.string() + ": no such file or folder");
  return split_train_val(to_sequence_set(data::load_features(p.string()), p.string()), seed);
}

}  // namespace dsae::train
