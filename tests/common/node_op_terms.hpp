#pragma once
// Loss terms built from the step's node operations only (objective/node_ops.hpp), shared by
// tests/objective (gradient checks per op on cpu<double>) and tests/thrust (the same terms on
// the Thrust backend against cpu). No backend-specific code: a term here that runs on one
// backend runs on all.
#include <dsae/model/variants.hpp>

namespace dsae::test {

// The node operations, one per value of `op`.
enum class node_op {
  difference, add, scale, product, exp, repeat_rows, add_row, matmul, matmul_t, log_sum_exp,
  mean_over_frames, total, sum_of_squares, squared_distance, parameter, previous_frame, count
};
inline const char* node_op_name(node_op k) {
  constexpr const char* n[] = {"difference", "add", "scale", "product", "exp", "repeat_rows", "add_row", "matmul",
                               "matmul_t", "log_sum_exp", "mean_over_frames", "total", "sum_of_squares",
                               "squared_distance", "parameter", "previous_frame"};
  return n[int(k)];
}

// A term exercising one node operation (all of them for node_op::count) on nodes that carry
// gradients to the model's parameters (the posterior means and log-variances, z and v
// samples), reduced to a scalar with total()/sum_of_squares() and minimised with `w`.
// It owns a parameter (group "op_term") so that parameter() is checked as well.
template <node_op Op = node_op::count>
struct op_term {
  static constexpr const char* name = "op_term";
  double weight = 0.7;
  param_id own = -1;  // 1 x V

  template <class Backend, class Sizes>
  void declare(parameters<Backend>& p, const Sizes& s) {
    own = p.add("op_term.row", 1, s.v_dim, p.group_of("op_term"), 0.5);
  }
  template <class Step>
  void forward(Step& s, objective::loss_terms& out, double w) const {
    double value = 0;
    for (int k = 0; k < int(node_op::count); ++k)
      if (Op == node_op::count || int(Op) == k) value += one(s, node_op(k), w);
    out.report(name, value, w);
  }

 private:
  template <class Step>
  double one(Step& s, node_op k, double w) const {
    auto qv = s.posterior_v();
    auto qz = s.posterior_z();
    auto& mu = *qv.mu;      // B x V
    auto& lv = *qv.logvar;  // B x V
    auto& v = s.v();        // B x V
    auto& z = s.z();        // (T*B) x Z
    const index_t n = s.batch().batch;
    auto& row = s.parameter(own);  // 1 x V
    auto sq = [&](auto& node) -> auto& { return s.sum_of_squares(node, 0.3); };
    switch (k) {
      case node_op::difference: return s.minimise(sq(s.difference(mu, v)), w);
      case node_op::add: return s.minimise(sq(s.add(mu, lv)), w);
      case node_op::scale: return s.minimise(sq(s.scale(mu, -1.7)), w);
      case node_op::product: return s.minimise(s.total(s.product(mu, v), 0.5), w);
      case node_op::exp: return s.minimise(s.total(s.exp(s.scale(lv, 0.5)), 0.2), w);
      case node_op::repeat_rows: return s.minimise(s.squared_distance(s.repeat_rows(row, n), mu, 0.4), w);
      case node_op::add_row: return s.minimise(sq(s.add_row(lv, row)), w);
      case node_op::matmul: return s.minimise(sq(s.matmul(s.scale(s.matmul(lv, mu, true), 0.1), mu)), w);  // (B x B)(B x V)
      case node_op::matmul_t: return s.minimise(sq(s.matmul(v, mu, true)), w);                              // B x B
      case node_op::log_sum_exp: return s.minimise(s.total(s.log_sum_exp(s.product(mu, v)), 0.6), w);
      case node_op::mean_over_frames: return s.minimise(sq(s.mean_over_frames(*qz.mu)), w);
      case node_op::total: return s.minimise(s.total(z, s.batch().time_w, 0.9), w);
      case node_op::sum_of_squares: return s.minimise(s.sum_of_squares(*qz.logvar, s.batch().time_w, 0.25), w);
      case node_op::squared_distance: return s.minimise(s.squared_distance(mu, lv, s.batch().ones, 0.35), w);
      case node_op::parameter: return s.minimise(s.sum_of_squares(row, 1.1), w);
      case node_op::previous_frame:
        return s.minimise(s.squared_distance(*qz.mu, s.previous_frame(*qz.mu), s.batch().mask, 0.45), w);
      case node_op::count: break;
    }
    return 0;
  }
};

template <class Backend, class PriorV, class... Extra>
using dsae_with = model::sequential_vae<Backend, model::global_encoder, model::factorised_local_encoder,
                                        model::factorised_decoder, model::method::lstm_prior, PriorV,
                                        objective::one_stage, objective::reconstruction<>, objective::kl_z<>,
                                        objective::kl_v<>, Extra...>;

// DSAE with the learnable Gaussian prior on v; with the mixture prior and every node op.
template <class Backend>
using learnable_prior_dsae = dsae_with<Backend, objective::learnable_normal_v>;
template <class Backend>
using mixture_prior_dsae = dsae_with<Backend, objective::mixture_normal_v, op_term<>>;

}  // namespace dsae::test
