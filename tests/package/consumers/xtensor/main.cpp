// dsae::xtensor: an N x T x F feature array written with save_npy comes back
// from load_features with the same shape and values.
#include <dsae/data/npy.hpp>

#include <cstdio>
#include <filesystem>

int main() {
  xt::xtensor<float, 3> x = xt::zeros<float>({3, 5, 4});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = 0.25f * float(i) - 7.0f;
  const auto path = (std::filesystem::temp_directory_path() / "dsae_consumer_xtensor.npy").string();
  dsae::data::save_npy(path, x);
  const auto y = dsae::data::load_features(path);
  std::filesystem::remove(path);
  const bool ok = y.shape() == x.shape() && y == x;
  std::printf("features %zu x %zu x %zu round trip %s\n", y.shape(0), y.shape(1), y.shape(2),
              ok ? "equal" : "DIFFERENT");
  std::printf(ok ? "consumer ok\n" : "consumer failed\n");
  return ok ? 0 : 1;
}
