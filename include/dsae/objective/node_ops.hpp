#pragma once
// Node operations of the step: small differentiable operations on nodes, each
// a call site (value + VJP) written once over backend ops, so a loss term or a
// prior composed from them needs no gradient code and runs on every backend.
//
//   parameter(id)                 a registered parameter (its gradient goes to params().grads())
//   constant(t)                   a tensor that needs no gradient
//   add(a, b), difference(a, b)   a + b, a - b                          (same shapes)
//   scale(a, c)                   c * a
//   product(a, b)                 a * b element-wise                    (same shapes)
//   exp(a)                        exp(a) element-wise
//   repeat_rows(r, n)             n copies of the row r (1 x C -> n x C)
//   add_row(a, r)                 a + r on every row                    (r: 1 x C)
//   matmul(a, b, transpose_b)     a b or a b^T
//   log_sum_exp(a)                per row: log sum_j exp(a[i, j])      (R x C -> R x 1)
//   previous_frame(a)             frame t takes frame t-1's row, frame 0 zeros ((T*B) x C,
//                                 time-major: row t*B + i)
//   mean_over_frames(a[, w])      per sequence: sum_t w[t*B+b] a[t*B+b] ((T*B) x C -> B x C;
//                                 w defaults to the batch's time_w = mask / n_b)
//   total(a[, w], scale)          scale * sum_r w[r] sum_j a[r, j]     (-> 1 x 1)
//   sum_of_squares(a[, w], scale) scale * sum_r w[r] sum_j a[r, j]^2   (-> 1 x 1)
//   squared_distance(a, b[, w], scale)  scale * sum_r w[r] sum_j (a - b)[r, j]^2 (-> 1 x 1)
//   minimise(value, weight)       a 1 x 1 node as part of the objective: returns its value;
//                                 the reverse pass starts from d(loss)/d(value) = weight
//
// Row weights w are R x 1 (absent: 1 per row). Every op returns a node owned by
// its call site (valid until the next step). A new op: one site struct with the
// value and backward(), and one method below.
//
// requires: the derived step provides site<X>(), record(x), params() and batch().
#include <vector>

#include "../backend/fused.hpp"
#include "../nn/parameters.hpp"
#include "tape.hpp"

namespace dsae::objective {

namespace node_sites {

template <class Backend>
using tensor_t = typename Backend::tensor;

template <class Backend>
typename Backend::scalar host_scalar(const tensor_t<Backend>& t) {
  return Backend::to_host(t)[0];
}
template <class Backend>
void fill_ones(tensor_t<Backend>& t, index_t rows) {
  if (t.rows() != rows || t.cols() != 1) {
    Backend::resize(t, rows, 1);
    Backend::fill(t, typename Backend::scalar(1));
  }
}

template <class Backend>
struct parameter_site {
  tensor_t<Backend> value;
  node<Backend> out;
  parameters<Backend>* params = nullptr;
  param_id id = -1;
  void backward() {
    if (out.has_grad) Backend::axpy(params->grad(id), typename Backend::scalar(1), out.grad);
  }
};

template <class Backend>
struct constant_site {
  node<Backend> out;
  void backward() {}
};

// c_a * a + c_b * b (add, difference, scale).
template <class Backend>
struct linear_site {
  using scalar = typename Backend::scalar;
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>*a = nullptr, *b = nullptr;
  scalar ca = 1, cb = 0;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) Backend::axpy(*g, ca, out.grad);
    if (b)
      if (auto* g = b->acc()) Backend::axpy(*g, cb, out.grad);
  }
};

template <class Backend>
struct product_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>*a = nullptr, *b = nullptr;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) Backend::add_product(*g, out.grad, *b->value);
    if (auto* g = b->acc()) Backend::add_product(*g, out.grad, *a->value);
  }
};

template <class Backend>
struct exp_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>* a = nullptr;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) Backend::add_product(*g, out.grad, value);  // d exp(a) = exp(a) da
  }
};

template <class Backend>
struct repeat_rows_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>* row = nullptr;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = row->acc()) Backend::sum_rows(*g, out.grad, typename Backend::scalar(1));
  }
};

template <class Backend>
struct add_row_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>*a = nullptr, *row = nullptr;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) Backend::axpy(*g, typename Backend::scalar(1), out.grad);
    if (auto* g = row->acc()) Backend::sum_rows(*g, out.grad, typename Backend::scalar(1));
  }
};

