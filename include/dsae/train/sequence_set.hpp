#pragma once
// sequence_set: a host-side set of N sequences of up to T frames of F features
// (row-major N x T x F, float32 as in the dataset .npy files), with lengths and,
// optionally, K integer labels per sequence (evaluation, --eval-every).
// batch_into() gathers any subset into a time-major model batch.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>
#include "../model/batch.hpp"

namespace dsae::train {

struct sequence_set {
  std::vector<float> data;       // N * T * F
  index_t count = 0, frames = 0, features = 0;
  std::vector<index_t> lengths;  // N (empty = all full length)
  std::vector<std::int64_t> labels;      // N x K row-major (empty = no labels)
  std::vector<std::string> label_names;  // K
  std::string source = "<memory>";  // named in error messages

  index_t length(index_t i) const { return lengths.empty() ? frames : lengths[size_t(i)]; }
  index_t label_count() const { return index_t(label_names.size()); }
  std::int64_t label(index_t i, index_t k) const { return labels[size_t(i * label_count() + k)]; }
  // Column k of the labels as ints (eval::swap_protocol's label type).
  std::vector<int> label_column(index_t k) const {
    std::vector<int> y(static_cast<std::size_t>(count));
    for (index_t i = 0; i < count; ++i) y[size_t(i)] = int(label(i, k));
    return y;
  }
  const float* sequence(index_t i) const { return data.data() + i * frames * features; }

  // Throws std::invalid_argument naming `source` on inconsistent sizes, NaN/Inf
  // in valid frames, or bad lengths.
  void validate(index_t expected_features = -1) const {
    if (count <= 0 || frames <= 0 || features <= 0)
      detail::fail(source, ": empty dataset (", count, " x ", frames, " x ", features, ")");
    if (index_t(data.size()) != count * frames * features)
      detail::fail(source, ": holds ", data.size(), " values, expected ", count, " x ", frames, " x ", features);
    if (expected_features >= 0 && features != expected_features)
      detail::fail(source, ": feature size is ", features, ", the model expects ", expected_features);
    if (!lengths.empty() && index_t(lengths.size()) != count)
      detail::fail(source, ": ", lengths.size(), " lengths for ", count, " sequences");
    if (index_t(labels.size()) != count * label_count())
      detail::fail(source, ": ", labels.size(), " label values for ", count, " sequences x ", label_count(), " labels");
    for (index_t k = 0; k < label_count(); ++k)
      for (index_t i = 0; i < count; ++i)
        if (label(i, k) < 0 || label(i, k) > std::int64_t(1) << 30)
          detail::fail(source, ": label '", label_names[size_t(k)], "' of sequence ", i, " is ", label(i, k),
                       ", expected 0..2^30 (class indices)");
    for (index_t i = 0; i < count; ++i) {
      const index_t n = length(i);
      if (n < 1 || n > frames) detail::fail(source, ": sequence ", i, " has length ", n, ", expected 1..", frames);
      const float* p = data.data() + i * frames * features;
      for (index_t k = 0; k < n * features; ++k)
        if (!std::isfinite(p[k]))
          detail::fail(source, ": sequence ", i, " frame ", k / features, " bin ", k % features,
                       std::isnan(p[k]) ? " is NaN" : " is Inf");
    }
  }

  // Fills `b` with sequences idx[0..n) in time-major layout (padding zeroed).
  template <class B>
  void batch_into(model::sequence_batch<B>& b, const index_t* idx, index_t n) const {
    using T = typename B::scalar;
    std::vector<T> x(size_t(frames * n * features), T(0));
    b.lengths.resize(size_t(n));
    for (index_t j = 0; j < n; ++j) {
      const index_t i = idx[j], len = length(i);
      b.lengths[size_t(j)] = len;
      const float* src = data.data() + i * frames * features;
      for (index_t t = 0; t < len; ++t)
        for (index_t f = 0; f < features; ++f) x[size_t((t * n + j) * features + f)] = T(src[t * features + f]);
    }
    b.frames = frames;
    b.x = B::from_host(x, frames * n, features);
    b.finalize();
  }
};

}  // namespace dsae::train
