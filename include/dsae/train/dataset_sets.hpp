#pragma once
// From a dataset on disk to the trainer's sequence sets (needs dsae::xtensor:
// data/dataset.hpp).
//
//   to_sequence_set(features, source)     N x T x F float32 -> sequence_set (all full length)
//   to_sequence_set(split, names, source) a dataset split with its lengths and labels
//   split_train_val(all, seed, fraction)  a seeded random split; validation gets
//                                         max(1, floor(N * fraction)) sequences
//   load_train_val(data_source)           a dataset folder (train/ and val/ splits with
//                                         optional lengths.npy / labels.npy, docs/data.md) or
//                                         .npy files: features (float32/float64), lengths,
//                                         labels, and a validation file or a seeded fraction
//   load_train_val(path, seed)            the same with defaults (one .npy: fraction 0.2)
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
#include <set>
#include <tuple>
#include <utility>
#include <vector>

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
// Lengths and labels, when given, are part of what was trained on (added as their own keys,
// so the fingerprint of data without them is unchanged).
inline nlohmann::json data_fingerprint(const sequence_set& tr, const sequence_set& va) {
  auto fp = data_fingerprint({tr.data.data(), tr.data.size(), tr.count, tr.frames, tr.features},
                             {va.data.data(), va.data.size(), va.count, va.frames, va.features});
  auto hash_of = [](const auto& a, const auto& b) {
    std::uint64_t h = 1469598103934665603ull;
    for (const auto* v : {&a, &b}) {
      const auto* p = reinterpret_cast<const unsigned char*>(v->data());
      for (std::size_t i = 0, n = v->size() * sizeof((*v)[0]); i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    return std::string(hex);
  };
  if (!tr.lengths.empty() || !va.lengths.empty()) fp["lengths_fnv1a64"] = hash_of(tr.lengths, va.lengths);
  if (!tr.labels.empty() || !va.labels.empty()) fp["labels_fnv1a64"] = hash_of(tr.labels, va.labels);
  return fp;
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

// A split of a dataset folder, with its lengths and labels (names: the dataset's).
inline sequence_set to_sequence_set(const data::split_data& sp, const std::vector<std::string>& label_names,
                                    const std::string& source) {
  sequence_set s = to_sequence_set(sp.features, source);
  s.lengths.assign(sp.lengths.begin(), sp.lengths.end());
  if (sp.label_values.size() != 0) {
    s.labels.assign(sp.label_values.begin(), sp.label_values.end());
    s.label_names = label_names;
  }
  return s;
}

// requires: all.count >= 2, 0 < val_fraction < 1.
// ensures: a partition of `all` (lengths kept); the order follows one seeded permutation.
inline std::pair<sequence_set, sequence_set> split_train_val(const sequence_set& all, std::uint64_t seed,
                                                             double val_fraction = 0.2) {
  if (all.count < 2) throw std::runtime_error(all.source + ": needs at least 2 sequences for a train/val split");
  if (!(val_fraction > 0 && val_fraction < 1))
    throw std::runtime_error(all.source + ": validation fraction must be in (0, 1)");
  const auto perm = prob::random_permutation(all.count, {seed, 12, 0});
  const index_t n_val =
      std::min<index_t>(all.count - 1, std::max<index_t>(1, index_t(std::floor(double(all.count) * val_fraction))));
  sequence_set tr, va;
  for (auto* s : {&tr, &va}) {
    s->frames = all.frames;
    s->features = all.features;
    s->source = all.source;
    s->label_names = all.label_names;
  }
  const index_t K = all.label_count();
  const index_t stride = all.frames * all.features;
  for (index_t k = 0; k < all.count; ++k) {
    auto& dst = k < n_val ? va : tr;
    const index_t i = perm[size_t(k)];
    const float* src = all.data.data() + i * stride;
    dst.data.insert(dst.data.end(), src, src + stride);
    if (!all.lengths.empty()) dst.lengths.push_back(all.lengths[size_t(i)]);
    for (index_t k = 0; k < K; ++k) dst.labels.push_back(all.label(i, k));
    ++dst.count;
  }
  return {tr, va};
}

// Where the training data comes from (dsae-train --data, --lengths, --labels, --val-*).
struct data_source {
  std::string data;                      // dataset folder or N x T x F .npy
  std::string lengths, labels;           // .npy route: N integers; N or N x K integers
  std::string val_data, val_lengths, val_labels;  // .npy route: a validation set of one's own
  std::vector<std::string> label_names;  // .npy route: K names (default label0..)
  double val_fraction = 0.2;             // .npy route without val_data
  std::uint64_t seed = 0;                // of the split
};

struct loaded_data {
  sequence_set train, val;
  std::string split;               // how validation was chosen (printed, recorded in config.json)
  std::vector<std::string> notes;  // conversions done (float64 -> float32), printed once
};

namespace detail {
inline void require_npy_route(const data_source& s, const std::string& option, const std::string& value) {
  if (!value.empty())
    throw std::runtime_error(option + " " + value + ": only with --data FILE.npy; the dataset folder " + s.data +
                             " holds its own (DIR/<split>/lengths.npy, labels.npy; docs/data.md)");
}
// A label with one class cannot be evaluated (LDA, swap pairs): refused before training.
inline void check_label_classes(const sequence_set& s, const std::string& file) {
  for (index_t k = 0; k < s.label_count(); ++k) {
    const auto y = s.label_column(k);
    if (std::set<int>(y.begin(), y.end()).size() < 2)
      throw std::runtime_error(file + ": label '" + s.label_names[size_t(k)] + "' has a single class (" +
                               std::to_string(y.empty() ? 0 : y[0]) + ") in all " + std::to_string(s.count) +
                               " sequences: nothing to evaluate with it; drop that column");
  }
}
// One .npy file set: features (+ lengths, labels), validated; labels named by `names`.
inline sequence_set load_npy_set(const std::string& x, const std::string& lengths, const std::string& labels,
                                 const std::vector<std::string>& names, std::vector<std::string>& notes) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(x)) throw std::runtime_error(x + ": no such file (or not a regular file)");
  if (data::npy_dtype(x) == "<f8") notes.push_back(x + ": float64 features converted to float32");
  sequence_set s = to_sequence_set(data::load_features(x, false), x);  // finiteness: validate(), valid frames
  if (!lengths.empty()) {
    const auto l = data::detail::load_lengths(lengths, size_t(s.count), size_t(s.frames));
    s.lengths.assign(l.begin(), l.end());
  }
  if (!labels.empty()) {
    const auto y = data::detail::load_labels(labels, size_t(s.count));
    s.labels.assign(y.begin(), y.end());
    if (!names.empty() && names.size() != y.shape(1))
      throw std::runtime_error(labels + ": " + std::to_string(y.shape(1)) + " labels per sequence, --label-names "
                               "gives " + std::to_string(names.size()) + " names");
    for (std::size_t k = 0; k < y.shape(1); ++k)
      s.label_names.push_back(names.empty() ? "label" + std::to_string(k) : names[k]);
    check_label_classes(s, labels);
  }
  try {
    s.validate();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) +
                             (lengths.empty() ? " (padding? give each sequence's length with --lengths)" : ""));
  }
  return s;
}
}  // namespace detail

