// dsae-encode: the posterior latents of a trained run for sequences of one's own
// (docs/encode.md).
//
//   dsae-encode --run RUN --data X.npy [--lengths L.npy] --out DIR [--overwrite] [--batch 128]
//   dsae-encode --run RUN --out DIR      (the data the run was trained on, with its lengths)
//   dsae-encode --run RUN --data DATASET_DIR [--split val] --out DIR [--overwrite]
//
// Reads RUN/config.json (method, q, decoder, z, v) to pick the variant, loads
// RUN/best.safetensors and writes into DIR:
//   v_mean.npy, v_logvar.npy   N x V float32: q(v | x)
//   z_mean.npy, z_logvar.npy   N x T x Z float32: q(z | x[, v]) with v = the posterior mean of v,
//                              exactly zero past each sequence's length
//   lengths.npy                N int64
//   encode.json                what was encoded with what ("format": "dsae-encode-v1")
// Posterior means are deterministic: no seed. DIR is created when absent; a folder holding
// anything dsae-encode did not write is refused, even with --overwrite; its own output needs
// --overwrite. DIR is locked while it is written; every file is replaced atomically, and
// encode.json is written first as "complete": false and last as "complete": true.
// Exit status: 0 done, 2 error.
#include <CLI/CLI.hpp>
#include <dsae/data/dataset.hpp>
#include <dsae/data/npy.hpp>
#include <dsae/dsae.hpp>
#include <dsae/eval/model_eval.hpp>
#include <dsae/io/atomic_file.hpp>
#include <dsae/io/files.hpp>
#include <dsae/io/run_dir.hpp>
#include <dsae/train/dataset_sets.hpp>
#include <nlohmann/json.hpp>
#include <xtensor/xadapt.hpp>

#include "../common/cli_checks.hpp"
#include "../common/run_model.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace dsae;

namespace {

constexpr const char* encode_format = "dsae-encode-v1";
const std::vector<std::string>& output_names() {
  static const std::vector<std::string> v{"v_mean.npy", "v_logvar.npy", "z_mean.npy", "z_logvar.npy", "lengths.npy",
                                          "encode.json"};
  return v;
}

struct cli_options {
  std::string run, data, lengths, split = "val", out;
  index_t batch = 128;
  bool overwrite = false, split_given = false;
};

// What --out holds. Ours only by the marker in encode.json; anything else there (our .lock
// and temporaries aside) makes it foreign.
enum class out_plan { fresh, replace };
out_plan plan_out(const fs::path& out, bool overwrite) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec)) && !fs::is_directory(out, ec))
    throw std::runtime_error("--out " + out.string() + " exists and is not a folder");
  if (!fs::exists(out, ec)) return out_plan::fresh;
  std::vector<std::string> ours, foreign;
  for (const auto& e : fs::directory_iterator(out, ec)) {
    const std::string n = e.path().filename().string();
    if (n == io::run_lock_name) continue;
    const bool own = std::find(output_names().begin(), output_names().end(), n) != output_names().end();
    const bool own_tmp = n.size() > 4 && n.ends_with(".tmp") &&
                         std::find(output_names().begin(), output_names().end(), n.substr(0, n.size() - 4)) !=
                             output_names().end();
    (own || own_tmp ? ours : foreign).push_back(n);
  }
  if (ec) throw std::runtime_error("--out " + out.string() + ": cannot list the folder: " + ec.message());
  if (ours.empty() && foreign.empty()) return out_plan::fresh;
  auto list = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 8) s += ", ... (" + std::to_string(v.size()) + " in all)";
    return s;
  };
  // The marker: encode.json, a regular file of bounded size, with "format": "dsae-encode-v1".
  const fs::path marker = out / "encode.json";
  nlohmann::json m;
  std::string why;
  try {
    if (!fs::exists(fs::symlink_status(marker, ec)))
      throw std::runtime_error("no encode.json with \"format\": \"" + std::string(encode_format) + "\"");
    m = nlohmann::json::parse(io::read_regular_file(marker, io::max_json_bytes), nullptr, false);
    if (!(m.is_object() && m.contains("format") && m["format"] == encode_format))
      why = marker.string() + " has no \"format\": \"" + encode_format + "\"";
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (!why.empty())
    throw std::runtime_error("--out " + out.string() + " holds files not written by dsae-encode (" +
                             list(ours.empty() ? foreign : (foreign.insert(foreign.end(), ours.begin(), ours.end()),
                                                            foreign)) +
                             "; " + why + "); choose another --out (dsae-encode never replaces them, even with "
                             "--overwrite)");
  if (!foreign.empty())
    throw std::runtime_error("--out " + out.string() + " holds dsae-encode output and files it did not write (" +
                             list(foreign) + "); choose another --out (dsae-encode never replaces them)");
  const bool complete = m.contains("complete") && m["complete"] == true;
  if (complete && !overwrite)
    throw std::runtime_error("--out " + out.string() + " already holds dsae-encode output (" + marker.string() +
                             "); pass --overwrite to replace it");
  return out_plan::replace;  // ours: complete with --overwrite, or interrupted (nothing to lose)
}

