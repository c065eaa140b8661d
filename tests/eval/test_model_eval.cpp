// eval/model_eval.hpp: encode_all and evaluate_labelled on sequence sets with lengths and
// labels. Padding past each length never enters a number (garbage there changes nothing,
// bit for bit), results do not depend on the thread count, a briefly trained TS-DSAE on a
// set with a planted global and a planted local factor gives every field, and refused
// labels name the label and the file.
#include "common/errors.hpp"
#include <boost/test/unit_test.hpp>
#include <dsae/dsae.hpp>
#include <dsae/eval/model_eval.hpp>

#include <omp.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace dsae;
using Bf = cpu<float>;

namespace {

model::model_sizes tiny(index_t f) {
  model::model_sizes s;
  s.x_dim = f;
  s.v_dim = 2;
  s.z_dim = 3;
  s.hidden = 16;
  s.prior_hidden = 8;
  s.prior_layers = 1;
  s.rnn_hidden = 8;
  s.rnn_layers = 1;
  return s;
}

// N sequences of up to T frames of F features with two planted factors and lengths T/2..T:
// global (class g of 3): a constant offset pattern over the features, the same in every frame;
// local (class l of 2): every frame is "up" or "down" along a direction, drawn per frame with
// P(up) = 0.2 (class 0) or 0.8 (class 1), so only a per-frame latent can say which.
// Labels: [global, local].
train::sequence_set planted(index_t n, index_t T, index_t F, std::uint64_t seed, const std::string& source) {
  train::sequence_set s;
  s.count = n;
  s.frames = T;
  s.features = F;
  s.source = source;
  s.data.assign(size_t(n * T * F), 0.f);
  s.label_names = {"global", "local"};
  for (index_t i = 0; i < n; ++i) {
    const int g = int((i * 7 + seed) % 3), l = int((i / 3 + seed) % 2);
    const index_t len = T / 2 + index_t(prob::philox_uniform({seed, 3, 0}, std::uint64_t(i)) * double(T / 2 + 1));
    s.lengths.push_back(std::min(len, T));
    s.labels.push_back(g);
    s.labels.push_back(l);
    for (index_t t = 0; t < s.lengths.back(); ++t) {
      const bool up = prob::philox_uniform({seed, 4, std::uint32_t(i)}, std::uint64_t(t)) < (l ? 0.8 : 0.2);
      for (index_t f = 0; f < F; ++f) {
        const double offset = (f % 3 == g) ? 1.5 : -0.5;
        const double local = (up ? 1.5 : -1.5) * (f % 2 ? 1.0 : -1.0);
        const double noise = 0.1 * prob::philox_normal({seed, 5, std::uint32_t(i)}, std::uint64_t(t * F + f));
        s.data[size_t((i * T + t) * F + f)] = float(offset + local + noise);
      }
    }
  }
  return s;
}

// The same set with garbage (NaN, +-Inf, 1e30) in every frame past each length.
train::sequence_set garbled(train::sequence_set s) {
  const float junk[4] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 1e30f,
                         -std::numeric_limits<float>::infinity()};
  for (index_t i = 0; i < s.count; ++i)
    for (index_t t = s.length(i); t < s.frames; ++t)
      for (index_t f = 0; f < s.features; ++f)
        s.data[size_t((i * s.frames + t) * s.features + f)] = junk[(i + t + f) % 4];
  return s;
}

using dsae_test_errors::error_of;
using dsae_test_errors::has;

