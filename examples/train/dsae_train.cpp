// dsae-train: train one variant of the paper on a dataset.
//
//   dsae-train --list-methods       (the method registry as JSON; model/registry.hpp)
//   dsae-train --data DIR|FILE.npy --method {dsae,dsae-f,ts-dsae-noreg,ts-dsae}
//              --q {factorised,full} [--decoder {factorised,richer}] --z 16
//              --seed 831 --epochs 4000 --stage1-epochs 300 --patience 300
//              --out RUN_DIR [--resume | --overwrite]
//              [--lengths L.npy] [--labels Y.npy [--label-names a,b]]
//              [--val-data V.npy [--val-lengths LV.npy] [--val-labels YV.npy] | --val-fraction 0.2]
//
// DIR is a dataset folder (DIR/{train,val}/features.npy + manifest.json, optional
// lengths.npy / labels.npy per split, see docs/data.md); FILE.npy is N x T x F float32 or
// float64, with optional lengths (frames past a sequence's length are padding: ignored) and
// labels, validated by --val-data or a seeded random --val-fraction of FILE (default 0.2).
// RUN_DIR receives config.json, metrics.jsonl, checkpoint.safetensors,
// best.safetensors and, at the end, final.json.
//
// Exit status: 0 done (final.json written), 2 error, 3 diverged, 75 stopped by SIGUSR1 or
// SIGTERM (e.g. sbatch --signal=B:USR1@120, preemption): the checkpoint was
// written at the next step boundary; rerun with --resume to continue, with the
// same result as an uninterrupted run.
#include <CLI/CLI.hpp>
#include <dsae/data/dataset.hpp>
#include <dsae/data/npy.hpp>
#include <dsae/dsae.hpp>
#include <dsae/model/registry.hpp>
#include <dsae/train/dataset_sets.hpp>
#include <dsae/eval/model_eval.hpp>
#include <dsae/io/atomic_file.hpp>
#include <dsae/io/run_dir.hpp>
#include <dsae/io/tensorboard.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include "../common/cli_checks.hpp"
#include "../common/data_options.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <set>

namespace fs = std::filesystem;
using namespace dsae;

namespace {

// Graceful stop: the handler only sets the flag; the trainer checks it between steps.
constexpr int exit_stopped = 75;  // EX_TEMPFAIL: "try again" (with --resume)
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the stop flag is set from a signal handler");
void on_stop_signal(int) { g_stop.store(true); }
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct cli_options {
  train::data_source source;  // --data, --lengths, --labels, --val-*
  std::string data, method = "ts-dsae", q = "factorised", decoder = "factorised", out;
  std::string tensorboard;   // event-file folder ("" = none)
  index_t z = 16, v = 16, epochs = 4000, stage1 = 300, patience = 300, batch = 128;
  index_t eval_every = 0;    // swap protocol on the validation set every N epochs (needs labels)
  std::vector<std::string> settings;  // --set component.key=value, in order
  std::uint64_t seed = 831;
  double lr = 1e-3;
  bool amsgrad = false, reshuffle = false, resume = false, overwrite = false, quiet = false;
};

train::loaded_data load_data(const cli_options& o) {
  auto src = o.source;
  src.data = o.data;
  src.seed = o.seed;
  return train::load_train_val(src);
}

nlohmann::json config_json(const cli_options& o) {
  return {{"format", io::run_format}, {"method", o.method}, {"q", o.q}, {"decoder", o.decoder}, {"z", o.z},
          {"v", o.v}, {"seed", o.seed}, {"stage1_epochs", o.stage1}, {"patience", o.patience},
          {"batch", o.batch}, {"lr", o.lr}, {"amsgrad", o.amsgrad}, {"reshuffle", o.reshuffle},
          {"data", fs::absolute(o.data).string()}, {"val_fraction", o.source.val_fraction},
          {"settings", o.settings}};
}

// The files the data came from besides --data (dsae-eval and dsae-encode reuse them).
nlohmann::json data_files(const cli_options& o) {
  nlohmann::json j = nlohmann::json::object();
  const auto& s = o.source;
  for (const auto& [k, v] : {std::pair{"lengths", s.lengths}, {"labels", s.labels}, {"val_data", s.val_data},
                             {"val_lengths", s.val_lengths}, {"val_labels", s.val_labels}})
    if (!v.empty()) j[k] = fs::absolute(v).string();
  if (!s.label_names.empty()) j["label_names"] = s.label_names;
  return j;
}

nlohmann::json read_config(const fs::path& p) {
  const std::string text = io::read_regular_file(p, io::max_json_bytes);  // no FIFO, no /dev/zero
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(p.string() + ": corrupt (not valid JSON: " + e.what() +
                             "); repair it or start again with --overwrite");
  }
}

