#pragma once
// The reverse pass of one training step, at module granularity (in the spirit
// of Stan Math's matrix-level closures).
//
//   node<Backend>      a tensor of the step: a pointer to its value (owned by the
//                      call that made it), its adjoint, and whether any trainable
//                      parameter lies upstream (needs_grad).
//   gaussian<Backend>  a diagonal Gaussian as two nodes; both null = N(0, I).
//   tape               the calls of the step in forward order; backward() runs
//                      each call's VJP in reverse order. An entry is a pointer to
//                      a persistent call site and a function pointer: recording
//                      never allocates once the step's shape repeats.
//   arena              persistent call sites by type, in call order: the k-th
//                      request for type X in a step returns the k-th X, so the
//                      workspace is sized on the first step and reused after.
//
// requires: a call site's backward() reads only its outputs' adjoints and
//           accumulates into its inputs' adjoints (node::acc / accumulate).
// ensures:  tape::backward() visits every call after all calls that consumed
//           its outputs (reverse recording order is a reverse topological order).
#include <deque>
#include <memory>
#include <typeindex>
#include <utility>
#include <vector>

namespace dsae::objective {

template <class Backend>
struct node {
  using tensor = typename Backend::tensor;
  const tensor* value = nullptr;
  tensor grad;              // adjoint; valid only when has_grad
  bool needs_grad = false;  // a trainable parameter lies upstream
  bool has_grad = false;    // written during this step's reverse pass

  // Starts a step: the value lives elsewhere (a module state, the batch).
  void reset(const tensor& v, bool needs) {
    value = &v;
    needs_grad = needs;
    has_grad = false;
  }
  // The adjoint to accumulate into, zeroed on first use; null when not needed.
  tensor* acc() {
    if (!needs_grad) return nullptr;
    if (!has_grad) {
      Backend::resize(grad, value->rows(), value->cols());
      Backend::zero(grad);
      has_grad = true;
    }
    return &grad;
  }
  // Adds g to the adjoint (the first write copies).
  void accumulate(const tensor& g) {
    if (!needs_grad) return;
    if (!has_grad) {
      Backend::resize(grad, g.rows(), g.cols());
      Backend::copy(grad, g);
      has_grad = true;
    } else {
      Backend::axpy(grad, typename Backend::scalar(1), g);
    }
  }
};

template <class Backend>
struct gaussian {
  node<Backend>* mu = nullptr;
  node<Backend>* logvar = nullptr;
  bool standard() const { return mu == nullptr; }  // N(0, I)
  bool needs_grad() const { return mu && (mu->needs_grad || logvar->needs_grad); }
  bool has_grad() const { return mu && (mu->has_grad || logvar->has_grad); }
};

class tape {
 public:
  void clear() { m_entries.clear(); }
  // site.backward() runs in the reverse pass; site must outlive the step.
  template <class Site>
  void record(Site& site) {
    m_entries.push_back({&site, [](void* p) { static_cast<Site*>(p)->backward(); }});
  }
  void backward() {
    for (auto it = m_entries.rbegin(); it != m_entries.rend(); ++it) it->run(it->site);
  }
  std::size_t size() const { return m_entries.size(); }

 private:
  struct entry {
    void* site;
    void (*run)(void*);
  };
  std::vector<entry> m_entries;
};

class arena {
 public:
  // The next call site of type X in this step (default-constructed on first use).
  template <class X>
  X& next() {
    pool<X>& p = find<X>();
    if (p.used == p.items.size()) p.items.emplace_back();
    return p.items[p.used++];
  }
  // Starts a step: every pool hands out its sites from the first again.
  void rewind() {
    for (auto& [key, p] : m_pools) p->used = 0;
  }

 private:
  struct pool_base {
    virtual ~pool_base() = default;
    std::size_t used = 0;
  };
  template <class X>
  struct pool : pool_base {
    std::deque<X> items;  // stable addresses: nodes point into sites
  };
  template <class X>
  pool<X>& find() {
    const std::type_index key(typeid(X));
    for (auto& [k, p] : m_pools)
      if (k == key) return static_cast<pool<X>&>(*p);
    m_pools.emplace_back(key, std::make_unique<pool<X>>());
    return static_cast<pool<X>&>(*m_pools.back().second);
  }
  std::vector<std::pair<std::type_index, std::unique_ptr<pool_base>>> m_pools;
};

}  // namespace dsae::objective