struct threads {
  int m_n = omp_get_max_threads();
  explicit threads(int n) { omp_set_num_threads(n); }
  ~threads() { omp_set_num_threads(m_n); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(model_eval)

BOOST_AUTO_TEST_CASE(encode_all_is_the_posterior_with_zero_padding) {
  const auto set = planted(11, 9, 5, 1, "set.npy");
  model::ts_dsae_full<Bf> m(tiny(5), 3);  // full q: z conditions on v
  m.set_stage(2);
  const auto e = eval::encode_all(m, set, 4);
  BOOST_TEST(e.count == 11);
  BOOST_TEST(e.frames == 9);
  for (index_t i = 0; i < set.count; ++i) {
    // One sequence alone, its own length: the same posterior (other batch sizes round alike
    // up to float precision).
    model::sequence_batch<Bf> b;
    set.batch_into(b, &i, 1);
    const Bf::tensor vm = m.posterior_v_mean(b);
    const Bf::tensor vl = m.posterior_v(b).logvar;
    const Bf::tensor zm = m.posterior_z_mean(b, vm);
    for (index_t k = 0; k < e.v_dim; ++k) {
      BOOST_TEST(std::abs(e.v_mean[size_t(i * e.v_dim + k)] - vm(0, k)) < 1e-5);
      BOOST_TEST(std::abs(e.v_logvar[size_t(i * e.v_dim + k)] - vl(0, k)) < 1e-5);
    }
    for (index_t t = 0; t < set.frames; ++t)
      for (index_t k = 0; k < e.z_dim; ++k) {
        const float z = e.z_mean[size_t((i * set.frames + t) * e.z_dim + k)];
        const float lv = e.z_logvar[size_t((i * set.frames + t) * e.z_dim + k)];
        if (t < set.length(i)) {
          BOOST_TEST(std::abs(z - zm(t, k)) < 1e-5);
        } else {
          BOOST_TEST(z == 0.f);  // exactly zero past the length
          BOOST_TEST(lv == 0.f);
        }
      }
  }
  // Time-averaged z over valid frames only.
  const Eigen::MatrixXd zt = e.z_time_means();
  double s = 0;
  for (index_t t = 0; t < set.length(3); ++t) s += e.z_mean[size_t((3 * set.frames + t) * e.z_dim + 1)];
  BOOST_TEST(std::abs(zt(3, 1) - s / double(set.length(3))) < 1e-12);
}

BOOST_AUTO_TEST_CASE(garbage_in_the_padding_changes_no_number) {
  const auto tr = planted(24, 10, 5, 2, "train.npy"), va = planted(14, 10, 5, 7, "val.npy");
  const auto trg = garbled(tr), vag = garbled(va);
  index_t padded = 0;
  for (index_t i = 0; i < va.count; ++i) padded += va.length(i) < va.frames;
  BOOST_TEST(padded > 0);
  auto check = [&](auto& m) {
    const auto a = eval::encode_all(m, va, 4), b = eval::encode_all(m, vag, 4);
    BOOST_TEST((a.v_mean == b.v_mean && a.v_logvar == b.v_logvar && a.z_mean == b.z_mean && a.z_logvar == b.z_logvar));
    const auto ja = eval::to_json(eval::evaluate_labelled(m, tr, va, {.seed = 5, .batch = 4}));
    const auto jb = eval::to_json(eval::evaluate_labelled(m, trg, vag, {.seed = 5, .batch = 4}));
    BOOST_TEST(ja.dump() == jb.dump());  // every number bit-identical (dump keeps 17 digits)
    BOOST_TEST(double(ja["recon_mse"]) > 0);
  };
  {
    model::ts_dsae_full<Bf> m(tiny(5), 4);  // BiLSTM encoder: padding must not leak backwards
    m.set_stage(2);
    check(m);
  }
  {
    model::dsae_rich<Bf> m(tiny(5), 5);  // richer decoder: a BiLSTM over z
    check(m);
  }
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  // Paper widths and batches of 48 x 20 frames: the backend's kernels split across threads.
  const auto tr = planted(96, 20, 16, 3, "train.npy"), va = planted(60, 20, 16, 8, "val.npy");
  model::model_sizes sz;
  sz.x_dim = 16;
  sz.z_dim = 4;
  sz.v_dim = 3;
  model::ts_dsae_full<Bf> m(sz, 6);
  m.set_stage(2);
  std::string one, two;
  {
    threads t(1);
    one = eval::to_json(eval::evaluate_labelled(m, tr, va, {.seed = 1, .batch = 48})).dump();
  }
  {
    threads t(2);
    two = eval::to_json(eval::evaluate_labelled(m, tr, va, {.seed = 1, .batch = 48})).dump();
  }
  BOOST_TEST(one == two);
  // The seed moves the draw and the pairing.
  const auto other = eval::to_json(eval::evaluate_labelled(m, tr, va, {.seed = 2, .batch = 48})).dump();
  BOOST_TEST(other != one);
}

BOOST_AUTO_TEST_CASE(kl_per_dimension_agrees_with_the_objective) {
  const auto tr = planted(20, 8, 4, 4, "train.npy"), va = planted(17, 8, 4, 9, "val.npy");
  model::dsae<Bf> m(tiny(4), 7);  // prior on v: N(0, I), so KL_v is the closed form
  const auto r = eval::evaluate_labelled(m, tr, va, {.seed = 3, .batch = 5});
  double zsum = 0;
  for (double d : r.kl_z_per_dim) zsum += d;
  BOOST_TEST(std::abs(zsum / double(r.z_dim) - r.kl_z) < 1e-4 * std::max(1.0, r.kl_z));
  BOOST_TEST(std::abs(r.kl_v_standard - r.kl_v) < 1e-4 * std::max(1.0, r.kl_v));
  BOOST_TEST(r.prior_v == "standard_normal");
  BOOST_TEST(r.prior_z == "transition");
  // The verdict follows the threshold.
  const auto all = eval::evaluate_labelled(m, tr, va, {.seed = 3, .batch = 5, .collapse_nats = 1e9});
  BOOST_TEST((all.z_unused && all.v_unused && all.z_active_dims == 0 && all.v_active_dims == 0));
  BOOST_TEST(has(all.z_verdict, "UNUSED"));
  const auto none = eval::evaluate_labelled(m, tr, va, {.seed = 3, .batch = 5, .collapse_nats = 0});
  BOOST_TEST((!none.z_unused && !none.v_unused && none.z_active_dims == 3 && none.v_active_dims == 2));
  BOOST_TEST(has(none.v_verdict, "global latent v: used"));
}

BOOST_AUTO_TEST_CASE(trained_ts_dsae_on_planted_factors_gives_every_field) {
  const index_t T = 12, F = 6;
  const auto tr = planted(96, T, F, 11, "train.npy"), va = planted(48, T, F, 12, "val.npy");
  model::ts_dsae<Bf> m(tiny(F), 13);
  train::trainer_options o;
  o.batch_size = 32;
  o.max_epochs = 300;  // < 1 s
  o.stage1_epochs = 100;
  o.patience = 300;
  o.adam.lr = 3e-3;
  o.verbose = false;
  o.seed = 13;
  train::trainer<decltype(m)> t(m, o);
  t.fit(tr, va);
  BOOST_TEST(m.stage() == 2);
  const auto r = eval::evaluate_labelled(m, tr, va, {.seed = 0, .batch = 32});
  const auto j = eval::to_json(r);
  BOOST_TEST_MESSAGE(eval::format_table(r));
  for (const char* k : {"variant", "stage", "eval_seed", "n_train", "n_val", "frames", "features", "val_valid_frames",
                        "labels", "recon_mse", "recon_mse_posterior_mean", "objective", "kl_z", "kl_v", "collapse"})
    BOOST_TEST(j.contains(k), k);
  BOOST_TEST(j["labels"].size() == 2u);
  for (const auto& l : j["labels"])
    for (const char* k : {"name", "classes_train", "classes_val", "f1_v", "f1_z", "f1_pre", "f1_global", "f1_local"}) {
      BOOST_TEST(l.contains(k), k);
      if (std::string(k).rfind("f1", 0) == 0) BOOST_TEST((l[k].is_number() && l[k] >= 0.0 && l[k] <= 1.0), k);
    }
  BOOST_TEST(j["labels"][0]["name"] == "global");
  BOOST_TEST(j["labels"][0]["classes_train"] == 3);
  // The global factor is a constant offset per sequence: v means separate it; the local
  // factor needs z (measured: F1(v) 1.0 global, KL_z 0.33 nats/frame/dim, KL_v 0.79 vs N(0, I)).
  BOOST_TEST(j["labels"][0]["f1_v"].get<double>() > 0.9);
  BOOST_TEST(!r.z_unused);
  BOOST_TEST(!r.v_unused);
  BOOST_TEST(j["kl_v"]["prior"] == "snapshot_posterior");
  BOOST_TEST(j["kl_z"]["per_dim"].size() == 3u);
  BOOST_TEST(j["kl_v"]["standard_per_dim"].size() == 2u);
  for (const char* k : {"threshold_nats", "z_unused", "v_unused", "z_active_dims", "v_active_dims", "z_verdict",
                        "v_verdict"})
    BOOST_TEST(j["collapse"].contains(k), k);
  BOOST_TEST(has(eval::format_table(r), "global"));
  BOOST_TEST(r.recon_mse_sample > 0);
  BOOST_TEST(r.recon_mse_posterior_mean > 0);
}

BOOST_AUTO_TEST_CASE(refusals_name_the_label_and_the_file) {
  auto tr = planted(20, 8, 4, 4, "train_x.npy"), va = planted(12, 8, 4, 9, "val_x.npy");
  model::dsae<Bf> m(tiny(4), 8);
  auto one_class = va;
  for (index_t i = 0; i < one_class.count; ++i) one_class.labels[size_t(i * 2 + 1)] = 1;
  std::string e = error_of([&] { eval::evaluate_labelled(m, tr, one_class); });
  BOOST_TEST((has(e, "val_x.npy") && has(e, "'local'") && has(e, "1 class")), e);
  auto tr_one = tr;
  for (index_t i = 0; i < tr_one.count; ++i) tr_one.labels[size_t(i * 2)] = 2;
  e = error_of([&] { eval::evaluate_labelled(m, tr_one, va); });
  BOOST_TEST((has(e, "train_x.npy") && has(e, "'global'")), e);
  auto renamed = va;
  renamed.label_names = {"global", "other"};
  e = error_of([&] { eval::evaluate_labelled(m, tr, renamed); });
  BOOST_TEST(has(e, "different label columns"), e);
  auto bad_len = va;
  bad_len.lengths[3] = 99;
  e = error_of([&] { eval::encode_all(m, bad_len); });
  BOOST_TEST((has(e, "val_x.npy") && has(e, "length 99")), e);
  auto nan_inside = va;
  nan_inside.data[0] = std::numeric_limits<float>::quiet_NaN();
  e = error_of([&] { eval::evaluate_labelled(m, tr, nan_inside); });
  BOOST_TEST((has(e, "val_x.npy") && has(e, "is NaN")), e);
  e = error_of([&] { eval::evaluate_labelled(m, tr, va, {.batch = 0}); });
  BOOST_TEST(has(e, "batch"), e);
  // Without labels: everything but the per-label scores.
  auto tr0 = tr, va0 = va;
  for (auto* s : {&tr0, &va0}) s->labels.clear(), s->label_names.clear();
  const auto r = eval::evaluate_labelled(m, tr0, va0);
  BOOST_TEST(r.labels.empty());
  BOOST_TEST(r.recon_mse_sample > 0);
}

BOOST_AUTO_TEST_SUITE_END()