// What prepare_run_dir will do with --out, decided without writing anything, so that a
// refused --out gets no folder and no .lock (decide again once the folder is locked).
enum class run_plan { fresh, replace, resume, restart };

// The saved options and data of the run in --out must be the ones given (--resume).
void check_same_run(const cli_options& o, const nlohmann::json& fingerprint) {
  const fs::path out(o.out);
  const auto saved = read_config(out / "config.json");
  const auto now = config_json(o);  // named: items() must not outlive a temporary
  for (auto& [k, v] : now.items())
    if (k != "data" && k != "format" && saved.contains(k) && saved[k] != v)
      throw std::runtime_error("--resume: option '" + k + "' is " + v.dump() + " but the run in " + o.out +
                               " used " + saved[k].dump());
  if (saved.contains("data_fingerprint") && saved["data_fingerprint"] != fingerprint)
    throw std::runtime_error("--resume: --data " + o.data + " (" + fingerprint.dump() +
                             ") is not the data the run in " + o.out + " was trained on (" +
                             saved["data_fingerprint"].dump() + ")");
}

run_plan plan_run_dir(const cli_options& o, const nlohmann::json& fingerprint) {
  const fs::path out(o.out), ckpt = out / "checkpoint.safetensors";
  if (o.resume && o.overwrite) throw std::runtime_error("--resume and --overwrite exclude each other");
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw std::runtime_error("--out " + o.out + " exists and is not a folder");
  const auto kind = io::run_folder_kind(out);
  if (o.resume) {
    if (kind == io::folder_kind::absent_or_empty) {
      // Killed before its first file was committed: the folder holds only our .lock (and
      // perhaps a temporary). Nothing to lose: start at epoch 0, as for a killed first epoch.
      if (fs::exists(fs::symlink_status(out / io::run_lock_name, ec))) return run_plan::restart;
      throw std::runtime_error("--resume: " + o.out + " holds no run to resume (" + ckpt.string() +
                               " does not exist)");
    }
    if (kind == io::folder_kind::foreign)
      throw std::runtime_error("--resume: " + o.out + " does not hold a dsae-train run (" +
                               io::run_marker_problem(out / "config.json") + ")");
    if (fs::exists(out / "config.json")) check_same_run(o, fingerprint);
    // A finished run is never resumed: that trained nothing (even with a larger --epochs),
    // exited 0 and rewrote final.json.
    if (fs::exists(out / "final.json"))
      throw std::runtime_error("--resume: " + o.out + " holds a finished run (final.json); nothing to resume, "
                               "final.json is kept. To train for more epochs start again with --overwrite");
    return fs::exists(ckpt) ? run_plan::resume : run_plan::restart;
  }
  if (kind == io::folder_kind::foreign && !o.overwrite)
    throw std::runtime_error(o.out + " is not empty and does not look like a dsae-train run (" +
                             io::run_marker_problem(out / "config.json") + "); choose another --out, or pass --overwrite to "
                             "replace the run files in it (config.json, metrics.jsonl, checkpoint.safetensors, "
                             "best.safetensors, final.json, eval.json, examples/)");
  if (kind == io::folder_kind::run && !o.overwrite) {
    if (fs::exists(out / "final.json"))
      throw std::runtime_error(o.out + " already holds a finished run (final.json); pass --overwrite to replace it");
    if (fs::exists(ckpt))
      throw std::runtime_error(o.out + " holds an interrupted run (checkpoint.safetensors); pass --resume to "
                               "continue it or --overwrite to start again");
    return run_plan::replace;  // our run, stopped before its first checkpoint: nothing to lose
  }
  return kind == io::folder_kind::absent_or_empty ? run_plan::fresh : run_plan::replace;
}

// Carries out the plan in the locked folder (deciding again: the folder may have changed
// before the lock). Returns true when the run resumes from its checkpoint.
bool prepare_run_dir(const cli_options& o, const nlohmann::json& fingerprint) {
  const fs::path out(o.out);
  const run_plan plan = plan_run_dir(o, fingerprint);
  if (plan == run_plan::resume) return true;
  if (plan == run_plan::restart)
    std::printf("--resume: %s has no checkpoint yet (stopped in its first epoch): starting at epoch 0\n",
                o.out.c_str());
  if (plan != run_plan::fresh) io::remove_run_files(out);
  auto c = config_json(o);
  c["data_fingerprint"] = fingerprint;
  c["data_files"] = data_files(o);
  io::write_file_atomic(out / "config.json", c.dump(2) + "\n");
  return false;
}

