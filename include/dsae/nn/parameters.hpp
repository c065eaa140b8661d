#pragma once
// parameters<B>: the registry of a model's named parameters.
//
// Every parameter lives in ONE flat value buffer and ONE flat gradient buffer
// (1 x n), so the optimiser, checkpoints and gradient checks see a single
// vector. Names follow the PyTorch reference's state_dict keys
// (e.g. "global_encoder.net.0.weight"). Each parameter belongs to a group
// (the model slot or component that owns it); whole groups are frozen and
// unfrozen by name, which is how a stage schedule is expressed.
//
// Groups: the five built-in ones (the slots and the snapshot) are spelled as
// `group::global_encoder` ...; any other component (a prior, a loss term) names
// its own with group_of("prior_v"), which returns the id of that name in this
// registry (created on first use; ids from group::count on).
//
// requires: add() only before finalize(); value()/grad() only after.
// ensures:  parameters registered consecutively are contiguous in the buffer.
#include <array>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../prob/philox.hpp"

namespace dsae {

// The built-in groups; count is the first id of a group named by a component.
enum class group : int { global_encoder = 0, local_encoder, transition, decoder, snapshot, count };

// The name of a built-in group (parameters::group_name names every group).
inline const char* group_name(group g) {
  constexpr const char* n[] = {"global_encoder", "local_encoder", "transition", "decoder", "snapshot"};
  if (int(g) < 0 || int(g) >= int(group::count)) return "?";
  return n[int(g)];
}

using param_id = index_t;

template <class B>
class parameters {
 public:
  using T = typename B::scalar;
  using tensor = typename B::tensor;
  using ref = typename B::ref;

  struct entry {
    std::string name;
    index_t rows, cols, offset;
    group owner;
    T init_bound;  // U(-bound, bound) at initialisation (PyTorch default)
  };

  parameters() {
    for (int g = 0; g < int(group::count); ++g) m_group_names.emplace_back(dsae::group_name(group(g)));
    m_frozen.assign(m_group_names.size(), false);
  }

  // The group called `name` (a built-in one or one a component names), created on first use.
  // requires: 1-64 characters of [A-Za-z0-9_.-] (it prefixes parameter names in checkpoints).
  group group_of(std::string_view name) {
    for (size_t k = 0; k < m_group_names.size(); ++k)
      if (m_group_names[k] == name) return group(int(k));
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            std::string_view::npos)
      detail::fail("parameters: group name '", std::string(name), "' must be 1-64 characters of [A-Za-z0-9_.-]");
    if (m_finalized) detail::fail("parameters: cannot add group '", std::string(name), "' after finalize()");
    m_group_names.emplace_back(name);
    m_frozen.push_back(false);
    return group(int(m_group_names.size() - 1));
  }
  // Every group's id, built-in ones first.
  index_t group_count() const { return index_t(m_group_names.size()); }
  const std::string& group_name(group g) const { return m_group_names.at(size_t(g)); }

  // Registers a (rows x cols) parameter initialised ~ U(-bound, bound) (bound 0: zeros).
  param_id add(std::string name, index_t rows, index_t cols, group owner, T init_bound) {
    if (m_finalized) detail::fail("parameters: cannot add '", name, "' after finalize()");
    if (int(owner) < 0 || size_t(owner) >= m_group_names.size())
      detail::fail("parameters: '", name, "' names group ", int(owner), ", which is not registered (group_of)");
    if (rows <= 0 || cols <= 0) detail::fail("parameters: '", name, "' has shape ", rows, " x ", cols);
    for (const auto& e : m_entries)
      if (e.name == name) detail::fail("parameters: duplicate name '", name, "'");
    m_entries.push_back({std::move(name), rows, cols, m_size, owner, init_bound});
    m_size += rows * cols;
    return param_id(m_entries.size() - 1);
  }

