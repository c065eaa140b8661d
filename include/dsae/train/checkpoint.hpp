#pragma once
// Checkpoints as safetensors: every parameter under its reference name
// (PyTorch shapes: biases 1-D), the Adam state, and the training state
// (epoch, stage, step counter = the RNG counter, best validation loss) as
// metadata. Written to a temporary file, fsynced and renamed (io/safetensors),
// so a crash never leaves a broken checkpoint.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>
#include "../io/safetensors.hpp"
#include "../model/sizes.hpp"
#include "../prob/philox.hpp"
#include "adam.hpp"
#include "training_state.hpp"

namespace dsae::train {


inline std::string sizes_string(const model::model_sizes& s) {
  return "x" + std::to_string(s.x_dim) + "_v" + std::to_string(s.v_dim) + "_z" + std::to_string(s.z_dim) + "_h" +
         std::to_string(s.hidden) + "_p" + std::to_string(s.prior_hidden) + "x" + std::to_string(s.prior_layers) +
         "_r" + std::to_string(s.rnn_hidden) + "x" + std::to_string(s.rnn_layers);
}

namespace detail_ckpt {
// The stored (PyTorch) shape of a parameter entry: biases 1-D, everything else [rows, cols].
template <class Entry>
std::vector<std::int64_t> stored_shape(const Entry& e) {
  const bool bias = e.rows == 1 && e.name.substr(e.name.rfind('.') + 1).starts_with("bias");
  return bias ? std::vector<std::int64_t>{e.cols} : std::vector<std::int64_t>{e.rows, e.cols};
}
template <class B>
io::safetensors_file weights_file(const parameters<B>& p, const std::string& source) {
  using T = typename B::scalar;
  io::safetensors_file f(source);
  const std::vector<T> host = B::to_host(p.values());
  for (const auto& e : p.entries()) {
    const std::vector<std::int64_t> shape = stored_shape(e);
    f.put_vector(e.name, std::span<const T>(host.data() + e.offset, size_t(e.rows * e.cols)), shape);
  }
  return f;
}
}  // namespace detail_ckpt

// Throws std::runtime_error naming the file and the tensor when a value is NaN or Inf: a
// model or optimiser state like that is broken, whatever wrote it.
template <class T>
void require_finite(const std::vector<T>& v, const std::string& file, const std::string& tensor) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(double(v[i])))
      throw std::runtime_error("checkpoint '" + file + "': tensor " + tensor + " holds a non-finite value (" +
                               std::to_string(double(v[i])) + " at element " + std::to_string(i) +
                               "); the file is corrupt or was written by a diverged run");
}

// Writes only the weights (reference names), e.g. best.safetensors.
template <class Model>
void save_weights(const std::filesystem::path& path, const Model& m) {
  auto f = detail_ckpt::weights_file(m.params(), path.string());
  f.set_metadata("variant", m.variant_name());
  f.set_metadata("sizes", sizes_string(m.sizes()));
  f.set_metadata("stage", std::to_string(m.stage()));
  io::write_safetensors(path, f);
}

// Loads weights written by save_weights (or a PyTorch state_dict exported with
// the same names). Throws std::runtime_error naming the file on a different
// variant, sizes, or a missing/misshapen tensor.
template <class Model>
void load_weights(const std::filesystem::path& path, Model& m) {
  using B = typename Model::backend_type;
  using T = typename B::scalar;
  const auto f = io::read_safetensors(path);
  auto& md = f.metadata();
  if (auto it = md.find("variant"); it != md.end() && it->second != m.variant_name())
    throw std::runtime_error("checkpoint '" + path.string() + "' holds variant " + it->second + ", expected " +
                             m.variant_name());
  if (auto it = md.find("sizes"); it != md.end() && it->second != sizes_string(m.sizes()))
    throw std::runtime_error("checkpoint '" + path.string() + "' holds sizes " + it->second + ", expected " +
                             sizes_string(m.sizes()));
  auto& p = m.params();
  std::vector<T> host = B::to_host(p.values());
  for (const auto& e : p.entries()) {
    if (!f.contains(e.name)) throw std::runtime_error("checkpoint '" + path.string() + "': missing parameter " + e.name);
    // Shapes, not just element counts: a [64, 80] weight stored as [80, 64] is another matrix.
    if (const auto want = detail_ckpt::stored_shape(e); f.at(e.name).shape != want)
      throw std::runtime_error("checkpoint '" + path.string() + "': parameter " + e.name + " has shape " +
                               io::shape_string(f.at(e.name).shape) + ", expected " + io::shape_string(want));
    const auto v = f.get_vector<T>(e.name, io::convert::float_cast);
    require_finite(v, path.string(), e.name);
    if (index_t(v.size()) != e.rows * e.cols)
      throw std::runtime_error("checkpoint '" + path.string() + "': parameter " + e.name + " has " +
                               std::to_string(v.size()) + " values, expected " + std::to_string(e.rows * e.cols));
    std::copy(v.begin(), v.end(), host.begin() + e.offset);
  }
  p.values() = B::from_host(host, 1, p.size());
}