std::string fnv1a64(const void* data, std::size_t bytes) {
  std::uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  return hex;
}

struct loaded_set {
  train::sequence_set set;
  nlohmann::json source;  // data, split / lengths, fingerprint, notes
};

loaded_set load_input(const cli_options& o) {
  loaded_set l;
  const fs::path p(o.data);
  std::vector<std::string> notes;
  if (fs::is_directory(p)) {
    if (!o.lengths.empty())
      throw std::runtime_error("--lengths " + o.lengths + ": only with --data FILE.npy; the dataset folder " + o.data +
                               " holds its own (DIR/<split>/lengths.npy)");
    if (!data::holds_dataset(p))
      throw std::runtime_error(p.string() + ": not a dsae dataset folder (expected manifest.json and "
                               "<split>/features.npy; see docs/data.md)");
    const auto ds = data::load_dataset(p);
    if (!ds.has(o.split)) {
      std::string have;
      for (const auto& [k, v] : ds.splits) have += (have.empty() ? "" : ", ") + k;
      throw std::runtime_error("--split " + o.split + ": " + (p / "manifest.json").string() + " has no such split (it has " +
                               have + ")");
    }
    l.set = train::to_sequence_set(ds.split(o.split), ds.label_names, (p / o.split / "features.npy").string());
    l.set.validate();
    l.source = {{"data", fs::absolute(p).string()}, {"split", o.split}};
  } else {
    if (o.split_given) throw std::runtime_error("--split " + o.split + ": only with a dataset folder as --data");
    l.set = train::detail::load_npy_set(o.data, o.lengths, "", {}, notes);
    l.source = {{"data", fs::absolute(p).string()},
                {"lengths", o.lengths.empty() ? nlohmann::json(nullptr) : nlohmann::json(fs::absolute(o.lengths).string())}};
  }
  nlohmann::json fp = {{"shape", {l.set.count, l.set.frames, l.set.features}},
                       {"fnv1a64", fnv1a64(l.set.data.data(), l.set.data.size() * sizeof(float))}};
  if (!l.set.lengths.empty())
    fp["lengths_fnv1a64"] = fnv1a64(l.set.lengths.data(), l.set.lengths.size() * sizeof(l.set.lengths[0]));
  l.source["fingerprint"] = fp;
  l.source["notes"] = notes;
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  return l;
}