// requires: s.data names a dataset folder or an N x T x F .npy. Errors name the file.
// ensures: train and val validated, with the same T, F and label names.
inline loaded_data load_train_val(const data_source& s) {
  namespace fs = std::filesystem;
  const fs::path p(s.data);
  loaded_data out;
  if (fs::is_directory(p)) {
    for (const auto& [opt, v] : {std::pair{"--lengths", s.lengths}, {"--labels", s.labels}, {"--val-data", s.val_data},
                                 {"--val-lengths", s.val_lengths}, {"--val-labels", s.val_labels}})
      detail::require_npy_route(s, opt, v);
    if (!data::holds_dataset(p))
      throw std::runtime_error(p.string() + ": not a dsae dataset folder (expected train/features.npy, "
                               "val/features.npy and manifest.json; see docs/data.md)");
    const auto ds = data::load_dataset(p);
    out.train = to_sequence_set(ds.train(), ds.label_names, (p / "train/features.npy").string());
    detail::check_label_classes(out.train, (p / "train/labels.npy").string());
    out.val = to_sequence_set(ds.val(), ds.label_names, (p / "val/features.npy").string());
    out.split = "the dataset's val split";
  } else {
    if (!fs::exists(p)) throw std::runtime_error(p.string() + ": no such file or folder");
    if (s.val_data.empty()) {
      if (!s.val_lengths.empty() || !s.val_labels.empty())
        throw std::runtime_error("--val-lengths / --val-labels need --val-data");
      const auto all = detail::load_npy_set(s.data, s.lengths, s.labels, s.label_names, out.notes);
      std::tie(out.train, out.val) = split_train_val(all, s.seed, s.val_fraction);
      char buf[160];
      std::snprintf(buf, sizeof buf, "a seeded random %g of %s (seed %llu): %lld train, %lld val", s.val_fraction,
                    p.filename().c_str(), (unsigned long long)s.seed, (long long)out.train.count,
                    (long long)out.val.count);
      out.split = buf;
    } else {
      if (!s.labels.empty() && s.val_labels.empty())
        throw std::runtime_error("--labels " + s.labels + " needs --val-labels for --val-data " + s.val_data);
      if (!s.lengths.empty() != !s.val_lengths.empty())
        throw std::runtime_error("--lengths and --val-lengths go together (padding is padding in both sets)");
      out.train = detail::load_npy_set(s.data, s.lengths, s.labels, s.label_names, out.notes);
      out.val = detail::load_npy_set(s.val_data, s.val_lengths, s.val_labels, s.label_names, out.notes);
      out.split = "--val-data " + s.val_data;
    }
  }
  if (out.val.frames != out.train.frames || out.val.features != out.train.features)
    throw std::runtime_error(out.val.source + ": " + std::to_string(out.val.frames) + " frames x " +
                             std::to_string(out.val.features) + " features, the training set has " +
                             std::to_string(out.train.frames) + " x " + std::to_string(out.train.features));
  if (out.val.label_count() != out.train.label_count())
    throw std::runtime_error(out.val.source + ": " + std::to_string(out.val.label_count()) +
                             " labels per sequence, the training set has " + std::to_string(out.train.label_count()));
  out.train.validate();
  out.val.validate();
  return out;
}

inline std::pair<sequence_set, sequence_set> load_train_val(const std::filesystem::path& p, std::uint64_t seed) {
  data_source s;
  s.data = p.string();
  s.seed = seed;
  auto d = load_train_val(s);
  return {std::move(d.train), std::move(d.val)};
}

}  // namespace dsae::train