// a op(b): d a += g op(b)^T, d b += (a^T g) or (g^T a) for b^T.
template <class Backend>
struct matmul_site {
  using scalar = typename Backend::scalar;
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>*a = nullptr, *b = nullptr;
  bool tb = false;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) Backend::gemm(*g, out.grad, false, *b->value, !tb, scalar(1), scalar(1));
    if (auto* g = b->acc()) {
      if (tb) Backend::gemm(*g, out.grad, true, *a->value, false, scalar(1), scalar(1));
      else Backend::gemm(*g, *a->value, true, out.grad, false, scalar(1), scalar(1));
    }
  }
};

template <class Backend>
struct log_sum_exp_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>* a = nullptr;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) fused::log_sum_exp_rows_backward<Backend>(*g, out.grad, *a->value, value);
  }
};

// out[t*B + i] = a[(t-1)*B + i], out[0:B] = 0; VJP: da[(t-1)*B + i] += g[t*B + i].
template <class Backend>
struct previous_frame_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>* a = nullptr;
  index_t batch = 0;
  void backward() {
    if (!out.has_grad) return;
    const index_t rows = value.rows() - batch;
    if (rows > 0)
      if (auto* g = a->acc())
        Backend::axpy(Backend::rows(*g, 0, rows), typename Backend::scalar(1), Backend::crows(out.grad, batch, rows));
  }
};

template <class Backend>
struct mean_over_frames_site {
  tensor_t<Backend> value;
  node<Backend> out;
  node<Backend>* a = nullptr;
  const tensor_t<Backend>* w = nullptr;
  void backward() {
    if (!out.has_grad) return;
    if (auto* g = a->acc()) fused::time_weighted_sum_backward<Backend>(*g, out.grad, *w);
  }
};

// scale * sum_r w[r] sum_j (a - b)[r, j]^2, b absent = 0 (sum_of_squares, squared_distance).
template <class Backend>
struct squares_site {
  using scalar = typename Backend::scalar;
  tensor_t<Backend> value, zeros, ones, scratch;
  node<Backend> out;
  node<Backend>*a = nullptr, *b = nullptr;
  const tensor_t<Backend>* w = nullptr;
  scalar scale = 1;
  const tensor_t<Backend>& other() const { return b ? *b->value : zeros; }
  void backward() {
    if (!out.has_grad) return;
    const scalar g = host_scalar<Backend>(out.grad) * scale;
    if (auto* ga = a->acc()) fused::sq_error_backward<Backend>(*ga, g, *a->value, other(), *w);
    if (b)
      if (auto* gb = b->acc()) {
        Backend::resize(scratch, gb->rows(), gb->cols());
        Backend::zero(scratch);
        fused::sq_error_backward<Backend>(scratch, g, *a->value, other(), *w);
        Backend::axpy(*gb, scalar(-1), scratch);
      }
  }
};

// scale * sum_r w[r] sum_j a[r, j] = scale * w^T a 1.
template <class Backend>
struct total_site {
  using scalar = typename Backend::scalar;
  tensor_t<Backend> value, row_sums, ones_c, ones_r;
  node<Backend> out;
  node<Backend>* a = nullptr;
  const tensor_t<Backend>* w = nullptr;
  scalar scale = 1;
  void backward() {
    if (!out.has_grad) return;
    const scalar g = host_scalar<Backend>(out.grad) * scale;
    if (auto* ga = a->acc()) Backend::gemm(*ga, *w, false, ones_c, false, g, scalar(1));  // += g w 1^T
  }
};

// The seed of the reverse pass: d(loss)/d(value) = weight.
template <class Backend>
struct seed_site {
  tensor_t<Backend> weight;
  node<Backend>* value = nullptr;
  void backward() { value->accumulate(weight); }
};

}  // namespace node_sites

template <class Step, class Backend>
class node_ops {
 public:
  using scalar = typename Backend::scalar;
  using tensor = typename Backend::tensor;
  using node_type = node<Backend>;