template <class Model>
int run(const cli_options& o, const dsae_cli::run_files& rf) {
  const fs::path run_dir(o.run), out(o.out), weights = run_dir / "best.safetensors";
  io::require_regular_file(weights, "--run " + o.run + ": ");
  auto in = load_input(o);
  const auto& set = in.set;
  model::model_sizes s;
  s.x_dim = set.features;
  s.z_dim = rf.config.z;
  s.v_dim = rf.config.v;
  Model m(s, 831, rf.config.settings);
  const int stage = dsae_cli::load_run_weights(weights, m);
  plan_out(out, o.overwrite);                  // a refused --out gets no folder and no .lock
  io::run_lock lock(out, "encode into");       // one writer; the kernel drops it on a kill
  plan_out(out, o.overwrite);                  // decided again: the folder may have changed
  const auto e = eval::encode_all(m, set, o.batch);

  const auto N = std::size_t(e.count), T = std::size_t(e.frames), V = std::size_t(e.v_dim), Z = std::size_t(e.z_dim);
  nlohmann::json j = {{"format", encode_format},
                      {"complete", false},
                      {"run", fs::absolute(run_dir).string()},
                      {"weights", fs::absolute(weights).string()},
                      {"variant", m.variant_name()},
                      {"stage", stage},
                      {"config",
                       {{"method", rf.config.method},
                        {"q", rf.config.q},
                        {"decoder", rf.config.decoder},
                        {"z", rf.config.z},
                        {"v", rf.config.v}}},
                      {"run_data", rf.raw.contains("data") ? rf.raw["data"] : nlohmann::json(nullptr)},
                      {"n", e.count},
                      {"frames", e.frames},
                      {"features", set.features},
                      {"batch", o.batch},
                      {"files",
                       {{"v_mean", {{"file", "v_mean.npy"}, {"shape", {N, V}}, {"dtype", "float32"}}},
                        {"v_logvar", {{"file", "v_logvar.npy"}, {"shape", {N, V}}, {"dtype", "float32"}}},
                        {"z_mean", {{"file", "z_mean.npy"}, {"shape", {N, T, Z}}, {"dtype", "float32"}}},
                        {"z_logvar", {{"file", "z_logvar.npy"}, {"shape", {N, T, Z}}, {"dtype", "float32"}}},
                        {"lengths", {{"file", "lengths.npy"}, {"shape", {N}}, {"dtype", "int64"}}}}},
                      {"note", "posterior means and log-variances (no sampling): v from q(v | x); z from "
                               "q(z | x[, v]) with v = the posterior mean of v; z is exactly 0 past each length"}};
  for (auto it = in.source.begin(); it != in.source.end(); ++it) j[it.key()] = it.value();
  // Marker first ("complete": false), so a kill part-way leaves a folder dsae-encode recognises.
  io::write_file_atomic(out / "encode.json", j.dump(2) + "\n");
  data::save_npy<2>((out / "v_mean.npy").string(), xt::xtensor<float, 2>(xt::adapt(e.v_mean, std::array{N, V})));
  data::save_npy<2>((out / "v_logvar.npy").string(), xt::xtensor<float, 2>(xt::adapt(e.v_logvar, std::array{N, V})));
  data::save_npy<3>((out / "z_mean.npy").string(), xt::xtensor<float, 3>(xt::adapt(e.z_mean, std::array{N, T, Z})));
  data::save_npy<3>((out / "z_logvar.npy").string(),
                    xt::xtensor<float, 3>(xt::adapt(e.z_logvar, std::array{N, T, Z})));
  std::vector<std::int64_t> lens(e.lengths.begin(), e.lengths.end());
  data::save_npy_int<1>((out / "lengths.npy").string(), xt::xtensor<std::int64_t, 1>(xt::adapt(lens, std::array{N})));
  j["complete"] = true;
  io::write_file_atomic(out / "encode.json", j.dump(2) + "\n");
  std::printf("%s: %lld sequences x %lld frames -> v %lld, z %lld x %lld (%s, stage %d)\n", o.out.c_str(),
              (long long)e.count, (long long)e.frames, (long long)V, (long long)T, (long long)Z,
              rf.config.method.c_str(), stage);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dsae-encode: posterior latents (v and z means, log-variances) of a trained run"};
  cli_options o;
  app.add_option("--run", o.run, "run folder written by dsae-train")->required();
  app.add_option("--data", o.data, "N x T x F .npy (float32/float64) or a dataset folder (default: the data the "
                 "run was trained on, with its lengths)");
  app.add_option("--lengths", o.lengths, "N integers: valid frames of each sequence of --data.npy (1..T)");
  app.add_option("--split", o.split, "split of a dataset folder")->capture_default_str();
  app.add_option("--out", o.out, "output folder (created when absent)")->required();
  app.add_flag("--overwrite", o.overwrite, "replace dsae-encode output in --out");
  app.add_option("--batch", o.batch, "sequences per model call")
      ->transform(dsae_cli::integer_in<long long>(1, 1 << 20, "a batch size"));
  app.footer("Exit status: 0 done, 2 error.");
  if (const int rc = dsae_cli::parse(app, argc, argv); rc >= 0) return rc;
  o.split_given = app.count("--split") > 0;
  try {
    if (o.run.empty() || o.out.empty() || (app.count("--data") && o.data.empty()))
      throw std::runtime_error("--run, --data and --out must not be empty");
    if (!fs::is_directory(o.run)) throw std::runtime_error("--run " + o.run + ": not a folder");
    const auto rf = dsae_cli::read_run_config(o.run);
    if (o.data.empty()) {  // the run's own data: every sequence of its --data, with its --lengths
      const auto src = dsae_cli::run_data_source(rf);
      if (src.data.empty())
        throw std::runtime_error("--data is needed: " + rf.path.string() + " does not record the run's data");
      if (!o.lengths.empty())
        throw std::runtime_error("--lengths " + o.lengths + " needs --data (without --data the run's own lengths are used)");
      o.data = src.data;
      o.lengths = src.lengths;
      std::printf("data: %s%s (the run's, from %s)\n", o.data.c_str(),
                  o.lengths.empty() ? "" : (" with lengths " + o.lengths).c_str(), rf.path.c_str());
    }
    plan_out(o.out, o.overwrite);  // refuse a foreign --out before minutes of work
    return dsae_cli::with_run_model(rf.config, [&]<class Model>() { return run<Model>(o, rf); });
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dsae-encode: error: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsae-encode: error: %s\n", e.what());
    return 2;
  }
}
