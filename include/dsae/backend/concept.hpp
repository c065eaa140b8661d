#pragma once
// The backend concept: what a storage/compute backend must provide for the
// modules to run on it. cpu<T> (Eigen) is the reference; thrust<T> implements
// the same set. See backend/cpu.hpp for each op's exact contract.
#include <concepts>
#include <cstdint>
#include <vector>
#include "../config.hpp"
#include "../prob/philox.hpp"

namespace dsae {

template <class B>
concept backend = requires(typename B::tensor& t, const typename B::tensor& c, typename B::scalar a,
                           const typename B::index_vector& perm, prob::noise_key key,
                           const std::vector<typename B::scalar>& host, const std::vector<index_t>& idx) {
  { B::name } -> std::convertible_to<const char*>;
  { B::from_host(host, index_t(1), index_t(1)) } -> std::same_as<typename B::tensor>;
  { B::to_host(c) } -> std::same_as<std::vector<typename B::scalar>>;
  { B::indices(idx) } -> std::same_as<typename B::index_vector>;
  B::adam_update(t, c, t, t, t, index_t(0), index_t(1), a, a, a, a, std::int64_t(1), true);
  typename B::scalar;
  typename B::tensor;
  typename B::ref;
  typename B::index_vector;
  { B::shape(c) } -> std::same_as<shape2>;
  B::resize(t, index_t(1), index_t(1));
  B::rows(t, index_t(0), index_t(1));
  B::crows(c, index_t(0), index_t(1));
  B::flat_view(t, index_t(0), index_t(1), index_t(1));
  B::zero(t);
  B::copy(t, c);
  B::axpy(t, a, c);
  B::scale(t, a);
  B::gemm(t, c, false, c, true, a, a);
  B::add_row(t, c);
  B::sum_rows(t, c, a);
  B::tanh_inplace(t);
  B::tanh_backward(t, c);
  B::lstm_forward_step(t, c, c, t, t, t);
  B::lstm_backward_step(t, c, c, c, c, c, t);
  B::time_weighted_sum(t, c, c);
  B::time_weighted_sum_backward(t, c, c);
  B::concat_cols(t, c, c);
  B::split_cols(t, t, c);
  B::split_cols_backward(&t, &t, c);
  B::gather_batch(t, c, perm);
  B::gather_batch_backward(t, c, perm);
  B::normal(t, key);
  B::reparam(t, c, c, c);
  B::reparam_backward(&t, &t, c, c, c);
  { B::kl(c, c, c, c, c) } -> std::convertible_to<typename B::scalar>;
  B::kl_backward(a, c, c, c, c, c, &t, &t, &t, &t);
  { B::sq_error(c, c, c) } -> std::convertible_to<typename B::scalar>;
  B::sq_error_backward(t, a, c, c, c);
  { B::all_finite(c) } -> std::convertible_to<bool>;
};

}  // namespace dsae
