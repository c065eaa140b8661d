// cpu<float>'s register-tiled kernels (backend/detail/cpu_kernels.hpp): the
// float gemm forms, the fused tanh MLP and the whole-sequence LSTM recurrence
// against cpu<double> (Eigen), and bit-identical results on 1 and 2 threads.
#include <boost/test/unit_test.hpp>
#include <dsae/dsae.hpp>
#include "common/gradcheck.hpp"
#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace dsae;
using namespace dsae::test;

namespace {
using F = cpu<float>;
using ftensor = F::tensor;

ftensor to_float(const tensor& t) { return t.cast<float>(); }
double rel(const ftensor& got, const tensor& want) {
  return (got.cast<double>() - want).norm() / std::max(want.norm(), 1e-30);
}
void set_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}
struct restore_threads {
#if defined(_OPENMP)
  int m_n = omp_get_max_threads();
  ~restore_threads() { omp_set_num_threads(m_n); }
#endif
};

// An LSTM layer and a 2-layer tanh MLP over the same parameters in float and
// in double: forward and backward outputs and parameter gradients.
template <class BK>
struct stack {
  parameters<BK> p;
  nn::lstm_layer<BK> rnn;
  nn::mlp<BK> mlp;
  stack(index_t in, index_t H, bool reverse)
      : rnn(p, "rnn", "l0", in, H, reverse, group::transition),
        mlp(p, "fcn", in, {64, 32}, group::local_encoder) {
    p.finalize(7);
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(cpu_float_kernels)

BOOST_AUTO_TEST_CASE(gemm_forms_match_double) {
  // N: whole vectors (tiled) and not (Eigen); M: tiny, one block, many blocks
  // (threaded); K: short, and long enough for the split-K weight-gradient form.
  for (index_t N : {8, 16, 32, 40, 64, 80, 128, 9})
    for (auto [M, K] : {std::pair<index_t, index_t>{5, 3}, {300, 80}, {2000, 32}, {64, 9000}})
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (double beta : {0.0, 1.0})
            for (double alpha : {1.0, 0.5}) {
              const tensor A = ta ? random_tensor(K, M, 1) : random_tensor(M, K, 1);
              const tensor Bm = tb ? random_tensor(N, K, 2) : random_tensor(K, N, 2);
              const tensor C0 = random_tensor(M, N, 3);
              const tensor opA = ta ? tensor(A.transpose()) : A, opB = tb ? tensor(Bm.transpose()) : Bm;
              const tensor want = alpha * opA * opB + beta * C0;
              ftensor C = to_float(C0);
              F::gemm(C, to_float(A), ta, to_float(Bm), tb, float(alpha), float(beta));
              BOOST_TEST(rel(C, want) < 2e-6, "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb
                                                    << " alpha=" << alpha << " beta=" << beta);
            }
}

BOOST_AUTO_TEST_CASE(gemm_on_row_views_keeps_the_other_rows) {
  // LSTM steps multiply into a block of rows of a taller matrix (Ref with an
  // outer stride): rows outside the block must stay untouched.
  const tensor A = random_tensor(6, 32, 4), W = random_tensor(64, 32, 5), G0 = random_tensor(18, 64, 6);
  ftensor G = to_float(G0);
  F::gemm(F::rows(G, 6, 6), to_float(A), false, to_float(W), true, 1.f, 1.f);
  tensor want = G0;
  want.middleRows(6, 6) += A * W.transpose();
  BOOST_TEST(rel(G, want) < 1e-6);
  const ftensor G0f = to_float(G0);
  BOOST_TEST((G.topRows(6) - G0f.topRows(6)).norm() == 0.0f);
  BOOST_TEST((G.bottomRows(6) - G0f.bottomRows(6)).norm() == 0.0f);
}

BOOST_AUTO_TEST_CASE(mlp_and_lstm_match_double) {
  for (bool reverse : {false, true}) {
    const index_t T = 37, Bn = 13, in = 24, H = 32;  // 481 rows: blocks of 256 plus a ragged tail
    stack<B> d(in, H, reverse);
    stack<F> f(in, H, reverse);
    f.p.values() = to_float(d.p.values());
    const tensor x = random_tensor(T * Bn, in, 8), dy_rnn = random_tensor(T * Bn, H, 9),
                 dy_mlp = random_tensor(T * Bn, 32, 10);
    tensor m = tensor::Ones(T * Bn, 1);
    for (index_t t = T - 5; t < T; ++t) m(t * Bn + 2, 0) = 0;  // one shorter sequence
    const ftensor xf = to_float(x), mf = to_float(m), dyrf = to_float(dy_rnn), dymf = to_float(dy_mlp);

    typename nn::lstm_layer<B>::state sd;
    typename nn::lstm_layer<F>::state sf;
    BOOST_TEST(rel(f.rnn.forward(sf, xf, &mf, Bn), d.rnn.forward(sd, x, &m, Bn)) < 1e-5);
    BOOST_TEST(rel(*f.rnn.backward(sf, dyrf, true), *d.rnn.backward(sd, dy_rnn, true)) < 1e-5);
    typename nn::mlp<B>::state md;
    typename nn::mlp<F>::state mf_;
    BOOST_TEST(rel(f.mlp.forward(mf_, xf), d.mlp.forward(md, x)) < 1e-5);
    BOOST_TEST(rel(*f.mlp.backward(mf_, dymf, true), *d.mlp.backward(md, dy_mlp, true)) < 1e-5);
    BOOST_TEST(rel(f.p.grads(), d.p.grads()) < 1e-5, "reverse=" << reverse);
  }
}

#if defined(_OPENMP)
BOOST_AUTO_TEST_CASE(float_kernels_do_not_depend_on_thread_count) {
  restore_threads keep;
  const index_t T = 40, Bn = 128, in = 80, H = 32;
  const tensor x = random_tensor(T * Bn, in, 11), dy_rnn = random_tensor(T * Bn, H, 12),
               dy_mlp = random_tensor(T * Bn, 32, 13), Wd = random_tensor(64, in, 14);
  auto run = [&](int threads) {
    set_threads(threads);
    stack<F> f(in, H, false);
    const ftensor xf = to_float(x);
    typename nn::lstm_layer<F>::state s;
    typename nn::mlp<F>::state ms;
    std::vector<ftensor> out;
    out.push_back(f.rnn.forward(s, xf, nullptr, Bn));
    out.push_back(*f.rnn.backward(s, to_float(dy_rnn), true));
    out.push_back(f.mlp.forward(ms, xf));
    out.push_back(*f.mlp.backward(ms, to_float(dy_mlp), true));
    out.push_back(f.p.grads());
    ftensor C(T * Bn, 64), G = ftensor::Zero(64, in);
    F::gemm(C, xf, false, to_float(Wd), true, 1.f, 0.f);
    F::gemm(G, C, true, xf, false, 1.f, 1.f);
    out.push_back(C);
    out.push_back(G);
    return out;
  };
  const auto one = run(1), two = run(2);
  for (size_t k = 0; k < one.size(); ++k) BOOST_TEST((one[k] - two[k]).norm() == 0.0f, "output " << k);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
