#pragma once
// Call sites of the step's tape: one struct per kind of call, each holding the
// module state of that call, its output nodes and its VJP (node operations:
// node_ops.hpp). The model's step
// (model/sequential_vae.hpp, class step) creates them through its arena; a new
// component needs none of this unless it adds a new kind of module call.
#include "../backend/fused.hpp"
#include "../nn/mse.hpp"
#include "../prob/gaussian.hpp"
#include "tape.hpp"

namespace dsae::objective {

// A slot call (model/slots.hpp: one contract for the four slots): the module state of the
// call, its output nodes (mean and, for a Gaussian, logvar) and its input nodes (x, z, v;
// null when the slot does not read them). Its VJP hands the outputs' adjoints to the slot
// and lets it add into the adjoints of the inputs that need one.
template <class Backend, class Module>
struct slot_call {
  const Module* module = nullptr;
  typename Module::state st;
  node<Backend> mu, logvar;  // logvar unused for a decoder
  node<Backend>*x = nullptr, *z = nullptr, *v = nullptr;
  bool is_gaussian = true;  // false: a decoder (one output)
  gaussian<Backend> out() { return {&mu, &logvar}; }
  void backward() {
    if (is_gaussian) {
      if (!mu.has_grad && !logvar.has_grad) return;
      mu.acc();
      logvar.acc();
    } else if (!mu.has_grad) {
      return;
    }
    auto acc = [](node<Backend>* n) { return n ? n->acc() : nullptr; };
    module->backward(st, {&mu.grad, is_gaussian ? &logvar.grad : nullptr}, {acc(x), acc(z), acc(v)});
  }
};

// s = mu + eps * exp(0.5 logvar).
template <class Backend>
struct sample_call {
  prob::reparameterise<Backend> op;
  typename prob::reparameterise<Backend>::state st;
  node<Backend> out;
  gaussian<Backend> q;
  void backward() {
    if (!out.has_grad) return;
    op.backward(st, out.grad, q.mu->acc(), q.logvar->acc());
  }
};

// Rows of sequences taken by a permutation: out[t*B + i] = in[t*B + perm[i]].
template <class Backend>
struct gather_call {
  typename Backend::tensor value;
  node<Backend> out;
  node<Backend>* in = nullptr;
  const typename Backend::index_vector* perm = nullptr;
  void backward() {
    if (!out.has_grad) return;
    fused::gather_batch_backward<Backend>(*in->acc(), out.grad, *perm);
  }
};

// weight * scale * sum_r w[r] sum_j KL(q || p)[r, j]; p null = N(0, I).
template <class Backend>
struct kl_call {
  prob::gaussian_kl<Backend> op;
  typename prob::gaussian_kl<Backend>::state st;
  gaussian<Backend> q, p;
  typename Backend::scalar weight = 1;
  void backward() {
    const bool q_needs = q.needs_grad(), p_needs = p.needs_grad();
    if (!q_needs && !p_needs) return;
    op.backward(st, weight, q.mu->acc(), q.logvar->acc(), p.mu ? p.mu->acc() : nullptr,
                p.mu ? p.logvar->acc() : nullptr);
  }
};

// weight * scale * sum_r w[r] sum_j (pred - target)^2.
template <class Backend>
struct squared_error_call {
  nn::mse<Backend> op;
  typename nn::mse<Backend>::state st;
  node<Backend>* pred = nullptr;
  typename Backend::scalar weight = 1;
  void backward() {
    if (auto* g = pred->acc()) op.backward(st, weight, *g);
  }
};

}  // namespace dsae::objective
