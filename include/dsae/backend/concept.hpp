#pragma once
// The backend concept: the small core a storage/compute backend must provide
// for the whole model to run on it. Everything model-specific (LSTM cell steps,
// KL, squared error, reparameterisation, time sums, column concatenation, batch
// gathers, Adam, log-sum-exp) is a fused op (backend/fused.hpp) with a generic
// default written once over this core; a backend specialises a fused op only for
// speed. cpu<T> (Eigen) is the reference and specialises all of them, as does
// thrust_backend<T>; see backend/cpu.hpp for each op's exact contract.
//
// Core:
//   types       scalar, tensor (owning, row-major), ref / cref (mutable / read-only
//               views, rows of a tensor), index_vector (a batch permutation)
//   storage     from_host, to_host, indices, host_indices, shape, resize, rows,
//               crows, flat_view
//   element-wise  zero, fill, copy, axpy (y += a x), scale, mul, add_product
//               (y += a * b), exp, tanh_inplace, all_finite
//   reductions  sum, sum_rows (column sums into a row)
//   linear algebra  gemm, add_row (a row added to every row)
//   noise       normal (counter-based: equal values on every backend)
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
  typename B::scalar;
  typename B::tensor;
  typename B::ref;
  typename B::cref;
  typename B::index_vector;
  { B::from_host(host, index_t(1), index_t(1)) } -> std::same_as<typename B::tensor>;
  { B::to_host(c) } -> std::same_as<std::vector<typename B::scalar>>;
  { B::indices(idx) } -> std::same_as<typename B::index_vector>;
  { B::host_indices(perm) } -> std::same_as<std::vector<index_t>>;
  { B::shape(c) } -> std::same_as<shape2>;
  B::resize(t, index_t(1), index_t(1));
  B::rows(t, index_t(0), index_t(1));
  B::crows(c, index_t(0), index_t(1));
  B::flat_view(t, index_t(0), index_t(1), index_t(1));
  B::zero(t);
  B::fill(t, a);
  B::copy(t, c);
  B::axpy(t, a, c);
  B::scale(t, a);
  B::mul(t, c, c);
  B::add_product(t, c, c);
  B::exp(t, c);
  B::tanh_inplace(t);
  { B::all_finite(c) } -> std::convertible_to<bool>;
  { B::sum(c) } -> std::convertible_to<typename B::scalar>;
  B::sum_rows(t, c, a);
  B::gemm(t, c, false, c, true, a, a);
  B::add_row(t, c);
  B::normal(t, key);
};

}  // namespace dsae
