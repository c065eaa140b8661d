#!/usr/bin/python3
"""dsae-train on one's own sequences (issue 18): lengths, labels, float64, validation choice,
bad input, collapse warnings and TensorBoard curves.

- Garbage in the padding (1e6-scale noise, NaN) past each length changes nothing: the
  checkpoints are bit-identical to those of zero padding.
- float64 features are converted and said once; integer lengths/labels of any width.
- --val-fraction is seeded, printed and recorded; --val-data gives the validation set.
- Bad lengths/labels are refused before any training, naming the file; no run folder made.
- Identical sequences leave the global latent unused: a collapse warning in the log,
  metrics.jsonl and final.json.
- --tensorboard: TensorBoard's own reader (the tensorboard package, when present) reads the
  event file back and its epoch curves equal metrics.jsonl's values (float32).

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import json
import os
import subprocess
import sys

from cli_common import checks, run_cmd, start  # noqa: E402

args, W = start(())
import numpy as np  # noqa: E402 (start() skips visibly without it)
_checks = checks()
check, failures = _checks.check, _checks.failures

rng = np.random.default_rng(3)
N, T, F = 80, 16, 5
L = rng.integers(4, T + 1, N)
y = rng.integers(0, 3, N)
x = np.zeros((N, T, F))
for i in range(N):
    x[i, :L[i]] = rng.normal(size=(L[i], F)) * 0.5 + y[i]
noisy, nan = x.copy(), x.copy()
for i in range(N):
    noisy[i, L[i]:] = rng.normal(size=(T - L[i], F)) * 1e6
    nan[i, L[i]:] = np.nan
np.save(W("zero.npy"), x.astype(np.float32))
np.save(W("noisy.npy"), noisy)  # float64
np.save(W("nan.npy"), nan.astype(np.float32))
np.save(W("len.npy"), L.astype(np.int16))
np.save(W("y.npy"), y.astype(np.uint8))
BASE = ["--method", "ts-dsae", "--z", "3", "--v", "2", "--batch", "16", "--epochs", "4", "--stage1-epochs", "2",
        "--seed", "7", "--quiet"]


def train(data, out, extra=(), lengths="len.npy"):
    cmd = [args.exe, "--data", W(data), "--out", W(out)] + BASE + list(extra)
    if lengths:
        cmd += ["--lengths", W(lengths)]
    return run_cmd(cmd)


def tensors(run):
    with open(W(run, "checkpoint.safetensors"), "rb") as f:
        b = f.read()
    n = int.from_bytes(b[:8], "little")
    h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}


# 1. Padding garbage changes nothing.
runs = {}
for data in ("zero.npy", "noisy.npy", "nan.npy"):
    r = train(data, "run_" + data[:-4], ["--labels", W("y.npy")])
    check(r.returncode == 0, f"trains on {data} with --lengths (exit {r.returncode}) {r.stderr.strip()[:200]}")
    runs[data] = r
check(tensors("run_zero") == tensors("run_noisy") == tensors("run_nan"),
      "zero, 1e6-noise and NaN padding give bit-identical checkpoints")
check(runs["noisy.npy"].stdout.count("float64 features converted to float32") == 1,
      "float64 conversion said once")
check("float64" not in runs["zero.npy"].stdout, "float32 input: no conversion note")
cfg = json.load(open(W("run_zero", "config.json")))
check(cfg.get("val_fraction") == 0.2 and "lengths_fnv1a64" in cfg["data_fingerprint"]
      and "labels_fnv1a64" in cfg["data_fingerprint"] and cfg["data_files"].get("lengths", "").endswith("len.npy"),
      "config.json records val_fraction, the lengths/labels in the fingerprint and the data files")
check("validation: a seeded random 0.2 of zero.npy (seed 7): 64 train, 16 val" in runs["zero.npy"].stdout,
      "the validation split is printed")

# 2. Without --lengths the NaN padding is refused with the advice; 1e6 padding trains a different model.
r = train("nan.npy", "run_nolen", lengths=None)
check(r.returncode == 2 and "nan.npy" in r.stderr and "--lengths" in r.stderr and not os.path.exists(W("run_nolen")),
      f"NaN padding without --lengths: refused, names the file and --lengths, no run folder: {r.stderr.strip()[:160]}")

# 3. --val-fraction and --val-data.
r = train("zero.npy", "run_vf", ["--val-fraction", "0.5"])
check(r.returncode == 0 and "40 train, 40 val" in r.stdout and
      json.load(open(W("run_vf", "config.json")))["val_fraction"] == 0.5, "--val-fraction 0.5: 40/40, recorded")
np.save(W("val.npy"), x[:20].astype(np.float32))
np.save(W("val_len.npy"), L[:20])
r = train("zero.npy", "run_vd", ["--val-data", W("val.npy"), "--val-lengths", W("val_len.npy")])
check(r.returncode == 0 and "validation: --val-data" in r.stdout, f"--val-data: {r.stdout.splitlines()[:2]}")

# 4. Bad input: refused before training, file named, no run folder.
np.save(W("len_short.npy"), L[:-1])
bad_len = L.copy()
bad_len[5] = T + 1
np.save(W("len_big.npy"), bad_len)
bad_len[5] = 0
np.save(W("len_zero.npy"), bad_len)
np.save(W("len_float.npy"), L.astype(np.float32))
np.save(W("y_short.npy"), y[:10])
np.save(W("y_float.npy"), y.astype(np.float64))
np.save(W("y_neg.npy"), y - 1)
cases = [
    ("len_short.npy", [], "79 lengths for 80 sequences"),
    ("len_big.npy", [], "sequence 5 has length 17, expected 1..16"),
    ("len_zero.npy", [], "sequence 5 has length 0"),
    ("len_float.npy", [], "expected an integer array"),
    ("len.npy", ["--labels", W("y_short.npy")], "labels for 10 sequences"),
    ("len.npy", ["--labels", W("y_float.npy")], "expected an integer array"),
    ("len.npy", ["--labels", W("y_neg.npy")], "is -1"),
    ("len.npy", ["--val-data", W("val.npy")], "--lengths and --val-lengths go together"),
    ("len.npy", ["--labels", W("y_one.npy")], "label 'label0' has a single class (2)"),
]
np.save(W("y_one.npy"), np.full(N, 2, np.int32))
for k, (lengths, extra, want) in enumerate(cases):
    out = f"bad{k}"
    r = train("zero.npy", out, extra, lengths=lengths)
    bad_file = next((e for e in [lengths] + [os.path.basename(a) for a in extra] if e.endswith(".npy") and e != "len.npy"
                     and e != "val.npy"), None)
    named = bad_file is None or bad_file in r.stderr
    check(r.returncode == 2 and want in r.stderr and named and not os.path.exists(W(out)),
          f"refused ({want}){'' if named else ' [file not named]'}: {r.stderr.strip()[:200]}")

# 5. Collapse warning: identical sequences carry no global information.
np.save(W("same.npy"), np.ones((40, 8, 4), np.float32))
r = run_cmd([args.exe, "--data", W("same.npy"), "--out", W("run_same"), "--method", "dsae", "--z", "2", "--v", "2",
             "--batch", "8", "--epochs", "40", "--seed", "1", "--quiet"])
fin = json.load(open(W("run_same", "final.json"))) if os.path.exists(W("run_same", "final.json")) else {}
lines = [json.loads(s) for s in open(W("run_same", "metrics.jsonl"))] if os.path.exists(W("run_same", "metrics.jsonl")) else []
check(r.returncode == 0 and "warning: " in r.stdout and "global latent v looks unused" in r.stdout,
      "identical sequences: the log warns that v is unused")
check(any("global latent v" in w for w in fin.get("warnings", [])) and "warnings" in lines[-1],
      "the warning is in final.json and in the last metrics.jsonl line")
r = train("zero.npy", "run_fine")
fin = json.load(open(W("run_fine", "final.json")))
check(isinstance(fin.get("warnings"), list), "final.json always has a warnings list")

# 6. TensorBoard: read back by the tensorboard package and compared with metrics.jsonl.
r = train("zero.npy", "run_tb", ["--tensorboard", W("tb")])
check(r.returncode == 0 and any(f.startswith("events.out.tfevents.") for f in os.listdir(W("tb"))),
      "--tensorboard writes an event file")
reader = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0}); ea.Reload()
print(json.dumps({t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}))
"""
pythons = [sys.executable, os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                        "dsae", "venv-tensorboard", "bin", "python")]
py = next((p for p in pythons if os.path.exists(p) and subprocess.run([p, "-c", "import tensorboard"],
                                                                        capture_output=True).returncode == 0), None)
