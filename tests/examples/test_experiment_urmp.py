#!/usr/bin/python3
"""dsae-experiment urmp end to end with the tiny profile on a URMP-shaped folder that this
test writes (48 kHz 16-bit AuSep WAVs in the real naming scheme: violin and trumpet tones,
an unvoiced noise track the CREPE filter must drop, a flute track that is not selected):
dsae-data urmp with the CREPE-tiny confidence filter, training, dsae-eval with CREPE-tiny
RPA, results.csv, figures; then a rerun that must skip all finished work.

Exit 0 on success, 77 (ctest: skipped) when numpy or matplotlib is missing, 1 on failure.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from experiment_common import start  # noqa: E402

args = start(need_soundfont=False)
import numpy as np  # noqa: E402
ROOT = os.path.join(args.work, "URMP")
OUT = os.path.join(args.work, "exp")
SR = 48000
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def write_wav(path, x):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def melody(notes, note_s, amp, partials, seed):
    """Harmonic notes with vibrato, one per note_s seconds (MIDI numbers)."""
    rng = np.random.default_rng(seed)
    out = []
    for m in notes:
        f0 = 440.0 * 2 ** ((m - 69) / 12)
        t = np.arange(int(note_s * SR)) / SR
        f = f0 * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * t))
        ph = 2 * np.pi * np.cumsum(f) / SR
        x = sum(np.sin(h * ph) / h for h in range(1, partials + 1) if f0 * h < 7000)
        env = np.minimum(1, np.minimum(t / 0.02, (note_s - t) / 0.05))
        out.append(amp * x * env / 1.5 + rng.normal(0, 1e-3, t.size))
    return np.concatenate(out)


# 7 segments of 4 s per instrument (train 6 / val 1 / test 0 after the 0.8/0.1/0.1 split).
vn = melody([69, 71, 72, 74, 76, 77, 79] * 4, 1.0, 0.5, 6, 1)[: int(28.3 * SR)]
tpt = melody([58, 60, 62, 63, 65, 67, 69] * 4, 1.0, 0.2, 8, 2)[: int(28.3 * SR)]
write_wav(os.path.join(ROOT, "01_Jupiter_vn_tpt", "AuSep_1_vn_01_Jupiter.wav"), vn)
write_wav(os.path.join(ROOT, "01_Jupiter_vn_tpt", "AuSep_2_tpt_01_Jupiter.wav"), tpt)
write_wav(os.path.join(ROOT, "02_Dance_tpt_fl", "AuSep_1_tpt_02_Dance.wav"),
          np.random.default_rng(3).normal(0, 0.1, int(8.2 * SR)))  # unvoiced: filtered out
write_wav(os.path.join(ROOT, "02_Dance_tpt_fl", "AuSep_2_fl_02_Dance.wav"), melody([81] * 5, 1.0, 0.5, 2, 4))


# VGGish with seeded random weights (tests/audio/vggish_peer.py; the released weights are the
# user's): exercises the FAD path of dsae-eval. Without torch the log-mel fallback is used.
VGG = os.path.join(args.work, "vggish")
os.makedirs(VGG)
HERE = os.path.dirname(os.path.abspath(__file__))
have_vggish = subprocess.call(["/usr/bin/python3", os.path.join(HERE, "..", "audio", "vggish_peer.py"), VGG]) == 0
ENV = dict(os.environ, DSAE_VGGISH_WEIGHTS=os.path.join(VGG, "weights.safetensors" if have_vggish else "none"))


def driver(*extra):
    cmd = ["/usr/bin/python3", args.driver, "urmp", "--root", ROOT, "--profile", "tiny", "--out", OUT,
           "--build-dir", args.build_dir, *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    print(p.stdout[-3000:])
    print(p.stderr[-2000:], file=sys.stderr)
    return p


p = driver()
check(p.returncode == 0, f"first run exits 0 (got {p.returncode})")
data_dir = os.path.join(OUT, "data", "urmp-crepe-tiny")
man_path = os.path.join(data_dir, "manifest.json")
check(os.path.exists(man_path), "URMP dataset written")
if os.path.exists(man_path):
    with open(man_path) as f:
        man = json.load(f)
    pre = man.get("preprocessing", {})
    check(pre.get("pitch_estimator") == "crepe-tiny-viterbi" and pre.get("pitch_hop") == 128,
          f"filter tracker named in the manifest ({pre.get('pitch_estimator')})")
    check(man.get("segments_total") == 16 and man.get("segments_kept") == 14,
          f"CREPE filter keeps the 14 tone segments, drops the 2 noise ones "
          f"({man.get('segments_kept')} of {man.get('segments_total')})")
    check(man.get("counts", {}).get("violin", {}).get("train") == 6, "violin train/val split")
csv_path = os.path.join(OUT, "results.csv")
rows = []
if os.path.exists(csv_path):
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
check(sorted(x["method"] for x in rows) == ["dsae", "ts-dsae"], "results.csv: one row per method")
for x in rows:
    for c in ("f1_pre", "f1_global", "f1_local", "rpa_pre", "rpa_global", "rpa_local"):
        check(x[c] != "" and 0.0 <= float(x[c]) <= 1.0, f"{x['run_id']}: {c} = {x[c]} in [0, 1]")
runs_root = os.path.join(OUT, "runs", "urmp-crepe-tiny")
for m in ("dsae", "ts-dsae"):
    ev = os.path.join(runs_root, f"{m}_factorised_factorised_z4_s831", "eval.json")
    check(os.path.exists(ev), f"{m}: eval.json written")
    if os.path.exists(ev):
        with open(ev) as f:
            e = json.load(f)
        check(e.get("pitch_tracker") == "crepe-tiny-viterbi" and e.get("pitch_tracker_hop") == 160,
              f"{m}: RPA tracker named ({e.get('pitch_tracker')})")
        check(e.get("n_train") == 12 and e.get("n_val") == 2, f"{m}: trained on the URMP train split")
        want = "vggish-fc3" if have_vggish else "logmel-frame-stats"
        check(e.get("frechet_embedding") == want and (not have_vggish or "frechet_logmel_stats" in e),
              f"{m}: Frechet embedding {e.get('frechet_embedding')} (expected {want})")
fig_dir = os.path.join(OUT, "figures")
for name in ("fig3_f1.png", "fig4_recon_vs_f1.png", "fig5_rpa.png"):
    check(os.path.exists(os.path.join(fig_dir, name)), f"figures/{name}")
check("URMP" in p.stdout and "crepe-tiny" in p.stdout, "report names URMP and the trackers")
with open(os.path.join(OUT, "experiment.json")) as f:
    ej = json.load(f)
check(ej.get("dataset") == "urmp" and ej.get("filter_tracker") == "crepe-tiny", "experiment.json names dataset and filter")

p = driver()
check(p.returncode == 0, "rerun exits 0")
check(p.stdout.count("trained earlier") == 2 and p.stdout.count("evaluated earlier") == 2
      and "exists, reused" in p.stdout, "rerun skips data, trainings and evaluations")

p = subprocess.run(["/usr/bin/python3", args.driver, "urmp", "--profile", "tiny", "--out", OUT,
                    "--build-dir", args.build_dir], capture_output=True, text=True)
check(p.returncode != 0 and "--root" in p.stderr, "urmp without --root: error naming --root")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
