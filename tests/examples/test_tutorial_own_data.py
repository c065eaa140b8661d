#!/usr/bin/python3
"""docs/tutorial/own_data.md runs as written: every ```bash block (but the tensorboard
viewer) and every ```python block, in a scratch folder, with the built commands on PATH;
then the page's claims are checked:

- both runs trained, with "eval" lines every 50 epochs in metrics.jsonl and TensorBoard files;
- dsae-encode's latents have the documented shapes and z is zero past each length;
- dsae-eval wrote eval.json for both runs, and TS-DSAE's global and local swap F1 for the
  planted global factor (speaker) beat DSAE's (DSAE leaves the speaker in z);
- the page's C++ block is examples/own_data/own_data_api.cpp's [tutorial] region, and that
  program runs (exit 0: TS-DSAE's global swap F1 > 0.8).

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import json
import os
import re
import subprocess
import sys

from cli_common import checks, start  # noqa: E402

args, W = start(("--source", "--build-dir"))
import numpy as np  # noqa: E402
_checks = checks()
check, failures = _checks.check, _checks.failures

page = open(os.path.join(args.source, "docs", "tutorial", "own_data.md")).read()
blocks = re.findall(r"```(bash|python|cpp)\n(.*?)```", page, re.S)
build = os.path.abspath(args.build_dir)
env = dict(os.environ)
# "python3" on the page is the interpreter running this test (the one with numpy).
os.makedirs(W("bin"))
os.symlink(sys.executable, W("bin", "python3"))
env["PATH"] = os.pathsep.join([W("bin")] + [os.path.join(build, "examples", d) for d in ("train", "encode", "dmelodies")]
                              + [env.get("PATH", "")])
os.symlink(os.path.join(args.source, "examples"), W("examples"))  # the page runs from the project root

ran = 0
for kind, text in blocks:
    if kind == "cpp":
        continue
    if kind == "python":
        r = subprocess.run([sys.executable, "-c", text], cwd=W(), env=env, capture_output=True, text=True)
        check(r.returncode == 0, f"python block runs: {r.stderr.strip()[-300:]}")
        ran += 1
        continue
    for cmd in text.replace("\\\n", " ").splitlines():
        cmd = cmd.split("#")[0].strip() if cmd.strip().startswith("tensorboard") else cmd.strip()
        if not cmd or cmd.startswith("#") or cmd.startswith("tensorboard"):
            continue
        r = subprocess.run(["bash", "-c", cmd], cwd=W(), env=env, capture_output=True, text=True, timeout=600)
        check(r.returncode == 0, f"$ {cmd[:110]}{'...' if len(cmd) > 110 else ''}  (exit {r.returncode}) "
              + (r.stderr.strip()[-300:] if r.returncode else ""))
        print("\n".join("     | " + ln for ln in r.stdout.strip().splitlines()[-14:]))
        ran += 1
check(ran >= 7, f"{ran} commands and snippets of the page ran")

# Training: eval lines and TensorBoard.
for run in ("dsae", "ts-dsae"):
    lines = [json.loads(s) for s in open(W("runs", run, "metrics.jsonl"))] if os.path.exists(W("runs", run, "metrics.jsonl")) else []
    evals = [m["epoch"] + 1 for m in lines if "eval" in m]
    check(evals == [50, 100, 150] and all("speaker/f1_global" in m["eval"] for m in lines if "eval" in m),
          f"{run}: --eval-every 50 logged the swap protocol at epochs {evals}")
    tb = W("runs", "tb", run)
    check(os.path.isdir(tb) and any(f.startswith("events.out.tfevents.") for f in os.listdir(tb)),
          f"{run}: TensorBoard event file")

# Latents.
lat = W("latents", "ts-dsae")
try:
    v, z = np.load(os.path.join(lat, "v_mean.npy")), np.load(os.path.join(lat, "z_mean.npy"))
    zl, n = np.load(os.path.join(lat, "z_logvar.npy")), np.load(os.path.join(lat, "lengths.npy"))
    x_len = np.load(W("toy", "lengths.npy"))
    pad_zero = all(not z[i, n[i]:].any() and not zl[i, n[i]:].any() for i in range(len(n)))
    check(v.shape == (480, 4) and z.shape == (480, 48, 4) and (n == x_len).all() and pad_zero,
          f"dsae-encode: v {v.shape}, z {z.shape}, lengths as given, z zero past each length")
    check(json.load(open(os.path.join(lat, "encode.json"))).get("format") == "dsae-encode-v1", "encode.json marker")
except (OSError, ValueError) as e:
    check(False, f"dsae-encode output readable: {e}")

# Evaluation: TS-DSAE beats DSAE on the planted global factor.
def speaker(run):
    e = json.load(open(W("runs", run, "eval.json")))
    lab = next(x for x in e["labels"] if x["name"] == "speaker")
    return lab, e


try:
    ds, eds = speaker("dsae")
    ts, ets = speaker("ts-dsae")
    print(f"     speaker swap F1 global/local: DSAE {ds['f1_global']:.3f}/{ds['f1_local']:.3f}, "
          f"TS-DSAE {ts['f1_global']:.3f}/{ts['f1_local']:.3f}")
    check(ts["f1_global"] > ds["f1_global"] + 0.3 and ts["f1_local"] > ds["f1_local"] + 0.3,
          "TS-DSAE's global and local swap F1 for the speaker beat DSAE's by more than 0.3")
    check(eds.get("collapse", {}).get("v_unused") is True and ets.get("collapse", {}).get("v_unused") is False,
          "DSAE's global latent is reported unused, TS-DSAE's used")
except (OSError, KeyError, StopIteration, ValueError) as e:
    check(False, f"eval.json readable with a speaker entry: {e!r}")

# The C++ block is the example's [tutorial] region, and the example runs.
src = open(os.path.join(args.source, "examples", "own_data", "own_data_api.cpp")).read()
region = src.split("// [tutorial]\n")[1]
cpp = [t for k, t in blocks if k == "cpp"]
check(cpp == [region], "the page's C++ block is examples/own_data/own_data_api.cpp's [tutorial] region")
exe = os.path.join(build, "examples", "own_data", "own_data_api")
r = subprocess.run([exe, W("toy")], capture_output=True, text=True, timeout=600)
check(r.returncode == 0 and "speaker" in r.stdout, f"own_data_api runs (exit {r.returncode}) {r.stderr.strip()[-200:]}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