  node_type& parameter(param_id id) {
    auto& p = self().params();
    auto& c = next<node_sites::parameter_site<Backend>>();
    const auto& e = p.info(id);
    Backend::resize(c.value, e.rows, e.cols);
    Backend::copy(c.value, p.value(id));
    c.params = &p;
    c.id = id;
    c.out.reset(c.value, p.trainable(id));
    self().record(c);
    return c.out;
  }
  node_type& constant(const tensor& t) {
    auto& c = next<node_sites::constant_site<Backend>>();
    c.out.reset(t, false);
    return c.out;
  }
  node_type& add(node_type& a, node_type& b) { return linear(a, &b, 1, 1, "add"); }
  node_type& difference(node_type& a, node_type& b) { return linear(a, &b, 1, -1, "difference"); }
  node_type& scale(node_type& a, double c) { return linear(a, nullptr, scalar(c), 0, "scale"); }
  node_type& product(node_type& a, node_type& b) {
    same("product", a, b);
    auto& c = next<node_sites::product_site<Backend>>();
    Backend::resize(c.value, a.value->rows(), a.value->cols());
    Backend::mul(c.value, *a.value, *b.value);
    c.a = &a;
    c.b = &b;
    return done(c, a.needs_grad || b.needs_grad);
  }
  node_type& exp(node_type& a) {
    auto& c = next<node_sites::exp_site<Backend>>();
    Backend::resize(c.value, a.value->rows(), a.value->cols());
    Backend::exp(c.value, *a.value);
    c.a = &a;
    return done(c, a.needs_grad);
  }
  node_type& repeat_rows(node_type& row, index_t n) {
    if (row.value->rows() != 1 || n <= 0)
      detail::fail("step::repeat_rows: needs a 1 x C row and n > 0, got ", to_string(Backend::shape(*row.value)),
                   " and n = ", n);
    auto& c = next<node_sites::repeat_rows_site<Backend>>();
    Backend::resize(c.value, n, row.value->cols());
    Backend::zero(c.value);
    Backend::add_row(c.value, *row.value);
    c.row = &row;
    return done(c, row.needs_grad);
  }
  node_type& add_row(node_type& a, node_type& row) {
    check_shape("step::add_row", "row", Backend::shape(*row.value), {1, a.value->cols()});
    auto& c = next<node_sites::add_row_site<Backend>>();
    Backend::resize(c.value, a.value->rows(), a.value->cols());
    Backend::copy(c.value, *a.value);
    Backend::add_row(c.value, *row.value);
    c.a = &a;
    c.row = &row;
    return done(c, a.needs_grad || row.needs_grad);
  }
  node_type& matmul(node_type& a, node_type& b, bool transpose_b = false) {
    const index_t k_b = transpose_b ? b.value->cols() : b.value->rows();
    if (a.value->cols() != k_b)
      detail::fail("step::matmul: a is ", to_string(Backend::shape(*a.value)), ", b", transpose_b ? "^T" : "", " is ",
                   to_string(Backend::shape(*b.value)));
    auto& c = next<node_sites::matmul_site<Backend>>();
    Backend::resize(c.value, a.value->rows(), transpose_b ? b.value->rows() : b.value->cols());
    Backend::gemm(c.value, *a.value, false, *b.value, transpose_b, scalar(1), scalar(0));
    c.a = &a;
    c.b = &b;
    c.tb = transpose_b;
    return done(c, a.needs_grad || b.needs_grad);
  }
  node_type& log_sum_exp(node_type& a) {
    auto& c = next<node_sites::log_sum_exp_site<Backend>>();
    Backend::resize(c.value, a.value->rows(), 1);
    fused::log_sum_exp_rows<Backend>(c.value, *a.value);
    c.a = &a;
    return done(c, a.needs_grad);
  }
  node_type& previous_frame(node_type& a) {
    const index_t n = self().batch().batch;
    if (a.value->rows() % n != 0)
      detail::fail("step::previous_frame: a has ", a.value->rows(), " rows, not (T*B) for the batch ", n);
    auto& c = next<node_sites::previous_frame_site<Backend>>();
    const index_t rows = a.value->rows() - n;
    Backend::resize(c.value, a.value->rows(), a.value->cols());
    Backend::zero(Backend::rows(c.value, 0, n));
    if (rows > 0) Backend::copy(Backend::rows(c.value, n, rows), Backend::crows(*a.value, 0, rows));
    c.a = &a;
    c.batch = n;
    return done(c, a.needs_grad);
  }
  node_type& mean_over_frames(node_type& a) { return mean_over_frames(a, self().batch().time_w); }
  node_type& mean_over_frames(node_type& a, const tensor& time_w) {
    const index_t n = self().batch().batch;
    if (a.value->rows() != time_w.rows() || a.value->rows() % n != 0)
      detail::fail("step::mean_over_frames: a has ", a.value->rows(), " rows, weights ", time_w.rows(),
                   ", batch ", n, " (expected (T*B) rows both)");
    auto& c = next<node_sites::mean_over_frames_site<Backend>>();
    Backend::resize(c.value, n, a.value->cols());
    fused::time_weighted_sum<Backend>(c.value, *a.value, time_w);
    c.a = &a;
    c.w = &time_w;
    return done(c, a.needs_grad);
  }
  node_type& total(node_type& a, double scale_by = 1) { return total(a, nullptr, scale_by); }
  node_type& total(node_type& a, const tensor& row_w, double scale_by = 1) { return total(a, &row_w, scale_by); }
  node_type& sum_of_squares(node_type& a, double scale_by = 1) { return squares(a, nullptr, nullptr, scale_by); }
  node_type& sum_of_squares(node_type& a, const tensor& row_w, double scale_by = 1) {
    return squares(a, nullptr, &row_w, scale_by);
  }
  node_type& squared_distance(node_type& a, node_type& b, double scale_by = 1) {
    return squares(a, &b, nullptr, scale_by);
  }
  node_type& squared_distance(node_type& a, node_type& b, const tensor& row_w, double scale_by = 1) {
    return squares(a, &b, &row_w, scale_by);
  }
  // value (1 x 1) becomes part of the objective with factor weight; returns its value.
  double minimise(node_type& value, double weight) {
    check_shape("step::minimise", "value", Backend::shape(*value.value), {1, 1});
    const double v = double(node_sites::host_scalar<Backend>(*value.value));
    if (value.needs_grad) {
      auto& c = next<node_sites::seed_site<Backend>>();
      Backend::resize(c.weight, 1, 1);
      Backend::fill(c.weight, scalar(weight));
      c.value = &value;
      self().record(c);
    }
    return v;
  }

