#pragma once
// The options that name one's own sequences (docs/data.md), shared by dsae-train and
// dsae-eval: --lengths, --labels, --label-names, --val-data, --val-lengths, --val-labels.
#include <CLI/CLI.hpp>
#include <dsae/train/dataset_sets.hpp>

#include <string>

namespace dsae_cli {

// `prefix` starts every help text (e.g. "generic: " in dsae-eval).
inline void add_sequence_options(CLI::App& app, dsae::train::data_source& s, const std::string& prefix = "") {
  app.add_option("--lengths", s.lengths, prefix + "N integers: valid frames of each sequence of --data (1..T)");
  app.add_option("--labels", s.labels, prefix + "N or N x K integers: labels of --data");
  app.add_option("--label-names", s.label_names, prefix + "names of the K label columns")->delimiter(',');
  app.add_option("--val-data", s.val_data, prefix + "validation sequences (N' x T x F .npy)");
  app.add_option("--val-lengths", s.val_lengths, prefix + "lengths of --val-data");
  app.add_option("--val-labels", s.val_labels, prefix + "labels of --val-data");
}

}  // namespace dsae_cli
