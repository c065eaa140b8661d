#!/usr/bin/python3
"""dsae-experiment end to end on a tiny grid (24 clips, 2 epochs, C = 1, Z = 4, DSAE and
TS-DSAE): data generation, training, dsae-eval, results.csv, figures, WAVs; then a rerun
that must skip all finished work, a resume of a run whose final.json was removed, and the
error for a build folder without the executables.

Exit 0 on success, 77 (ctest: skipped) when numpy, matplotlib or the soundfont is missing,
1 on failure.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from experiment_common import SOUNDFONT, start  # noqa: E402

args = start()
OUT = os.path.join(args.work, "exp")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def driver(*extra):
    cmd = ["/usr/bin/python3", args.driver, "dmelodies", "--profile", "tiny", "--out", OUT,
           "--build-dir", args.build_dir, *extra]
    # No VGGish weights (even if the user's cache has them): the log-mel fallback is checked.
    env = dict(os.environ, DSAE_VGGISH_WEIGHTS=os.path.join(args.work, "no-vggish.safetensors"))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print(p.stdout[-3000:])
    print(p.stderr[-2000:], file=sys.stderr)
    return p


# 1. First run: everything is done.
p = driver()
check(p.returncode == 0, f"first run exits 0 (got {p.returncode})")
csv_path = os.path.join(OUT, "results.csv")
check(os.path.exists(csv_path), "results.csv written")
rows = []
if os.path.exists(csv_path):
    with open(csv_path) as f:
        r = csv.DictReader(f)
        check(r.fieldnames == ["run_id", "method", "q", "z", "seed", "f1_pre", "f1_global", "f1_local",
                               "recon_mse", "frechet", "rpa_pre", "rpa_global", "rpa_local"],
              f"results.csv has the plots.py columns in order ({r.fieldnames})")
        rows = list(r)
check(sorted(x["method"] for x in rows) == ["dsae", "ts-dsae"], "one row per method")
for x in rows:
    check(x["z"] == "4" and x["seed"] == "831" and x["q"] == "factorised", f"{x['run_id']}: grid values")
    for c in ("f1_pre", "f1_global", "f1_local", "rpa_pre", "rpa_global", "rpa_local"):
        check(x[c] != "" and 0.0 <= float(x[c]) <= 1.0, f"{x['run_id']}: {c} = {x[c]} in [0, 1]")
    check(float(x["recon_mse"]) > 0 and float(x["frechet"]) >= 0, f"{x['run_id']}: recon_mse > 0, frechet >= 0")
check("F1" in p.stdout and "TS-DSAE" in p.stdout and "DSAE" in p.stdout, "the F1 table is printed")

runs_root = os.path.join(OUT, "runs", "n24-oct4")
run_dirs = {m: os.path.join(runs_root, f"{m}_factorised_factorised_z4_s831") for m in ("dsae", "ts-dsae")}
KEYS = ["f1_pre", "f1_global", "f1_local", "recon_mse", "recon_mse_posterior_mean", "frechet",
        "frechet_embedding", "rpa_pre", "rpa_global", "rpa_local", "rpa_items", "pitch_tracker", "examples",
        "fig7", "n_train", "n_val", "swap_latents"]
evals = {}
for m, d in run_dirs.items():
    ev = os.path.join(d, "eval.json")
    check(os.path.exists(ev), f"{m}: eval.json written")
    if not os.path.exists(ev):
        continue
    with open(ev) as f:
        e = json.load(f)
    evals[m] = e
    check(all(k in e for k in KEYS), f"{m}: eval.json keys (missing: {[k for k in KEYS if k not in e]})")
    check(e.get("frechet_embedding") == "logmel-frame-stats" and e.get("pitch_tracker") == "crepe-tiny-viterbi",
          f"{m}: embedding and tracker are named")
    check(e.get("method") == m and e.get("z") == 4, f"{m}: eval.json names the variant it evaluated")
    check(e.get("n_train", 0) + e.get("n_val", 0) == 24, f"{m}: all 24 clips used (train + val)")
    check(e.get("recon_mse_posterior_mean", 0) > 0, f"{m}: posterior-mean MSE > 0")
    for ex in e.get("examples", []):
        check(ex["instrument"] != ex["partner_instrument"], f"{m}: swap partner has the other instrument")
        for k in ("input_wav", "recon_wav", "global_swap_wav", "local_swap_wav"):
            w = ex.get(k, "")
            ok = os.path.exists(w) and os.path.getsize(w) > 64000 * 4
            if ok:
                with open(w, "rb") as f:
                    ok = f.read(4) == b"RIFF"
            check(ok, f"{m}: {os.path.basename(w)} is a 4 s float WAV")
        check(os.path.exists(ex.get("png", "")) and os.path.getsize(ex["png"]) > 1000, f"{m}: spectrogram PNG")
    check(os.path.exists(e.get("fig7", {}).get("png", "")), f"{m}: Fig. 7 grid PNG")
    check(len(e.get("rpa_per_item", [])) == 1 and e.get("rpa_items") == 1, f"{m}: RPA on 1 item (tiny profile)")
fig_dir = os.path.join(OUT, "figures")
for name in ("fig3_f1.png", "fig4_recon_vs_f1.png", "fig5_rpa.png", "fig7_grid.png"):
    check(os.path.exists(os.path.join(fig_dir, name)), f"figures/{name}")
check(os.path.join(fig_dir, "fig3_f1.png") in p.stdout, "figure paths printed")
check(".wav" in p.stdout, "WAV paths printed")

# 2. Rerun: nothing is retrained or re-evaluated.
stamps = {m: (os.path.getmtime(os.path.join(d, "best.safetensors")), os.path.getmtime(os.path.join(d, "eval.json")))
          for m, d in run_dirs.items() if m in evals}
p = driver()
check(p.returncode == 0, "rerun exits 0")
check(p.stdout.count("trained earlier") == 2 and p.stdout.count("evaluated earlier") == 2,
      "rerun skips both trainings and both evaluations")
check("data: " in p.stdout and "exists, reused" in p.stdout, "rerun reuses the dataset")
for m, d in run_dirs.items():
    if m in stamps:
        check(stamps[m] == (os.path.getmtime(os.path.join(d, "best.safetensors")),
                            os.path.getmtime(os.path.join(d, "eval.json"))), f"{m}: files untouched by the rerun")

# 3. An interrupted run (checkpoint, no final.json) is resumed, not restarted.
os.remove(os.path.join(run_dirs["dsae"], "final.json"))
p = driver()
check(p.returncode == 0, "resume run exits 0")
check("resumed" in p.stdout and os.path.exists(os.path.join(run_dirs["dsae"], "final.json")),
      "dsae run resumed (--resume) and final.json written again")
with open(os.path.join(run_dirs["dsae"], "train.log")) as f:
    check("--resume" in f.read(), "train.log shows the --resume call")

# 4. Clear error for a build folder without executables.
p = subprocess.run(["/usr/bin/python3", args.driver, "dmelodies", "--profile", "tiny", "--out", OUT,
                    "--build-dir", os.path.join(args.work, "no-build")], capture_output=True, text=True)
check(p.returncode == 2 and "missing executable" in p.stderr and "dsae-eval" in p.stderr,
      "missing executables: exit 2 with a message naming them")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