 private:
  Step& self() { return static_cast<Step&>(*this); }
  template <class X>
  X& next() {
    return self().template site<X>();
  }
  template <class X>
  node_type& done(X& c, bool needs) {
    c.out.reset(c.value, needs);
    self().record(c);
    return c.out;
  }
  void same(const char* op, const node_type& a, const node_type& b) {
    if (a.value->rows() != b.value->rows() || a.value->cols() != b.value->cols())
      detail::fail("step::", op, ": shapes ", to_string(Backend::shape(*a.value)), " and ",
                   to_string(Backend::shape(*b.value)), " differ");
  }
  node_type& linear(node_type& a, node_type* b, scalar ca, scalar cb, const char* op) {
    if (b) same(op, a, *b);
    auto& c = next<node_sites::linear_site<Backend>>();
    Backend::resize(c.value, a.value->rows(), a.value->cols());
    Backend::copy(c.value, *a.value);
    if (ca != scalar(1)) Backend::scale(c.value, ca);
    if (b) Backend::axpy(c.value, cb, *b->value);
    c.a = &a;
    c.b = b;
    c.ca = ca;
    c.cb = cb;
    return done(c, a.needs_grad || (b && b->needs_grad));
  }
  const tensor& row_weights(const tensor* w, tensor& ones, index_t rows, const char* op) {
    if (w) {
      check_shape(op, "row weights", Backend::shape(*w), {rows, 1});
      return *w;
    }
    node_sites::fill_ones<Backend>(ones, rows);
    return ones;
  }
  node_type& squares(node_type& a, node_type* b, const tensor* w, double scale_by) {
    if (b) same("squared_distance", a, *b);
    auto& c = next<node_sites::squares_site<Backend>>();
    c.a = &a;
    c.b = b;
    c.w = &row_weights(w, c.ones, a.value->rows(), "step::sum_of_squares");
    c.scale = scalar(scale_by);
    if (!b) {
      Backend::resize(c.zeros, a.value->rows(), a.value->cols());
      Backend::zero(c.zeros);
    }
    const double v = double(c.scale) * double(fused::sq_error<Backend>(*a.value, c.other(), *c.w));
    Backend::resize(c.value, 1, 1);
    Backend::fill(c.value, scalar(v));
    return done(c, a.needs_grad || (b && b->needs_grad));
  }
  node_type& total(node_type& a, const tensor* w, double scale_by) {
    auto& c = next<node_sites::total_site<Backend>>();
    c.a = &a;
    c.w = &row_weights(w, c.ones_r, a.value->rows(), "step::total");
    c.scale = scalar(scale_by);
    if (c.ones_c.rows() != 1 || c.ones_c.cols() != a.value->cols()) {
      Backend::resize(c.ones_c, 1, a.value->cols());
      Backend::fill(c.ones_c, scalar(1));
    }
    Backend::resize(c.row_sums, 1, a.value->cols());
    Backend::gemm(c.row_sums, *c.w, true, *a.value, false, scalar(1), scalar(0));  // w^T a
    const double v = double(c.scale) * double(Backend::sum(c.row_sums));
    Backend::resize(c.value, 1, 1);
    Backend::fill(c.value, scalar(v));
    return done(c, a.needs_grad);
  }
};

}  // namespace dsae::objective