if py is None:
    print("SKIPPED (this part): tensorboard package not found (scripts/deps makes a venv with it)")
else:
    got = json.loads(subprocess.run([py, "-c", reader, W("tb")], capture_output=True, text=True, check=True).stdout)
    metrics = [json.loads(s) for s in open(W("run_tb", "metrics.jsonl"))]
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    ok = True
    for split in ("train", "val"):
        for term in ("loss", "recon", "kl_v"):
            curve = got.get(f"epoch/{split}_{term}", [])
            want = [[m["epoch"] + 1, f32(m[split][term])] for m in metrics]
            ok &= [[s, f32(v)] for s, v in curve] == want
    steps = got.get("step/loss", [])
    ok &= len(steps) == 4 * 4 and [s for s, _ in steps] == list(range(16))  # 64 train / batch 16 x 4 epochs
    ok &= all(tag in got for tag in ("step/kl_v", "step/stage", "step/learning_rate", "epoch/steps_per_second",
                                     "epoch/val_kl_z", "epoch/train_swap_global_v"))
    check(ok, f"TensorBoard reads the curves back equal to metrics.jsonl ({len(got)} tags, {len(steps)} steps)")

# 7. The method registry, machine-readable (the Python drivers read it).
r = run_cmd([args.exe, "--list-methods"])
try:
    reg = json.loads(r.stdout)
    ok = [m["name"] for m in reg["methods"]] == ["dsae", "dsae-f", "ts-dsae-noreg", "ts-dsae"] and \
        reg["q"] == ["factorised", "full"] and reg["decoder"] == ["factorised", "richer"]
except (ValueError, KeyError, TypeError):
    ok = False
check(r.returncode == 0 and ok, f"dsae-train --list-methods prints the registry as JSON: {r.stdout.strip()[:120]}")
r = run_cmd([args.exe, "--data", W("zero.npy"), "--out", W("bad_method"), "--method", "vae"])
check(r.returncode != 0 and "vae" in r.stderr and "ts-dsae" in r.stderr, "an unknown --method lists the registry's")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
