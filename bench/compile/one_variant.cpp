// Compile-time yardstick: one variant (TS-DSAE on cpu<float>) with its train step, evaluation
// and generation instantiated. bench/compile/measure.sh times it (not built by CMake).
#include <dsae/dsae.hpp>

int main() {
  dsae::model::model_sizes s;
  s.x_dim = 4;
  s.v_dim = 2;
  s.z_dim = 2;
  s.hidden = 4;
  s.prior_hidden = 4;
  s.rnn_hidden = 4;
  dsae::model::ts_dsae<dsae::cpu<float>> m(s, 1);
  dsae::model::sequence_batch<dsae::cpu<float>> b;
  b.frames = 3;
  b.lengths = {3, 2};
  dsae::cpu<float>::resize(b.x, 6, 4);
  dsae::cpu<float>::normal(b.x, {1, 0, 0});
  b.finalize();
  m.set_stage(2);
  const auto l = m.train_step(b, 1, 0);
  const auto e = m.evaluate(b, 1, 1);
  const auto g = m.generate(2, 3, 5);
  return (l.loss > 0 && e.loss > 0 && g.rows() == 6) ? 0 : 1;
}
