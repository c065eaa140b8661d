// dsae-data: dataset generation for the paper's experiments (docs/data.md).
//   dsae-data dmelodies --out DIR [--count 3000] [--octaves 4[,5]] [--seed 0]
//                       [--reverb on|off] [--wav] [--overwrite] [--soundfont F] [--threads N]
//   dsae-data urmp --root URMP_DIR --out DIR [--seed 0] [--threshold 0.85]
//            [--pitch-tracker crepe-full|crepe-tiny|yin-dsae-v1] [--crepe-hop 128]
//                  [--instruments vn,tpt] [--skip-bad] [--wav] [--overwrite] [--threads N]
#include <CLI/CLI.hpp>

#include <dsae/datasets/dmelodies.hpp>
#include <dsae/datasets/urmp.hpp>

#include <chrono>

#include "../common/cli_checks.hpp"
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"dsae-data: build the dMelodies and URMP datasets (features + manifest)"};
  app.require_subcommand(1);

  namespace dm = dsae::datasets::dmelodies;
  dm::build_options d;
  std::string out_d, reverb = "on";
  auto* dcmd = app.add_subcommand("dmelodies", "render dMelodies with FluidSynth, log-mel features");
  dcmd->add_option("--out", out_d, "output folder")->required();
  dcmd->add_option("--count", d.count, "number of melodies (balanced instruments)")
      ->transform(dsae_cli::positive_int("a positive number of melodies"))
      ->capture_default_str();
  dcmd->add_option("--octaves", d.octaves, "octaves (4, 5, 6), e.g. 4,5 for the instrument+octave set")
      ->delimiter(',')
      ->transform(dsae_cli::integer_in<long long>(4, 6, "an octave (4, 5 or 6)"))
      ->capture_default_str();
  dcmd->add_option("--seed", d.seed, "selection seed")->transform(dsae_cli::seed())->capture_default_str();
  dcmd->add_option("--reverb", reverb, "FluidSynth reverb")->check(CLI::IsMember({"on", "off"}))->capture_default_str();
  dcmd->add_flag("--wav", d.wav, "also write 16-bit WAV listening copies");
  dcmd->add_flag("--overwrite", d.overwrite, "replace a dataset already in --out");
  dcmd->add_option("--soundfont", d.soundfont, "soundfont file")->capture_default_str();
  dcmd->add_option("--threads", d.threads, "worker threads (0 = all cores; capped by the cores and the clips)")
      ->transform(dsae_cli::integer_in<long long>(0, 4096, "a thread count"))
      ->capture_default_str();

  namespace ur = dsae::datasets::urmp;
  ur::options u;
  std::string root_u, out_u;
  auto* ucmd = app.add_subcommand("urmp", "preprocess URMP violin/trumpet tracks, log-mel features");
  ucmd->add_option("--root", root_u, "URMP folder (holds NN_Title_inst.../ folders)")->required();
  ucmd->add_option("--out", out_u, "output folder")->required();
  ucmd->add_option("--seed", u.seed, "split seed")->transform(dsae_cli::seed())->capture_default_str();
  ucmd->add_option("--threshold", u.threshold, "keep segments with mean pitch confidence > this")
      ->transform(dsae_cli::real_in(0, 1, "a confidence threshold"))
      ->capture_default_str();
  ucmd->add_option("--instruments", u.codes, "URMP instrument codes")->delimiter(',')->capture_default_str();
  ucmd->add_flag("--skip-bad", u.skip_bad, "skip unreadable/corrupt WAVs (listed in the manifest)");
  ucmd->add_flag("--wav", u.wav, "also write 16-bit WAV listening copies");
  ucmd->add_flag("--overwrite", u.overwrite, "replace a dataset already in --out");
  ucmd->add_option("--threads", u.threads, "worker threads (0 = all cores; capped by the cores and the tracks)")
      ->transform(dsae_cli::integer_in<long long>(0, 4096, "a thread count"))
      ->capture_default_str();
  ucmd->add_option("--pitch-tracker", u.pitch_tracker,
                   "confidence filter: crepe-full (the paper's), crepe-tiny (~37x cheaper) or yin-dsae-v1")
      ->capture_default_str();
  ucmd->add_option("--crepe-hop", u.crepe.hop, "CREPE hop in samples at 16 kHz")
      ->transform(dsae_cli::integer_in<long long>(1, 16000, "a hop in samples"))
      ->capture_default_str();

  if (const int rc = dsae_cli::parse(app, argc, argv); rc >= 0) return rc;
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  try {
    if (*dcmd) {
      d.out = out_d;
      d.reverb = reverb == "on";
      const auto r = dm::build_dataset(d);
      std::cout << "dmelodies: " << r.train << " train + " << r.val << " val clips (subset of "
                << r.subset << " melodies) -> " << out_d << " in " << seconds() << " s\n";
    } else {
      u.root = root_u;
      u.out = out_u;
      const auto r = ur::build_dataset(u);
      std::cout << "urmp: " << r.tracks << " tracks, " << r.segments << " segments, " << r.kept
                << " kept (" << u.pitch_tracker << " confidence > " << u.threshold
                << ")";
      for (const auto& [name, c] : r.split_counts)
        std::cout << "; " << name << " " << c[0] << "/" << c[1] << "/" << c[2];
      if (r.skipped_files) std::cout << "; skipped " << r.skipped_files << " unreadable file(s)";
      std::cout << " -> " << out_u << " in " << seconds() << " s\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "dsae-data: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