template <class Model>
int run(const cli_options& o) {
  using B = typename Model::backend_type;
  // Validate first, create second: everything that can refuse the command runs before the
  // run folder (or its .lock) is created.
  train::trainer_options to;
  to.batch_size = o.batch;
  to.adam.lr = o.lr;
  to.adam.amsgrad = o.amsgrad;
  to.max_epochs = o.epochs;
  to.stage1_epochs = o.stage1;
  to.patience = o.patience;
  to.seed = o.seed;
  to.reshuffle = o.reshuffle;
  to.out_dir = o.out;
  to.verbose = !o.quiet;
  to.stop = &g_stop;
  if (Model::policy::two_stage && o.stage1 >= o.epochs)
    throw std::runtime_error("--stage1-epochs (" + std::to_string(o.stage1) + ") must be less than --epochs (" +
                             std::to_string(o.epochs) + "): " + o.method + " selects its best checkpoint in stage 2 "
                             "only, so stage 2 must run");
  train::trainer<Model>::check_options(to);
  auto loaded = load_data(o);
  for (const auto& n : loaded.notes) std::printf("note: %s\n", n.c_str());
  std::printf("validation: %s\n", loaded.split.c_str());
  auto& tr = loaded.train;
  auto& va = loaded.val;
  model::model_sizes s;
  s.x_dim = tr.features;
  s.z_dim = o.z;
  s.v_dim = o.v;
  s.validate();
  Model m(s, o.seed, o.settings);  // --set: refused here, before any file is written
  const auto fingerprint = train::data_fingerprint(tr, va);  // sizes + FNV-1a 64
  plan_run_dir(o, fingerprint);  // refuses a foreign or finished --out before the folder and .lock exist
  if (!o.tensorboard.empty()) {
    std::error_code ec;
    if (fs::exists(o.tensorboard, ec) && !fs::is_directory(o.tensorboard, ec))
      throw std::runtime_error("--tensorboard " + o.tensorboard + " exists and is not a folder");
  }
  io::run_lock lock(o.out, "train into");  // held until the process ends (the kernel drops it on a kill)
  const bool resuming = prepare_run_dir(o, fingerprint);
  // Disentanglement while it trains (--eval-every): the swap protocol on the validation set
  // (LDA fitted on the training set's v means), per label; no audio. It reads the model and
  // never changes it, so the run is bit-identical with and without it.
  if (o.eval_every > 0) {
    if (tr.label_count() == 0)
      throw std::runtime_error("--eval-every needs labels: --labels Y.npy (and --val-labels with --val-data), or "
                               "labels.npy in the dataset folder's splits");
    for (index_t k = 0; k < tr.label_count(); ++k)
      for (const auto* s : {&tr, &va}) {
        const auto y = s->label_column(k);
        if (std::set<int>(y.begin(), y.end()).size() < 2)
          throw std::runtime_error("--eval-every: label '" + s->label_names[size_t(k)] + "' of " + s->source +
                                   (s == &va ? " (validation)" : " (training)") +
                                   " has fewer than 2 classes, so the swap protocol cannot score it");
      }
    to.evaluate_every = o.eval_every;
    to.evaluate = [&m, &tr, &va, seed = o.seed](index_t) {
      const auto r = eval::evaluate_labelled(m, tr, va, {.seed = seed, .batch = 128});
      std::vector<std::pair<std::string, double>> out;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      for (const auto& l : r.labels) {
        out.push_back({l.name + "/f1_pre", l.f1_pre.value_or(nan)});
        out.push_back({l.name + "/f1_global", l.f1_global.value_or(nan)});
        out.push_back({l.name + "/f1_local", l.f1_local.value_or(nan)});
        out.push_back({l.name + "/f1_v", l.f1_v.value_or(nan)});
        out.push_back({l.name + "/f1_z", l.f1_z.value_or(nan)});
      }
      out.push_back({"recon_mse", r.recon_mse_posterior_mean});
      out.push_back({"kl_z", r.kl_z});
      out.push_back({"kl_v_standard", r.kl_v_standard});
      return out;
    };
  }
  // TensorBoard curves (docs/tensorboard.md): per step and per epoch, every term by name.
  std::optional<io::tensorboard_writer> tb;
  auto epoch_t0 = std::chrono::steady_clock::now();
  std::uint64_t epoch_steps = 0;
  std::vector<std::pair<std::string, double>> pending_eval;  // --eval-every numbers of this epoch
  if (!o.tensorboard.empty()) {
    // Its parents as for --out (runs/tb/NAME); the writer creates the folder itself and
    // only ever adds a new event file to it.
    if (const auto parent = fs::path(o.tensorboard).parent_path(); !parent.empty()) fs::create_directories(parent);
    tb.emplace(o.tensorboard);
    to.on_epoch_eval = [&](index_t, const std::vector<std::pair<std::string, double>>& e) { pending_eval = e; };
    to.on_step = [&, lr = o.lr](std::uint64_t step, int stage, const model::loss_terms& l) {
      std::vector<std::pair<std::string, double>> v = {
          {"step/loss", l.loss}, {"step/recon", l.recon}, {"step/kl_v", l.kl_v},
          {"step/swap", l.swap[0] + l.swap[1] + l.swap[2] + l.swap[3]}, {"step/stage", double(stage)},
          {"step/learning_rate", lr}};
      if (l.kl_z_computed) v.push_back({"step/kl_z", l.kl_z});
      for (const auto& t : l.named) v.push_back({"step/" + t.name, t.value});  // custom terms by name
      tb->scalars(std::int64_t(step), v);
      ++epoch_steps;
    };
    to.on_epoch = [&](index_t epoch, const model::loss_terms& tr, const model::loss_terms& va) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_t0).count();
      std::vector<std::pair<std::string, double>> v;
      for (const auto& [name, l] : {std::pair{"train", &tr}, {"val", &va}}) {
        const std::string p = std::string("epoch/") + name + "_";
        v.push_back({p + "loss", l->loss});
        v.push_back({p + "recon", l->recon});
        if (l->kl_z_computed) v.push_back({p + "kl_z", l->kl_z});
        v.push_back({p + "kl_v", l->kl_v});
        const char* swaps[4] = {"swap_global_v", "swap_global_z", "swap_local_v", "swap_local_z"};  // terms 1..4
        for (int k = 0; k < 4; ++k)
          if (l->swap[size_t(k)] != 0) v.push_back({p + swaps[k], l->swap[size_t(k)]});
        for (const auto& t : l->named) v.push_back({p + t.name, t.value});
      }
      if (secs > 0) v.push_back({"epoch/steps_per_second", double(epoch_steps) / secs});
      tb->scalars(std::int64_t(epoch + 1), v);
      if (!pending_eval.empty()) {
        std::vector<std::pair<std::string, double>> e;
        for (const auto& [k, x] : pending_eval) e.push_back({"eval/" + k, x});
        tb->scalars(std::int64_t(epoch + 1), e);
        pending_eval.clear();
      }
      tb->flush();
      epoch_t0 = std::chrono::steady_clock::now();
      epoch_steps = 0;
    };
  }
  train::trainer<Model> t(m, to);
  if (resuming) {
    t.resume();
    std::printf("resuming %s at epoch %lld (stage %d, step %llu)\n", o.out.c_str(), (long long)t.state().next_epoch,
                t.state().stage, (unsigned long long)t.state().step);
  }
  std::printf("%s | %lld parameters | train %lld x %lld x %lld, val %lld | batch %lld | seed %llu\n",
              m.variant_name().c_str(), (long long)m.params().size(), (long long)tr.count, (long long)tr.frames,
              (long long)tr.features, (long long)va.count, (long long)o.batch, (unsigned long long)o.seed);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = t.fit(tr, va);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.stopped) {
    std::printf("stopped by a signal after step %llu; %s holds the checkpoint: rerun with --resume (exit %d)\n",
                (unsigned long long)t.state().step, o.out.c_str(), exit_stopped);
    return exit_stopped;
  }
  // Collapse warnings of the whole run (earlier calls' too, when resumed): metrics.jsonl keeps them.
  nlohmann::json warnings = nlohmann::json::array();
  {
    std::ifstream in(fs::path(o.out) / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("warnings") && j["warnings"].is_array())
        for (const auto& w : j["warnings"]) warnings.push_back(w);
    }
  }
  nlohmann::json fin = {{"variant", m.variant_name()},
                        {"warnings", warnings},
                        {"best_epoch", r.best_epoch},
                        {"best_val_loss", r.best_val},
                        {"epochs_run_this_call", r.epochs_run},
                        {"next_epoch", t.state().next_epoch},
                        {"early_stopped", r.early_stopped},
                        {"seconds_this_call", secs},
                        {"steps", t.state().step}};
  io::write_file_atomic(fs::path(o.out) / "final.json", fin.dump(2) + "\n");
  std::printf("done: best epoch %lld, best validation loss %.6f, %.1f s\n", (long long)r.best_epoch, r.best_val, secs);
  (void)sizeof(B);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dsae-train: train DSAE / DSAE-f / TS-DSAE (Luo, Ewert, Dixon, IJCAI 2022)"};
  cli_options o;
  app.add_option("--data", o.data, "dataset folder or N x T x F .npy (float32 or float64)")->required();
  dsae_cli::add_sequence_options(app, o.source);
  app.add_option("--val-fraction", o.source.val_fraction, "seeded random validation share of --data.npy")
      ->check(CLI::Range(1e-6, 0.999999))->capture_default_str();
  // The choices come from the method registry (model/registry.hpp; --list-methods prints it).
  std::vector<std::string> method_names, q_names(model::local_encoder_names.begin(), model::local_encoder_names.end()),
      decoder_names(model::decoder_names.begin(), model::decoder_names.end());
  for (const auto& m : model::method_infos) method_names.emplace_back(m.name);
  app.add_option("--method", o.method)->check(CLI::IsMember(method_names));
  app.add_option("--q", o.q, "local posterior")->check(CLI::IsMember(q_names));
  app.add_option("--decoder", o.decoder)->check(CLI::IsMember(decoder_names));
  bool list_methods = false;  // handled before parsing (main); declared for --help
  app.add_flag("--list-methods", list_methods, "print the method registry as JSON (methods, q, decoder choices) and exit");
  const auto latent = dsae_cli::integer_in<long long>(1, model::model_sizes::max_latent, "a latent size");
  app.add_option("--z", o.z, "local latent size")->transform(latent);
  app.add_option("--v", o.v, "global latent size")->transform(latent);
  app.add_option("--seed", o.seed)->transform(dsae_cli::seed());
  app.add_option("--epochs", o.epochs, "maximum epochs")->transform(dsae_cli::positive_int());
  app.add_option("--stage1-epochs", o.stage1, "C: stage-1 epochs of the two-stage methods")->transform(dsae_cli::non_negative_int());
  app.add_option("--patience", o.patience, "early stopping patience (epochs)")->transform(dsae_cli::positive_int());
  app.add_option("--batch", o.batch)->transform(dsae_cli::integer_in<long long>(1, 1 << 20, "a batch size"));
  app.add_option("--lr", o.lr)->transform(dsae_cli::positive_real());
  app.add_flag("--amsgrad", o.amsgrad);
  app.add_option("--set", o.settings,
                 "a component setting, COMPONENT.KEY=VALUE, repeatable: kl_v.weight=4, "
                 "kl_v.schedule=linear:10 (warm-up over 10 epochs), kl_v.schedule=cyclical:20:0.5, "
                 "swap_global.weight=2; components: prior_z, prior_v, schedule and the terms (recon, kl_z, "
                 "kl_v, swap_global, swap_local); recorded in config.json and the variant name")
      ->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--reshuffle", o.reshuffle, "new batch order every epoch (reference: one fixed order)");
  app.add_option("--out", o.out, "run folder")->required();
  app.add_flag("--resume", o.resume, "continue the interrupted run in --out");
  app.add_flag("--overwrite", o.overwrite, "replace the run in --out");
  app.add_flag("--quiet", o.quiet, "no per-epoch progress lines");
  app.add_option("--tensorboard", o.tensorboard, "also write TensorBoard event files into this folder");
  app.add_option("--eval-every", o.eval_every,
                 "every N epochs (and at the end), the swap protocol's F1 per label on the validation set "
                 "(needs labels), in metrics.jsonl and TensorBoard")
      ->transform(dsae_cli::non_negative_int());
  app.footer("Exit status: 0 done, 2 error, 3 diverged (non-finite loss or gradient), 75 stopped by SIGUSR1/SIGTERM (checkpoint written; rerun with --resume).");
  // Before parsing: --list-methods needs no --data or --out (the Python drivers ask for it).
  for (int k = 1; k < argc; ++k)
    if (std::string_view(argv[k]) == "--list-methods") {
      std::printf("%s\n", model::methods_json().c_str());
      return 0;
    }
  if (const int rc = dsae_cli::parse(app, argc, argv); rc >= 0) return rc;
  install_stop_handlers();
  if (o.out.empty()) {
    std::fprintf(stderr, "dsae-train: error: --out: the run folder name is empty\n");
    return 2;
  }
  try {
    return model::with_variant<cpu<float>>(o.method, o.q, o.decoder, [&]<class Model>() { return run<Model>(o); });
  } catch (const train::divergence_error& e) {
    std::fprintf(stderr, "dsae-train: error: %s\n", e.what());
    return 3;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dsae-train: error: out of memory (the data, --batch or the latent sizes --z/--v need "
                 "more memory than is available)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsae-train: error: %s\n", e.what());
    return 2;
  }
}
