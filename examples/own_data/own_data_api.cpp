// The C++ route of docs/tutorial/own_data.md: load one's own sequences (lengths, labels),
// train TS-DSAE, encode and evaluate, through the headers alone.
//
//   own_data_api DIR     DIR holds x.npy, lengths.npy, labels.npy (make_sequences.py)
#include <cstdio>
#include <string>

// [tutorial]
#include <dsae/dsae.hpp>
#include <dsae/eval/model_eval.hpp>
#include <dsae/train/dataset_sets.hpp>

int run(const std::string& dir) {
  dsae::train::data_source src{.data = dir + "/x.npy", .lengths = dir + "/lengths.npy",
                               .labels = dir + "/labels.npy", .label_names = {"speaker", "contour"}, .seed = 1};
  auto data = dsae::train::load_train_val(src);  // train + val sequence_sets with lengths and labels
  dsae::model::model_sizes sizes{.x_dim = data.train.features, .v_dim = 4, .z_dim = 4};
  dsae::model::ts_dsae<dsae::cpu<float>> model(sizes, 1);
  dsae::train::trainer<decltype(model)> trainer(
      model, {.batch_size = 16, .adam = {.lr = 3e-3}, .max_epochs = 150, .stage1_epochs = 30, .seed = 1, .verbose = false});
  trainer.fit(data.train, data.val);
  const auto latents = dsae::eval::encode_all(model, data.val);  // v and z means, log-variances
  const auto result = dsae::eval::evaluate_labelled(model, data.train, data.val);
  std::printf("%s", dsae::eval::format_table(result).c_str());
  std::printf("v of validation sequence 0: %zu numbers; z: %lld frames x %lld\n", size_t(latents.v_dim),
              (long long)latents.lengths[0], (long long)latents.z_dim);
  return result.labels[0].f1_global.value_or(0) > 0.8 ? 0 : 1;  // the speaker follows a swapped v
}
// [tutorial]

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: own_data_api DIR (x.npy, lengths.npy, labels.npy)\n");
    return 2;
  }
  try {
    return run(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "own_data_api: error: %s\n", e.what());
    return 2;
  }
}