// Full training checkpoint: weights + Adam state + training state.
template <class Model>
void save_checkpoint(const std::filesystem::path& path, const Model& m, adam<typename Model::backend_type>& opt,
                     const training_state& s, const std::map<std::string, std::string>& extra = {}) {
  using B = typename Model::backend_type;
  auto f = detail_ckpt::weights_file(m.params(), path.string());
  f.put_vector("optimizer.exp_avg", B::to_host(opt.first_moment()));
  f.put_vector("optimizer.exp_avg_sq", B::to_host(opt.second_moment()));
  f.put_vector("optimizer.max_exp_avg_sq", B::to_host(opt.max_second_moment()));
  f.put_vector("optimizer.step", opt.steps());
  f.set_metadata("variant", m.variant_name());
  f.set_metadata("sizes", sizes_string(m.sizes()));
  f.set_metadata("next_epoch", std::to_string(s.next_epoch));
  f.set_metadata("stage", std::to_string(s.stage));
  f.set_metadata("step", std::to_string(s.step));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", s.best_val);
  f.set_metadata("best_val", buf);
  f.set_metadata("best_epoch", std::to_string(s.best_epoch));
  f.set_metadata("epochs_since_best", std::to_string(s.epochs_since_best));
  f.set_metadata("finished", s.finished ? "1" : "0");
  f.set_metadata("noise_stream", std::to_string(prob::noise_stream_version));
  for (const auto& [k, v] : extra) f.set_metadata(k, v);
  io::write_safetensors(path, f);
}

template <class Model>
training_state load_checkpoint(const std::filesystem::path& path, Model& m, adam<typename Model::backend_type>& opt,
                               std::map<std::string, std::string>* extra = nullptr) {
  using B = typename Model::backend_type;
  using T = typename B::scalar;
  const auto f = io::read_safetensors(path);
  const training_state s = parse_training_state(f.metadata(), path.string());
  // Stage first (it may take a snapshot), then the stored weights override.
  if (s.stage == 1 && !Model::policy::two_stage)
    throw std::runtime_error("checkpoint '" + path.string() + "': stage 1 for a single-stage variant");
  m.restore_stage(s.stage);
  load_weights(path, m);
  const index_t n = m.params().size();
  auto vec = [&](const char* name) {
    const auto v = f.get_vector<T>(name, io::convert::float_cast);
    require_finite(v, path.string(), name);
    if (index_t(v.size()) != n)
      throw std::runtime_error("checkpoint '" + path.string() + "': " + name + " has " + std::to_string(v.size()) +
                               " values, expected " + std::to_string(n));
    return B::from_host(v, 1, n);
  };
  opt.first_moment() = vec("optimizer.exp_avg");
  opt.second_moment() = vec("optimizer.exp_avg_sq");
  opt.max_second_moment() = vec("optimizer.max_exp_avg_sq");
  const auto steps = f.get_vector<std::int64_t>("optimizer.step");
  if (steps.size() != opt.steps().size())
    throw std::runtime_error("checkpoint '" + path.string() + "': optimizer.step has " + std::to_string(steps.size()) +
                             " entries, expected " + std::to_string(opt.steps().size()));
  opt.steps() = steps;
  if (extra) *extra = f.metadata();
  return s;
}

}  // namespace dsae::train