  // Allocates the buffers and initialises every value from `seed` (counter-based,
  // so the same seed gives the same weights on every backend and thread count).
  void finalize(std::uint64_t seed) {
    std::vector<T> host(static_cast<size_t>(m_size));
    for (size_t k = 0; k < m_entries.size(); ++k) {
      const auto& e = m_entries[k];
      const prob::noise_key key{seed, std::uint32_t(k), 0xffffffffu};
      for (index_t i = 0; i < e.rows * e.cols; ++i)
        host[size_t(e.offset + i)] = T((2.0 * prob::philox_uniform(key, std::uint64_t(i)) - 1.0) * double(e.init_bound));
    }
    m_value = B::from_host(host, 1, m_size);
    m_grad = B::from_host(std::vector<T>(static_cast<size_t>(m_size), T(0)), 1, m_size);
    m_finalized = true;
  }

  bool finalized() const { return m_finalized; }
  index_t size() const { return m_size; }
  const std::vector<entry>& entries() const { return m_entries; }
  const entry& info(param_id id) const { return m_entries[size_t(id)]; }
  param_id find(const std::string& name) const {
    for (size_t k = 0; k < m_entries.size(); ++k)
      if (m_entries[k].name == name) return param_id(k);
    return -1;
  }

  ref value(param_id id) { return view(m_value, id); }
  ref grad(param_id id) { return view(m_grad, id); }
  tensor& values() { return m_value; }
  tensor& grads() { return m_grad; }
  const tensor& values() const { return m_value; }
  const tensor& grads() const { return m_grad; }

  void zero_grad() { B::zero(m_grad); }

  // Frozen groups receive no gradient (modules skip their parameter VJPs) and
  // no optimiser update.
  void freeze(group g, bool frozen = true) { m_frozen.at(size_t(g)) = frozen; }
  void freeze(std::string_view name, bool frozen = true) { freeze(find_group(name), frozen); }
  bool trainable(group g) const { return !m_frozen[size_t(g)]; }
  bool trainable(std::string_view name) const { return trainable(find_group(name)); }
  // The id of an existing group (an error naming the groups otherwise).
  group find_group(std::string_view name) const {
    for (size_t k = 0; k < m_group_names.size(); ++k)
      if (m_group_names[k] == name) return group(int(k));
    std::string all;
    for (const auto& n : m_group_names) all += (all.empty() ? "" : ", ") + n;
    detail::fail("parameters: no group '", std::string(name), "' (groups: ", all, ")");
  }
  bool trainable(param_id id) const { return trainable(info(id).owner); }

  // Number of scalars in groups that currently train.
  index_t trainable_size() const {
    index_t n = 0;
    for (const auto& e : m_entries)
      if (trainable(e.owner)) n += e.rows * e.cols;
    return n;
  }
  index_t group_size(group g) const {
    index_t n = 0;
    for (const auto& e : m_entries)
      if (e.owner == g) n += e.rows * e.cols;
    return n;
  }

  // Copies every value of group `from` onto group `to` (same names after the
  // prefix); used to take the snapshot encoder q_C.
  void copy_group(group from, group to) {
    std::vector<param_id> src, dst;
    for (size_t k = 0; k < m_entries.size(); ++k) {
      if (m_entries[k].owner == from) src.push_back(param_id(k));
      if (m_entries[k].owner == to) dst.push_back(param_id(k));
    }
    if (src.size() != dst.size())
      detail::fail("parameters::copy_group: groups ", group_name(from), " and ", group_name(to),
                   " have different layouts");
    for (size_t k = 0; k < src.size(); ++k) B::copy(value(dst[k]), value(src[k]));
  }

 private:
  ref view(tensor& flat, param_id id) {
    if (!m_finalized) detail::fail("parameters: access before finalize()");
    const auto& e = m_entries[size_t(id)];
    return B::flat_view(flat, e.offset, e.rows, e.cols);
  }

  std::vector<entry> m_entries;
  index_t m_size = 0;
  bool m_finalized = false;
  tensor m_value, m_grad;
  std::vector<std::string> m_group_names;
  std::vector<bool> m_frozen;
};

}  // namespace dsae
