// cpu<T> ops against plain loops / Eigen expressions, including the
// multi-threaded code paths (large shapes) and their thread-count invariance.
#include <boost/test/unit_test.hpp>
#include <dsae/backend/concept.hpp>
#include <dsae/backend/cpu.hpp>
#include "common/gradcheck.hpp"
#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace dsae;
using namespace dsae::test;

static_assert(backend<cpu<float>>);
static_assert(backend<cpu<double>>);

BOOST_AUTO_TEST_SUITE(cpu_ops)

BOOST_AUTO_TEST_CASE(gemm_all_transposes_small_and_large) {
  for (index_t M : {7, 3000}) {
    const index_t K = M == 7 ? 5 : 5000, N = 9;
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const tensor A = ta ? random_tensor(K, M, 1) : random_tensor(M, K, 1);
        const tensor Bm = tb ? random_tensor(N, K, 2) : random_tensor(K, N, 2);
        tensor C = random_tensor(M, N, 3);
        const tensor C0 = C;
        const tensor opA = ta ? tensor(A.transpose()) : A, opB = tb ? tensor(Bm.transpose()) : Bm;
        B::gemm(C, A, ta, Bm, tb, 0.5, 2.0);
        const tensor want = 0.5 * opA * opB + 2.0 * C0;
        BOOST_TEST((C - want).norm() / want.norm() < 1e-13, "M=" << M << " ta=" << ta << " tb=" << tb);
      }
  }
  // Weight-gradient form A^T B with a long reduction: split into fixed chunks.
  const tensor A = random_tensor(20000, 8, 4), Bm = random_tensor(20000, 6, 5);
  tensor C = tensor::Zero(8, 6);
  B::gemm(C, A, true, Bm, false, 1.0, 0.0);
  BOOST_TEST((C - A.transpose() * Bm).norm() / C.norm() < 1e-13);
}

#if defined(_OPENMP)
BOOST_AUTO_TEST_CASE(results_do_not_depend_on_thread_count) {
  const tensor A = random_tensor(20000, 8, 4), Bm = random_tensor(20000, 6, 5), X = random_tensor(20000, 6, 6);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    tensor C = tensor::Zero(8, 6), Y = X;
    B::gemm(C, A, true, Bm, false, 1.0, 0.0);
    B::tanh_inplace(Y);
    omp_set_num_threads(omp_get_num_procs());
    return std::pair{C, Y};
  };
  const auto [c1, y1] = run(1);
  const auto [c2, y2] = run(2);
  BOOST_TEST((c1 - c2).norm() == 0.0);
  BOOST_TEST((y1 - y2).norm() == 0.0);
}
#endif

BOOST_AUTO_TEST_CASE(concat_split_and_broadcast) {
  const index_t T = 3, Bn = 4;
  const tensor z = random_tensor(T * Bn, 2, 7), v = random_tensor(Bn, 3, 8);
  tensor d(T * Bn, 5);
  B::concat_cols(d, z, v);
  for (index_t r = 0; r < T * Bn; ++r) {
    BOOST_TEST((d.row(r).head(2) - z.row(r)).norm() == 0.0);
    BOOST_TEST((d.row(r).tail(3) - v.row(r % Bn)).norm() == 0.0);
  }
  const tensor g = random_tensor(T * Bn, 5, 9);
  tensor dz = tensor::Zero(T * Bn, 2), dv = tensor::Zero(Bn, 3);
  B::split_cols_backward(&dz, &dv, g);
  BOOST_TEST((dz - g.leftCols(2)).norm() == 0.0);
  tensor want = tensor::Zero(Bn, 3);
  for (index_t t = 0; t < T; ++t) want += g.middleRows(t * Bn, Bn).rightCols(3);
  BOOST_TEST((dv - want).norm() < 1e-14);
  tensor a(T * Bn, 2), b(T * Bn, 3);
  B::split_cols(a, b, d);
  BOOST_TEST((a - z).norm() == 0.0);
}

BOOST_AUTO_TEST_CASE(gather_batch_and_its_adjoint) {
  const index_t T = 3, Bn = 4;
  const std::vector<index_t> perm = {2, 0, 2, 1};  // fixed points and repeats allowed
  const tensor x = random_tensor(T * Bn, 2, 10), g = random_tensor(T * Bn, 2, 11);
  tensor y(T * Bn, 2);
  B::gather_batch(y, x, perm);
  for (index_t t = 0; t < T; ++t)
    for (index_t i = 0; i < Bn; ++i) BOOST_TEST((y.row(t * Bn + i) - x.row(t * Bn + perm[size_t(i)])).norm() == 0.0);
  // <gather(x), g> == <x, gather^T(g)>
  tensor gx = tensor::Zero(T * Bn, 2);
  B::gather_batch_backward(gx, g, perm);
  BOOST_TEST(std::abs((y.array() * g.array()).sum() - (x.array() * gx.array()).sum()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(time_weighted_sum_and_adjoint) {
  const index_t T = 5, Bn = 3;
  const tensor x = random_tensor(T * Bn, 4, 12), w = random_tensor(T * Bn, 1, 13), g = random_tensor(Bn, 4, 14);
  tensor y(Bn, 4);
  B::time_weighted_sum(y, x, w);
  tensor want = tensor::Zero(Bn, 4);
  for (index_t t = 0; t < T; ++t)
    for (index_t b = 0; b < Bn; ++b) want.row(b) += w(t * Bn + b, 0) * x.row(t * Bn + b);
  BOOST_TEST((y - want).norm() < 1e-13);
  tensor gx = tensor::Zero(T * Bn, 4);
  B::time_weighted_sum_backward(gx, g, w);
  BOOST_TEST(std::abs((y.array() * g.array()).sum() - (x.array() * gx.array()).sum()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(float_tanh_is_accurate) {
  cpu<float>::tensor x = random_tensor(1000, 64, 15, 3.0).cast<float>(), y = x;
  cpu<float>::tanh_inplace(y);
  double err = 0;
  for (index_t i = 0; i < x.size(); ++i) err = std::max(err, std::abs(double(y.data()[i]) - std::tanh(double(x.data()[i]))));
  BOOST_TEST(err < 2e-6);
}

BOOST_AUTO_TEST_SUITE_END()
