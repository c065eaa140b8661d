// A user project: one TS-DSAE training step through the installed headers, and
// the version macros against the version CMake's package file reports.
#include <dsae/dsae.hpp>
#include <cstdio>
#include <cstring>

static_assert(DSAE_VERSION == EXPECT_VERSION_MAJOR * 10000 + EXPECT_VERSION_MINOR * 100 + EXPECT_VERSION_PATCH);

int main() {
  std::printf("DSAE_VERSION_STRING %s (package %s), DSAE_VERSION %d\n", DSAE_VERSION_STRING,
              EXPECT_VERSION_STRING, DSAE_VERSION);
  if (std::strcmp(DSAE_VERSION_STRING, EXPECT_VERSION_STRING) != 0) {
    std::printf("consumer failed: version mismatch\n");
    return 1;
  }
  using B = dsae::cpu<float>;
  dsae::model::model_sizes s;
  s.x_dim = 8;
  s.z_dim = 4;
  dsae::model::ts_dsae<B> m(s, 1);
  dsae::model::sequence_batch<B> b;
  b.frames = 5;
  b.lengths = {5, 4, 3};
  b.x = B::tensor::Random(15, 8);
  b.finalize();
  dsae::train::adam<B> opt(m.params());
  const auto l = m.train_step(b, 1, 0);
  opt.step();
  std::printf("loss %.4f\n", l.loss);
  std::printf(l.loss > 0 ? "consumer ok\n" : "consumer failed\n");
  return l.loss > 0 ? 0 : 1;
}
